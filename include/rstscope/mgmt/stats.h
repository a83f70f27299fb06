// SPDX-License-Identifier: BSD-3-Clause
// Statistics the management lcore keeps: worker counters summed, reset verdicts aggregated, and
// the two renderings (stats JSON for the control socket, the human summary at the end of a
// capture). The bounded tables behind them are in top_hosts.h (top resetting hosts) and
// storm_window.h (RST storms). Management thread only.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "rstscope/analysis/reset_event.h"
#include "rstscope/common/counters.h"
#include "rstscope/mgmt/storm_window.h"
#include "rstscope/mgmt/top_hosts.h"

namespace rstscope {

#define RSTSCOPE_MANAGEMENT_COUNTERS(X)                                                            \
    X(events_received, volume, "reset events taken from the worker rings")                         \
    X(events_logged, volume, "reset events written to the event log")                              \
    X(log_write_errors, loss, "event log writes that failed (disk full, closed pipe)")             \
    X(log_lines_dropped, loss,                                                                     \
      "event lines never written: the log buffer was full, the log failed, or shutdown came "      \
      "before it drained")                                                                         \
    X(log_reopens, volume, "times the event log was reopened (SIGHUP or control request)")         \
    X(storm_upgrades, volume,                                                                      \
      "aborts reclassified as overload because their host was in a RST storm")                     \
    X(storm_early_judged, approximation,                                                           \
      "events judged before their storm window closed: too many waiting")                          \
    X(storm_hosts_evicted, approximation,                                                          \
      "hosts whose recent resets the storm window forgot: too many hosts")                         \
    X(top_hosts_evicted, approximation,                                                            \
      "hosts that lost their top-hosts counter to a newcomer (count bounded)")                     \
    X(findings_logged, volume, "finding records (raised, updated, cleared) written to the log")    \
    X(findings_evicted, approximation,                                                             \
      "findings table entries dropped for a newcomer: their counts start again (tables bounded)")  \
    X(findings_untracked, approximation,                                                           \
      "events a findings table could not follow: every entry it sampled held an open finding")     \
    X(findings_connections_unknown, approximation,                                                 \
      "storm candidates judged on rate alone: a worker reused its window's connection counts "     \
      "before management read them")                                                               \
    X(findings_connections_late, approximation,                                                    \
      "connections not counted for the storm share: older than the window their worker held")      \
    X(control_requests, volume, "requests answered on the control socket")                         \
    X(control_bad_requests, volume, "control requests refused as malformed or unknown")            \
    X(control_clients_refused, volume,                                                             \
      "control connections refused: peer credentials not allowed")                                 \
    X(control_clients_idle_closed, volume, "control clients closed after the idle timeout")        \
    X(control_clients_evicted, volume, "idlest control clients closed to make room for a new one") \
    X(control_clients_not_reading, volume, "control clients closed for not reading their answers") \
    X(control_requests_too_long, volume, "control requests over the size limit (client closed)")   \
    X(recorder_events, volume, "reset events whose packets the flight recorder wrote")             \
    X(recorder_packets, volume, "packets the flight recorder wrote to its pcapng files")           \
    X(recorder_bytes, volume, "bytes the flight recorder wrote to its pcapng files")               \
    X(recorder_files_deleted, volume,                                                              \
      "flight recorder files deleted to keep its directory within --recorder-files")               \
    X(recorder_evidence_lost, loss,                                                                \
      "reset events whose packets a worker overwrote before management wrote them "                \
      "(--recorder-blocks smaller than the backlog)")                                              \
    X(recorder_rotated_out, loss,                                                                  \
      "reset events whose packets' file was deleted (--recorder-files) before the event was "      \
      "logged")                                                                                    \
    X(recorder_write_errors, loss,                                                                 \
      "reset events whose packets could not be written (disk full, I/O error)")                    \
    X(rx_missed, loss,                                                                             \
      "packets the NIC or vdev dropped before rstscope saw them (imissed; for net_af_packet, "     \
      "what the kernel dropped at the port's full socket ring)")                                   \
    X(rx_errors, loss, "receive errors reported by the ports (ierrors, rx_nombuf)")                \
    X(export_lines, volume, "reset event lines handed to the fleet exporter (--export)")           \
    X(export_ring_full, loss,                                                                      \
      "event lines not exported: the exporter's ring was full (the stream away or slow)")          \
    X(export_acked, volume, "exported event lines the JetStream stream acknowledged")              \
    X(export_batches_acked, volume, "exported batches (messages) the stream acknowledged")         \
    X(export_resent_batches, volume,                                                               \
      "batches published again, identical, after an error or an acknowledgement timeout")          \
    X(export_duplicates, volume,                                                                   \
      "resent batches the stream already held (its duplicate window dropped the copy)")            \
    X(export_errors, volume, "publish attempts that failed or timed out (the batch is resent)")    \
    X(export_dropped, loss,                                                                        \
      "exported event lines given up unacknowledged at the end of the run (--export-timeout)")

enum class ManagementCounter : uint8_t {
    RSTSCOPE_MANAGEMENT_COUNTERS(RSTSCOPE_KINDED_ENUM_ENTRY) count
};
inline constexpr size_t management_counter_count = static_cast<size_t>(ManagementCounter::count);
inline constexpr std::array<std::string_view, management_counter_count> management_counter_names{
    RSTSCOPE_MANAGEMENT_COUNTERS(RSTSCOPE_KINDED_NAME_ENTRY)};
inline constexpr std::array<std::string_view, management_counter_count>
    management_counter_descriptions{
        RSTSCOPE_MANAGEMENT_COUNTERS(RSTSCOPE_KINDED_DESCRIPTION_ENTRY)};
inline constexpr std::array<CounterKind, management_counter_count> management_counter_kinds{
    RSTSCOPE_MANAGEMENT_COUNTERS(RSTSCOPE_KIND_ENTRY)};

class ResetStatistics {
  public:
    // `top_hosts_capacity` counters for the top resetting hosts (top_hosts.h: exact while that
    // many distinct hosts or fewer reset, within a stated error beyond).
    // `hash`: a copy of the storm window's HostHash, so that settle() counts the resetter by the
    // window's hash of it instead of hashing it again.
    explicit ResetStatistics(uint32_t top_hosts_capacity = 1024, HostHash hash = HostHash{})
        : hosts_(top_hosts_capacity, std::move(hash)) {}

