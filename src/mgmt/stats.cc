#include "rstscope/mgmt/stats.h"

#include <algorithm>
#include <cstring>
#include <iterator>

#include <fmt/format.h>

#include "rstscope/mgmt/event_json.h"

namespace rstscope {

void StormWindow::add(const ResetEvent& event, std::string host) {
    // Kept sorted; events arrive in near time order, so this is an append but for stragglers.
    std::deque<uint64_t>& times = times_[host];
    if (times.empty() || times.back() <= event.ts_ns)
        times.push_back(event.ts_ns);
    else
        times.insert(std::upper_bound(times.begin(), times.end(), event.ts_ns), event.ts_ns);
    Order order{event.ts_ns, {}, event.orig_p, {}, event.resp_p};
    std::memcpy(std::get<1>(order).data(), event.orig_h.bytes, 16);
    std::memcpy(std::get<3>(order).data(), event.resp_h.bytes, 16);
    pending_.emplace(order, Pending{event, std::move(host)});
}

std::vector<StormWindow::Judged> StormWindow::release(uint64_t now_ns, bool everything) {
    std::vector<Judged> out;
    while (!pending_.empty()) {
        Pending& next = pending_.begin()->second;
        bool due =
            everything || pending_.size() > max_pending_ || next.event.ts_ns + window_ns_ < now_ns;
        if (!due) break;
        uint64_t ts = next.event.ts_ns;
        auto host = times_.find(next.host);
        std::deque<uint64_t>& times = host->second;
        uint64_t from = ts > window_ns_ ? ts - window_ns_ : 0, to = ts + window_ns_;
        // Events are judged in time order: times before this window matter to none still waiting.
        while (!times.empty() && times.front() < from)
            times.pop_front();
        // Enough to know the threshold is reached: at most `threshold_` steps, whatever the storm.
        uint32_t in_window = 0;
        for (auto it = times.begin(); it != times.end() && *it <= to && in_window < threshold_;
             ++it)
            ++in_window;
        if (times.empty()) times_.erase(host);
        out.push_back({next.event, std::move(next.host), in_window >= threshold_});
        pending_.erase(pending_.begin());
    }
    if (pending_.empty()) times_.clear();
    return out;
}

void ResetStatistics::record(const ResetEvent& event, const std::string& resetting_host) {
    ++causes_[static_cast<size_t>(event.cause)];
    ++states_[static_cast<size_t>(event.conn_state)];
    ++total_;
    ++hosts_[resetting_host];
}

std::vector<std::pair<std::string, uint64_t>> ResetStatistics::top_hosts(size_t n) const {
    std::vector<std::pair<std::string, uint64_t>> all(hosts_.begin(), hosts_.end());
    auto by_count = [](const auto& a, const auto& b) {
        return a.second != b.second ? a.second > b.second : a.first < b.first;
    };
    if (all.size() > n) {
        std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(n), all.end(),
                          by_count);
        all.resize(n);
    } else {
        std::sort(all.begin(), all.end(), by_count);
    }
    return all;
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

std::string stats_json(const CounterTotals& t, const ResetStatistics& resets) {
    fmt::memory_buffer out;
    auto it = std::back_inserter(out);
    fmt::format_to(it, "{{\"workers\":{}", t.workers);
    for (size_t i = 0; i < worker_counter_count; ++i)
        fmt::format_to(it, ",\"{}\":{}", worker_counter_names[i], t.worker[i]);
    for (size_t i = 0; i < management_counter_count; ++i)
        fmt::format_to(it, ",\"{}\":{}", management_counter_names[i], t.management[i]);
    uint64_t dropped = 0;
    for (uint64_t d : t.drops)
        dropped += d;
    fmt::format_to(it, ",\"dropped\":{},\"drops\":{{", dropped);
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
    for (const auto& [host, count] : resets.top_hosts(10)) {
        fmt::format_to(it, "{}{{\"host\":", first ? "" : ",");
        append_json_string(out, host);
        fmt::format_to(it, ",\"resets\":{}}}", count);
        first = false;
    }
    fmt::format_to(it, "]}}");
    return fmt::to_string(out);
}

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
        for (const auto& [host, count] : top)
            fmt::format_to(it, "  {:<40} {:>8}\n", host, count);
    }
    fmt::format_to(it, "drops and losses (every counter)\n");
    for (size_t i = 0; i < drop_reason_count; ++i)
        fmt::format_to(it, "  {:<24} {:>12}\n", drop_reason_names[i], t.drops[i]);
    for (WorkerCounter c : {WorkerCounter::events_ring_full, WorkerCounter::linger_queue_full,
                            WorkerCounter::dispatch_ring_full, WorkerCounter::payload_truncated,
                            WorkerCounter::tcp_option_malformed}) {
        fmt::format_to(it, "  {:<24} {:>12}\n", worker_counter_names[static_cast<size_t>(c)],
                       t.get(c));
    }
    for (ManagementCounter c : {ManagementCounter::log_write_errors, ManagementCounter::rx_missed,
                                ManagementCounter::rx_errors}) {
        fmt::format_to(it, "  {:<24} {:>12}\n", management_counter_names[static_cast<size_t>(c)],
                       t.get(c));
    }
    return fmt::to_string(out);
}

}  // namespace rstscope
