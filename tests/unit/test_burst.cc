// SPDX-License-Identifier: BSD-3-Clause
// BurstPath: the worker's burst body (decode → dispatch → track → hand over), without EAL.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "frame_builder.h"
#include "rstscope/datapath/burst.h"

namespace rstscope {
namespace {

using test::Bytes;

// Frames from vectors; records what the body asked of the shell.
struct TestFrames {
    TestFrames(const std::vector<Bytes>& frame_list, bool arriving_from_port = true,
               std::vector<bool> owned_by_others = {})
        : frames(frame_list),
          from_port(arriving_from_port),
          owned_elsewhere(std::move(owned_by_others)) {}

    const std::vector<Bytes>& frames;
    bool from_port;
    std::vector<bool> owned_elsewhere;  // per frame: another worker owns it (dispatched)
    std::vector<uint32_t> kept, stamped, offered;

    bool arriving() const { return from_port; }
    void prefetch(uint32_t) const {}
    void arrived(uint32_t i) { stamped.push_back(i); }
    const uint8_t* data(uint32_t i) const { return frames[i].data(); }
    uint32_t data_length(uint32_t i) const { return static_cast<uint32_t>(frames[i].size()); }
    uint32_t packet_length(uint32_t i) const { return data_length(i) + 100; }
    bool stays(uint32_t i, const DecodedPacket&) {
        offered.push_back(i);
        return owned_elsewhere.empty() || !owned_elsewhere[i];
    }
    uint64_t time_ns(uint32_t i) const { return ns_per_second * (i + 1); }
    void keep(uint32_t i) { kept.push_back(i); }
};

// An event ring with `room` slots that management never empties, unless `abandon` is set.
struct TestSink {
    explicit TestSink(uint32_t slots, bool abandoned = false) : room(slots), abandon(abandoned) {}
    uint32_t room;
    bool abandon;
    uint32_t taken = 0, pauses = 0;

