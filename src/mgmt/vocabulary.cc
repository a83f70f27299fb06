// SPDX-License-Identifier: BSD-3-Clause
#include "rstscope/mgmt/vocabulary.h"

#include <iterator>

#include <fmt/format.h>

#include "rstscope/analysis/app_identity.h"
#include "rstscope/analysis/verdict.h"
#include "rstscope/config/build_facts.h"
#include "rstscope/mgmt/stats.h"

namespace rstscope {
namespace {

constexpr std::array<std::string_view, 2> rst_by_names{"orig", "resp"};
// The log holds records of several types; a reset event is one of them.
constexpr std::array<std::string_view, 1> record_type_reset{"reset"};

using Type = EventFieldType;

void append_names(fmt::memory_buffer& out, std::span<const std::string_view> names) {
    fmt::format_to(std::back_inserter(out), "[\"{}\"]", fmt::join(names, "\",\""));
}

// [{"name":..,"type":..,"always":..,"values":[..]}, ..]; an object's entry adds its "members".
void append_fields(fmt::memory_buffer& out, std::span<const EventField> fields) {
    auto it = std::back_inserter(out);
    const char* separator = "";
    fmt::format_to(it, "[");
    for (const EventField& f : fields) {
        fmt::format_to(it, "{}{{\"name\":\"{}\",\"type\":\"{}\",\"always\":{},\"values\":[",
                       separator, f.name, name_of(f.type), f.always);
        if (!f.values.empty()) fmt::format_to(it, "\"{}\"", fmt::join(f.values, "\",\""));
        fmt::format_to(it, "]");
        if (!f.members.empty()) {
            fmt::format_to(it, ",\"members\":");
            append_fields(out, f.members);
        }
        fmt::format_to(it, "}}");
        separator = ",";
    }
    fmt::format_to(it, "]");
}

// The types a tunnel field may name: every type but `none` (no tunnel, no field).
constexpr std::span<const std::string_view> tunnel_types = std::span(tunnel_type_names).subspan(1);

// clang-format off
const std::array<EventField, 5> tunnel_fields{{
    {"type", Type::string, true, tunnel_types},
    {"id", Type::integer, false, {}},
    {"outer_src", Type::string, false, {}},
    {"outer_dst", Type::string, false, {}},
    {"outermost", Type::string, false, tunnel_types},
}};
// The protocols an app object may name (not `none`: then there is no object) and the methods.
constexpr std::span<const std::string_view> app_protos = std::span(app_proto_names).subspan(1);
constexpr std::span<const std::string_view> app_methods = std::span(http_method_names).subspan(1);

const std::array<EventField, 7> app_fields{{
    {"proto", Type::string, true, app_protos},
    {"method", Type::string, false, app_methods},
    {"host", Type::string, false, {}},
    {"sni", Type::string, false, {}},
    {"status", Type::integer, false, {}},
    {"banner", Type::string, false, {}},
    {"truncated", Type::boolean, false, {}},
}};

const std::array<EventField, 3> pcap_fields{{
    {"file", Type::string, true, {}},
    {"offset", Type::integer, true, {}},
    {"packets", Type::integer, true, {}},
}};
// clang-format on

}  // namespace

// clang-format off
const std::array<EventField, 36> event_fields{{
    {"ts", Type::number, true, {}},
    {"type", Type::string, true, record_type_reset},
    {"id", Type::integer, true, {}},
    {"orig_h", Type::string, true, {}},
    {"orig_p", Type::integer, true, {}},
    {"resp_h", Type::string, true, {}},
    {"resp_p", Type::integer, true, {}},
    {"vlan", Type::integer, false, {}},
    {"vlan_inner", Type::integer, false, {}},
    {"tunnel", Type::object, false, {}, tunnel_fields},
    {"orig_guessed", Type::boolean, true, {}},
    {"rst_by", Type::string, true, rst_by_names},
    {"rst_count", Type::integer, true, {}},
    {"rst_spacing", Type::number, false, {}},
    {"orig_pkts", Type::integer, true, {}},
    {"orig_bytes", Type::integer, true, {}},
    {"resp_pkts", Type::integer, true, {}},
    {"resp_bytes", Type::integer, true, {}},
    {"duration", Type::number, true, {}},
    {"age_at_rst", Type::number, true, {}},
    {"conn_state", Type::string, true, conn_state_names},
    {"history", Type::string, true, {}},
    {"cause", Type::string, true, reset_cause_names},
    {"confidence", Type::string, true, confidence_names},
    {"seq_check", Type::string, true, seq_check_names},
    {"evidence", Type::string_list, true, evidence_names},
    {"rst_ttl", Type::integer, true, {}},
    {"usual_ttl", Type::integer, false, {}},
    {"rst_origin", Type::string, true, rst_origin_names},
    {"hops_from_endpoint", Type::integer, false, {}},
    {"idle_before", Type::number, true, {}},
    {"payload_in_rst", Type::string, false, {}},
    {"mptcp_reset_reason", Type::integer, false, {}},
    {"signatures", Type::object_list, false, {}},
    {"app", Type::object, false, {}, app_fields},
    {"pcap", Type::object, false, {}, pcap_fields},
}};
// clang-format on

std::string_view name_of(EventFieldType type) {
    switch (type) {
        case Type::number:
            return "number";
        case Type::integer:
            return "integer";
        case Type::boolean:
            return "boolean";
        case Type::string:
            return "string";
        case Type::string_list:
            return "string_list";
        case Type::object:
            return "object";
        case Type::object_list:
            return "object_list";
    }
    return "unknown";
}

std::string vocabulary_json() {
    fmt::memory_buffer out;
    auto it = std::back_inserter(out);
    fmt::format_to(it, "{{\"version\":\"{}\",\"event_fields\":", rstscope_version);
    append_fields(out, event_fields);
    fmt::format_to(it, ",\"vocabularies\":{{\"cause\":");
    append_names(out, reset_cause_names);
    fmt::format_to(it, ",\"conn_state\":");
    append_names(out, conn_state_names);
    fmt::format_to(it, ",\"confidence\":");
    append_names(out, confidence_names);
    fmt::format_to(it, ",\"seq_check\":");
    append_names(out, seq_check_names);
    fmt::format_to(it, ",\"evidence\":");
    append_names(out, evidence_names);
    fmt::format_to(it, ",\"rst_origin\":");
    append_names(out, rst_origin_names);
    fmt::format_to(it, ",\"drop_reason\":");
    append_names(out, drop_reason_names);
    fmt::format_to(it, ",\"tunnel_type\":");
    append_names(out, tunnel_types);
    fmt::format_to(it, "}},\"counters\":[");
    bool first = true;
    for (size_t i = 0; i < worker_counter_count; ++i) {
        fmt::format_to(it, "{}{{\"name\":\"{}\",\"kind\":\"{}\"}}", first ? "" : ",",
                       worker_counter_names[i], name_of(worker_counter_kinds[i]));
        first = false;
    }
    for (size_t i = 0; i < management_counter_count; ++i)
        fmt::format_to(it, ",{{\"name\":\"{}\",\"kind\":\"{}\"}}", management_counter_names[i],
                       name_of(management_counter_kinds[i]));
    fmt::format_to(it, "]}}");
    return fmt::to_string(out);
}

}  // namespace rstscope
