#include "rstscope/mgmt/event_json.h"

#include <cstring>
#include <iterator>

namespace rstscope {
namespace {

// Seconds as a decimal with microsecond digits, without the rounding of a double.
void append_seconds(fmt::memory_buffer& out, uint64_t ns) {
    fmt::format_to(std::back_inserter(out), "{}.{:06}", ns / 1'000'000'000ull,
                   (ns % 1'000'000'000ull) / 1000);
}

}  // namespace

std::string ip_text(const IpAddress& address, IpFamily family) {
    char text[64];
    size_t n = format_ip(address, family, text, sizeof text);
    return std::string(text, n);
}

void append_json_string(fmt::memory_buffer& out, std::string_view text) {
    auto it = std::back_inserter(out);
    out.push_back('"');
    for (unsigned char c : text) {
        if (c == '"' || c == '\\') {
            out.push_back('\\');
            out.push_back(static_cast<char>(c));
        } else if (c >= 0x20 && c < 0x7F) {
            out.push_back(static_cast<char>(c));
        } else {
            fmt::format_to(it, "\\u{:04x}", c);
        }
    }
    out.push_back('"');
}

void append_event_json(fmt::memory_buffer& out, const ResetEvent& e) {
    auto it = std::back_inserter(out);
    fmt::format_to(it, "{{\"ts\":");
    append_seconds(out, e.ts_ns);
    fmt::format_to(it, ",\"orig_h\":\"{}\",\"orig_p\":{},\"resp_h\":\"{}\",\"resp_p\":{}",
                   ip_text(e.orig_h, e.family), e.orig_p, ip_text(e.resp_h, e.family), e.resp_p);
    if (e.vlan_outer != vlan_none) fmt::format_to(it, ",\"vlan\":{}", e.vlan_outer);
    if (e.vlan_inner != vlan_none) fmt::format_to(it, ",\"vlan_inner\":{}", e.vlan_inner);
    fmt::format_to(it,
                   ",\"orig_guessed\":{},\"rst_by\":\"{}\",\"rst_count\":{},\"orig_pkts\":{},"
                   "\"orig_bytes\":{},\"resp_pkts\":{},\"resp_bytes\":{},\"duration\":",
                   e.orig_guessed, e.rst_by_orig ? "orig" : "resp", e.rst_count, e.orig_pkts,
                   e.orig_bytes, e.resp_pkts, e.resp_bytes);
    append_seconds(out, e.last_ts_ns >= e.first_ts_ns ? e.last_ts_ns - e.first_ts_ns : 0);
    fmt::format_to(it, ",\"age_at_rst\":");
    append_seconds(out, e.ts_ns >= e.first_ts_ns ? e.ts_ns - e.first_ts_ns : 0);
    fmt::format_to(it, ",\"conn_state\":\"{}\",\"history\":", name_of(e.conn_state));
    append_json_string(out, std::string_view(e.history, strnlen(e.history, history_capacity)));
    fmt::format_to(it,
                   ",\"cause\":\"{}\",\"confidence\":\"{}\",\"seq_check\":\"{}\",\"evidence\":[",
                   name_of(e.cause), name_of(e.confidence), name_of(e.seq_check));
    bool first = true;
    for (size_t i = 0; i < enum_count<Evidence>; ++i) {
        if (!e.has(static_cast<Evidence>(i))) continue;
        fmt::format_to(it, "{}\"{}\"", first ? "" : ",", evidence_names[i]);
        first = false;
    }
    fmt::format_to(it, "],\"rst_ttl\":{}", e.rst_ttl);
    if (e.usual_ttl != 0) fmt::format_to(it, ",\"usual_ttl\":{}", e.usual_ttl);
    fmt::format_to(it, ",\"idle_before\":{}.{:03}", e.idle_before_ms / 1000,
                   e.idle_before_ms % 1000);
    if (e.rst_payload_length > 0) {
        fmt::format_to(it, ",\"payload_in_rst\":");
        append_json_string(out, std::string_view(reinterpret_cast<const char*>(e.rst_payload),
                                                 e.rst_payload_length));
    }
    if (e.has(Evidence::mptcp_reset_reason))
        fmt::format_to(it, ",\"mptcp_reset_reason\":{}", e.mptcp_reset_reason);
    out.push_back('}');
}

std::string event_json(const ResetEvent& event) {
    fmt::memory_buffer out;
    append_event_json(out, event);
    return fmt::to_string(out);
}

}  // namespace rstscope
