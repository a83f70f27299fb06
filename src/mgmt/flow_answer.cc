// SPDX-License-Identifier: BSD-3-Clause
#include "rstscope/mgmt/flow_answer.h"

#include <iterator>

#include <fmt/format.h>

#include "rstscope/analysis/verdict.h"
#include "rstscope/mgmt/event_json.h"

namespace rstscope {
namespace {

std::string_view lifecycle_name(Lifecycle lifecycle) {
    switch (lifecycle) {
        case Lifecycle::half_open:
            return "half_open";
        case Lifecycle::established:
            return "established";
        case Lifecycle::closed:
            return "closed";
    }
    return "?";
}

double seconds_between(uint64_t from_ns, uint64_t to_ns) {
    return to_ns > from_ns ? static_cast<double>(to_ns - from_ns) / 1e9 : 0.0;
}

void append_side(fmt::memory_buffer& out, std::string_view role, const FlowSideSnapshot& side,
                 IpFamily family) {
    auto it = std::back_inserter(out);
    fmt::format_to(it,
                   "\"{}_h\":\"{}\",\"{}_p\":{},\"{}_pkts\":{},\"{}_bytes\":{},\"{}_ttl\":{},"
                   "\"{}_ttl_varied\":{},",
                   role, ip_text(side.address, family), role, side.port, role, side.packets, role,
                   side.payload_bytes, role, side.ttl_first, role, side.ttl_varied);
}

void append_flow(fmt::memory_buffer& out, unsigned worker, const FlowSnapshot& flow,
                 uint64_t now_ns) {
    auto it = std::back_inserter(out);
    fmt::format_to(it, "{{\"worker\":{},", worker);
    append_side(out, "orig", flow.orig, flow.family);
    append_side(out, "resp", flow.resp, flow.family);
    auto vlan = [](uint16_t id) {
        return id == vlan_none ? std::string("null") : std::to_string(id);
    };
    char history[zeek_history_max_letters + 2];
    size_t history_length = zeek_history(flow.zeek, history, sizeof history);
    ConnState state = zeek_conn_state(flow.zeek);
    fmt::format_to(it, "\"vlan\":{},\"vlan_inner\":{},\"conn_state\":\"{}\",\"history\":",
                   vlan(flow.vlan_outer), vlan(flow.vlan_inner), name_of(state));
    append_json_string(out, std::string_view(history, history_length));
    fmt::format_to(it, ",\"lifecycle\":\"{}\",\"resets\":{},\"age_s\":{:.3f},\"idle_s\":{:.3f}}}",
                   lifecycle_name(flow.lifecycle), flow.rst_count,
                   seconds_between(flow.first_ns, now_ns), seconds_between(flow.last_ns, now_ns));
}

}  // namespace

std::string flow_answer_json(std::span<const WorkerFlows> workers, uint64_t now_ns) {
    fmt::memory_buffer out;
    auto it = std::back_inserter(out);
    fmt::format_to(it, "{{\"flows\":[");
    bool first = true, cut = false;
    for (const WorkerFlows& w : workers) {
        cut = cut || w.cut;
        for (const FlowSnapshot& flow : w.flows) {
            if (!first) out.push_back(',');
            append_flow(out, w.worker, flow, now_ns);
            first = false;
        }
    }
    fmt::format_to(it, "],\"cut\":{},\"unanswered_workers\":[", cut);
    first = true;
    for (const WorkerFlows& w : workers) {
        if (w.answered) continue;
        fmt::format_to(it, "{}{}", first ? "" : ",", w.worker);
        first = false;
    }
    fmt::format_to(it, "]}}");
    return fmt::to_string(out);
}

}  // namespace rstscope