    // O(1), no allocation: the host is counted by its binary address.
    void record(const ResetEventCore& event) noexcept;
    // The same, with the resetter's hash as this object's HostHash computed it.
    void record(const ResetEventCore& event, uint64_t resetter_hash) noexcept;
    // Management's step for each event the storm window judged: the storm verdict applied (its
    // evidence, and an abort by a storming responder becomes overload), then the tallies recorded
    // (a judgement's resetter_hash counts when the window was built with this object's HostHash).
    // Returns true for such an upgrade (management counts them as storm_upgrades).
    bool settle(StormWindow::Judged& judged) noexcept;
    uint64_t by_cause(ResetCause c) const { return causes_[static_cast<size_t>(c)]; }
    uint64_t by_state(ConnState s) const { return states_[static_cast<size_t>(s)]; }
    uint64_t total() const { return total_; }
    std::vector<TopHost> top_hosts(size_t n) const { return hosts_.top(n); }
    uint64_t top_hosts_evicted() const { return hosts_.evicted(); }
    const TopHostCounter& hosts() const { return hosts_; }

  private:
    std::array<uint64_t, enum_count<ResetCause>> causes_{};
    std::array<uint64_t, enum_count<ConnState>> states_{};
    TopHostCounter hosts_;
    uint64_t total_ = 0;
};

// The fleet exporter's state (--export): gauges beside its export_* counters.
struct ExportGauges {
    bool enabled = false;
    uint64_t connected = 0;    // 1 while connected to a NATS server
    uint64_t queue_depth = 0;  // lines handed over, not yet acknowledged nor counted as lost
    uint64_t in_flight = 0;    // batches published, not yet acknowledged
    uint64_t cpu_ns = 0;       // CPU time the exporter thread has used
};

// Worker counters summed over all workers, plus management's own.
struct CounterTotals {
    ExportGauges exporter;
    std::array<uint64_t, worker_counter_count> worker{};
    std::array<uint64_t, drop_reason_count> drops{};
    std::array<uint64_t, management_counter_count> management{};
    uint32_t workers = 0;

    uint64_t get(WorkerCounter c) const { return worker[static_cast<size_t>(c)]; }
    uint64_t get(DropReason r) const { return drops[static_cast<size_t>(r)]; }
    uint64_t get(ManagementCounter c) const { return management[static_cast<size_t>(c)]; }
};

// A part outside management that keeps counters of its own (the fleet exporter): management asks
// it to fill them in whenever it reports (stats, metrics, the summary). Any thread.
class CounterSource {
  public:
    virtual ~CounterSource() = default;
    virtual void add_to(CounterTotals& totals) const = 0;
};

CounterTotals sum_counters(const std::vector<const WorkerCounters*>& workers,
                           const std::array<uint64_t, management_counter_count>& management);

// One worker or management counter, named in a constexpr list.
struct CounterRef {
    enum class Block : uint8_t { worker, management };
    Block block;
    uint8_t index;

