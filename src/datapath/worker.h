// SPDX-License-Identifier: BSD-3-Clause
// Worker lcore: polls its receive queues, decodes, tracks flows and resets, hands reset events to
// its ring. Shared-nothing: each worker owns its tracker, counters, mbuf pool and ring; what it
// shares is the run's control flags and its channel to management (src/channel/worker_channel.h).
#pragma once

#include <cstdint>
#include <vector>

#include <rte_ring.h>

#include "../capture/capture_probe.h"
#include "../channel/worker_channel.h"
#include "ports.h"
#include "rstscope/analysis/flow_tracker.h"
#include "rstscope/decode/packet_decoder.h"

namespace rstscope {

// What every worker reads and none writes: set up before the launch, constant while they run.
struct WorkerSettings {
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
    const WorkerSettings* settings = nullptr;
    FlowTracker* tracker = nullptr;
    rte_mempool* pool = nullptr;      // where this worker's receive queues take their mbufs
    std::vector<rte_ring*> dispatch;  // [worker] → its inbound ring; empty when not dispatching
    CaptureClock* capture_clock = nullptr;  // the worker reading an offline capture
    WorkerChannel channel;                  // what management sees of this worker
};

// lcore entry point (rte_eal_remote_launch); `arg` is a WorkerContext.
int worker_main(void* arg);

}  // namespace rstscope
