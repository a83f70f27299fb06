// SPDX-License-Identifier: BSD-3-Clause
#include "capture_sizes.h"

#include <algorithm>
#include <string>

#include "rstscope/analysis/flight_store.h"
#include "rstscope/config/duration.h"
#include "rstscope/datapath/burst.h"

namespace rstscope {
namespace {

// DPDK wants a pool at least 1.5 times its per-lcore cache (256 mbufs); 2^q - 1 is a mempool's
// best size.
constexpr uint64_t min_capture_mbufs = 511;

// DPDK memory a run takes besides its pools and rings (EAL, ethdev and the vdev's queues), with
// room to spare, and an upper bound of what one mbuf takes in its pool besides its data room
// (the 128-byte mbuf, 128 bytes of headroom, the mempool's object header: 2560 bytes for the
// default 2048-byte room).
constexpr uint64_t eal_fixed_mib = 48;
constexpr uint64_t findings_min_keys = 256;  // --findings-max-keys' lower bound
constexpr uint64_t mbuf_overhead_bound = 512;
constexpr uint64_t dispatch_ring_bytes = uint64_t{dispatch_ring_size} * sizeof(void*);
// How far a capture grows the bounds that hold resets for a span (four times their defaults): a
// ceiling whatever the storm: a worker's linger queue 62 MiB, the storm window's events 65 MiB
// (each 62 MiB more if every reset had extras: flow_tracker.h, storm_window.h) and its hosts 56
// MiB.
constexpr uint64_t capture_growth_max = uint64_t{1} << 18;

// One of `sharing` workers' share of `total` resets, with room for uneven spreading: symmetric RSS
// spreads connections, not resets, evenly, so an eighth more than an even share, and 64.
uint64_t share_with_margin(uint64_t total, unsigned sharing) noexcept {
    return total / sharing + total / (8 * sharing) + 64;
}

}  // namespace

CaptureSizes sizes_for_capture(const Options& o, uint64_t packets, uint32_t largest_frame,
                               std::optional<uint64_t> flows, std::optional<uint64_t> resets,
                               const BusiestResets& busiest_resets) {
    CaptureSizes sizes;
    // Every reset event is drafted at a reset segment, no two at the same one (flow_tracker.h),
    // and every reset segment needs a frame.
    const uint64_t reset_segments = resets ? std::min(packets, *resets) : packets;
    // Three slots per two connections a worker may see, even if all of them live at once: at two
    // thirds load the table takes every one without evicting (the emptier of two buckets of 8
    // ways: docs/flow-table.md has the simulation, and a unit test fills a table so), and a
    // third less of it is faulted in than at two slots a connection. The probe's estimate is
    // within 1 % of the count (FlowKeyTally): 1/32 more covers four times that. Without it, every
    // packet may open a connection (an RST flood).
    uint64_t keys = packets;
    if (flows) keys = std::min(packets, *flows + *flows / 32 + 64);
    uint64_t per_worker = 3 * keys / 2 / o.workers;
    sizes.flow_capacity = static_cast<uint32_t>(
        std::min<uint64_t>(o.flow_table_size, std::max<uint64_t>(1024, per_worker)));
    // The bounds of what holds resets for a span of packet time: the options', or, when they were
    // not given, at least the capture's busiest span (for a worker, its share, with a margin), up
    // to capture_growth_max.
    auto span_bound = [&](const char* option, uint64_t configured, uint64_t span_ns,
                          unsigned sharing) -> uint64_t {
        if (!busiest_resets || o.was_given(option)) return configured;
        return std::clamp<uint64_t>(share_with_margin(busiest_resets(span_ns), sharing), configured,
                                    capture_growth_max);
    };
    const uint64_t linger_ns = seconds_to_ns(o.linger_s);
    const uint64_t linger_bound =
        span_bound("linger-capacity", o.linger_capacity, linger_ns, o.workers);
    sizes.linger_capacity = static_cast<uint32_t>(
        std::min<uint64_t>(linger_bound, std::max<uint64_t>(16, reset_segments)));
    sizes.expected_resets = resets
                                ? std::min<uint64_t>(sizes.linger_capacity,
                                                     share_with_margin(reset_segments, o.workers))
                                : 0;
    // The flight recorder's ring need not hold more records than the capture has packets.
    const uint64_t recorder_bytes = packets * FlightStore::ring_record_bytes(o.recorder_snap);
    sizes.recorder_ring_mib =
        static_cast<uint32_t>(std::min<uint64_t>(o.recorder_ring_mib, (recorder_bytes >> 20) + 1));
    // A pool larger than the capture is never drawn on beyond the capture's packets, yet DPDK
    // writes every mbuf's header when it creates the pool (8191 mbufs: 19 MiB, a third of a small
    // run's time).
    sizes.mbufs = static_cast<unsigned>(
        std::min<uint64_t>(o.mbufs, std::max<uint64_t>(min_capture_mbufs, packets)));
    // Nor does an mbuf need room for more than the longest frame (whole cache lines): DPDK
    // writes every mbuf of a pool when it creates it, so a capture of short frames (a small
    // snapshot length) has a pool a fraction of the size. Longer frames would arrive as chains.
    if (largest_frame > 0)
        sizes.mbuf_data_room = std::min(o.mbuf_data_room, (largest_frame + 63) & ~63u);
    else
        sizes.mbuf_data_room = o.mbuf_data_room;
    // At most one more than the capture's reset segments: the window never fills and never judges
    // an event early, exactly as with the configured bounds. An event waits in it from a worker's
    // hand-over (a linger after its reset) until a window after its time, the workers' progress
    // apart: the busiest span of two windows and a linger is room to spare. Its pages are taken
    // as events arrive (fixed_memory.h); the indexes of hosts are written at start.
    uint64_t storm_bound = reset_segments + 1;
    const uint64_t storm_span_ns = 2 * seconds_to_ns(o.storm_window_s) + linger_ns;
    sizes.storm_max_pending = static_cast<uint32_t>(std::min<uint64_t>(
        span_bound("storm-max-pending", o.storm_max_pending, storm_span_ns, 1), storm_bound));
    sizes.storm_max_hosts = static_cast<uint32_t>(std::min<uint64_t>(
        span_bound("storm-max-hosts", o.storm_max_hosts, storm_span_ns, 1), storm_bound));
    // The event ring need not hold more events than the capture has reset segments: the reader
    // never waits for space then, just as it would not with the configured size.
    sizes.event_ring_size = static_cast<uint32_t>(
        std::min<uint64_t>(o.event_ring_size, std::max<uint64_t>(64, reset_segments + 1)));
    // Management's tables (the defaults: 4.6 MiB of recent events, 13 MiB of findings keys) are
    // sized down too, as their indexes are written at start. A capture has no more events than
    // reset segments, and each event adds at most one key to each findings table, so neither the
    // ring wraps nor a table fills: same answers.
    sizes.recent_events = static_cast<uint32_t>(std::min<uint64_t>(o.recent_events, storm_bound));
    sizes.findings_max_keys = static_cast<uint32_t>(std::min<uint64_t>(
        o.findings_max_keys, std::max<uint64_t>(findings_min_keys, storm_bound)));
    // EAL describes every 4 KiB page of its memory up front (48 bytes each, written at start:
    // 6 MiB and a tenth of a small run's time for 512 MiB), so a capture asks for what it uses:
    // its pools and dispatch rings (the event rings have memory of their own, event_ring.h).
    uint64_t worker_bytes =
        sizes.mbufs * (mbuf_overhead_bound + sizes.mbuf_data_room) + dispatch_ring_bytes;
    uint64_t needed_mib = eal_fixed_mib + ((o.workers * worker_bytes) >> 20) + 1;
    sizes.eal_memory_mb = std::min<uint64_t>(std::stoull(o.eal_memory_mb), needed_mib);
    return sizes;
}

}  // namespace rstscope
