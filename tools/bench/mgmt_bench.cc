// SPDX-License-Identifier: BSD-3-Clause
// mgmt_bench: the management lcore's cost per reset event, EAL-free (issue 9, goal 1).
//
// usage: mgmt_bench [--events N] [--log FILE] [--no-control] [--callgrind]
//   --events N   events fed through management (default 2 000 000)
//   --no-control as rstscope --control none: no recent-events ring, no servers' and clients'
//                sketches (only the control socket's queries read them)
//   --log FILE   where the event log goes (default /tmp/rstscope-mgmt-bench.jsonl; removed after)
//   --callgrind  under `valgrind --tool=callgrind --collect-atstart=no`: collects only the timed
//                loop, and prints the event count for instructions/event
// Prints one line: events=... seconds=... events_per_s=... cpu_seconds=... events_per_cpu_s=...
// log_bytes=... bytes_per_event=... storm_upgrades=... findings=... (cpu: this thread's user and
// system time, what the rate would be with a CPU of its own on a shared machine; the kernel's
// write(2) is the log's writer thread's since 2026-12-06, not included).
//
// The events are real: the reset-heavy traffic of traffic_model.h (200 000 connections, each
// ending in a reset; a quarter IPv6, a quarter VLAN-tagged; 4 000 servers, so the servers that
// reset storm) run through the worker's FlowTracker, outside the timed region. They are replayed
// with shifted times until N have been fed. The timed loop does what Management::drain() and
// release() do with each event (src/mgmt/management.cc): the storm window (add, release behind the
// watermark, in slices), settle_event (settle.h: the event's id, the storm verdict and the
// tallies, the copies the control socket's queries read unless --no-control, the findings
// engine), the same function Management calls, then findings' advance once nothing waits and their
// records written to the log after the event that caused them, the JSON line (write_event_line,
// settle.h) and the log (EventLog::append, flush after each pass; write(2) on the log's writer
// thread, as in rstscope) to a regular file, with rstscope's default sizes.
// Not included: record observers (none unless --recorder-dir, --export or --report is given),
// signature rules (none unless a configuration file or --signatures names them), the ring.
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#else
#define CALLGRIND_START_INSTRUMENTATION
#define CALLGRIND_STOP_INSTRUMENTATION
#define CALLGRIND_TOGGLE_COLLECT
#endif

#include "rstscope/analysis/flow_tracker.h"
#include "rstscope/config/options.h"
#include "rstscope/decode/packet_decoder.h"
#include "rstscope/mgmt/event_json.h"
#include "rstscope/mgmt/event_log.h"
#include "rstscope/mgmt/findings.h"
#include "rstscope/mgmt/recent_events.h"
#include "rstscope/mgmt/settle.h"
#include "rstscope/mgmt/stats.h"
#include "rstscope/mgmt/storm_window.h"
#include "rstscope/mgmt/top_queries.h"
#include "traffic_model.h"

using namespace rstscope;
using namespace rstscope::bench;

