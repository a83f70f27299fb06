// SPDX-License-Identifier: BSD-3-Clause
#include "management.h"

#include <time.h>

#include <algorithm>

#include "rstscope/analysis/flow_tracker.h"  // ns_per_second
#include "rstscope/common/monotonic_clock.h"
#include "rstscope/config/duration.h"
#include "rstscope/mgmt/control_protocol.h"
#include "rstscope/mgmt/event_json.h"
#include "rstscope/mgmt/flow_answer.h"
#include "rstscope/mgmt/metrics.h"
#include "rstscope/mgmt/settle.h"
#include "service_manager.h"

namespace rstscope {
namespace {

constexpr uint32_t dequeue_batch = 256;
// A pass takes at most this many events from one ring, so that one busy worker (a capture's
// reader that waits for room) cannot starve the other rings, the storm release or the control
// socket.
constexpr uint32_t ring_budget_per_pass = 1024;
// Idle back-off: from a spin to this sleep. A busy-polling manager on a CPU shared with a worker
// halved that worker's rate in a prototype (12.9 → 5.5 Mpps).
constexpr long max_idle_sleep_ns = 1'000'000;
// Events judged and written per release, between two turns of the control socket.
constexpr size_t release_slice = 4096;
// Judged events that may wait to be written: a pass's from each ring (judged early at the storm
// window's bounds) and two release slices (finish() releases everything after a drain's release).
size_t judged_between_writes(size_t workers) {
    return 2 * release_slice + size_t{ring_budget_per_pass} * workers;
}
// While waiting for the log at the end of a run.
constexpr long finish_poll_ns = 200'000;
// A `flow` query is answered with what has come back by then; the rest are named as unanswered.
constexpr uint64_t flow_query_timeout_ns = 200'000'000;

void bump(std::array<uint64_t, management_counter_count>& c, ManagementCounter which,
          uint64_t n = 1) {
    c[static_cast<size_t>(which)] += n;
}

void sleep_ns(long ns) {
    timespec pause{0, ns};
    nanosleep(&pause, nullptr);
}

// The enum value whose name `text` is (a schema-checked choice, so it is one of them).
template <typename E, typename Names>
std::optional<E> named(const std::optional<std::string>& text, const Names& names) {
    if (!text) return std::nullopt;
    for (size_t i = 0; i < names.size(); ++i)
        if (names[i] == *text) return static_cast<E>(i);
    return std::nullopt;
}

uint64_t unix_seconds_to_ns(double seconds) {
    return static_cast<uint64_t>(seconds * static_cast<double>(ns_per_second));
}

FindingThresholds findings_thresholds(const Options& o) {
    FindingThresholds t;
    t.window_ns = seconds_to_ns(o.findings_window_s);
    t.hold_ns = seconds_to_ns(o.findings_hold_s);
    t.max_keys = o.findings_max_keys;
    t.storm_resets = o.findings_storm_resets;
    t.storm_rise = o.findings_storm_rise;
    t.storm_share = o.findings_storm_share_pct / 100.0;
    t.farm_hosts = o.findings_farm_hosts;
    t.scan_ports = o.findings_scan_ports;
    t.scan_hosts = o.findings_scan_hosts;
    t.backscatter_resets = o.findings_backscatter_resets;
    t.timer_resets = o.findings_timer_resets;
    t.timer_spread_ns = seconds_to_ns(o.findings_timer_spread_s);
    t.injector_resets = o.findings_injector_resets;
    return t;
}

}  // namespace

Management::Management(const Options& options, RunControl& run, std::vector<WorkerChannel*> workers,
                       const PortStatsSource& ports, std::unique_ptr<EventLog> log,
                       std::unique_ptr<ControlSocket> control,
                       std::unique_ptr<MetricsHttp> metrics_http)
    : options_(options),
      run_(run),
      workers_(std::move(workers)),
      ports_(ports),
      log_(std::move(log)),
      control_(std::move(control)),
      metrics_http_(std::move(metrics_http)),
      resets_(options.top_hosts_capacity, host_hash_),
      recent_(control_ ? options.recent_events : 0),
      tops_(control_ ? std::optional<TopTables>(options.top_hosts_capacity) : std::nullopt),
      storms_(options.storm_threshold, seconds_to_ns(options.storm_window_s),
              options.storm_max_pending, options.storm_max_hosts,
              static_cast<uint32_t>(judged_between_writes(workers_.size())), host_hash_),
      findings_(findings_thresholds(options)),
      settled_progress_(workers_.size(), 0) {
    // A vector left to grow by doubling copied them all at each step, into memory faulted anew.
    judged_.reserve(judged_between_writes(workers_.size()));
    if (!workers_.empty() && workers_.front()->signatures)
        signature_rules_ = workers_.front()->signatures->database().rules();
    if (!workers_.empty() && std::all_of(workers_.begin(), workers_.end(), [](WorkerChannel* w) {
            return w->connections != nullptr;
        })) {
        std::vector<const ConnectionWindows*> windows;
        for (WorkerChannel* w : workers_)
            windows.push_back(w->connections);
        connections_ = std::make_unique<SummedConnections>(std::move(windows));
        findings_.set_connections(connections_.get());
    }
    ControlHandlers handlers;
    handlers.stats = [this](const ControlArgs&) { return stats_answer(); };
    handlers.events = [this](const ControlArgs& args) { return events_answer(args); };
    handlers.top = [this](const ControlArgs& args) { return top_answer(args); };
    handlers.config = [this](const ControlArgs&) { return options_json(options_); };
    handlers.metrics = [this](const ControlArgs&) {
        std::string text = metrics_text(totals(), resets_, signature_matches(), &findings_);
        fmt::memory_buffer out;
        fmt::format_to(std::back_inserter(out), "{{\"metrics\":");
        append_json_string(out, text);
        out.push_back('}');
        return fmt::to_string(out);
    };
    handlers.log_reopen = [this](const ControlArgs&) { return log_reopen_answer(); };
    handlers.shutdown = [this](const ControlArgs&) { return shutdown_answer(); };
    handlers.flow = [this](const ControlArgs& args) { return flow_request(args); };
    handlers.findings = [this](const ControlArgs&) { return findings_answer_json(findings_); };
    register_control_commands(commands_, std::move(handlers), ready_);
}

// `stats` as the summary counts it, then each worker's own counters.
std::string Management::stats_answer() {
    std::string json = stats_json(totals(), resets_, signature_matches());
    json.pop_back();  // the closing brace: the per-worker rows follow
    fmt::memory_buffer out;
    auto it = std::back_inserter(out);
    fmt::format_to(it, ",\"per_worker\":[");
    for (size_t w = 0; w < workers_.size(); ++w) {
        fmt::format_to(it, "{}{{\"worker\":{}", w ? "," : "", w);
        for (size_t i = 0; i < worker_counter_count; ++i)
            fmt::format_to(it, ",\"{}\":{}", worker_counter_names[i],
                           workers_[w]->counters->get(static_cast<WorkerCounter>(i)));
        // The ring's occupancy now: events waiting for management (top --watch shows it).
        fmt::format_to(it, ",\"event_ring_used\":{},\"event_ring_capacity\":{}",
                       workers_[w]->events->count(), workers_[w]->events->capacity());
        out.push_back('}');
    }
    fmt::format_to(it, "]}}");
    return json + fmt::to_string(out);
}

// Posts the query to every worker and answers later (finish_flow_query): "" tells the control
// socket so. Never waits for a worker.
std::string Management::flow_request(const ControlArgs& args) {
    if (!control_) return control_error_json("flow needs the control socket");
    auto address = [](const std::optional<std::string>& text) -> std::optional<HostPrefix> {
        if (!text) return std::nullopt;
        auto prefix = HostPrefix::parse(*text);
        if (!prefix || prefix->length != (prefix->family == IpFamily::v4 ? 32 : 128))
            return std::nullopt;
        return prefix;
    };
    auto host = address(args.text("host"));
    if (!host) return control_error_json("flow needs host=ADDRESS (one address, v4 or v6)");
    FlowFilter filter;
    filter.host = host->address;
    filter.family = host->family;
    filter.port = static_cast<uint16_t>(args.integer("port").value_or(0));
    if (args.has("peer")) {
        auto peer = address(args.text("peer"));
        if (!peer || peer->family != host->family)
            return control_error_json(
                "invalid value for peer of flow: one address of host's family");
        filter.has_peer = true;
        filter.peer = peer->address;
        filter.peer_port = static_cast<uint16_t>(args.integer("peer_port").value_or(0));
    } else if (args.has("peer_port")) {
        return control_error_json("peer_port of flow needs peer");
    }
    if (flow_query_.active)
        return control_error_json("another flow query is being answered; retry in a moment");
    flow_query_.active = true;
    flow_query_.client = control_->answering_client();
    flow_query_.started_ns = monotonic_ns();
    flow_query_.numbers.assign(workers_.size(), 0);
    for (size_t w = 0; w < workers_.size(); ++w)
        if (workers_[w]->flows && !workers_[w]->finished.load(std::memory_order_acquire))
            flow_query_.numbers[w] = workers_[w]->flows->post(filter);
    return {};
}

// Called every pass: answers the query in flight once every worker it reached has answered, or
// at its timeout.
void Management::finish_flow_query() {
    if (!flow_query_.active) return;
    bool all = true;
    for (size_t w = 0; w < workers_.size(); ++w) {
        uint64_t n = flow_query_.numbers[w];
        if (n != 0 && !workers_[w]->flows->answered(n)) all = false;
    }
    if (!all && monotonic_ns() - flow_query_.started_ns < flow_query_timeout_ns) return;
    std::vector<WorkerFlows> parts(workers_.size());
    uint64_t now_ns = 0;  // the workers' clock (packet time for a capture): their latest progress
    for (size_t w = 0; w < workers_.size(); ++w) {
        uint64_t n = flow_query_.numbers[w];
        parts[w].worker = static_cast<unsigned>(w);
        now_ns = std::max(now_ns, workers_[w]->progress_ns.load(std::memory_order_acquire));
        if (n == 0 || !workers_[w]->flows->answered(n)) continue;
        parts[w].answered = true;
        parts[w].cut = workers_[w]->flows->cut();
        parts[w].flows = workers_[w]->flows->flows();
    }
    std::string json = flow_answer_json(parts, now_ns);
    control_->complete(flow_query_.client, "{\"ok\":true," + json.substr(1));
    flow_query_.active = false;
}

std::string Management::events_answer(const ControlArgs& args) const {
    EventFilter filter;
    filter.cause = named<ResetCause>(args.text("cause"), reset_cause_names);
    filter.confidence = named<Confidence>(args.text("confidence"), confidence_names);
    filter.conn_state = named<ConnState>(args.text("conn_state"), conn_state_names);
    if (auto host = args.text("host")) {
        filter.host = HostPrefix::parse(*host);
        if (!filter.host)
            return control_error_json(
                "invalid value for host of events: expected an address or "
                "a prefix such as 203.0.113.0/24 or 2001:db8::/32");
    }
    if (auto port = args.integer("port")) filter.port = static_cast<uint16_t>(*port);
    if (auto since = args.number("since")) filter.since_ns = unix_seconds_to_ns(*since);
    if (auto until = args.number("until")) filter.until_ns = unix_seconds_to_ns(*until);
    return recent_events_json(
        recent_, filter, static_cast<size_t>(args.integer("limit").value_or(20)), signature_rules_);
}

std::string Management::top_answer(const ControlArgs& args) const {
    TopQuery query;
    std::string by = args.text("by").value_or("resetters");
    query.by = by == "servers"   ? TopBy::servers
               : by == "clients" ? TopBy::clients
                                 : TopBy::resetters;
    std::string window = args.text("window").value_or("all");
    query.window_ns = window == "1m"    ? 60 * ns_per_second
                      : window == "10m" ? 600 * ns_per_second
                                        : 0;
    query.cause = named<ResetCause>(args.text("cause"), reset_cause_names);
    query.limit = static_cast<size_t>(args.integer("limit").value_or(10));
    return top_json(query, resets_.hosts(), *tops_, recent_);  // kept while a socket asks
}

std::string Management::log_reopen_answer() {
    std::string error;
    if (!reopen_log(error)) return control_error_json(error + " (still writing to the old file)");
    return R"({"reopened":true})";
}

// The same path as SIGTERM: workers drain, management writes the log and the summary follows.
std::string Management::shutdown_answer() {
    run_.stop.store(true);
    return R"({"stopping":true})";
}

bool Management::reopen_log(std::string& error) {
    if (!log_->reopen(error)) return false;
    bump(counters_, ManagementCounter::log_reopens);
    return true;
}

std::vector<SignatureMatches> Management::signature_matches() const {
    std::vector<SignatureMatches> out;
    for (size_t i = 0; i < signature_rules_.size(); ++i) {
        uint64_t sum = 0;
        for (const WorkerChannel* w : workers_)
            if (w->signatures) sum += w->signatures->matches(i);
        out.push_back({signature_rules_[i].id, sum});
    }
    return out;
}

// Writes the settled events in order. A capture may wait for a log that is slow but working (a pipe
// whose reader lags): released events stay unwritten, management stops taking new ones, the rings
// fill and the reader pauses. Live traffic cannot wait, and a log that fails (a full disk) is not
// waited for: what does not fit in its buffer is dropped and counted.
bool Management::write_judged() {
    for (;;) {
        if (!write_findings()) return false;
        if (judged_written_ >= judged_settled_) break;
        const StormWindow::Judged& judged = judged_[judged_written_];
        const ResetEventCore& event = judged.event();
        if (std::string_view line =
                write_event_line(*log_, event, judged.extras(), signature_rules_);
            !line.empty()) {
            record_written(line, &event);
        } else {
            if (!append_record(format_event_line(line_, event, judged.extras(), signature_rules_),
                               &event))
                return false;
        }
        last_event_written_ = event.id;
        ++judged_written_;
    }
    if (judged_written_ < judged_.size()) return false;
    judged_.clear();
    judged_written_ = judged_settled_ = 0;
    storms_.recycle();  // the judged events it kept in its pool are written
    return true;
}

void Management::queue_findings(uint64_t event_id, bool after_all) {
    for (FindingRecord& r : finding_scratch_) {
        // A finding raised by an event follows it; the records of windows the event closed
        // follow the event before it; those of windows the watermark closed follow every event
        // settled so far.
        uint64_t after = r.by_event || after_all || event_id == 0 ? event_id : event_id - 1;
        r.line.push_back('\n');
        findings_pending_.push_back({after, std::move(r.line)});
    }
    finding_scratch_.clear();
}

bool Management::write_findings() {
    while (findings_pending_written_ < findings_pending_.size()) {
        const PendingFinding& f = findings_pending_[findings_pending_written_];
        if (f.after > last_event_written_) return true;
        if (!append_record(f.line, nullptr)) return false;
        ++findings_logged_;
        ++findings_pending_written_;
    }
    findings_pending_.clear();
    findings_pending_written_ = 0;
    return true;
}

bool Management::append_record(std::string_view line, const ResetEventCore* event) {
    // Live traffic's management must keep draining the rings, so while it runs a line the
    // buffer has no room for is dropped and counted. A capture's waits for room (drain() takes
    // no more meanwhile, so its reader waits in turn), and so does every run's once it is
    // stopping: the workers then hand over every reset waiting out its linger, and the storm
    // window releases everything, far more at once than the buffer holds, which the wait would
    // otherwise drop. The stop's deadline bounds that wait (the workers give up at it, finish()
    // ends at it). A line no half of the buffer can hold is dropped and counted at once, never
    // waited for.
    bool stopping = finishing_ || run_.stop.load(std::memory_order_relaxed);
    bool wait = (run_.capture || stopping) && log_->last_error() == 0 && !log_->reader_gone() &&
                line.size() <= log_->longest_line();
    if (wait && log_->room() < line.size()) return false;
    log_->append(line);
    record_written(line, event);
    return true;
}

void Management::record_written(std::string_view line, const ResetEventCore* event) {
    line.remove_suffix(1);
    for (RecordObserver* observer : observers_)
        observer->record_written(line, event);
}

// Each judged event is settled once: its storm verdict applied and its tallies recorded.
void Management::settle_judged() {
    const SettleTargets targets{resets_, tops_ ? &recent_ : nullptr, tops_ ? &*tops_ : nullptr,
                                findings_, observers_};
    SettleAhead ahead(judged_, judged_settled_, findings_);
    for (; judged_settled_ < judged_.size(); ++judged_settled_) {
        const FindingLookups* planned = ahead.next(judged_settled_);
        if (settle_event(judged_[judged_settled_], ++events_numbered_, targets, finding_scratch_,
                         planned))
            bump(counters_, ManagementCounter::storm_upgrades);
        queue_findings(events_numbered_);
    }
}

uint64_t Management::watermark_for(uint64_t progress_ns) const noexcept {
    const uint64_t linger_ns = seconds_to_ns(options_.linger_s);
    return progress_ns > linger_ns ? progress_ns - linger_ns : 0;
}

void Management::release(bool everything) {
    // Judge only events no earlier event can still follow: the slowest worker's settled progress,
    // less the linger window its waiting resets may still spend.
    const uint64_t watermark =
        watermark_for(*std::min_element(settled_progress_.begin(), settled_progress_.end()));
    // In slices: a watermark that jumps (a capture's reader racing ahead) makes many events due
    // at once, and the control socket must not wait for all of them to be written.
    storms_.release(watermark, everything, judged_, release_slice);
    settle_judged();
    // Every event before the watermark is settled once none waits: windows that ended by then
    // close (live traffic that stops still clears its findings). A finished worker's progress
    // is no time: the end of the run clears what is open (finish()).
    bool any_finished = std::find(settled_progress_.begin(), settled_progress_.end(), UINT64_MAX) !=
                        settled_progress_.end();
    if (!everything && !any_finished && storms_.pending() == 0 && watermark != 0) {
        findings_.advance(watermark, finding_scratch_);
        queue_findings(events_numbered_, true);
    }
    write_judged();
}

uint32_t Management::drain() {
    if (!write_judged()) return 0;
    uint32_t total = 0;
    for (size_t i = 0; i < workers_.size(); ++i) {
        WorkerChannel* w = workers_[i];
        // Read before draining: a worker publishes its progress after handing over its events,
        // so once the ring has been emptied every event older than that progress is here. A ring
        // left non-empty by the per-pass budget keeps the progress of its last emptying.
        bool finished = w->finished.load(std::memory_order_acquire);
        uint64_t progress = w->progress_ns.load(std::memory_order_acquire);
        uint32_t taken = 0, n = 0;
        auto take = [this](ResetEvent& event) {
            for (RecordObserver* observer : observers_)
                observer->event_received(event);
            storms_.add(event, judged_);  // may judge the oldest early, at its bounds
        };
        while (taken < ring_budget_per_pass &&
               (n = w->events->sc_consume(
                    dequeue_batch, take, [this](const ResetEvent& e) { storms_.prefetch(e); },
                    StormWindow::add_lookahead)) > 0)
            taken += n;
        if (n == 0 || w->events->count() == 0)
            settled_progress_[i] = finished ? UINT64_MAX : progress;
        total += taken;
    }
    bump(counters_, ManagementCounter::events_received, total);
    release(false);
    return total;
}

void Management::serve_control() {
    if (metrics_http_)
        metrics_http_->serve(
            [this] { return metrics_text(totals(), resets_, signature_matches(), &findings_); },
            static_cast<int64_t>(monotonic_ns()));
    if (!control_) return;
    finish_flow_query();
    ControlSocket::Tally tally;
    control_->serve([this](std::string_view line) { return answer(line); }, tally);
    bump(counters_, ManagementCounter::control_requests, tally.requests);
    bump(counters_, ManagementCounter::control_clients_refused, tally.refused_clients);
    bump(counters_, ManagementCounter::control_clients_idle_closed, tally.evicted_idle);
    bump(counters_, ManagementCounter::control_clients_evicted, tally.evicted_for_room);
    bump(counters_, ManagementCounter::control_clients_not_reading, tally.dropped_not_reading);
    bump(counters_, ManagementCounter::control_requests_too_long, tally.requests_too_long);
}

// Signals and the log's state, looked at once per pass: SIGHUP reopens the log; a stop (signal,
// or standard output's reader gone) starts the shutdown clock; past the deadline the workers are
// told to give up waiting.
void Management::watch_requests(uint64_t now_ns) {
    if (run_.reopen_log.exchange(false)) {
        std::string error;
        if (!reopen_log(error))
            std::fprintf(stderr, "rstscope: error: %s (still writing to the old file)\n",
                         error.c_str());
    }
    if (log_->reader_gone() && !reader_gone_reported_) {
        reader_gone_reported_ = true;
        std::fprintf(stderr,
                     "rstscope: the event log's reader (standard output) went away: "
                     "stopping\n");
        run_.stop.store(true);
    }
    if (run_.stop.load() && shutdown_started_ns_ == 0) {
        shutdown_started_ns_ = now_ns;
        notify_service_manager("STOPPING=1");
    }
    if (shutdown_started_ns_ != 0 && !run_.abandon.load() &&
        now_ns - shutdown_started_ns_ > seconds_to_ns(options_.shutdown_timeout_s))
        run_.abandon.store(true);
}

// Ready once every reader polls its queues: `ping` says so, and a service manager is told (systemd
// Type=notify starts what depends on rstscope then, not when the process starts).
void Management::watch_readiness() {
    if (ready_ || run_.readers_polling.load(std::memory_order_acquire) < run_.readers) return;
    ready_ = true;
    notify_service_manager("READY=1");
}

CounterTotals Management::totals() {
    // The log's lines are events and findings.
    uint64_t lines = log_->lines_written();
    counters_[static_cast<size_t>(ManagementCounter::events_logged)] =
        lines - std::min(lines, findings_logged_);
    counters_[static_cast<size_t>(ManagementCounter::findings_logged)] = findings_logged_;
    counters_[static_cast<size_t>(ManagementCounter::findings_evicted)] = findings_.evicted();
    counters_[static_cast<size_t>(ManagementCounter::findings_untracked)] = findings_.untracked();
    if (connections_) {
        counters_[static_cast<size_t>(ManagementCounter::findings_connections_unknown)] =
            connections_->unknown();
        counters_[static_cast<size_t>(ManagementCounter::findings_connections_late)] =
            connections_->late();
    }
    counters_[static_cast<size_t>(ManagementCounter::log_write_errors)] = log_->write_errors();
    counters_[static_cast<size_t>(ManagementCounter::log_lines_dropped)] =
        log_->lines_dropped() + unwritten_at_exit_;
    copy_table_counters(storms_, resets_, counters_);
    std::vector<const WorkerCounters*> counters;
    for (WorkerChannel* w : workers_)
        counters.push_back(w->counters);
    PortDropTotals ports = ports_.drop_totals();
    auto management = counters_;
    management[static_cast<size_t>(ManagementCounter::rx_missed)] = ports.missed;
    management[static_cast<size_t>(ManagementCounter::rx_errors)] = ports.errors;
    CounterTotals totals = sum_counters(counters, management);
    for (const CounterSource* source : counter_sources_)
        source->add_to(totals);
    return totals;
}

std::string Management::answer(std::string_view request) {
    ControlCommands::Answer a = commands_.answer(request);
    if (!a.known) bump(counters_, ManagementCounter::control_bad_requests);
    return std::move(a.json);
}

void Management::populate(uint64_t events, uint64_t resetting_hosts) noexcept {
    // Reset-heavy lines are about 500 bytes (docs/performance.md); findings' records are few.
    constexpr uint64_t line_bytes = 512;
    // The hosts' estimate errs by 1.6 % (one standard error, FlowKeyTally): a sixteenth more and
    // 64 cover it; a host beyond takes its pages where it arrives, as all did before.
    storms_.populate(events, resetting_hosts + resetting_hosts / 16 + 64);
    // The judged events' records, reserved but never written yet (a copy's room each), written
    // once: within the capacity reserved, so nothing is allocated.
    const size_t judged = static_cast<size_t>(std::min<uint64_t>(events, judged_.capacity()));
    judged_.resize(judged, StormWindow::Judged(ResetEvent{}, false));
    judged_.clear();
    recent_.populate(events);
    log_->populate(static_cast<size_t>(
        std::min<uint64_t>(events, log_->capacity() / line_bytes + 1) * line_bytes));
}

void Management::run() {
    long idle_sleep_ns = 0;
    auto all_finished = [this] {
        return std::all_of(workers_.begin(), workers_.end(), [](WorkerChannel* w) {
            return w->finished.load(std::memory_order_acquire);
        });
    };
    for (;;) {
        bool finished = all_finished();  // read before draining: nothing can follow it
        uint32_t drained = drain();
        uint64_t now = monotonic_ns();
        for (RecordObserver* observer : observers_)
            observer->tick(now);
        log_->flush(now);
        serve_control();
        watch_requests(now);
        watch_readiness();
        if (finished) break;
        if (drained) {
            idle_sleep_ns = 0;
            continue;
        }
        idle_sleep_ns = std::min(max_idle_sleep_ns, idle_sleep_ns * 2 + 1000);
        sleep_ns(idle_sleep_ns);
    }
    finish();
}

// Every worker has finished: what is left is in the rings, the storm window and the log's buffer.
// It is written unless the wait would be useless or past its bound: a stop's deadline, or
// --shutdown-timeout from now for a log that fails. A capture's log that is merely slow is waited
// for (as a blocking writer would), but a signal still ends the wait at its deadline.
void Management::finish() {
    finishing_ = true;
    const uint64_t started = monotonic_ns();
    const uint64_t timeout = seconds_to_ns(options_.shutdown_timeout_s);
    for (;;) {
        uint64_t now = monotonic_ns();
        bool rings_empty = std::all_of(workers_.begin(), workers_.end(),
                                       [](WorkerChannel* w) { return w->events->count() == 0; });
        uint32_t pending_before = storms_.pending();
        uint32_t drained = drain();
        // Judge more only once what was judged is written: a judged event waits in `judged_`,
        // copied out of the pool beyond its first few, so releasing everything while a slow
        // log held the last ones grew it by the whole window (480 bytes an event), and the loop
        // never slept.
        if (rings_empty && drained == 0 && judged_.empty()) release(true);
        bool progressed = drained > 0 || storms_.pending() < pending_before;
        if (rings_empty && drained == 0 && storms_.pending() == 0 && !findings_finished_) {
            // The run's last event is settled: every open finding is cleared after it. A
            // capture's windows are first closed up to where its end lets the watermark reach,
            // whether or not management saw the workers' last progress before they finished, so
            // that the records do not depend on that timing (1 and N workers write the same).
            findings_finished_ = true;
            if (run_.capture) {
                const uint64_t end = run_.capture_now_ns.load(std::memory_order_relaxed);
                if (const uint64_t watermark = watermark_for(end); watermark != 0)
                    findings_.advance(watermark, finding_scratch_);
            }
            findings_.finish(finding_scratch_);
            queue_findings(events_numbered_, true);
        }
        bool written = write_judged() && storms_.pending() == 0 && findings_finished_;
        if (log_->flush(now) && written && rings_empty) break;
        serve_control();
        watch_requests(now);
        if (log_->reader_gone()) break;
        bool slow_but_working = run_.capture && log_->last_error() == 0;
        uint64_t from = shutdown_started_ns_ ? shutdown_started_ns_ : started;
        bool bounded = shutdown_started_ns_ != 0 || !slow_but_working;
        if (bounded && now - from > timeout) break;
        if (!progressed) sleep_ns(finish_poll_ns);
    }
    // Whatever did not reach the log now never will: say how much.
    uint64_t unwritten = (judged_.size() - judged_written_) + storms_.pending() +
                         (findings_pending_.size() - findings_pending_written_);
    for (WorkerChannel* w : workers_)
        unwritten += w->events->count();
    unwritten_at_exit_ = unwritten;
    for (RecordObserver* observer : observers_)
        observer->run_finished();
    log_->close();
}

}  // namespace rstscope