    constexpr CounterRef() : CounterRef(WorkerCounter::packets) {}
    constexpr CounterRef(WorkerCounter c) : block(Block::worker), index(static_cast<uint8_t>(c)) {}
    constexpr CounterRef(ManagementCounter c)
        : block(Block::management), index(static_cast<uint8_t>(c)) {}
    constexpr std::string_view name() const {
        return block == Block::worker ? worker_counter_names[index]
                                      : management_counter_names[index];
    }
    uint64_t value(const CounterTotals& t) const {
        return block == Block::worker ? t.worker[index] : t.management[index];
    }
    friend constexpr bool operator==(CounterRef, CounterRef) = default;
};

// The worker counters, then management's, whose kind is `kind`: made from the kind columns, so a
// counter is listed wherever its kind is as soon as it is defined.
constexpr size_t count_of_kind(CounterKind kind) {
    return static_cast<size_t>(
        std::count(worker_counter_kinds.begin(), worker_counter_kinds.end(), kind) +
        std::count(management_counter_kinds.begin(), management_counter_kinds.end(), kind));
}
template <CounterKind kind>
constexpr std::array<CounterRef, count_of_kind(kind)> counters_of_kind() {
    std::array<CounterRef, count_of_kind(kind)> out{};
    size_t n = 0;
    for (size_t i = 0; i < worker_counter_count; ++i)
        if (worker_counter_kinds[i] == kind) out[n++] = static_cast<WorkerCounter>(i);
    for (size_t i = 0; i < management_counter_count; ++i)
        if (management_counter_kinds[i] == kind) out[n++] = static_cast<ManagementCounter>(i);
    return out;
}

// Every loss besides the drop reasons (which are all losses): packets not analysed, received or
// forwarded, and reset events that never reached the log. `dropped` in stats, the summary's
// "drops and losses" section, total_losses() and events_lost() all read these two lists.
inline constexpr auto loss_counters = counters_of_kind<CounterKind::loss>();
// The losses that are reset events missing from the log (each is also in loss_counters).
inline constexpr std::array<CounterRef, 4> event_loss_counters{
    WorkerCounter::events_ring_full,
    WorkerCounter::events_outbox_full,
    WorkerCounter::events_lost_shutdown,
    ManagementCounter::log_lines_dropped,
};
static_assert(std::all_of(event_loss_counters.begin(), event_loss_counters.end(), [](auto c) {
    return std::find(loss_counters.begin(), loss_counters.end(), c) != loss_counters.end();
}));
// Anomalies: counted, yet the packet was analysed.
inline constexpr auto anomaly_counters = counters_of_kind<CounterKind::anomaly>();
// Bounded tables that forgot something: verdicts or tallies approximated, nothing lost.
inline constexpr auto approximation_counters = counters_of_kind<CounterKind::approximation>();

// Every drop reason plus every loss counter: the `dropped` of stats.
uint64_t total_losses(const CounterTotals& totals);
// Reset events that never reached the log: events_ring_full + events_outbox_full +
// events_lost_shutdown + log_lines_dropped.
uint64_t events_lost(const CounterTotals& totals);

// Copies the bounded tables' eviction counts into management's counters (storm_early_judged,
// storm_hosts_evicted, top_hosts_evicted): the tables own them, management reports them.
void copy_table_counters(const StormWindow& storms, const ResetStatistics& resets,
                         std::array<uint64_t, management_counter_count>& management);

// The `stats` answer: flat counters (every drop reason included, zero or not), `dropped` (every
// loss) and `events_lost`, verdict tallies and the top resetting hosts with their error bound.
// Its size is bounded: ten hosts at most.
// With signatures (--signatures), `signatures` maps each rule id to its matches summed over
// workers (segments or RST payloads in which the rule matched); absent without signatures.
struct SignatureMatches {
    std::string_view id;
    uint64_t matches;
};
std::string stats_json(const CounterTotals& totals, const ResetStatistics& resets,
                       std::span<const SignatureMatches> signatures = {});

// The end-of-capture summary for people.
std::string summary_text(const CounterTotals& totals, const ResetStatistics& resets);

}  // namespace rstscope
