// SPDX-License-Identifier: BSD-3-Clause
// Unit tests for event_json() and write_ip(): the exact event log line for hand-filled events,
// that every line is well-formed JSON as far as brackets, strings and escapes go, and that
// addresses read exactly as glibc's inet_ntop writes them (the log's text before the hand-rolled
// writer).

#include <gtest/gtest.h>

#include <arpa/inet.h>

#include <cctype>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "rstscope/mgmt/event_json.h"

namespace rstscope {
namespace {

IpAddress v4(const char* text) {
    uint8_t bytes[4];
    EXPECT_EQ(inet_pton(AF_INET, text, bytes), 1) << text;
    return IpAddress::from_v4(bytes);
}

IpAddress v6(const char* text) {
    uint8_t bytes[16];
    EXPECT_EQ(inet_pton(AF_INET6, text, bytes), 1) << text;
    return IpAddress::from_v6(bytes);
}

// A responder abort as the tracker would write it; each test changes what it looks at.
ResetEvent sample_event() {
    ResetEvent e{};
    e.id = 42;
    e.ts_ns = 1'700'000'000'123'456'789ull;
    e.first_ts_ns = 1'699'999'990'000'000'000ull;  // 10.123456789 s before the RST
    e.last_ts_ns = 1'700'000'003'500'000'000ull;   // 13.5 s after the first packet
    e.orig_h = v4("192.0.2.1");
    e.resp_h = v4("198.51.100.2");
    e.orig_p = 40000;
    e.resp_p = 443;
    e.vlan_outer = vlan_none;
    e.vlan_inner = vlan_none;
    e.family = IpFamily::v4;
    e.orig_guessed = false;
    e.rst_by_orig = false;
    e.conn_state = ConnState::RSTR;
    e.cause = ResetCause::resp_abort;
    e.confidence = Confidence::high;
    e.seq_check = SeqCheck::exact;
    e.rst_ttl = 60;
    e.usual_ttl = 60;
    e.rst_count = 2;
    e.orig_pkts = 5;
    e.resp_pkts = 4;
    e.orig_bytes = 300;
    e.resp_bytes = 1200;
    e.idle_before_ms = 1250;
    // Set out of order: the log lists evidence in the vocabulary's order.
    e.evidence = evidence_bit(Evidence::fin_before) | evidence_bit(Evidence::seq_exact);
    std::strcpy(e.history, "ShADadFr");
    return e;
}

// Checks what a JSON parser would reject first: unbalanced or crossed brackets, unterminated
// strings, raw control bytes or unknown escapes inside strings, bytes outside ASCII.
bool balanced_json(std::string_view text, std::string& why) {
    std::string stack;
    bool in_string = false;
    for (size_t i = 0; i < text.size(); ++i) {
        unsigned char c = static_cast<unsigned char>(text[i]);
        if (c >= 0x80) {
            why = "byte above 0x7f at " + std::to_string(i);
            return false;
        }
        if (in_string) {
            if (c < 0x20) {
                why = "raw control byte in a string at " + std::to_string(i);
                return false;
            }
            if (c == '\\') {
                if (i + 1 >= text.size()) break;
                char next = text[++i];
                if (next == 'u') {
                    if (i + 4 >= text.size()) break;
                    for (int k = 1; k <= 4; ++k) {
                        if (!std::isxdigit(static_cast<unsigned char>(text[i + k]))) {
                            why = "bad \\u escape at " + std::to_string(i);
                            return false;
                        }
                    }
                    i += 4;
                } else if (std::string_view("\"\\/bfnrt").find(next) == std::string_view::npos) {
                    why = "unknown escape at " + std::to_string(i);
                    return false;
                }
            } else if (c == '"') {
                in_string = false;
            }
            continue;
        }
        if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            stack.push_back(static_cast<char>(c));
        } else if (c == '}' || c == ']') {
            char open = c == '}' ? '{' : '[';
            if (stack.empty() || stack.back() != open) {
                why = "unbalanced bracket at " + std::to_string(i);
                return false;
            }
            stack.pop_back();
            if (stack.empty() && i + 1 != text.size()) {
                why = "text after the object at " + std::to_string(i);
                return false;
            }
        }
    }
    if (in_string || !stack.empty()) {
        why = "unterminated string or object";
        return false;
    }
    return true;
}

std::string checked_json(const ResetEvent& e) {
    std::string json = event_json(e);
    std::string why;
    EXPECT_TRUE(balanced_json(json, why)) << why << "\n" << json;
    return json;
}

TEST(EventJson, BalanceCheckerRejectsBrokenJson) {
    std::string why;
    EXPECT_TRUE(balanced_json(R"({"a":[1,"}"],"b":"\"\\\u0001"})", why)) << why;
    EXPECT_FALSE(balanced_json(R"({"a":[1}])", why));
    EXPECT_FALSE(balanced_json(R"({"a":"x)", why));
    EXPECT_FALSE(balanced_json(R"({"a":"\q"})", why));
    EXPECT_FALSE(balanced_json("{\"a\":\"\n\"}", why));
    EXPECT_FALSE(balanced_json(R"({"a":1}})", why));
}

TEST(EventJson, Ipv4EventExactly) {
    EXPECT_EQ(
        checked_json(sample_event()),
        R"({"ts":1700000000.123456,"type":"reset","id":42,"orig_h":"192.0.2.1","orig_p":40000,)"
        R"("resp_h":"198.51.100.2","resp_p":443,"orig_guessed":false,"rst_by":"resp",)"
        R"("rst_count":2,"orig_pkts":5,"orig_bytes":300,"resp_pkts":4,"resp_bytes":1200,)"
        R"("duration":13.500000,"age_at_rst":10.123456,"conn_state":"RSTR",)"
        R"("history":"ShADadFr","cause":"resp_abort","confidence":"high",)"
        R"("seq_check":"exact","evidence":["seq_exact","fin_before"],"rst_ttl":60,)"
        R"("usual_ttl":60,"rst_origin":"unknown","idle_before":1.250})");
}

TEST(EventJson, Ipv6AddressesInRfc5952Form) {
    ResetEvent e = sample_event();
    e.family = IpFamily::v6;
    e.orig_h = v6("2001:0DB8:0000:0000:0001:0000:0000:0001");  // first of two equal runs
    e.resp_h = v6("2001:db8:0:1:1:1:1:1");                     // one zero group: not compressed
    std::string json = checked_json(e);
    EXPECT_NE(json.find(R"("orig_h":"2001:db8::1:0:0:1","orig_p":40000,)"), std::string::npos)
        << json;
    EXPECT_NE(json.find(R"("resp_h":"2001:db8:0:1:1:1:1:1","resp_p":443,)"), std::string::npos)
        << json;

    e.orig_h = v6("::1");
    e.resp_h = v6("fe80::abcd:0:0:0:1");  // the longer run wins
    json = checked_json(e);
    EXPECT_NE(json.find(R"("orig_h":"::1",)"), std::string::npos) << json;
    EXPECT_NE(json.find(R"("resp_h":"fe80:0:0:abcd::1",)"), std::string::npos) << json;
    EXPECT_EQ(ip_text(v6("2001:db8::"), IpFamily::v6), "2001:db8::");
    EXPECT_EQ(ip_text(v6("::ffff:192.0.2.1"), IpFamily::v6), "::ffff:192.0.2.1");
}

TEST(EventJson, VlansOnlyWhenTagged) {
    ResetEvent e = sample_event();
    EXPECT_EQ(checked_json(e).find("vlan"), std::string::npos);
    e.vlan_outer = 100;
    std::string json = checked_json(e);
    EXPECT_NE(json.find(R"("resp_p":443,"vlan":100,"orig_guessed")"), std::string::npos) << json;
    EXPECT_EQ(json.find("vlan_inner"), std::string::npos);
    e.vlan_inner = 200;
    json = checked_json(e);
    EXPECT_NE(json.find(R"("resp_p":443,"vlan":100,"vlan_inner":200,"orig_guessed")"),
              std::string::npos)
        << json;
    e.vlan_outer = 0;  // VLAN 0 (priority tag) is a tag
    e.vlan_inner = vlan_none;
    json = checked_json(e);
    EXPECT_NE(json.find(R"("vlan":0,"orig_guessed")"), std::string::npos) << json;
}

uint8_t tunnel_types(TunnelType outermost, TunnelType innermost) {
    return static_cast<uint8_t>(static_cast<unsigned>(outermost) << 4 |
                                static_cast<unsigned>(innermost));
}

// The tunnel object: absent when not tunnelled; its id when the type always carries one or a
// GRE key was set; the outer addresses when recorded; the outermost type when another wraps it.
TEST(EventJson, TunnelOnlyWhenTunnelledWithWhatIsKnown) {
    ResetEvent e = sample_event();
    EXPECT_EQ(checked_json(e).find("tunnel"), std::string::npos);
    e.tunnel.types = tunnel_types(TunnelType::vxlan, TunnelType::vxlan);
    e.tunnel.id = 0;  // VNI 0 is a VNI
    e.tunnel.outer_known = true;
    e.tunnel.outer_family = IpFamily::v4;
    e.tunnel.outer_src = v4("192.0.2.2");
    e.tunnel.outer_dst = v4("192.0.2.1");
    std::string json = checked_json(e);
    EXPECT_NE(json.find(R"("resp_p":443,"tunnel":{"type":"vxlan","id":0,"outer_src":"192.0.2.2",)"
                        R"("outer_dst":"192.0.2.1"},"orig_guessed")"),
              std::string::npos)
        << json;
    e.tunnel.types = tunnel_types(TunnelType::erspan, TunnelType::gre);
    e.tunnel.outer_known = false;
    json = checked_json(e);
    EXPECT_NE(json.find(R"("tunnel":{"type":"gre","outermost":"erspan"},)"), std::string::npos)
        << json;
    e.tunnel.types = tunnel_types(TunnelType::teredo, TunnelType::teredo);
    e.tunnel.outer_known = true;
    e.tunnel.outer_family = IpFamily::v6;
    e.tunnel.outer_src = v6("2001:db8::1");
    e.tunnel.outer_dst = v6("2001:db8::2");
    json = checked_json(e);
    EXPECT_NE(json.find(R"("tunnel":{"type":"teredo","outer_src":"2001:db8::1",)"
                        R"("outer_dst":"2001:db8::2"},)"),
              std::string::npos)
        << json;
    e.tunnel.types = tunnel_types(TunnelType::gtp_u, TunnelType::gtp_u);
    e.tunnel.id = 0x1234;
    json = checked_json(e);
    EXPECT_NE(json.find(R"("tunnel":{"type":"gtp_u","id":4660,)"), std::string::npos) << json;
}

TEST(EventJson, UsualTtlOnlyWhenKnown) {
    ResetEvent e = sample_event();
    e.usual_ttl = 0;
    e.rst_ttl = 255;
    std::string json = checked_json(e);
    EXPECT_NE(json.find(R"("rst_ttl":255,"rst_origin":"unknown","idle_before":1.250})"),
              std::string::npos)
        << json;
    EXPECT_EQ(json.find("usual_ttl"), std::string::npos);
}

TEST(EventJson, RstOriginAlwaysHopsOnlyWhenKnown) {
    ResetEvent e = sample_event();
    e.rst_origin = RstOrigin::endpoint;
    std::string json = checked_json(e);
    EXPECT_NE(json.find(R"("usual_ttl":60,"rst_origin":"endpoint","idle_before")"),
              std::string::npos)
        << json;
    EXPECT_EQ(json.find("hops_from_endpoint"), std::string::npos) << json;
    e.rst_origin = RstOrigin::path;
    e.hops_from_endpoint = 3;
    json = checked_json(e);
    EXPECT_NE(json.find(R"("rst_origin":"path","hops_from_endpoint":3,"idle_before")"),
              std::string::npos)
        << json;
}

TEST(EventJson, RstPayloadIsEscaped) {
    ResetEvent e = sample_event();
    const unsigned char payload[] = {'a',  '"', 'b', '\\', 'c',  0x00, 0x01, '\n',
                                     0x1f, ' ', '~', 0x7f, 0x80, 0xff, '/'};
    std::memcpy(e.rst_payload, payload, sizeof payload);
    e.rst_payload_length = sizeof payload;
    e.evidence |= evidence_bit(Evidence::payload_in_rst);
    std::string json = checked_json(e);
    const std::string expected_tail =
        R"("evidence":["seq_exact","payload_in_rst","fin_before"],"rst_ttl":60,"usual_ttl":60,)"
        R"("rst_origin":"unknown","idle_before":1.250,)"
        R"("payload_in_rst":"a\"b\\c\u0000\u0001\u000a\u001f ~\u007f\u0080\u00ff/"})";
    ASSERT_GE(json.size(), expected_tail.size());
    EXPECT_EQ(json.substr(json.size() - expected_tail.size()), expected_tail) << json;
}

