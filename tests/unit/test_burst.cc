// SPDX-License-Identifier: BSD-3-Clause
// BurstPath: the worker's burst body (decode → dispatch → track → hand over), without EAL.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
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
    std::vector<uint64_t> times;  // per frame; empty: frame i at i + 1 s
    uint64_t time_ns(uint32_t i) const {
        return times.empty() ? ns_per_second * (i + 1) : times[i];
    }
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

// `linger_ns` 0: each reset is an event at once.
struct Worker {
    explicit Worker(uint64_t linger_ns = 0) : tracker(config(linger_ns), counters) {}
    static TrackerConfig config(uint64_t linger_ns) {
        TrackerConfig c;
        c.flow_capacity = 1024;
        c.linger_ns = linger_ns;
        return c;
    }
    WorkerCounters counters;
    FlowTracker tracker;
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

// An event ring with room for everything that notes, for each event, the worker's progress as
// management would read it when the event arrives.
struct ProgressSink {
    explicit ProgressSink(const std::atomic<uint64_t>& worker_progress)
        : progress(worker_progress) {}
    const std::atomic<uint64_t>& progress;
    std::vector<std::pair<uint64_t, uint64_t>> arrivals;  // (RST time, progress then)

    uint32_t enqueue(const ResetEvent* events, uint32_t count) {
        for (uint32_t i = 0; i < count; ++i)
            arrivals.emplace_back(events[i].ts_ns, progress.load());
        return count;
    }
    bool abandoned() const { return false; }
    void pause() {}
};

TEST(BurstPath, TheFlushPublishesProgressAsItGoes) {
    constexpr uint64_t linger = 10 * ns_per_second;
    Worker w(linger);
    FlowTracker& tracker = w.tracker;
    // Four refusals, the RSTs at 2, 4, 6 and 8 s (TestFrames: frame i at i + 1 s), all lingering.
    std::vector<Bytes> frames{syn(1), refusal(1), syn(2), refusal(2),
                              syn(3), refusal(3), syn(4), refusal(4)};
    TestFrames burst(frames);
    w.path.track(LinkType::ethernet, burst, 8);
    ASSERT_EQ(tracker.event_count(), 0u);
    ASSERT_EQ(tracker.pending_deadline_floor(), 2 * ns_per_second + linger);

    std::atomic<uint64_t> progress{0};
    ProgressSink sink(progress);
    w.path.flush(sink, 1, progress);
    EXPECT_FALSE(tracker.has_pending());
    EXPECT_EQ(tracker.pending_deadline_floor(), UINT64_MAX);
    ASSERT_EQ(sink.arrivals.size(), 4u);
    for (size_t i = 0; i < 4; ++i) {
        const auto [ts, seen] = sink.arrivals[i];
        EXPECT_EQ(ts, 2 * (i + 1) * ns_per_second) << "oldest first";
        // Each event after the first arrives with the progress its own deadline gave: management
        // may by then have judged everything older, and nothing older follows.
        EXPECT_EQ(seen, i == 0 ? 0 : ts + linger) << "event " << i;
        EXPECT_GE(ts + linger, seen) << "no event older than progress less the linger";
    }
    EXPECT_EQ(progress.load(), 8 * ns_per_second + linger);
    EXPECT_EQ(w.counters.get(WorkerCounter::events_emitted), 4u);

    // Progress never goes back: a worker that had published more keeps it.
    std::vector<Bytes> more{syn(5), refusal(5), syn(6), refusal(6)};
    TestFrames later(more);
    w.path.track(LinkType::ethernet, later, 4);
    ASSERT_TRUE(tracker.has_pending());
    progress.store(UINT64_MAX - 1);
    w.path.flush(sink, 1, progress);
    EXPECT_EQ(sink.arrivals.size(), 6u);
    EXPECT_EQ(progress.load(), UINT64_MAX - 1);
}

TEST(BurstPath, TheFlushClaimsNoProgressPastAResetQueuedOutOfOrder) {
    constexpr uint64_t linger = 10 * ns_per_second;
    Worker w(linger);
    FlowTracker& tracker = w.tracker;
    // RSTs at 5 s, 6 s, then 1 s: the capture's times went back.
    std::vector<Bytes> frames{syn(1), refusal(1), syn(2), refusal(2), syn(3), refusal(3)};
    TestFrames burst(frames);
    burst.times = {4 * ns_per_second, 5 * ns_per_second, 5 * ns_per_second,
                   6 * ns_per_second, ns_per_second / 2, ns_per_second};
    w.path.track(LinkType::ethernet, burst, 6);
    EXPECT_EQ(tracker.pending_deadline_floor(), 0u) << "the 1 s reset waits behind the 5 s one";

    std::atomic<uint64_t> progress{0};
    ProgressSink sink(progress);
    w.path.flush(sink, 1, progress);
    ASSERT_EQ(sink.arrivals.size(), 3u);
    for (const auto& [ts, seen] : sink.arrivals)
        EXPECT_GE(ts + linger, seen) << "no event older than progress less the linger";
    // Nothing was claimed while the 1 s reset waited behind others; once it led, its deadline.
    EXPECT_EQ(sink.arrivals[1].second, 0u);
    EXPECT_EQ(sink.arrivals[2], std::make_pair(ns_per_second, ns_per_second + linger));
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
