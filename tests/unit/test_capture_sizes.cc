#include <gtest/gtest.h>

#include "app/capture_sizes.h"

using namespace rstscope;

TEST(CaptureSizes, SmallCaptureGetsSmallTableQueueAndPool) {
    Options o;  // defaults: 1 Mi flows, 65536 lingering resets, 8191 mbufs
    CaptureSizes sizes = sizes_for_capture(o, 414);
    EXPECT_EQ(sizes.flow_capacity, 1024u);
    EXPECT_EQ(sizes.linger_capacity, 414u);
    EXPECT_EQ(sizes.mbufs, 1023u);
    EXPECT_EQ(sizes.storm_max_pending, 415u);  // one more than can ever wait: never judged early
    EXPECT_EQ(sizes.storm_max_hosts, 415u);
}

TEST(CaptureSizes, LargeCaptureKeepsConfiguredMaxima) {
    Options o;
    CaptureSizes sizes = sizes_for_capture(o, 1'000'000);
    EXPECT_EQ(sizes.flow_capacity, o.flow_table_size);
    EXPECT_EQ(sizes.linger_capacity, o.linger_capacity);
    EXPECT_EQ(sizes.mbufs, o.mbufs);
    EXPECT_EQ(sizes.storm_max_pending, o.storm_max_pending);
    EXPECT_EQ(sizes.storm_max_hosts, o.storm_max_hosts);
}

TEST(CaptureSizes, FlowTableHasTwoSlotsPerPacketOfEachWorker) {
    Options o;
    o.workers = 2;
    CaptureSizes sizes = sizes_for_capture(o, 100'000);
    EXPECT_EQ(sizes.flow_capacity, 131072u);  // bit_ceil(2 * 100000 / 2)
    EXPECT_EQ(sizes.mbufs, 8191u);
    EXPECT_EQ(sizes.linger_capacity, 65536u);
}

TEST(CaptureSizes, SmallerConfiguredSizesWin) {
    Options o;
    o.flow_table_size = 64;
    o.linger_capacity = 16;
    o.mbufs = 512;
    CaptureSizes sizes = sizes_for_capture(o, 414);
    EXPECT_EQ(sizes.flow_capacity, 64u);
    EXPECT_EQ(sizes.linger_capacity, 16u);
    EXPECT_EQ(sizes.mbufs, 512u);
}
