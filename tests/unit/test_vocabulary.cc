// SPDX-License-Identifier: BSD-3-Clause
// The vocabularies drive everything that lists them: the schema `rstscope --list-vocabulary`
// prints is what event_json() writes, and the summary prints every counter of the kinds it
// promises (every loss among them).
#include <gtest/gtest.h>

#include <arpa/inet.h>

#include <cstring>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "rstscope/mgmt/event_json.h"
#include "rstscope/mgmt/stats.h"
#include "rstscope/mgmt/vocabulary.h"

namespace rstscope {
namespace {

// One member of a flat JSON object as the event log writes it: its value's type and, for strings
// and lists of strings, the strings (escapes left as written: the vocabularies have none).
struct Member {
    EventFieldType type;
    std::vector<std::string> strings;
    std::string object_text;  // an object's own text, braces included (its members: members_of)
};

// Reads the members of one event line in order; fails the test on anything it does not expect.
std::vector<std::pair<std::string, Member>> members_of(std::string_view line) {
    std::vector<std::pair<std::string, Member>> out;
    size_t at = 0;
    auto fail = [&](const char* what) {
        ADD_FAILURE() << what << " at " << at << " in " << line;
        at = line.size();
    };
    auto read_string = [&]() {
        std::string text;
        ++at;  // opening quote
        while (at < line.size() && line[at] != '"') {
            if (line[at] == '\\') text += line[at++];
            if (at < line.size()) text += line[at++];
        }
        ++at;  // closing quote
        return text;
    };
    if (line.empty() || line.front() != '{') fail("not an object");
    at = 1;
    while (at < line.size() && line[at] != '}') {
        if (line[at] == ',') ++at;
        if (at >= line.size() || line[at] != '"') {
            fail("expected a key");
            break;
        }
        std::string key = read_string();
        if (at >= line.size() || line[at++] != ':') {
            fail("expected ':'");
            break;
        }
        Member m{};
        char c = at < line.size() ? line[at] : '\0';
        if (c == '"') {
            m.type = EventFieldType::string;
            m.strings.push_back(read_string());
        } else if (c == '[' && line.compare(at, 2, "[{") == 0) {
            // Objects of a list are not looked into: test_signatures.cc checks their members.
            m.type = EventFieldType::object_list;
            size_t end = line.find("}]", at);
            if (end == std::string_view::npos) {
                fail("list of objects not closed");
                break;
            }
            at = end + 2;
        } else if (c == '[') {
            m.type = EventFieldType::string_list;
            ++at;
            while (at < line.size() && line[at] != ']') {
                if (line[at] == ',') ++at;
                if (at < line.size() && line[at] == '"')
                    m.strings.push_back(read_string());
                else {
                    fail("list of something else than strings");
                    break;
                }
            }
            ++at;
        } else if (c == '{') {
            // Objects nest one level and hold no strings with braces: the first '}' closes.
            size_t close = line.find('}', at);
            if (close == std::string_view::npos) {
                fail("unclosed object");
                break;
            }
            m.type = EventFieldType::object;
            m.object_text = std::string(line.substr(at, close + 1 - at));
            at = close + 1;
        } else if (line.compare(at, 4, "true") == 0 || line.compare(at, 5, "false") == 0) {
            m.type = EventFieldType::boolean;
            at += c == 't' ? 4 : 5;
        } else {
            size_t start = at;
            while (at < line.size() && (std::isdigit(static_cast<unsigned char>(line[at])) ||
                                        line[at] == '.' || line[at] == '-'))
                ++at;
            if (at == start) {
                fail("unknown value");
                break;
            }
            std::string_view number = line.substr(start, at - start);
            m.type = number.find('.') == std::string_view::npos ? EventFieldType::integer
                                                                : EventFieldType::number;
        }
        out.emplace_back(std::move(key), std::move(m));
    }
    return out;
}

IpAddress v4(const char* text) {
    uint8_t bytes[4];
    EXPECT_EQ(inet_pton(AF_INET, text, bytes), 1) << text;
    return IpAddress::from_v4(bytes);
}

ResetEvent plain_event() {
    ResetEvent e{};
    e.ts_ns = 1'700'000'000'000'300'000ull;
    e.first_ts_ns = 1'700'000'000'000'000'000ull;
    e.last_ts_ns = e.ts_ns;
    e.orig_h = v4("198.51.100.60");
    e.resp_h = v4("203.0.113.60");
    e.orig_p = 45000;
    e.resp_p = 8080;
    e.vlan_outer = vlan_none;
    e.vlan_inner = vlan_none;
    e.family = IpFamily::v4;
    e.conn_state = ConnState::REJ;
    e.cause = ResetCause::refused;
    e.confidence = Confidence::high;
    e.seq_check = SeqCheck::exact;
    e.rst_ttl = 57;
    e.rst_count = 1;
    e.orig_pkts = 1;
    e.resp_pkts = 1;
    e.evidence = evidence_bit(Evidence::seq_exact);
    std::strcpy(e.history, "Sr");
    return e;
}

// Every field that applies only sometimes, applying.
ResetEvent full_event() {
    ResetEvent e = plain_event();
    e.vlan_outer = 100;
    e.vlan_inner = 200;
    e.usual_ttl = 60;
    e.rst_origin = RstOrigin::path;
    e.hops_from_endpoint = 2;
    e.rst_payload_length = 2;
    std::memcpy(e.rst_payload, "no", 2);
    e.mptcp_reset_reason = 3;
    e.rst_spacing_us = 100;
    e.tunnel.types = static_cast<uint8_t>(static_cast<unsigned>(TunnelType::erspan) << 4 |
                                          static_cast<unsigned>(TunnelType::vxlan));
    e.tunnel.id = 5001;
    e.tunnel.outer_known = true;
    e.tunnel.outer_family = IpFamily::v4;
    e.tunnel.outer_src = v4("192.0.2.1");
    e.tunnel.outer_dst = v4("192.0.2.2");
    e.signatures[0] = {1500, 1, static_cast<uint8_t>(SignatureWhere::resp), {}};
    e.app.proto = AppProto::http;
    e.app.method = 1;
    e.app.status = 503;
    e.app.name_length = 4;
    std::memcpy(e.app.name, "host", 4);
    e.app.banner_length = 2;
    std::memcpy(e.app.banner, "hi", 2);
    e.app.flags = app_flag::name_cut;
    e.pcap = {123456, 42, 7, 0};
    for (size_t i = 0; i < enum_count<Evidence>; ++i)
        e.evidence |= evidence_bit(static_cast<Evidence>(i));
    return e;
}

// The fields of an object's text (an event line, or an object inside it): all in `fields`, in
// its order, of its types and vocabularies, and every field it says is always there. Returns the
// names seen, an object's members as "object.member".
std::vector<std::string> check_against_fields(const std::string& line,
                                              std::span<const EventField> fields) {
    std::vector<std::string> seen;
    size_t next_field = 0;
    for (const auto& [key, member] : members_of(line)) {
        size_t index = next_field;
        while (index < fields.size() && fields[index].name != key)
            ++index;
        if (index == fields.size()) {
            ADD_FAILURE() << "field " << key
                          << " is not in the schema, or out of its order: " << line;
            continue;
        }
        for (; next_field < index; ++next_field)
            EXPECT_FALSE(fields[next_field].always)
                << fields[next_field].name << " is always written, but is missing: " << line;
        const EventField& field = fields[index];
        next_field = index + 1;
        bool type_ok = member.type == field.type || (field.type == EventFieldType::number &&
                                                     member.type == EventFieldType::integer);
        EXPECT_TRUE(type_ok) << key << " is written as " << name_of(member.type)
                             << ", the schema says " << name_of(field.type);
        if (!field.values.empty()) {
            for (const std::string& value : member.strings) {
                EXPECT_NE(std::find(field.values.begin(), field.values.end(), value),
                          field.values.end())
                    << key << " value " << value << " is not in the schema's vocabulary";
            }
        }
        seen.push_back(key);
        if (member.type == EventFieldType::object)
            for (const std::string& inner : check_against_fields(member.object_text, field.members))
                seen.push_back(key + "." + inner);
    }
    for (; next_field < fields.size(); ++next_field)
        EXPECT_FALSE(fields[next_field].always)
            << fields[next_field].name << " is always written, but is missing: " << line;
    return seen;
}

std::vector<std::string> check_against_schema(const ResetEvent& event) {
    static const SignatureRule rule = [] {
        SignatureRule r;
        r.id = "http_503";
        return r;
    }();
    return check_against_fields(event_json(event, SignatureRules(&rule, 1)), event_fields);
}

// Every field and member the schema lists, objects' members as "object.member".
std::vector<std::string> schema_names(std::span<const EventField> fields,
                                      const std::string& prefix = "") {
    std::vector<std::string> names;
    for (const EventField& field : fields) {
        names.push_back(prefix + std::string(field.name));
        for (const std::string& inner : schema_names(field.members, names.back() + "."))
            names.push_back(inner);
    }
    return names;
}

TEST(Vocabulary, SchemaMatchesWhatEventJsonWrites) {
    std::vector<std::string> plain = check_against_schema(plain_event());
    std::vector<std::string> full = check_against_schema(full_event());
    // The full event shows every field but app.sni, which a TLS app writes instead of app.host:
    // the schema lists nothing event_json never writes.
    std::vector<std::string> expected = schema_names(event_fields);
    std::erase(expected, std::string("app.sni"));
    EXPECT_EQ(full, expected);
    ResetEvent tls = plain_event();
    tls.app.proto = AppProto::tls;
    tls.app.name_length = 1;
    tls.app.name[0] = 'x';
    std::vector<std::string> tls_fields = check_against_schema(tls);
    EXPECT_NE(std::find(tls_fields.begin(), tls_fields.end(), "app.sni"), tls_fields.end());
    for (const EventField& field : event_fields) {
        if (field.always) continue;
        EXPECT_EQ(std::find(plain.begin(), plain.end(), field.name), plain.end())
            << field.name << " is optional yet written when it does not apply";
    }
    ResetEvent by_orig = plain_event();
    by_orig.rst_by_orig = true;
    check_against_schema(by_orig);
}

TEST(Vocabulary, JsonListsEveryVocabularyAndCounterKind) {
    std::string json = vocabulary_json();
    for (std::string_view name : reset_cause_names)
        EXPECT_NE(json.find("\"" + std::string(name) + "\""), std::string::npos) << name;
    for (std::string_view name : evidence_names)
        EXPECT_NE(json.find("\"" + std::string(name) + "\""), std::string::npos) << name;
    for (size_t i = 0; i < worker_counter_count; ++i) {
        std::string entry = "{\"name\":\"" + std::string(worker_counter_names[i]) +
                            "\",\"kind\":\"" + std::string(name_of(worker_counter_kinds[i])) +
                            "\"}";
        EXPECT_NE(json.find(entry), std::string::npos) << entry;
    }
    for (const EventField& field : event_fields)
        EXPECT_NE(json.find("{\"name\":\"" + std::string(field.name) + "\""), std::string::npos)
            << field.name;
}

// docs/reliability.md promises a summary line for every drop; each loss, anomaly and
// approximation counter gets one, whether it is zero or not.
TEST(Vocabulary, SummaryPrintsEveryLossAnomalyAndApproximation) {
    CounterTotals totals;
    ResetStatistics resets;
    std::string summary = summary_text(totals, resets);
    auto printed = [&](std::string_view name) {
        return summary.find("\n  " + std::string(name) + " ") != std::string::npos;
    };
    EXPECT_TRUE(printed("tx_dropped")) << summary;
    for (size_t i = 0; i < worker_counter_count; ++i) {
        if (worker_counter_kinds[i] == CounterKind::volume) continue;
        EXPECT_TRUE(printed(worker_counter_names[i])) << worker_counter_names[i] << summary;
    }
    for (size_t i = 0; i < management_counter_count; ++i) {
        if (management_counter_kinds[i] == CounterKind::volume) continue;
        EXPECT_TRUE(printed(management_counter_names[i])) << management_counter_names[i] << summary;
    }
    for (std::string_view name : drop_reason_names)
        EXPECT_TRUE(printed(name)) << name;
}

}  // namespace
}  // namespace rstscope
