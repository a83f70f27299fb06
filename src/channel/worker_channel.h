// SPDX-License-Identifier: BSD-3-Clause
// What passes between the worker lcores and the management lcore, and nothing else: the run's
// shared control flags, and per worker its event ring, its counters, its progress watermark and
// its end. Management includes this header, not the worker's: it sees what a worker publishes,
// never how the worker gets it.
//
// Threads: each WorkerChannel has one writer, its worker (the ring's single producer, the
// counters' single writer, progress and finished), and one reader, management (the ring's single
// consumer, relaxed loads of the counters). RunControl is written by signal handlers and
// management and read by everyone, through its atomics only once the workers run.
#pragma once

#include <atomic>
#include <cstdint>

#include "event_ring.h"
#include "flow_mailbox.h"
#include "rstscope/analysis/connection_windows.h"
#include "rstscope/analysis/flight_store.h"
#include "rstscope/analysis/signature_scanner.h"
#include "rstscope/common/counters.h"

namespace rstscope {

struct RunControl {
    // Shutdown in two steps. `stop`: read no more input, hand over every pending reset (waiting
    // for ring space), then finish. `abandon`: the shutdown deadline passed, so stop waiting and
    // count what is left as events_lost_shutdown.
    std::atomic<bool> stop{false};
    std::atomic<bool> abandon{false};
    std::atomic<int> stop_signal{0};           // the signal that asked for the stop, if one did
    std::atomic<bool> reopen_log{false};       // SIGHUP: management reopens the event log
    std::atomic<unsigned> readers_done{0};     // readers whose input ended (end of capture, stop)
    std::atomic<unsigned> readers_polling{0};  // readers that have reached their receive loop
    unsigned readers = 0;                      // workers that poll at least one queue
    bool capture = false;                      // offline: the input ends, time is packet time
    uint64_t capture_packets = 0;              // records in the capture (from the probe)
    std::atomic<uint64_t> capture_now_ns{0};   // time of the latest record read (captures)
};

struct alignas(64) WorkerChannel {
    EventRing* events = nullptr;
    WorkerCounters* counters = nullptr;
    // Null without signatures: the rules events name and the per-rule match counters.
    const SignatureScanner* signatures = nullptr;
    // The `flow` query's box: management posts, this worker serves it once per poll.
    FlowMailbox* flows = nullptr;
    // Null when the flight recorder is off: the blocks this worker's events name (read-only here).
    const EvidenceArena* evidence = nullptr;
    // Null when connections are not counted: this worker's connections per service and findings
    // window (read-only here; connection_windows.h says how a window is read).
    const ConnectionWindows* connections = nullptr;
    // No event this worker writes from now on has a RST older than progress_ns - linger: the
    // watermark management judges RST storms by. Written once per poll.
    std::atomic<uint64_t> progress_ns{0};
    std::atomic<bool> finished{false};
};

}  // namespace rstscope
