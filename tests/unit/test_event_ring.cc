// SPDX-License-Identifier: BSD-3-Clause
// The event ring between a worker and management (channel/event_ring.h), without EAL: management
// reads each event where it lies (sc_consume), oldest first across the ring's end, and the worker
// gets a slot back only once its event has been visited.
#include <gtest/gtest.h>

#include <stdexcept>
#include <vector>

#include "channel/event_ring.h"
#include "resident_memory.h"

namespace rstscope {
namespace {

std::vector<ResetEvent> numbered(uint64_t first, uint64_t count) {
    std::vector<ResetEvent> events(count);
    for (uint64_t i = 0; i < count; ++i) {
        events[i] = ResetEvent{};
        events[i].id = first + i;
        events[i].orig_p = static_cast<uint16_t>(first + i);
        events[i].app.banner[app_banner_capacity - 1] = static_cast<char>(first + i);  // last byte
    }
    return events;
}

std::vector<uint64_t> consume_ids(EventRing& ring, uint32_t most) {
    std::vector<uint64_t> ids;
    uint32_t n = ring.sc_consume(most, [&](ResetEvent& e) {
        // The whole event, not just its id: its first bytes and its last.
        EXPECT_EQ(e.orig_p, static_cast<uint16_t>(e.id));
        EXPECT_EQ(e.app.banner[app_banner_capacity - 1], static_cast<char>(e.id));
        ids.push_back(e.id);
    });
    EXPECT_EQ(n, ids.size());
    return ids;
}

// A populated ring takes no page fault while events pass through it, however many: the producer
// walks every slot the ring has (with RING_F_EXACT_SZ the power of two above its capacity), not
// just as many as it holds at once.
TEST(EventRing, PopulateCoversEverySlotTheEventsWillTake) {
    constexpr uint32_t size = 4096;  // 8 192 slots, 3.7 MB
    EventRing ring("test_populate", size, Paging::on_use);
    const auto events = numbered(1, size);
    ring.populate(10 * uint64_t{size});
    const size_t before = resident_bytes();
    for (int round = 0; round < 3; ++round) {
        ASSERT_EQ(ring.sp_enqueue(events.data(), size), size);
        ASSERT_EQ(ring.sc_consume(size, [](ResetEvent&) {}), size);
    }
    const size_t ring_bytes = size_t{2 * size} * sizeof(ResetEvent);
    EXPECT_LT(resident_bytes() - before, ring_bytes / 16);
}

TEST(EventRing, ConsumesInOrderAcrossTheRingsEnd) {
    EventRing ring("test_order", 8, Paging::on_use);
    ASSERT_EQ(ring.capacity(), 8u);
    auto first = numbered(1, 6);
    ASSERT_EQ(ring.sp_enqueue(first.data(), 6), 6u);
    EXPECT_EQ(consume_ids(ring, 4), (std::vector<uint64_t>{1, 2, 3, 4}));
    EXPECT_EQ(consume_ids(ring, 256), (std::vector<uint64_t>{5, 6}));
    // Slots 6 and 7, then 0 to 3: the consume's second stretch starts at the ring's beginning.
    auto second = numbered(7, 6);
    ASSERT_EQ(ring.sp_enqueue(second.data(), 6), 6u);
    EXPECT_EQ(consume_ids(ring, 256), (std::vector<uint64_t>{7, 8, 9, 10, 11, 12}));
    EXPECT_EQ(ring.sc_consume(256, [](ResetEvent&) { ADD_FAILURE() << "an empty ring's visit"; }),
              0u);
}

// A burst larger than the room left takes what fits, across the ring's end, and nothing more.
TEST(EventRing, AnEnqueueTakesWhatFitsAcrossTheEnd) {
    EventRing ring("test_fits", 8, Paging::on_use);
    auto first = numbered(1, 5);
    ASSERT_EQ(ring.sp_enqueue(first.data(), 5), 5u);
    EXPECT_EQ(consume_ids(ring, 5), (std::vector<uint64_t>{1, 2, 3, 4, 5}));
    auto second = numbered(6, 6);
    ASSERT_EQ(ring.sp_enqueue(second.data(), 6), 6u);  // slots 5 to 7, then 0 to 2
    auto third = numbered(12, 4);
    EXPECT_EQ(ring.sp_enqueue(third.data(), 4), 2u);
    EXPECT_EQ(consume_ids(ring, 256), (std::vector<uint64_t>{6, 7, 8, 9, 10, 11, 12, 13}));
}

TEST(EventRing, SlotsComeBackOnlyOnceVisited) {
    EventRing ring("test_slots", 4, Paging::on_use);
    auto full = numbered(1, 4);
    ASSERT_EQ(ring.sp_enqueue(full.data(), 4), 4u);
    auto more = numbered(5, 1);
    uint32_t visits = 0;
    ring.sc_consume(256, [&](ResetEvent&) {
        // Every slot is still being read: the worker finds no room.
        EXPECT_EQ(ring.sp_enqueue(more.data(), 1), 0u) << "visit " << visits;
        ++visits;
    });
    EXPECT_EQ(visits, 4u);
    EXPECT_EQ(ring.count(), 0u);
    EXPECT_EQ(ring.sp_enqueue(more.data(), 1), 1u);
    EXPECT_EQ(consume_ids(ring, 256), (std::vector<uint64_t>{5}));
}

TEST(EventRing, AThrowingVisitTakesWhatItVisitedAndLeavesTheRest) {
    EventRing ring("test_throw", 8, Paging::on_use);
    auto events = numbered(1, 5);
    ASSERT_EQ(ring.sp_enqueue(events.data(), 5), 5u);
    std::vector<uint64_t> seen;
    EXPECT_THROW(ring.sc_consume(256,
                                 [&](ResetEvent& e) {
                                     seen.push_back(e.id);
                                     if (e.id == 2) throw std::runtime_error("visit failed");
                                 }),
                 std::runtime_error);
    EXPECT_EQ(seen, (std::vector<uint64_t>{1, 2}));
    EXPECT_EQ(ring.count(), 3u);
    EXPECT_EQ(consume_ids(ring, 256), (std::vector<uint64_t>{3, 4, 5}));
}

}  // namespace
}  // namespace rstscope
