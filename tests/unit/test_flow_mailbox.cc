// SPDX-License-Identifier: BSD-3-Clause
// The `flow` query's hand-over between management and the owning worker (channel/flow_mailbox.h),
// without EAL: a request is answered by the worker's polls only, a large table over several polls,
// a stalled worker gets no second request, and a worker on its own thread answers while
// management keeps asking (run under ASan/UBSan; TSan would name a race).
#include <gtest/gtest.h>

#include <arpa/inet.h>

#include <atomic>
#include <thread>

#include "channel/flow_mailbox.h"

namespace rstscope {
namespace {

IpAddress v4(const char* text) {
    uint8_t bytes[4];
    EXPECT_EQ(inet_pton(AF_INET, text, bytes), 1);
    return IpAddress::from_v4(bytes);
}

// Flows 192.0.2.10:port -> 203.0.113.7:443 (the client is the key's lo side).
void fill(FlowTable& table, uint16_t flows) {
    for (uint16_t i = 0; i < flows; ++i) {
        FlowKey k{};
        k.addr_lo = v4("192.0.2.10");
        k.addr_hi = v4("203.0.113.7");
        k.port_lo = static_cast<uint16_t>(10000 + i);
        k.port_hi = 443;
        k.vlan_outer = k.vlan_inner = vlan_none;
        k.family = IpFamily::v4;
        uint64_t hash = FlowTable::hash(k);
        uint32_t slot = table.free_slot(hash);
        ASSERT_NE(slot, FlowTable::no_slot);
        table.occupy(slot, k, hash).side[0].pkts = i;
    }
}

FlowFilter server() {
    FlowFilter f;
    f.host = v4("203.0.113.7");
    f.port = 443;
    return f;
}

TEST(FlowMailbox, AnsweredOnlyByTheWorkersPolls) {
    FlowTable table(64);
    fill(table, 3);
    FlowMailbox box;
    uint64_t n = box.post(server());
    ASSERT_NE(n, 0u);
    EXPECT_FALSE(box.answered(n));  // nothing happens until the worker polls
    box.serve(table);
    ASSERT_TRUE(box.answered(n));
    EXPECT_EQ(box.flows().size(), 3u);
    EXPECT_FALSE(box.cut());
}

TEST(FlowMailbox, LargeTableSpreadsOverPollsAndTheAnswerIsCut) {
    FlowTable table(FlowMailbox::slots_per_serve * 4);
    fill(table, 60);
    FlowMailbox box;
    uint64_t n = box.post(server());
    unsigned polls = 0;
    while (!box.answered(n)) {
        box.serve(table);
        ++polls;
        ASSERT_LE(polls, table.capacity() / FlowMailbox::slots_per_serve);
    }
    EXPECT_GE(polls, 2u);  // 50 matches are not all in the first slice
    EXPECT_EQ(box.flows().size(), flow_query_max_flows);
    EXPECT_TRUE(box.cut());
}

TEST(FlowMailbox, AStalledWorkerGetsNoSecondRequest) {
    FlowMailbox box;
    ASSERT_NE(box.post(server()), 0u);
    EXPECT_EQ(box.post(server()), 0u);  // not taken yet
    FlowTable table(16);
    box.serve(table);
    EXPECT_NE(box.post(server()), 0u);
}

TEST(FlowMailbox, WorkerThreadAnswersEveryRequestManagementWaitsFor) {
    FlowTable table(256);
    fill(table, 7);
    FlowMailbox box;
    std::atomic<bool> stop{false};
    std::thread worker([&] {
        while (!stop.load(std::memory_order_relaxed))
            box.serve(table);
    });
    for (int round = 0; round < 200; ++round) {
        uint64_t n = 0;
        while ((n = box.post(server())) == 0)
            std::this_thread::yield();
        while (!box.answered(n))
            std::this_thread::yield();
        ASSERT_EQ(box.flows().size(), 7u);
    }
    stop = true;
    worker.join();
}

}  // namespace
}  // namespace rstscope
