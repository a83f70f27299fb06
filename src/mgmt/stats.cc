// SPDX-License-Identifier: BSD-3-Clause
#include "rstscope/mgmt/stats.h"

#include <algorithm>
#include <iterator>

#include <fmt/format.h>

#include "rstscope/mgmt/event_json.h"

namespace rstscope {

void ResetStatistics::record(const ResetEventCore& event) noexcept {
    ++causes_[static_cast<size_t>(event.cause)];
    ++states_[static_cast<size_t>(event.conn_state)];
    ++total_;
    hosts_.add(HostKey::resetter_of(event));
}

void ResetStatistics::record(const ResetEventCore& event, uint64_t resetter_hash) noexcept {
    ++causes_[static_cast<size_t>(event.cause)];
    ++states_[static_cast<size_t>(event.conn_state)];
    ++total_;
    hosts_.add(HostKey::resetter_of(event), resetter_hash);
}

// Storms are a verdict about many connections, so only management, which sees every worker's
// events, can give it: a responder aborting while it resets many others is shedding load.
bool ResetStatistics::settle(StormWindow::Judged& judged) noexcept {
    ResetEventCore& event = judged.event();
    bool upgraded = false;
    if (judged.storm) {
        event.evidence |= evidence_bit(Evidence::rst_storm);
        if (event.cause == ResetCause::resp_abort) {
            event.cause = ResetCause::overload;
            event.confidence = Confidence::medium;
            upgraded = true;
        }
    }
    if (judged.resetter_hashed)
        record(event, judged.resetter_hash);
    else
        record(event);
    return upgraded;
}

CounterTotals sum_counters(const std::vector<const WorkerCounters*>& workers,
                           const std::array<uint64_t, management_counter_count>& management) {
    CounterTotals totals;
    totals.workers = static_cast<uint32_t>(workers.size());
    for (const WorkerCounters* w : workers) {
        for (size_t i = 0; i < worker_counter_count; ++i)
            totals.worker[i] += w->get(static_cast<WorkerCounter>(i));
        for (size_t i = 0; i < drop_reason_count; ++i)
            totals.drops[i] += w->get(static_cast<DropReason>(i));
    }
    totals.management = management;
    return totals;
}

uint64_t total_losses(const CounterTotals& t) {
    uint64_t sum = 0;
    for (uint64_t d : t.drops)
        sum += d;
    for (CounterRef c : loss_counters)
        sum += c.value(t);
    return sum;
}

uint64_t events_lost(const CounterTotals& t) {
    uint64_t sum = 0;
    for (CounterRef c : event_loss_counters)
        sum += c.value(t);
    return sum;
}

void copy_table_counters(const StormWindow& storms, const ResetStatistics& resets,
                         std::array<uint64_t, management_counter_count>& management) {
    management[static_cast<size_t>(ManagementCounter::storm_early_judged)] = storms.early_judged();
    management[static_cast<size_t>(ManagementCounter::storm_hosts_evicted)] =
        storms.hosts_evicted();
    management[static_cast<size_t>(ManagementCounter::top_hosts_evicted)] =
        resets.top_hosts_evicted();
}

std::string stats_json(const CounterTotals& t, const ResetStatistics& resets,
                       std::span<const SignatureMatches> signatures) {
    fmt::memory_buffer out;
    auto it = std::back_inserter(out);
    fmt::format_to(it, "{{\"workers\":{}", t.workers);
    for (size_t i = 0; i < worker_counter_count; ++i)
        fmt::format_to(it, ",\"{}\":{}", worker_counter_names[i], t.worker[i]);
    for (size_t i = 0; i < management_counter_count; ++i)
        fmt::format_to(it, ",\"{}\":{}", management_counter_names[i], t.management[i]);
    fmt::format_to(it, ",\"events_lost\":{},\"dropped\":{},\"drops\":{{", events_lost(t),
                   total_losses(t));
    for (size_t i = 0; i < drop_reason_count; ++i)
        fmt::format_to(it, "{}\"{}\":{}", i ? "," : "", drop_reason_names[i], t.drops[i]);
    fmt::format_to(it, "}},\"causes\":{{");
    for (size_t i = 0; i < enum_count<ResetCause>; ++i)
        fmt::format_to(it, "{}\"{}\":{}", i ? "," : "", reset_cause_names[i],
                       resets.by_cause(static_cast<ResetCause>(i)));
    fmt::format_to(it, "}},\"conn_states\":{{");
    for (size_t i = 0; i < enum_count<ConnState>; ++i)
        fmt::format_to(it, "{}\"{}\":{}", i ? "," : "", conn_state_names[i],
                       resets.by_state(static_cast<ConnState>(i)));
    fmt::format_to(it, "}},\"top_resetting_hosts\":[");
    bool first = true;
    for (const TopHost& top : resets.top_hosts(10)) {
        fmt::format_to(it, "{}{{\"host\":", first ? "" : ",");
        append_json_string(out, top.host);
        fmt::format_to(it, ",\"resets\":{},\"error\":{}}}", top.resets, top.error);
        first = false;
    }
    fmt::format_to(it, "]");
    for (size_t i = 0; i < signatures.size(); ++i)  // ids are [a-z0-9_]: nothing to escape
        fmt::format_to(it, "{}\"{}\":{}", i ? "," : ",\"signatures\":{", signatures[i].id,
                       signatures[i].matches);
    if (!signatures.empty()) fmt::format_to(it, "}}");
    if (t.exporter.enabled)
        fmt::format_to(it,
                       R"(,"export":{{"connected":{},"queue_depth":{},"in_flight":{},)"
                       R"("cpu_seconds":{:.6f}}})",
                       t.exporter.connected, t.exporter.queue_depth, t.exporter.in_flight,
                       static_cast<double>(t.exporter.cpu_ns) / 1e9);
    fmt::format_to(it, "}}");
    return fmt::to_string(out);
}

namespace {

// The counters' sections align their values on the longest counter name, not on a fixed width
// that some names overflow.
constexpr size_t counter_name_width = [] {
    size_t width = std::string_view("total").size();
    for (std::string_view name : drop_reason_names)
        width = std::max(width, name.size());
    auto widen = [&width](const auto& counters) {
        for (CounterRef c : counters)
            width = std::max(width, c.name().size());
    };
    widen(loss_counters);
    widen(anomaly_counters);
    widen(approximation_counters);
    return width;
}();

}  // namespace

std::string summary_text(const CounterTotals& t, const ResetStatistics& resets) {
    fmt::memory_buffer out;
    auto it = std::back_inserter(out);
    fmt::format_to(it, "rstscope summary\n");
    fmt::format_to(it, "  packets          {:>12}   ({} bytes)\n", t.get(WorkerCounter::packets),
                   t.get(WorkerCounter::bytes));
    fmt::format_to(it, "  tcp segments     {:>12}\n", t.get(WorkerCounter::tcp_packets));
    fmt::format_to(it, "  rst packets      {:>12}\n", t.get(WorkerCounter::rst_packets));
    fmt::format_to(it, "  flows            {:>12}   (expired {}, evicted {})\n",
                   t.get(WorkerCounter::flows_created), t.get(WorkerCounter::flows_expired),
                   t.get(WorkerCounter::flows_evicted));
    fmt::format_to(it, "  reset connections{:>12}\n", resets.total());
    if (uint64_t lost = events_lost(t)) {
        fmt::format_to(
            it, "  EVENTS LOST      {:>12}   (reset events that never reached the log:", lost);
        for (CounterRef c : event_loss_counters)
            fmt::format_to(it, " {} {}", c.name(), c.value(t));
        fmt::format_to(it, ")\n");
    }
    fmt::format_to(it, "resets by cause\n");
    for (size_t i = 0; i < enum_count<ResetCause>; ++i) {
        uint64_t n = resets.by_cause(static_cast<ResetCause>(i));
        if (n) fmt::format_to(it, "  {:<16} {:>12}\n", reset_cause_names[i], n);
    }
    fmt::format_to(it, "resets by conn_state\n");
    for (size_t i = 0; i < enum_count<ConnState>; ++i) {
        uint64_t n = resets.by_state(static_cast<ConnState>(i));
        if (n) fmt::format_to(it, "  {:<16} {:>12}\n", conn_state_names[i], n);
    }
    auto top = resets.top_hosts(5);
    if (!top.empty()) {
        fmt::format_to(it, "top resetting hosts\n");
        for (const TopHost& host : top) {
            fmt::format_to(it, "  {:<40} {:>8}", host.host, host.resets);
            if (host.error) fmt::format_to(it, "  (may be up to {} fewer)", host.error);
            fmt::format_to(it, "\n");
        }
    }
    auto named = [&](std::string_view name, uint64_t value) {
        fmt::format_to(it, "  {:<{}} {:>12}\n", name, counter_name_width, value);
    };
    auto line = [&](CounterRef c) { named(c.name(), c.value(t)); };
    fmt::format_to(it, "drops and losses (every counter)\n");
    for (size_t i = 0; i < drop_reason_count; ++i)
        named(drop_reason_names[i], t.drops[i]);
    for (CounterRef c : loss_counters)
        line(c);
    named("total", total_losses(t));
    fmt::format_to(it, "anomalies (counted, analysed anyway)\n");
    for (CounterRef c : anomaly_counters)
        line(c);
    fmt::format_to(it, "bounded tables (verdicts or tallies approximated)\n");
    for (CounterRef c : approximation_counters)
        line(c);
    return fmt::to_string(out);
}

}  // namespace rstscope
