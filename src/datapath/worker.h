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
#include "capture_feed.h"
#include "ports.h"
#include "reassembly.h"
#include "rstscope/analysis/flow_tracker.h"
#include "rstscope/common/fixed_memory.h"
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
    // Every packet goes to its flow's owner by software (ports without RSS across the workers);
    // false with rings: hardware RSS placed the packets, only reassembled datagrams travel.
    bool dispatch_all = false;
    // The worker reading an offline capture: the port's frames come stamped from the capture
    // feed, or net_pcap's are stamped here from the capture clock. Null elsewhere.
    CaptureFeed* capture_feed = nullptr;
    CaptureClock* capture_clock = nullptr;
    Reassembler* reassembler = nullptr;  // null: fragments are not reassembled (inline mode)
    // Reassembled datagrams and frames longer than an mbuf are chains; the decoder reads each
    // one copied here, one slot per burst position (linear_slot bytes each).
    FixedArray<uint8_t> linear;
    WorkerChannel channel;  // what management sees of this worker
};

// A reassembled datagram's link header (at most 127 bytes, rte_ip_frag's l2_len) and IP
// datagram (at most 65535 bytes).
inline constexpr uint32_t linear_slot = 128 + 65535;

// lcore entry point (rte_eal_remote_launch); `arg` is a WorkerContext.
int worker_main(void* arg);

}  // namespace rstscope
