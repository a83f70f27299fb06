// SPDX-License-Identifier: BSD-3-Clause
// The management lcore: drains every worker's event ring, finishes each verdict that needs more
// than one connection (RST storms), writes the event log, keeps statistics and serves the control
// socket. It never blocks: the log is written without waiting (EventLog), clients are served
// without waiting (ControlSocket), and it backs off when idle so that it does not steal a shared
// CPU from a worker.
//
// Shutdown (a signal, the log's reader gone): the workers stop reading and hand over every pending
// reset while management keeps draining and writing; after --shutdown-timeout it tells them to
// give up (`abandon`) and what is left is counted as lost. A capture's end is the same without the
// deadline, except for a log that fails (a full disk), which gets the same bounded wait.
#pragma once

#include <array>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "../channel/worker_channel.h"
#include "control_socket.h"
#include "metrics_http.h"
#include "rstscope/config/options.h"
#include "rstscope/mgmt/event_json.h"
#include "rstscope/mgmt/event_log.h"
#include "rstscope/mgmt/findings.h"
#include "rstscope/mgmt/recent_events.h"
#include "rstscope/mgmt/record_observer.h"
#include "rstscope/mgmt/stats.h"
#include "rstscope/mgmt/top_queries.h"

namespace rstscope {

// The receive losses of every port, summed: what the NIC could not take (imissed) and what it
// failed on (ierrors + rx_nombuf).
struct PortDropTotals {
    uint64_t missed = 0;
    uint64_t errors = 0;
};

// Where management gets the ports' statistics: the composition root passes the datapath's, so
// management needs neither the ports nor DPDK's ethdev. Called on a stats request and at the end
// only, never per packet, from the management lcore.
class PortStatsSource {
  public:
    virtual ~PortStatsSource() = default;
    virtual PortDropTotals drop_totals() const = 0;
};

class Management {
  public:
    // `workers`: each worker's channel, in worker order; `ports` must outlive management.
    Management(const Options& options, RunControl& run, std::vector<WorkerChannel*> workers,
               const PortStatsSource& ports, std::unique_ptr<EventLog> log,
               std::unique_ptr<ControlSocket> control,
               std::unique_ptr<MetricsHttp> metrics_http = nullptr);

    // A capture's expected reset events and the hosts that sent them (its probe's estimates): the
    // storm window's pool and host records, the recent-events ring (if kept) and the log's buffer
    // take their pages now, while the workers read, instead of at the end of a capture whose
    // every reset lingered to its end, which the run then waits for (docs/performance.md).
    // Before run().
    void populate(uint64_t events, uint64_t resetting_hosts) noexcept;

    // Runs until every worker has finished and the log is written (or the deadline passed).
    void run();

    CounterTotals totals();
    // Per signature rule, matches summed over workers; empty without signatures.
    std::vector<SignatureMatches> signature_matches() const;
    const ResetStatistics& resets() const { return resets_; }
    const FindingsEngine& findings() const { return findings_; }

    // Registers a part that follows every record (see record_observer.h); it must outlive
    // management. Called before run(), in the order the observers are to be told.
    void observe(RecordObserver& observer) { observers_.push_back(&observer); }
    // Registers a part whose counters stats, metrics and the summary report (counters it fills in
    // CounterTotals); it must outlive management.
    void count_from(const CounterSource& source) { counter_sources_.push_back(&source); }

    // Writes one record (one line, ending in its newline) to the log and tells the observers: the
    // one way anything but an event's line formatted in place (write_judged) reaches the log.
    // `event` is the reset event it was formatted from, if any. Returns false, writing nothing,
    // when a capture run must first wait for room in the log.
    bool append_record(std::string_view line, const ResetEventCore* event = nullptr);

