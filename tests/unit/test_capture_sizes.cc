// SPDX-License-Identifier: BSD-3-Clause
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "app/capture_sizes.h"

using namespace rstscope;

TEST(CaptureSizes, SmallCaptureGetsSmallTableQueueAndPool) {
    Options o;  // defaults: 1 Mi flows, 65536 lingering resets, 8191 mbufs
    CaptureSizes sizes = sizes_for_capture(o, 414);
    EXPECT_EQ(sizes.flow_capacity, 1024u);
    EXPECT_EQ(sizes.linger_capacity, 414u);
    EXPECT_EQ(sizes.mbufs, 511u);
    EXPECT_EQ(sizes.storm_max_pending, 415u);  // one more than can ever wait: never judged early
    EXPECT_EQ(sizes.storm_max_hosts, 415u);
    EXPECT_EQ(sizes.event_ring_size, 415u);
    EXPECT_EQ(sizes.recent_events, 415u);
    EXPECT_EQ(sizes.findings_max_keys, 415u);
    EXPECT_EQ(sizes_for_capture(o, 100).findings_max_keys, 256u);  // the option's lower bound
    EXPECT_EQ(sizes.recorder_ring_mib, 1u);  // 414 records of 192 B, in whole MiB
    // 48 MiB for EAL + (511 mbufs x 2560 B + a 64 KiB dispatch ring); the event ring is not in
    // DPDK's memory.
    EXPECT_EQ(sizes.eal_memory_mb, 48u + 1 + 1);
}

TEST(CaptureSizes, LargeCaptureKeepsConfiguredMaxima) {
    Options o;
    CaptureSizes sizes = sizes_for_capture(o, 1'000'000);
    EXPECT_EQ(sizes.flow_capacity, o.flow_table_size);
    EXPECT_EQ(sizes.linger_capacity, o.linger_capacity);
    EXPECT_EQ(sizes.mbufs, o.mbufs);
    EXPECT_EQ(sizes.storm_max_pending, o.storm_max_pending);
    EXPECT_EQ(sizes.storm_max_hosts, o.storm_max_hosts);
    EXPECT_EQ(sizes.event_ring_size, o.event_ring_size);
    EXPECT_EQ(sizes.recent_events, o.recent_events);
    EXPECT_EQ(sizes.findings_max_keys, o.findings_max_keys);
    EXPECT_EQ(sizes.recorder_ring_mib, 184u);  // 10^6 records of 192 B, below the 1024 MiB
    EXPECT_EQ(sizes_for_capture(o, 10'000'000).recorder_ring_mib, o.recorder_ring_mib);
    EXPECT_LT(sizes.eal_memory_mb, 512u);  // what 8191 mbufs need
    EXPECT_GE(sizes.eal_memory_mb, 48u + 8191u * 2304u / (1u << 20) + 1u);
}

TEST(CaptureSizes, MemoryNeverAboveTheConfiguredAmount) {
    Options o;
    o.workers = 8;
    o.eal_memory_mb = "128";
    EXPECT_EQ(sizes_for_capture(o, 10'000'000).eal_memory_mb, 128u);
}

