// Worker lcore: polls its receive queues, decodes, tracks flows and resets, hands reset events to
// its ring. Shared-nothing: each worker owns its tracker, counters, mbuf pool and ring; the only
// shared state is the stop flag and the end-of-input handshake below.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include <rte_ring.h>

#include "../capture/capture_probe.h"
#include "../ring/event_ring.h"
#include "ports.h"
#include "rstscope/analysis/flow_tracker.h"
#include "rstscope/common/counters.h"
#include "rstscope/decode/packet_decoder.h"

namespace rstscope {

// Shared by all workers and management; written at setup, then only through the atomics.
struct RunControl {
    // Shutdown in two steps. `stop`: read no more input, hand over every pending reset (waiting
    // for ring space), then finish. `abandon`: the shutdown deadline passed, so stop waiting and
    // count what is left as events_lost_shutdown.
    std::atomic<bool> stop{false};
    std::atomic<bool> abandon{false};
    std::atomic<int> stop_signal{0};          // the signal that asked for the stop, if one did
    std::atomic<bool> reopen_log{false};      // SIGHUP: management reopens the event log
    std::atomic<unsigned> readers_done{0};    // readers whose input ended (end of capture, stop)
    unsigned readers = 0;                     // workers that poll at least one queue
    bool capture = false;                     // offline: the input ends, time is packet time
    uint64_t capture_packets = 0;             // records in the capture (from the probe)
    std::atomic<uint64_t> capture_now_ns{0};  // time of the latest record read (captures)
    LinkType link = LinkType::ethernet;
    const PortPlan* plan = nullptr;
    bool inline_mode = false;
    uint64_t tsc_hz = 0;
    uint64_t tsc_start = 0;
    uint64_t wall_start_ns = 0;
};

struct alignas(64) WorkerContext {
    unsigned id = 0;
    unsigned worker_count = 1;
    unsigned burst = 32;
    RunControl* run = nullptr;
    FlowTracker* tracker = nullptr;
    WorkerCounters* counters = nullptr;
    EventRing* events = nullptr;
    rte_mempool* pool = nullptr;      // where this worker's receive queues take their mbufs
    std::vector<rte_ring*> dispatch;  // [worker] → its inbound ring; empty when not dispatching
    CaptureClock* capture_clock = nullptr;  // the worker reading an offline capture
    // No event this worker writes from now on has a RST older than progress_ns - linger: the
    // watermark management judges RST storms by. Written once per poll.
    std::atomic<uint64_t> progress_ns{0};
    std::atomic<bool> finished{false};
};

// lcore entry point (rte_eal_remote_launch); `arg` is a WorkerContext.
int worker_main(void* arg);

}  // namespace rstscope