    uint32_t enqueue(const ResetEvent*, uint32_t count) {
        uint32_t n = std::min(count, room - taken);
        taken += n;
        return n;
    }
    bool abandoned() const { return abandon; }
    void pause() {
        // Management makes room for one more event per pause, three times at most.
        if (++pauses <= 3) ++room;
    }
};

struct Worker {
    WorkerCounters counters;
    FlowTracker tracker{[] {
                            TrackerConfig c;
                            c.flow_capacity = 1024;
                            c.linger_ns = 0;  // each reset is an event at once
                            return c;
                        }(),
                        counters};
    BurstPath path{tracker, counters};
};

Bytes syn(uint16_t sport) {
    test::TcpSpec t;
    t.sport = sport;
    t.dport = 80;
    t.seq = 1000;
    t.flags = 0x02;
    return test::eth_ipv4_tcp(t);
}
// The server refuses: RST+ACK acknowledging the SYN.
Bytes refusal(uint16_t sport) {
    test::TcpSpec t;
    t.sport = 80;
    t.dport = sport;
    t.seq = 0;
    t.ack = 1001;
    t.flags = 0x14;
    return test::eth_ipv4_tcp(t, "203.0.113.2", "198.51.100.1");
}
Bytes arp() {
    return test::ethernet(0x0806, Bytes(28, 0));
}

TEST(BurstPath, TracksTcpCountsDropsAndKeepsBoth) {
    Worker w;
    std::vector<Bytes> frames{syn(40000), arp(), refusal(40000)};
    TestFrames burst(frames);
    w.path.track(LinkType::ethernet, burst, 3);
    EXPECT_EQ(burst.kept, (std::vector<uint32_t>{0, 1, 2}));
    EXPECT_EQ(burst.stamped, (std::vector<uint32_t>{0, 1, 2}));
    EXPECT_EQ(burst.offered, (std::vector<uint32_t>{0, 2}));  // TCP only
    EXPECT_EQ(w.counters.get(WorkerCounter::packets), 3u);
    uint64_t bytes = frames[0].size() + frames[1].size() + frames[2].size() + 300;
    EXPECT_EQ(w.counters.get(WorkerCounter::bytes), bytes);
    EXPECT_EQ(w.counters.get(DropReason::not_ip), 1u);
    EXPECT_EQ(w.counters.get(WorkerCounter::tcp_packets), 2u);
    ASSERT_EQ(w.tracker.event_count(), 1u);
    EXPECT_EQ(w.tracker.events()[0].cause, ResetCause::refused);
    EXPECT_EQ(w.tracker.events()[0].ts_ns, 3 * ns_per_second);  // the shell's time of frame 2
}

TEST(BurstPath, FramesFromADispatchRingAreNeitherCountedNorOffered) {
    Worker w;
    std::vector<Bytes> frames{syn(40000), refusal(40000)};
    TestFrames burst(frames, false);
    w.path.track(LinkType::ethernet, burst, 2);
    EXPECT_EQ(burst.kept, (std::vector<uint32_t>{0, 1}));
    EXPECT_TRUE(burst.stamped.empty());
    EXPECT_TRUE(burst.offered.empty());
    EXPECT_EQ(w.counters.get(WorkerCounter::packets), 0u);
    EXPECT_EQ(w.counters.get(WorkerCounter::bytes), 0u);
    EXPECT_EQ(w.counters.get(WorkerCounter::tcp_packets), 2u);
    EXPECT_EQ(w.tracker.event_count(), 1u);
}

TEST(BurstPath, ADispatchedFrameIsNeitherTrackedNorKept) {
    Worker w;
    std::vector<Bytes> frames{syn(40000), syn(40001), refusal(40001)};
    TestFrames burst(frames, true, {false, true, true});
    w.path.track(LinkType::ethernet, burst, 3);
    EXPECT_EQ(burst.kept, (std::vector<uint32_t>{0}));
    EXPECT_EQ(w.counters.get(WorkerCounter::packets), 3u);  // counted where they arrived
    EXPECT_EQ(w.counters.get(WorkerCounter::tcp_packets), 1u);
    EXPECT_EQ(w.tracker.event_count(), 0u);
}

// Three connections refused in one burst: three events for the sink.
void three_refusals(Worker& w) {
    std::vector<Bytes> frames{syn(1), refusal(1), syn(2), refusal(2), syn(3), refusal(3)};
    TestFrames burst(frames);
    w.path.track(LinkType::ethernet, burst, 6);
    ASSERT_EQ(w.tracker.event_count(), 3u);
}

TEST(BurstPath, LiveHandOverDropsWhatTheRingCannotTake) {
    Worker w;
    three_refusals(w);
    TestSink sink(1);
    w.path.hand_over(sink, false);
    EXPECT_EQ(sink.pauses, 0u);
    EXPECT_EQ(w.counters.get(WorkerCounter::events_emitted), 1u);
    EXPECT_EQ(w.counters.get(WorkerCounter::events_ring_full), 2u);
    EXPECT_EQ(w.counters.get(WorkerCounter::events_lost_shutdown), 0u);
    EXPECT_EQ(w.tracker.event_count(), 0u);
}

TEST(BurstPath, WaitingHandOverWaitsForRoom) {
    Worker w;
    three_refusals(w);
    TestSink sink(1);
    w.path.hand_over(sink, true);
    EXPECT_EQ(sink.pauses, 2u);
    EXPECT_EQ(w.counters.get(WorkerCounter::events_emitted), 3u);
    EXPECT_EQ(w.counters.get(WorkerCounter::events_ring_full), 0u);
}

TEST(BurstPath, WaitingEndsAtTheDeadlineAndCountsTheRestAsLost) {
    Worker w;
    three_refusals(w);
    TestSink sink(1, true);
    w.path.hand_over(sink, true);
    EXPECT_EQ(sink.pauses, 0u);
    EXPECT_EQ(w.counters.get(WorkerCounter::events_emitted), 1u);
    EXPECT_EQ(w.counters.get(WorkerCounter::events_lost_shutdown), 2u);
    EXPECT_EQ(w.counters.get(WorkerCounter::events_ring_full), 0u);
}

TEST(BurstPath, NothingToHandOverTouchesNoCounter) {
    Worker w;
    TestSink sink(0);
    w.path.hand_over(sink, true);
    EXPECT_EQ(sink.pauses, 0u);
    EXPECT_EQ(w.counters.get(WorkerCounter::events_emitted), 0u);
}

}  // namespace
}  // namespace rstscope