TEST(CaptureSizes, FlowTableHasThreeSlotsPerTwoPacketsOfEachWorker) {
    Options o;
    o.workers = 2;
    CaptureSizes sizes = sizes_for_capture(o, 100'000);
    EXPECT_EQ(sizes.flow_capacity, 75000u);  // 3 * 100000 / 2 / 2
    EXPECT_EQ(sizes.mbufs, 8191u);
    EXPECT_EQ(sizes.linger_capacity, 65536u);
}

TEST(CaptureSizes, MbufsHoldTheLongestFrameInWholeCacheLines) {
    Options o;
    EXPECT_EQ(sizes_for_capture(o, 1000).mbuf_data_room, o.mbuf_data_room);  // unknown: default
    EXPECT_EQ(sizes_for_capture(o, 1000, 122).mbuf_data_room, 128u);
    EXPECT_EQ(sizes_for_capture(o, 1000, 1514).mbuf_data_room, 1536u);
    EXPECT_EQ(sizes_for_capture(o, 1000, 64).mbuf_data_room, 64u);
    EXPECT_EQ(sizes_for_capture(o, 1000, 9000).mbuf_data_room, o.mbuf_data_room);  // chains
    // DPDK's memory shrinks with the pool: 8191 mbufs of 128 bytes instead of 2048.
    EXPECT_LT(sizes_for_capture(o, 1'000'000, 122).eal_memory_mb + 14,
              sizes_for_capture(o, 1'000'000).eal_memory_mb);
}

TEST(CaptureSizes, SmallerConfiguredSizesWin) {
    Options o;
    o.flow_table_size = 64;
    o.linger_capacity = 16;
    o.mbufs = 600;
    CaptureSizes sizes = sizes_for_capture(o, 700);
    EXPECT_EQ(sizes.flow_capacity, 64u);
    EXPECT_EQ(sizes.linger_capacity, 16u);
    EXPECT_EQ(sizes.mbufs, 600u);
}

// The probe's connection count sizes the flow table: three slots per two connections and 1/32 + 64
// more for the estimate's error (the table rounds up to whole buckets of 8, no further), never
// beyond what the packets could open.
TEST(CaptureSizes, FlowTableFollowsTheCapturesConnections) {
    Options o;
    // 3/2 x (200 000 + 6 250 + 64)
    EXPECT_EQ(sizes_for_capture(o, 1'040'000, 0, 200'000).flow_capacity, 309'471u);
    EXPECT_EQ(sizes_for_capture(o, 1'040'000, 0, 254'000).flow_capacity, 393'001u);
    EXPECT_EQ(sizes_for_capture(o, 1'040'000, 0, 255'000).flow_capacity, 394'548u);
    // Unknown: every packet may open one; the configured size bounds it.
    EXPECT_EQ(sizes_for_capture(o, 1'040'000).flow_capacity, 1'048'576u);
    EXPECT_EQ(sizes_for_capture(o, 300'000, 0, 2'000'000).flow_capacity, 450'000u);
    EXPECT_EQ(sizes_for_capture(o, 300'000, 0, 0).flow_capacity, 1'024u);
    o.workers = 2;
    EXPECT_EQ(sizes_for_capture(o, 1'040'000, 0, 200'000).flow_capacity, 154'735u);
}

// The probe's reset count bounds what only reset events fill: a capture of 1.2 M packets with
// 17 000 reset segments gets a linger queue, event ring, storm window, recent-events ring and
// findings tables for 17 000 events, not for 1.2 M; unknown resets leave the packet bound.
TEST(CaptureSizes, EventTablesFollowTheCapturesResets) {
    Options o;
    CaptureSizes sizes = sizes_for_capture(o, 1'200'000, 0, 120'000, 17'000);
    EXPECT_EQ(sizes.linger_capacity, 17'000u);
    EXPECT_EQ(sizes.event_ring_size, 16'384u);  // the option's maximum is below it
    EXPECT_EQ(sizes.storm_max_pending, 17'001u);
    EXPECT_EQ(sizes.storm_max_hosts, 17'001u);
    EXPECT_EQ(sizes.recent_events, o.recent_events);          // 10 000, below it
    EXPECT_EQ(sizes.findings_max_keys, o.findings_max_keys);  // 4096, below it
    EXPECT_EQ(sizes.expected_resets, 17'000u);  // all of them, at most the linger queue
    EXPECT_EQ(sizes.flow_capacity, 185'721u);   // connections, not resets
    CaptureSizes few = sizes_for_capture(o, 1'200'000, 0, 120'000, 10);
    EXPECT_EQ(few.linger_capacity, 16u);
    EXPECT_EQ(few.event_ring_size, 64u);
    EXPECT_EQ(few.storm_max_pending, 11u);
    EXPECT_EQ(few.findings_max_keys, 256u);
    EXPECT_EQ(few.expected_resets, 16u);
    // Never more than the packets, whatever the count says.
    EXPECT_EQ(sizes_for_capture(o, 400, 0, 100, 5'000).storm_max_pending, 401u);
    CaptureSizes unknown = sizes_for_capture(o, 1'200'000, 0, 120'000);
    EXPECT_EQ(unknown.linger_capacity, o.linger_capacity);
    EXPECT_EQ(unknown.storm_max_pending, o.storm_max_pending);
    EXPECT_EQ(unknown.expected_resets, 0u);  // nothing populated ahead
}

// With two workers each expects an even share and an eighth more (symmetric RSS spreads
// connections, not their resets, evenly), within its linger queue.
TEST(CaptureSizes, EachWorkerExpectsItsShareOfTheResets) {
    Options o;
    o.workers = 2;
    EXPECT_EQ(sizes_for_capture(o, 1'200'000, 0, 120'000, 16'000).expected_resets,
              8'000u + 1'000u + 64u);
    EXPECT_EQ(sizes_for_capture(o, 1'200'000, 0, 120'000, 200'000).expected_resets,
              o.linger_capacity);
}

// A capture whose RST storm packs more resets into a linger or a storm window than the live
// defaults hold gets room for its busiest span, so that none is written or judged early; a
// capture whose resets are spread thin keeps the defaults; an option the operator gave stays a
// cap; and the growth stops at four times the defaults.
TEST(CaptureSizes, BoundsThatHoldResetsGrowToTheBusiestSpan) {
    Options o;  // linger 3 s, storm window 1 s
    std::vector<uint64_t> spans_asked;
    uint64_t busiest = 200'000;
    const BusiestResets storm = [&](uint64_t span_ns) {
        spans_asked.push_back(span_ns);
        return busiest;
    };
    CaptureSizes sizes = sizes_for_capture(o, 1'040'000, 0, 200'000, 200'000, storm);
    // One worker: its share (all of them) and an eighth more, but never more than the capture's
    // reset segments; the storm window one more than those, as for a small capture.
    EXPECT_EQ(sizes.linger_capacity, 200'000u);
    EXPECT_EQ(sizes.storm_max_pending, 200'001u);
    EXPECT_EQ(sizes.storm_max_hosts, 200'001u);
    EXPECT_EQ(spans_asked, (std::vector<uint64_t>{3'000'000'000, 5'000'000'000, 5'000'000'000}));

    // Two workers: each a half and an eighth of it, and 64.
    o.workers = 2;
    sizes = sizes_for_capture(o, 1'040'000, 0, 200'000, 200'000, storm);
    EXPECT_EQ(sizes.linger_capacity, 100'000u + 12'500u + 64u);
    EXPECT_EQ(sizes.storm_max_pending, 200'001u);

    // Resets spread over hours: the defaults hold the busiest span, and stay.
    busiest = 5'000;
    sizes = sizes_for_capture(o, 50'000'000, 0, 4'000'000, 4'000'000, storm);
    EXPECT_EQ(sizes.linger_capacity, o.linger_capacity);
    EXPECT_EQ(sizes.storm_max_pending, o.storm_max_pending);
    EXPECT_EQ(sizes.storm_max_hosts, o.storm_max_hosts);

    // A storm beyond four times the defaults grows them that far, no further: memory stays
    // bounded whatever the capture.
    busiest = 100'000'000;
    o.workers = 1;
    sizes = sizes_for_capture(o, 200'000'000, 0, 100'000'000, 100'000'000, storm);
    EXPECT_EQ(sizes.linger_capacity, 262'144u);
    EXPECT_EQ(sizes.storm_max_pending, 262'144u);
    EXPECT_EQ(sizes.storm_max_hosts, 262'144u);

    // Given options are caps, whatever the capture.
    busiest = 200'000;
    o.linger_capacity = 4096;
    o.storm_max_pending = 8192;
    o.given = {"linger-capacity", "storm-max-pending"};
    sizes = sizes_for_capture(o, 1'040'000, 0, 200'000, 200'000, storm);
    EXPECT_EQ(sizes.linger_capacity, 4096u);
    EXPECT_EQ(sizes.storm_max_pending, 8192u);
    EXPECT_EQ(sizes.storm_max_hosts, 200'001u);  // not given: grown

    // Reset times unknown: the options, as before.
    o.given.clear();
    o.linger_capacity = 65536;
    o.storm_max_pending = 65536;
    sizes = sizes_for_capture(o, 1'040'000, 0, 200'000, 200'000);
    EXPECT_EQ(sizes.linger_capacity, 65536u);
    EXPECT_EQ(sizes.storm_max_pending, 65536u);
}
