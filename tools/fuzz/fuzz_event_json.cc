// SPDX-License-Identifier: BSD-3-Clause
// Fuzz target: the event log line (append_event_json of include/rstscope/mgmt/event_json.h) for
// any ResetEvent a worker could hand over: every field from the input bytes, enumerations within
// their vocabularies, history and payload arbitrary bytes. The line must be one strict JSON object
// (RFC 8259, ASCII only, no duplicate keys, no line break) with the fields docs/events.md always
// lists, and its history and payload strings must decode back to the event's bytes.
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "rstscope/mgmt/event_json.h"

namespace {

using namespace rstscope;

[[noreturn]] void fail(const char* what, std::string_view line) {
    std::fprintf(stderr, "fuzz_event_json: %s in: %.*s\n", what, static_cast<int>(line.size()),
                 line.data());
    std::abort();
}

// Takes fields from the input in order; zeros once it runs out.
class FieldReader {
  public:
    FieldReader(const uint8_t* data, size_t size) : data_(data), size_(size) {}

    void bytes(void* out, size_t n) {
        size_t take = n < size_ - at_ ? n : size_ - at_;
        std::memset(out, 0, n);
        if (take > 0) std::memcpy(out, data_ + at_, take);
        at_ += take;
    }
    template <class T>
    T get() {
        T value;
        bytes(&value, sizeof value);
        return value;
    }
    template <class E>
    E choice() {
        return static_cast<E>(get<uint8_t>() % enum_count<E>);
    }

  private:
    const uint8_t* data_;
    size_t size_;
    size_t at_ = 0;
};

ResetEvent event_from(const uint8_t* data, size_t size) {
    FieldReader in(data, size);
    ResetEvent e{};
    e.ts_ns = in.get<uint64_t>();
    e.first_ts_ns = in.get<uint64_t>();
    e.last_ts_ns = in.get<uint64_t>();
    in.bytes(e.orig_h.bytes, sizeof e.orig_h.bytes);
    in.bytes(e.resp_h.bytes, sizeof e.resp_h.bytes);
    e.orig_p = in.get<uint16_t>();
    e.resp_p = in.get<uint16_t>();
    e.vlan_outer = in.get<uint16_t>();
    e.vlan_inner = in.get<uint16_t>();
    uint8_t flags = in.get<uint8_t>();
    e.family = (flags & 1) ? IpFamily::v6 : IpFamily::v4;
    e.orig_guessed = flags & 2;
    e.rst_by_orig = flags & 4;
    e.conn_state = in.choice<ConnState>();
    e.cause = in.choice<ResetCause>();
    e.confidence = in.choice<Confidence>();
    e.seq_check = in.choice<SeqCheck>();
    e.rst_ttl = in.get<uint8_t>();
    e.usual_ttl = in.get<uint8_t>();
    e.mptcp_reset_reason = in.get<uint8_t>();
    e.rst_payload_length = in.get<uint8_t>() % (rst_payload_capacity + 1);
    e.worker = in.get<uint8_t>();
    e.rst_count = in.get<uint32_t>();
    e.orig_pkts = in.get<uint32_t>();
    e.resp_pkts = in.get<uint32_t>();
    e.rst_seq = in.get<uint32_t>();
    e.rst_ack = in.get<uint32_t>();
    e.idle_before_ms = in.get<uint32_t>();
    e.orig_bytes = in.get<uint64_t>();
    e.resp_bytes = in.get<uint64_t>();
    e.evidence = in.get<uint32_t>() & ((EvidenceSet{1} << enum_count<Evidence>)-1);
    in.bytes(e.history, sizeof e.history);  // NUL-terminated or not: the writer must cope
    in.bytes(e.rst_payload, sizeof e.rst_payload);
    return e;
}

// A strict RFC 8259 parser that only says yes or no, keeping the top-level object's string
// members (decoded, \u00XX back to the byte) for the round-trip check.
class StrictJson {
  public:
    explicit StrictJson(std::string_view text) : s_(text) {}

    bool top_object(std::map<std::string, std::string>& strings, std::set<std::string>& keys) {
        skip_space();
        if (!object(0, &strings, &keys)) return false;
        skip_space();
        return at_ == s_.size();
    }

  private:
    static constexpr int max_depth = 8;

    bool object(int depth, std::map<std::string, std::string>* strings,
                std::set<std::string>* keys) {
        if (!eat('{') || depth > max_depth) return false;
        std::set<std::string> seen;
        skip_space();
        if (eat('}')) return true;
        for (;;) {
            std::string key;
            skip_space();
            if (!string(key) || !seen.insert(key).second) return false;  // duplicates: not ours
            if (keys) keys->insert(key);
            skip_space();
            if (!eat(':')) return false;
            skip_space();
            std::string text;
            bool is_string = peek() == '"';
            if (!value(depth + 1, &text)) return false;
            if (strings && is_string) (*strings)[key] = text;
            skip_space();
            if (eat('}')) return true;
            if (!eat(',')) return false;
        }
    }