namespace {

// As Management: events taken per pass, judged and written per release, and judged events that
// may wait to be written (a pass's and two release slices).
constexpr size_t events_per_pass = 1024;
constexpr size_t release_slice = 4096;
constexpr size_t judged_between_writes = 2 * release_slice + events_per_pass;

struct Handed {
    ResetEvent event;
    uint64_t progress_ns;  // the worker's packet time when it handed the event over
};

// The events a worker hands over for the reset-heavy capture, in hand-over order. The tracker
// stays: its connection counts are the findings engine's (as the workers' are Management's).
std::vector<Handed> worker_events(FlowTracker& tracker, uint32_t flows) {
    TrafficModel model(flows, 0, Mix::reset_heavy);
    std::vector<Handed> out;
    auto take = [&] {
        for (uint32_t i = 0; i < tracker.event_count(); ++i)
            out.push_back({tracker.events()[i], tracker.now_ns()});
        tracker.clear_events();
    };
    uint8_t frame[frame_stride];
    for (uint64_t i = 0; i < model.packets_per_pass(); ++i) {
        uint32_t length = model.write_frame(i, frame);
        if (length == 0) continue;
        DecodedPacket p;
        if (!decode_frame(LinkType::ethernet, frame, length, p).is_tcp) continue;
        p.ts_ns = model.time_ns(i);
        tracker.process(p);
        tracker.advance(p.ts_ns);
        take();
    }
    while (!tracker.flush_pending(FlowTracker::outbox_capacity))
        take();
    take();
    return out;
}

struct Result {
    uint64_t events = 0;
    uint64_t storm_upgrades = 0;
    uint64_t findings = 0;  // finding records written
    uint64_t log_bytes = 0;
    double seconds = 0;
    double cpu_seconds = 0;
};

double thread_cpu_seconds() {
    timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

Result run(std::vector<Handed>& source, const ConnectionWindows* connections, uint64_t events,
           int fd, bool control, bool callgrind) {
    Options defaults;
    HostHash host_hash;  // as Management: one seed for the window's hosts and the resetters
    StormWindow storms(defaults.storm_threshold,
                       static_cast<uint64_t>(defaults.storm_window_s * 1e9),
                       defaults.storm_max_pending, defaults.storm_max_hosts,
                       static_cast<uint32_t>(judged_between_writes), host_hash);
    ResetStatistics resets(defaults.top_hosts_capacity, host_hash);
    RecentEvents recent(control ? defaults.recent_events : 0);
    std::optional<TopTables> tops;  // as Management: only with a control socket
    if (control) tops.emplace(defaults.top_hosts_capacity);
    EventLog log(fd, false, size_t{defaults.log_buffer_kib} * 1024);
    log.start_writer();  // as rstscope: write(2) on the log's own thread
    // Options' findings defaults are FindingThresholds' (management.cc's findings_thresholds()).
    FindingsEngine findings{FindingThresholds{}};
    SummedConnections summed({connections});
    findings.set_connections(&summed);
    std::vector<FindingRecord> finding_records;
    uint64_t numbered = 0, findings_written = 0;
    const uint64_t linger_ns = static_cast<uint64_t>(defaults.linger_s * 1e9);
    // Each replay starts after the previous one's last event, so time only moves forward.
    const uint64_t replay_span =
        source.back().progress_ns - source.front().event.first_ts_ns + 10 * linger_ns;

    std::vector<StormWindow::Judged> judged;
    judged.reserve(judged_between_writes);
    fmt::memory_buffer line;
    const SettleTargets targets{
        resets, control ? &recent : nullptr, tops ? &*tops : nullptr, findings, {}};
    Result r;
    // As a capture's management (Management::append_record): a line waits for room in the log,
    // never dropped, so every run writes every line.
    auto queue_line = [&](std::string_view text) {
        while (log.room() < text.size())
            if (!log.flush(0)) std::this_thread::yield();
        log.append(text);
    };
    // Management writes a finding's record after the event that raised it (queue_findings):
    // here at once, the same bytes and work.
    auto write_findings = [&] {
        for (FindingRecord& f : finding_records) {
            f.line.push_back('\n');
            queue_line(f.line);
        }
        findings_written += finding_records.size();
        finding_records.clear();
    };
    auto write_judged = [&] {
        SettleAhead ahead(judged, 0, findings);
        for (size_t i = 0; i < judged.size(); ++i) {
            StormWindow::Judged& j = judged[i];
            const FindingLookups* planned = ahead.next(i);
            r.storm_upgrades += settle_event(j, ++numbered, targets, finding_records, planned);
            if (write_event_line(log, j.event(), j.extras())
                    .empty())  // as Management::write_judged
                queue_line(format_event_line(line, j.event(), j.extras()));
            write_findings();
        }
        judged.clear();
        storms.recycle();
    };

    auto t0 = std::chrono::steady_clock::now();
    double cpu0 = thread_cpu_seconds();
    if (callgrind) CALLGRIND_TOGGLE_COLLECT;
    uint64_t fed = 0;
    for (uint64_t replay = 0; fed < events; ++replay) {
        const uint64_t shift = replay * replay_span;
        for (size_t at = 0; at < source.size() && fed < events;) {
            size_t n = std::min<size_t>({events_per_pass, source.size() - at, events - fed});
            for (size_t k = 0; k < n; ++k) {
                // Read where it lies, as Management reads an event in its ring slot
                // (EventRing::sc_consume); moved on by a replay's span from the second replay.
                if (k + StormWindow::add_lookahead < n)  // as Management's drain
                    storms.prefetch(source[at + k + StormWindow::add_lookahead].event);
                ResetEvent& e = source[at + k].event;
                if (replay > 0) {
                    e.ts_ns += replay_span;
                    e.first_ts_ns += replay_span;
                    e.last_ts_ns += replay_span;
                }
                storms.add(e, judged);
            }
            at += n, fed += n;
            uint64_t progress = source[at - 1].progress_ns + shift;
            uint64_t watermark = progress > linger_ns ? progress - linger_ns : 0;
            storms.release(watermark, false, judged, release_slice);
            write_judged();
            if (storms.pending() == 0 && watermark != 0) {
                findings.advance(watermark, finding_records);
                write_findings();
            }
            log.flush(0);
        }
    }
    while (storms.pending() > 0) {
        storms.release(0, true, judged, release_slice);
        write_judged();
        log.flush(0);
    }
    findings.finish(finding_records);
    write_findings();
    while (!log.flush(0))
        std::this_thread::yield();
    if (callgrind) CALLGRIND_TOGGLE_COLLECT;
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    r.cpu_seconds = thread_cpu_seconds() - cpu0;
    r.events = fed;
    r.log_bytes = static_cast<uint64_t>(::lseek(fd, 0, SEEK_CUR));
    r.findings = findings_written;
    if (log.lines_written() != fed + findings_written || resets.total() != fed)
        throw std::runtime_error(fmt::format("events lost: {} fed, {} settled, {} lines written",
                                             fed, resets.total(), log.lines_written()));
    return r;
}

}  // namespace

int main(int argc, char** argv) {
    uint64_t events = 2'000'000;
    std::string log_path = "/tmp/rstscope-mgmt-bench.jsonl";
    bool own_log = true;  // only the default scratch file is removed afterwards
    bool callgrind = false;
    bool control = true;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg == "--events" && i + 1 < argc) {
            events = std::stoull(argv[++i]);
        } else if (arg == "--log" && i + 1 < argc) {
            log_path = argv[++i];
            own_log = false;
        } else if (arg == "--callgrind") {
            callgrind = true;
        } else if (arg == "--no-control") {
            control = false;
        } else {
            std::fprintf(stderr,
                         "usage: mgmt_bench [--events N] [--log FILE] [--no-control] "
                         "[--callgrind]\n");
            return 2;
        }
    }
    try {
        constexpr uint32_t flows = 200'000;
        WorkerCounters counters;
        TrackerConfig config;
        config.flow_capacity = 2 * flows;
        // As rstscope's tracker_config(): connections counted per findings window.
        config.connection_window_ns = FindingThresholds{}.window_ns;
        config.connection_slots =
            ConnectionWindows::slots_for(config.connection_window_ns, config.linger_ns);
        FlowTracker tracker(config, counters);
        std::vector<Handed> source = worker_events(tracker, flows);
        if (source.empty()) throw std::runtime_error("the tracker wrote no events");
        int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
            throw std::runtime_error("cannot write " + log_path + ": " + std::strerror(errno));
        Result r = run(source, tracker.connections(), events, fd, control, callgrind);
        ::close(fd);
        // A path the operator named (--log /dev/null, say) is theirs: removing it as root once
        // replaced /dev/null with a regular file on this machine.
        if (own_log) ::unlink(log_path.c_str());
        std::printf(
            "events=%llu seconds=%.3f events_per_s=%.0f cpu_seconds=%.3f events_per_cpu_s=%.0f "
            "log_bytes=%llu bytes_per_event=%.0f storm_upgrades=%llu findings=%llu\n",
            static_cast<unsigned long long>(r.events), r.seconds,
            static_cast<double>(r.events) / r.seconds, r.cpu_seconds,
            static_cast<double>(r.events) / r.cpu_seconds,
            static_cast<unsigned long long>(r.log_bytes),
            static_cast<double>(r.log_bytes) / static_cast<double>(r.events),
            static_cast<unsigned long long>(r.storm_upgrades),
            static_cast<unsigned long long>(r.findings));
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "mgmt_bench: error: %s\n", e.what());
        return 1;
    }
}