  private:
    uint32_t drain();
    bool write_judged();
    // Tells the observers of a record (ending in its newline) now in the log.
    void record_written(std::string_view line, const ResetEventCore* event);
    // Findings the engine returned for the event numbered `event_id` (0: none yet), queued to
    // follow it in the log (window records before it: they close what came earlier).
    void queue_findings(uint64_t event_id, bool after_all = false);
    // Writes the queued findings due after the last event written; false when the log must
    // first make room.
    bool write_findings();
    void settle_judged();
    // The packet time before which events may be judged once every worker has reached
    // `progress_ns`: no reset still lingering in a worker can be older. 0 while the linger
    // window reaches back past the start of time.
    uint64_t watermark_for(uint64_t progress_ns) const noexcept;
    void release(bool everything);
    void serve_control();
    void watch_requests(uint64_t now_ns);
    void watch_readiness();
    void finish();
    std::string answer(std::string_view request);
    bool reopen_log(std::string& error);
    // The control commands' handlers (registered once by the constructor).
    std::string stats_answer();
    std::string events_answer(const ControlArgs& args) const;
    std::string top_answer(const ControlArgs& args) const;
    std::string log_reopen_answer();
    std::string shutdown_answer();
    std::string flow_request(const ControlArgs& args);
    void finish_flow_query();

    const Options& options_;
    RunControl& run_;
    std::vector<WorkerChannel*> workers_;
    const PortStatsSource& ports_;
    std::unique_ptr<EventLog> log_;
    std::unique_ptr<ControlSocket> control_;
    std::unique_ptr<MetricsHttp> metrics_http_;  // --metrics-listen; null when not asked for
    ControlCommands commands_;  // registered by the constructor; answer() dispatches through it
    // One seed for the storm window's hosts and the resetters' sketch: the window's hash of an
    // event's resetter counts it there too (StormWindow::Judged::resetter_hash).
    HostHash host_hash_;
    ResetStatistics resets_;
    // The last --recent-events settled events, and the servers' and clients' sketches (the
    // resetters' is in resets_), for the control socket's `events` and `top` alone: without a
    // socket (--control none) nothing could read them, so they are neither kept nor fed (a ring of
    // no events, no tables). Initialised after control_ (declaration order), which decides it.
    RecentEvents recent_;
    std::optional<TopTables> tops_;
    StormWindow storms_;
    FindingsEngine findings_;
    // The workers' connections per service and window, for the rst_storm share; null when the
    // workers do not count them.
    std::unique_ptr<SummedConnections> connections_;
    std::vector<FindingRecord> finding_scratch_;  // what the engine returns, before queueing
    struct PendingFinding {
        uint64_t after;  // the id of the event it follows in the log
        std::string line;
    };
    std::vector<PendingFinding> findings_pending_;  // in log order
    size_t findings_pending_written_ = 0;
    uint64_t last_event_written_ = 0;  // id of the last event handed to the log
    uint64_t findings_logged_ = 0;     // finding records handed to the log
    bool findings_finished_ = false;
    bool finishing_ = false;  // every worker has finished (a stop, or the end of the input)
    std::array<uint64_t, management_counter_count> counters_{};
    std::vector<uint64_t> settled_progress_;   // per worker: all its events older than this are in
    std::vector<StormWindow::Judged> judged_;  // released, in log order, not yet written
    size_t judged_settled_ = 0;                // storm verdict applied and tallied
    size_t judged_written_ = 0;
    uint64_t events_numbered_ = 0;  // ids given so far: the last event's id
    fmt::memory_buffer line_;
    std::vector<RecordObserver*> observers_;
    std::vector<const CounterSource*> counter_sources_;
    SignatureRules signature_rules_;  // what events' signature hits name; empty without signatures
    uint64_t unwritten_at_exit_ = 0;  // events that never reached the log's buffer
    uint64_t shutdown_started_ns_ = 0;
    bool reader_gone_reported_ = false;
    // The one `flow` query in flight: posted to every worker, answered when all have answered or
    // after flow_query_timeout_ns (a second client meanwhile is told to retry).
    struct FlowQuery {
        bool active = false;
        uint64_t client = 0;  // ControlSocket::answering_client()
        uint64_t started_ns = 0;
        std::vector<uint64_t> numbers;  // per worker: its request's number, 0 when not posted
    } flow_query_;
    bool ready_ = false;  // every reader polls: `ping` answers "ready":true from then on
};

}  // namespace rstscope
