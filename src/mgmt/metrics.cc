// SPDX-License-Identifier: BSD-3-Clause
#include "rstscope/mgmt/metrics.h"

#include <iterator>

#include <fmt/format.h>

namespace rstscope {
namespace {

// HELP text escapes backslash and newline (the exposition format's only two).
std::string help_text(std::string_view text) {
    std::string out;
    for (char c : text) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
    return out;
}

void family(fmt::memory_buffer& out, std::string_view name, std::string_view type,
            std::string_view help) {
    fmt::format_to(std::back_inserter(out), "# HELP rstscope_{} {}\n# TYPE rstscope_{} {}\n", name,
                   help_text(help), name, type);
}

}  // namespace

std::string metrics_text(const CounterTotals& t, const ResetStatistics& resets,
                         std::span<const SignatureMatches> signatures,
                         const FindingsEngine* findings) {
    fmt::memory_buffer out;
    auto it = std::back_inserter(out);
    family(out, "workers", "gauge", "worker lcores");
    fmt::format_to(it, "rstscope_workers {}\n", t.workers);
    for (size_t i = 0; i < worker_counter_count; ++i) {
        std::string name = fmt::format("{}_total", worker_counter_names[i]);
        family(out, name, "counter", worker_counter_descriptions[i]);
        fmt::format_to(it, "rstscope_{} {}\n", name, t.worker[i]);
    }
    for (size_t i = 0; i < management_counter_count; ++i) {
        std::string name = fmt::format("{}_total", management_counter_names[i]);
        family(out, name, "counter", management_counter_descriptions[i]);
        fmt::format_to(it, "rstscope_{} {}\n", name, t.management[i]);
    }
    family(out, "drops_total", "counter", "packets dropped, by reason (docs/reliability.md)");
    for (size_t i = 0; i < drop_reason_count; ++i)
        fmt::format_to(it, "rstscope_drops_total{{reason=\"{}\"}} {}\n", drop_reason_names[i],
                       t.drops[i]);
    family(out, "resets_total", "counter", "reset connections, by cause (docs/causes.md)");
    for (size_t i = 0; i < enum_count<ResetCause>; ++i)
        fmt::format_to(it, "rstscope_resets_total{{cause=\"{}\"}} {}\n", reset_cause_names[i],
                       resets.by_cause(static_cast<ResetCause>(i)));
    family(out, "resets_by_conn_state_total", "counter",
           "reset connections, by Zeek conn_state (docs/events.md)");
    for (size_t i = 0; i < enum_count<ConnState>; ++i)
        fmt::format_to(it, "rstscope_resets_by_conn_state_total{{conn_state=\"{}\"}} {}\n",
                       conn_state_names[i], resets.by_state(static_cast<ConnState>(i)));
    if (!signatures.empty()) {
        family(out, "signature_matches_total", "counter",
               "segments and RST payloads each signature matched (--signatures, by rule id)");
        for (const SignatureMatches& m : signatures)  // ids are [a-z0-9_]: no label escaping
            fmt::format_to(it, "rstscope_signature_matches_total{{id=\"{}\"}} {}\n", m.id,
                           m.matches);
    }
    family(out, "events_lost", "gauge", "reset events that never reached the log (sum of losses)");
    fmt::format_to(it, "rstscope_events_lost {}\n", events_lost(t));
    family(out, "dropped", "gauge", "every drop reason and loss counter, summed");
    fmt::format_to(it, "rstscope_dropped {}\n", total_losses(t));
    if (findings) {
        family(out, "findings_open", "gauge", "findings raised and not yet cleared, by kind");
        for (size_t k = 0; k < finding_kind_count; ++k)
            fmt::format_to(it, "rstscope_findings_open{{kind=\"{}\"}} {}\n", finding_kind_names[k],
                           findings->open_count(static_cast<FindingKind>(k)));
        family(out, "findings_raised_total", "counter", "findings raised since start, by kind");
        for (size_t k = 0; k < finding_kind_count; ++k)
            fmt::format_to(it, "rstscope_findings_raised_total{{kind=\"{}\"}} {}\n",
                           finding_kind_names[k],
                           findings->raised_count(static_cast<FindingKind>(k)));
    }
    if (t.exporter.enabled) {
        family(out, "export_connected", "gauge", "1 while the fleet exporter is connected to NATS");
        fmt::format_to(it, "rstscope_export_connected {}\n", t.exporter.connected);
        family(out, "export_queue_depth", "gauge",
               "event lines handed to the exporter, not yet acknowledged nor counted as lost");
        fmt::format_to(it, "rstscope_export_queue_depth {}\n", t.exporter.queue_depth);
        family(out, "export_in_flight", "gauge", "batches published, not yet acknowledged");
        fmt::format_to(it, "rstscope_export_in_flight {}\n", t.exporter.in_flight);
        family(out, "export_cpu_seconds_total", "counter", "CPU time of the exporter thread");
        fmt::format_to(it, "rstscope_export_cpu_seconds_total {:.6f}\n",
                       static_cast<double>(t.exporter.cpu_ns) / 1e9);
    }
    return fmt::to_string(out);
}

}  // namespace rstscope
