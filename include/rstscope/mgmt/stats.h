// Statistics the management lcore keeps: worker counters summed, reset verdicts aggregated, the
// RST-storm detector, and the two renderings (stats JSON for the control socket, the human
// summary at the end of a capture). Management thread only.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "rstscope/analysis/reset_event.h"
#include "rstscope/common/counters.h"

namespace rstscope {

#define RSTSCOPE_MANAGEMENT_COUNTERS(X)                                                        \
    X(events_received, "reset events taken from the worker rings")                             \
    X(events_logged, "reset events written to the event log")                                  \
    X(log_write_errors, "event log writes that failed (disk full, closed pipe)")               \
    X(storm_upgrades, "aborts reclassified as overload because their host was in a RST storm") \
    X(control_requests, "requests answered on the control socket")                             \
    X(control_bad_requests, "control requests refused as malformed or unknown")                \
    X(control_clients_refused, "control connections refused: too many clients")                \
    X(rx_missed, "packets the NIC or vdev dropped before rstscope saw them (imissed)")         \
    X(rx_errors, "receive errors reported by the ports (ierrors, rx_nombuf)")

enum class ManagementCounter : uint8_t { RSTSCOPE_MANAGEMENT_COUNTERS(RSTSCOPE_ENUM_ENTRY) count };
inline constexpr size_t management_counter_count = static_cast<size_t>(ManagementCounter::count);
inline constexpr std::array<std::string_view, management_counter_count> management_counter_names{
    RSTSCOPE_MANAGEMENT_COUNTERS(RSTSCOPE_NAME_ENTRY)};
inline constexpr std::array<std::string_view, management_counter_count>
    management_counter_descriptions{RSTSCOPE_MANAGEMENT_COUNTERS(RSTSCOPE_DESCRIPTION_ENTRY)};

// RST storms: a host that resets many connections within a short time is shedding load. Events
// wait here for one storm window of time so that a storm's first resets are recognised as well as
// its last: an event is judged on the resets by the same host within its window on both sides.
// Memory is bounded: past `max_pending` events the oldest are judged early.
class StormWindow {
  public:
    struct Judged {
        ResetEvent event;
        std::string host;  // the resetting host, as text
        bool storm;
    };

    StormWindow(uint32_t threshold, uint64_t window_ns, size_t max_pending = 1u << 18)
        : threshold_(threshold), window_ns_(window_ns), max_pending_(max_pending) {}

    void add(const ResetEvent& event, std::string host);
    // Judges and hands out, in time order, the events whose window closed before `now_ns` (a
    // time before which no further event can arrive); every event when `everything`.
    std::vector<Judged> release(uint64_t now_ns, bool everything = false);
    size_t pending() const { return pending_.size(); }

  private:
    struct Pending {
        ResetEvent event;
        std::string host;
    };
    uint32_t threshold_;
    uint64_t window_ns_;
    size_t max_pending_;
    // By RST time, then by connection, so the log's order does not depend on which worker was
    // faster: one worker or several write the same file.
    using Order =
        std::tuple<uint64_t, std::array<uint8_t, 16>, uint16_t, std::array<uint8_t, 16>, uint16_t>;
    std::multimap<Order, Pending> pending_;
    std::unordered_map<std::string, std::deque<uint64_t>> times_;  // per host, sorted
};

class ResetStatistics {
  public:
    void record(const ResetEvent& event, const std::string& resetting_host);
    uint64_t by_cause(ResetCause c) const { return causes_[static_cast<size_t>(c)]; }
    uint64_t by_state(ConnState s) const { return states_[static_cast<size_t>(s)]; }
    uint64_t total() const { return total_; }
    std::vector<std::pair<std::string, uint64_t>> top_hosts(size_t n) const;

  private:
    std::array<uint64_t, enum_count<ResetCause>> causes_{};
    std::array<uint64_t, enum_count<ConnState>> states_{};
    std::map<std::string, uint64_t> hosts_;
    uint64_t total_ = 0;
};

// Worker counters summed over all workers, plus management's own.
struct CounterTotals {
    std::array<uint64_t, worker_counter_count> worker{};
    std::array<uint64_t, drop_reason_count> drops{};
    std::array<uint64_t, management_counter_count> management{};
    uint32_t workers = 0;

    uint64_t get(WorkerCounter c) const { return worker[static_cast<size_t>(c)]; }
    uint64_t get(DropReason r) const { return drops[static_cast<size_t>(r)]; }
    uint64_t get(ManagementCounter c) const { return management[static_cast<size_t>(c)]; }
};

CounterTotals sum_counters(const std::vector<const WorkerCounters*>& workers,
                           const std::array<uint64_t, management_counter_count>& management);

// The `stats` answer: flat counters (every drop reason included, zero or not) and verdict tallies.
std::string stats_json(const CounterTotals& totals, const ResetStatistics& resets);

// The end-of-capture summary for people.
std::string summary_text(const CounterTotals& totals, const ResetStatistics& resets);

}  // namespace rstscope