TEST(EventJson, PayloadOfFullCapacity) {
    ResetEvent e = sample_event();
    std::memset(e.rst_payload, 'x', rst_payload_capacity);
    e.rst_payload_length = rst_payload_capacity;
    std::string json = checked_json(e);
    EXPECT_NE(json.find("\"payload_in_rst\":\"" + std::string(rst_payload_capacity, 'x') + "\"}"),
              std::string::npos)
        << json;
}

TEST(EventJson, MptcpReasonOnlyWithItsEvidence) {
    ResetEvent e = sample_event();
    e.mptcp_reset_reason = 6;
    EXPECT_EQ(checked_json(e).find("mptcp_reset_reason"), std::string::npos);
    e.evidence |= evidence_bit(Evidence::mptcp_reset_reason);
    std::string json = checked_json(e);
    EXPECT_NE(json.find(R"("mptcp_reset_reason"],)"), std::string::npos) << json;  // evidence
    EXPECT_NE(json.find(R"(,"mptcp_reset_reason":6})"), std::string::npos) << json;
}

TEST(EventJson, EveryEvidenceInVocabularyOrder) {
    ResetEvent e = sample_event();
    e.evidence = 0;
    for (size_t i = enum_count<Evidence>; i-- > 0;)
        e.evidence |= evidence_bit(static_cast<Evidence>(i));
    std::string list;
    for (std::string_view name : evidence_names) {
        list += list.empty() ? "" : ",";
        list += "\"" + std::string(name) + "\"";
    }
    std::string json = checked_json(e);
    EXPECT_NE(json.find("\"evidence\":[" + list + "]"), std::string::npos) << json;
    e.evidence = 0;
    EXPECT_NE(checked_json(e).find(R"("evidence":[],)"), std::string::npos);
}