    bool array(int depth) {
        if (!eat('[') || depth > max_depth) return false;
        skip_space();
        if (eat(']')) return true;
        for (;;) {
            skip_space();
            if (!value(depth + 1, nullptr)) return false;
            skip_space();
            if (eat(']')) return true;
            if (!eat(',')) return false;
        }
    }

    bool value(int depth, std::string* text) {
        std::string ignored;
        switch (peek()) {
            case '{':
                return object(depth, nullptr, nullptr);
            case '[':
                return array(depth);
            case '"':
                return string(text ? *text : ignored);
            case 't':
                return word("true");
            case 'f':
                return word("false");
            case 'n':
                return word("null");
            default:
                return number();
        }
    }

    bool string(std::string& out) {
        if (!eat('"')) return false;
        while (at_ < s_.size()) {
            unsigned char c = static_cast<unsigned char>(s_[at_++]);
            if (c == '"') return true;
            if (c < 0x20 || c >= 0x7F) return false;  // controls; the log promises ASCII
            if (c != '\\') {
                out.push_back(static_cast<char>(c));
                continue;
            }
            if (at_ >= s_.size()) return false;
            char e = s_[at_++];
            static constexpr std::string_view simple = "\"\\/bfnrt", meaning = "\"\\/\b\f\n\r\t";
            if (auto i = simple.find(e); i != std::string_view::npos) {
                out.push_back(meaning[i]);
            } else if (e == 'u') {
                unsigned code = 0;
                for (int i = 0; i < 4; ++i) {
                    if (at_ >= s_.size() || !std::isxdigit(static_cast<unsigned char>(s_[at_])))
                        return false;
                    char h = s_[at_++];
                    code = code * 16 +
                           (std::isdigit(static_cast<unsigned char>(h))
                                ? h - '0'
                                : (std::tolower(static_cast<unsigned char>(h)) - 'a' + 10));
                }
                out.push_back(code <= 0xFF ? static_cast<char>(code) : '?');
            } else {
                return false;
            }
        }
        return false;
    }

    bool number() {
        size_t start = at_;
        eat('-');
        if (!eat('0') && !digits()) return false;  // no leading zeros: "01" stops after the 0
        if (eat('.') && !digits()) return false;
        if (eat('e') || eat('E')) {
            if (!eat('+')) eat('-');
            if (!digits()) return false;
        }
        return at_ > start;
    }

    bool digits() {
        size_t start = at_;
        while (at_ < s_.size() && s_[at_] >= '0' && s_[at_] <= '9')
            ++at_;
        return at_ > start;
    }

    bool word(std::string_view w) {
        if (s_.substr(at_, w.size()) != w) return false;
        at_ += w.size();
        return true;
    }

    char peek() const { return at_ < s_.size() ? s_[at_] : '\0'; }
    bool eat(char c) {
        if (peek() != c || at_ >= s_.size()) return false;
        ++at_;
        return true;
    }
    void skip_space() {
        while (at_ < s_.size() &&
               (s_[at_] == ' ' || s_[at_] == '\t' || s_[at_] == '\n' || s_[at_] == '\r'))
            ++at_;
    }

    std::string_view s_;
    size_t at_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    ResetEvent event = event_from(data, size);
    fmt::memory_buffer out;
    append_event_json(out, event);
    std::string_view line(out.data(), out.size());
    if (line.find('\n') != std::string_view::npos) fail("line break", line);
    std::map<std::string, std::string> strings;
    std::set<std::string> keys;
    if (!StrictJson(line).top_object(strings, keys)) fail("not strict JSON", line);
    for (std::string_view key :
         {"ts", "type", "id", "orig_h", "orig_p", "resp_h", "resp_p", "rst_by", "conn_state", "history", "cause",
          "confidence", "seq_check", "evidence"}) {
        if (keys.count(std::string(key)) == 0) fail("missing field", line);
    }
    std::string history(event.history, strnlen(event.history, history_capacity));
    if (strings["history"] != history) fail("history does not round-trip", line);
    std::string payload(reinterpret_cast<const char*>(event.rst_payload), event.rst_payload_length);
    bool has_payload = strings.count("payload_in_rst") != 0;
    if (has_payload != !payload.empty() || (has_payload && strings["payload_in_rst"] != payload))
        fail("payload does not round-trip", line);
    if (event_json(event) != line) fail("event_json differs from append_event_json", line);
    return 0;
}
