// SPDX-License-Identifier: BSD-3-Clause
// What a capture file needs, from its packet, connection and reset counts: no worker can meet more
// flows, resets or packets in flight than the capture holds, nor can the storm window hold more
// reset events or hosts, so a small capture gets a small flow table, linger queue, mbuf pool,
// event ring, storm window, recent-events ring, findings tables and DPDK memory whatever the
// configured maximum. Live input keeps the sizes as configured: a NIC's traffic has no known end.
// Pure logic, setup only.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>

#include "rstscope/config/options.h"

namespace rstscope {

struct CaptureSizes {
    uint32_t flow_capacity;      // per worker
    uint32_t linger_capacity;    // per worker
    uint32_t recorder_ring_mib;  // per worker
    unsigned mbufs;              // per worker pool
    uint32_t mbuf_data_room;     // bytes of frame per mbuf
    uint32_t storm_max_pending;
    uint32_t storm_max_hosts;
    uint32_t event_ring_size;  // per worker
    uint32_t recent_events;
    uint32_t findings_max_keys;
    uint64_t eal_memory_mb;  // DPDK's memory (-m): what the pools and rings above take
    // Reset segments one worker is expected to meet (TrackerConfig::expected_resets); 0 when the
    // capture's resets are unknown.
    uint64_t expected_resets;
};

// The most reset segments a capture holds within any span of packet time as long as the argument
// (ns), or more (ResetPeaks::most_within).
using BusiestResets = std::function<uint64_t(uint64_t span_ns)>;

// `largest_frame`: bytes captured of the capture's longest frame, 0 when unknown. `flows`: the
// capture's connections as the probe estimated them (FlowKeyTally), none when unknown. `resets`:
// its frames that may be or become a reset segment (FlowKeyTally), none when unknown.
// `busiest_resets`: when they were recorded, empty when unknown.
//
// What holds resets for a span of packet time grows past its default to hold the capture's
// busiest such span, up to four times the default (262 144 resets), unless the operator gave its
// option (then a cap, as for live traffic): a worker's linger queue (--linger-capacity; resets
// wait --linger) and the storm window (--storm-max-pending, --storm-max-hosts; resets wait a
// storm window, and hosts matter for one before and one after). A capture has a known end, and
// its reader waits for room, so nothing need be written or judged early: every verdict has all
// its evidence, and 1 and N workers write the same log, however many resets a storm packs into a
// second.
CaptureSizes sizes_for_capture(const Options& options, uint64_t packets, uint32_t largest_frame = 0,
                               std::optional<uint64_t> flows = std::nullopt,
                               std::optional<uint64_t> resets = std::nullopt,
                               const BusiestResets& busiest_resets = {});

}  // namespace rstscope