TEST(EventJson, TimesAsMicrosecondDecimals) {
    ResetEvent e = sample_event();
    e.ts_ns = 5'000'000'999ull;  // below one microsecond is cut, not rounded
    e.first_ts_ns = 5'000'000'999ull;
    e.last_ts_ns = 5'000'000'999ull + 1'000;
    e.idle_before_ms = 7;
    std::string json = checked_json(e);
    EXPECT_NE(json.find(R"({"ts":5.000000,"type":"reset",)"), std::string::npos) << json;
    EXPECT_NE(json.find(R"("duration":0.000001,"age_at_rst":0.000000,)"), std::string::npos)
        << json;
    EXPECT_NE(json.find(R"("idle_before":0.007})"), std::string::npos) << json;

    // Clocks that ran backwards give zero durations, never a wrapped huge number.
    e.first_ts_ns = 6'000'000;
    e.ts_ns = 1'000;
    e.last_ts_ns = 2'000;
    json = checked_json(e);
    EXPECT_NE(json.find(R"({"ts":0.000001,"type":"reset",)"), std::string::npos) << json;
    EXPECT_NE(json.find(R"("duration":0.000000,"age_at_rst":0.000000,)"), std::string::npos)
        << json;
}

TEST(EventJson, FlagsAndNamesOfTheVerdict) {
    ResetEvent e = sample_event();
    e.orig_guessed = true;
    e.rst_by_orig = true;
    e.conn_state = ConnState::RSTOS0;
    e.cause = ResetCause::out_of_window;
    e.confidence = Confidence::low;
    e.seq_check = SeqCheck::out_of_window;
    std::strcpy(e.history, "^hR");
    std::string json = checked_json(e);
    EXPECT_NE(json.find(R"("orig_guessed":true,"rst_by":"orig",)"), std::string::npos) << json;
    EXPECT_NE(json.find(R"("conn_state":"RSTOS0","history":"^hR","cause":"out_of_window",)"
                        R"("confidence":"low","seq_check":"out_of_window",)"),
              std::string::npos)
        << json;
}

TEST(EventJson, HistoryWithoutTerminatorStopsAtCapacity) {
    ResetEvent e = sample_event();
    std::memset(e.history, 'S', history_capacity);  // no NUL: must not read past the array
    std::string json = checked_json(e);
    EXPECT_NE(json.find("\"history\":\"" + std::string(history_capacity, 'S') + "\","),
              std::string::npos)
        << json;
}

// glibc's inet_ntop, the oracle: the log must keep the text it always had.
std::string inet_ntop_text(const IpAddress& a, IpFamily family) {
    char text[INET6_ADDRSTRLEN];
    int af = family == IpFamily::v4 ? AF_INET : AF_INET6;
    EXPECT_NE(inet_ntop(af, a.bytes, text, sizeof text), nullptr);
    return text;
}

IpAddress from_groups(const uint16_t (&groups)[8]) {
    IpAddress a{};
    for (int i = 0; i < 8; ++i) {
        a.bytes[2 * i] = static_cast<uint8_t>(groups[i] >> 8);
        a.bytes[2 * i + 1] = static_cast<uint8_t>(groups[i]);
    }
    return a;
}

TEST(IpText, Ipv6CompressionFormsAsInetNtop) {
    struct Case {
        const char* in;
        const char* text;
    };
    const Case cases[] = {
        {"::", "::"},
        {"::1", "::1"},
        {"::2", "::2"},  // seven zero groups, not ::0.0.0.2
        {"1::", "1::"},
        {"1:0:0:0:0:0:0:1", "1::1"},
        {"1:0:2:0:0:3:0:0", "1:0:2::3:0:0"},     // first of two equal runs
        {"1:0:0:2:0:0:0:3", "1:0:0:2::3"},       // the longer run wins
        {"1:0:1:0:1:0:1:0", "1:0:1:0:1:0:1:0"},  // single zero groups stay
        {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
        {"2001:DB8:A:BC:DEF:0:0:1", "2001:db8:a:bc:def::1"},  // lower case, no leading zeros
        {"::ffff:192.0.2.1", "::ffff:192.0.2.1"},             // v4-mapped
        {"::ffff:0.0.0.0", "::ffff:0.0.0.0"},
        {"::192.0.2.1", "::192.0.2.1"},  // IPv4-compatible (deprecated, still printed so)
        {"::1:0:0", "::1:0:0"},
        {"::fffe:192.0.2.1", "::fffe:c000:201"},  // not ffff: hex groups
        {"0:0:0:0:1:ffff:c000:201", "::1:ffff:c000:201"},
        {"64:ff9b::192.0.2.1", "64:ff9b::c000:201"},  // NAT64: hex, as inet_ntop writes it
        {"fe80::", "fe80::"},
        {"0:1:0:0:0:0:0:0", "0:1::"},
    };
    for (const Case& c : cases) {
        IpAddress a = v6(c.in);
        EXPECT_EQ(ip_text(a, IpFamily::v6), c.text) << c.in;
        EXPECT_EQ(ip_text(a, IpFamily::v6), inet_ntop_text(a, IpFamily::v6)) << c.in;
    }
}

TEST(IpText, EveryZeroPatternAndRandomAddressesAsInetNtop) {
    // Each of the 256 patterns of zero and non-zero groups, with short and long group values.
    const uint16_t values[] = {1, 0xa, 0xff, 0x100, 0xffff, 0x1234};
    for (uint32_t pattern = 0; pattern < 256; ++pattern) {
        for (uint16_t value : values) {
            uint16_t groups[8];
            for (int i = 0; i < 8; ++i)
                groups[i] = (pattern >> i) & 1 ? static_cast<uint16_t>(value + i) : 0;
            IpAddress a = from_groups(groups);
            ASSERT_EQ(ip_text(a, IpFamily::v6), inet_ntop_text(a, IpFamily::v6)) << pattern;
        }
        uint16_t mapped[8] = {0,
                              0,
                              0,
                              0,
                              0,
                              0xffff,
                              static_cast<uint16_t>(pattern << 8),
                              static_cast<uint16_t>(pattern)};
        IpAddress a = from_groups(mapped);
        ASSERT_EQ(ip_text(a, IpFamily::v6), inet_ntop_text(a, IpFamily::v6)) << pattern;
    }
    std::mt19937_64 random(9);
    for (int n = 0; n < 100'000; ++n) {
        IpAddress a{};
        uint64_t bits = random();
        for (int i = 0; i < 16; ++i)
            a.bytes[i] = (bits >> (i % 8 * 8)) & 1 ? static_cast<uint8_t>(random()) : 0;
        ASSERT_EQ(ip_text(a, IpFamily::v6), inet_ntop_text(a, IpFamily::v6));
        ASSERT_EQ(ip_text(a, IpFamily::v4), inet_ntop_text(a, IpFamily::v4));
    }
}

TEST(IpText, Ipv4Extremes) {
    EXPECT_EQ(ip_text(v4("0.0.0.0"), IpFamily::v4), "0.0.0.0");
    EXPECT_EQ(ip_text(v4("255.255.255.255"), IpFamily::v4), "255.255.255.255");
    EXPECT_EQ(ip_text(v4("10.100.9.199"), IpFamily::v4), "10.100.9.199");
}

TEST(IpText, FormatIpRefusesABufferTooSmall) {
    IpAddress a = v6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
    char text[INET6_ADDRSTRLEN];
    EXPECT_EQ(format_ip(a, IpFamily::v6, text, sizeof text), 39u);
    EXPECT_STREQ(text, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
    std::memset(text, 'x', sizeof text);
    EXPECT_EQ(format_ip(a, IpFamily::v6, text, 39), 0u);  // no room for the NUL
    EXPECT_STREQ(text, "");
    EXPECT_EQ(format_ip(v4("1.2.3.4"), IpFamily::v4, text, 8), 7u);
    EXPECT_STREQ(text, "1.2.3.4");
}

TEST(EventJson, EveryNumericFieldAtItsExtremes) {
    ResetEvent e = sample_event();
    e.ts_ns = UINT64_MAX;
    e.first_ts_ns = 0;
    e.last_ts_ns = UINT64_MAX;
    e.id = UINT64_MAX;
    e.orig_p = 0;
    e.resp_p = 65535;
    e.vlan_outer = 4095;
    e.vlan_inner = 0xFFFE;
    e.rst_count = UINT32_MAX;
    e.orig_pkts = 0;
    e.resp_pkts = UINT32_MAX;
    e.orig_bytes = UINT64_MAX;
    e.resp_bytes = 0;
    e.rst_ttl = 0;
    e.usual_ttl = 255;
    e.idle_before_ms = UINT32_MAX;
    e.mptcp_reset_reason = 255;
    e.evidence |= evidence_bit(Evidence::mptcp_reset_reason);
    EXPECT_EQ(
        checked_json(e),
        R"({"ts":18446744073.709551,"type":"reset","id":18446744073709551615,"orig_h":"192.0.2.1","orig_p":0,)"
        R"("resp_h":"198.51.100.2","resp_p":65535,"vlan":4095,"vlan_inner":65534,)"
        R"("orig_guessed":false,"rst_by":"resp","rst_count":4294967295,"orig_pkts":0,)"
        R"("orig_bytes":18446744073709551615,"resp_pkts":4294967295,"resp_bytes":0,)"
        R"("duration":18446744073.709551,"age_at_rst":18446744073.709551,)"
        R"("conn_state":"RSTR","history":"ShADadFr","cause":"resp_abort",)"
        R"("confidence":"high","seq_check":"exact",)"
        R"("evidence":["seq_exact","fin_before","mptcp_reset_reason"],"rst_ttl":0,)"
        R"("usual_ttl":255,"rst_origin":"unknown","idle_before":4294967.295,)"
        R"("mptcp_reset_reason":255})");
}

TEST(EventJson, EveryDecimalWidth) {
    // 0, 9, 10, 99, 100, ... 10^19: each digit count and its boundary, as fmt wrote them.
    ResetEvent e = sample_event();
    uint64_t power = 1;
    for (int digits = 1; digits <= 20; ++digits) {
        for (uint64_t value : {power - 1, power, power + 1, power * 5}) {
            e.orig_bytes = value;
            std::string json = checked_json(e);
            EXPECT_NE(json.find(",\"orig_bytes\":" + std::to_string(value) + ","),
                      std::string::npos)
                << json;
        }
        if (digits < 20) power *= 10;
    }
    std::vector<uint64_t> paired;  // written in pairs from a table: every small value, the rest
    for (uint64_t value = 0; value < 1'000'100; value += value < 10'100 ? 1 : 97)
        paired.push_back(value);
    for (uint64_t value : {99'999ull, 100'000ull, 100'001ull, 999'999ull, 1'000'000ull})
        paired.push_back(value);
    for (uint64_t value : paired) {
        e.resp_bytes = value;
        ASSERT_NE(checked_json(e).find(",\"resp_bytes\":" + std::to_string(value) + ","),
                  std::string::npos)
            << value;
    }
    for (uint64_t us : {0ull, 1ull, 9ull, 10ull, 99'999ull, 100'000ull, 999'999ull}) {
        e.ts_ns = 7'000'000'000ull + us * 1000 + 999;
        std::string json = checked_json(e);
        char expected[32];
        std::snprintf(expected, sizeof expected, "{\"ts\":7.%06llu,",
                      static_cast<unsigned long long>(us));
        EXPECT_EQ(json.rfind(expected, 0), 0u) << json;
    }
    for (uint32_t ms : {0u, 5u, 50u, 500u, 1000u, 1005u, 999'999u}) {
        e.idle_before_ms = ms;
        char expected[32];
        std::snprintf(expected, sizeof expected, ",\"idle_before\":%u.%03u}", ms / 1000, ms % 1000);
        EXPECT_NE(checked_json(e).find(expected), std::string::npos) << ms;
    }
}

TEST(EventJson, HistoryEscapesEveryByteOutsidePrintableAscii) {
    ResetEvent e = sample_event();
    const unsigned char history[] = {'S', '"', '\\', 0x01, 0x7f, 0xc3, 0xa9, 'R', 0};
    std::memcpy(e.history, history, sizeof history);
    EXPECT_NE(checked_json(e).find(R"("history":"S\"\\\u0001\u007f\u00c3\u00a9R",)"),
              std::string::npos)
        << checked_json(e);
}

// Short histories take a 16-byte path (one load finds the NUL and checks every letter): around
// its edges, with bytes to escape inside and only past the NUL, the line is the byte-by-byte one.
TEST(EventJson, HistoryOfEveryLengthAroundSixteenBytes) {
    for (size_t length = 0; length < history_capacity; ++length) {
        for (int variant = 0; variant < 3; ++variant) {
            ResetEvent e = sample_event();
            std::memset(e.history, 0x01, history_capacity);  // past the NUL: must not show
            std::string expected;
            for (size_t i = 0; i < length; ++i) {
                char c = "ShADadFfRr"[i % 10];
                if (variant == 1 && i + 1 == length) c = '"';  // the last letter escaped
                if (variant == 2 && i == 0) c = static_cast<char>(0xc3);
                e.history[i] = c;
                expected += c == '"'                       ? std::string("\\\"")
                            : c == static_cast<char>(0xc3) ? std::string("\\u00c3")
                                                           : std::string(1, c);
            }
            e.history[length] = '\0';
            EXPECT_NE(checked_json(e).find("\"history\":\"" + expected + "\","), std::string::npos)
                << length << " " << variant << " " << checked_json(e);
        }
    }
}

// A worker never hands over more payload than the event holds; a length beyond it (a corrupted
// event) must not read past the array.
TEST(EventJson, PayloadLengthBeyondCapacityIsCut) {
    ResetEvent e = sample_event();
    std::memset(e.rst_payload, 'p', rst_payload_capacity);
    e.rst_payload_length = 255;
    std::string json = checked_json(e);
    EXPECT_NE(json.find("\"payload_in_rst\":\"" + std::string(rst_payload_capacity, 'p') + "\"}"),
              std::string::npos)
        << json;
}

TEST(EventJson, WidestLineFitsTheStatedBound) {
    ResetEvent e = sample_event();
    e.family = IpFamily::v6;
    e.orig_h = v6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
    e.resp_h = v6("::ffff:255.255.255.255");
    e.ts_ns = e.last_ts_ns = e.orig_bytes = e.resp_bytes = UINT64_MAX;
    e.first_ts_ns = 0;
    e.rst_count = e.orig_pkts = e.resp_pkts = e.idle_before_ms = UINT32_MAX;
    e.vlan_outer = e.vlan_inner = 0xFFFE;
    e.usual_ttl = e.rst_ttl = e.mptcp_reset_reason = e.hops_from_endpoint = 255;
    e.rst_origin = RstOrigin::endpoint;  // the longest name
    e.conn_state = ConnState::RSTOS0;
    e.cause = ResetCause::handshake_abort;
    e.evidence = ~EvidenceSet{0};
    std::memset(e.history, 0x01, history_capacity);
    std::memset(e.rst_payload, 0xff, rst_payload_capacity);
    e.rst_payload_length = rst_payload_capacity;
    e.app.proto = AppProto::http;
    e.app.method = 7;  // OPTIONS, the longest
    e.app.status = 599;
    std::memset(e.app.name, 0x01, app_name_capacity);
    e.app.name_length = app_name_capacity;
    std::memset(e.app.banner, 0x01, app_banner_capacity);
    e.app.banner_length = app_banner_capacity;
    e.app.flags = app_flag::name_cut;
    std::string json = checked_json(e);
    EXPECT_LE(json.size(), event_json_max_length);
    EXPECT_GT(json.size(), 1200u) << json;  // the case is as wide as it means to be

    // append_event_json appends the same line after what the buffer holds.
    fmt::memory_buffer out;
    out.append(std::string_view("prefix"));
    append_event_json(out, e);
    EXPECT_EQ(std::string(out.data(), out.size()), "prefix" + json);
}

}  // namespace
}  // namespace rstscope
