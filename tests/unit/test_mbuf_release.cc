// SPDX-License-Identifier: BSD-3-Clause
// Unit tests for giving received frames back (src/datapath/mbuf_release.h): an EAL test (no
// hugepages, no PCI). Whatever a burst holds, every segment must end up in its own pool exactly
// when nothing refers to it any more; a burst of plain segments takes the pool's bulk put.

#include <gtest/gtest.h>

#include <rte_eal.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <vector>

#include "datapath/mbuf_release.h"
#include "eal_for_tests.h"

namespace rstscope {
namespace {

constexpr unsigned pool_size = 127;
rte_mempool* pool = nullptr;
rte_mempool* other_pool = nullptr;

class Eal : public testing::Environment {
  public:
    void SetUp() override {
        ASSERT_GE(start_eal_for_tests("test_mbuf_release"), 0);
        // A per-lcore cache, as a live port's pool has: puts land there first.
        pool = rte_pktmbuf_pool_create("release_test", pool_size, 32, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                       SOCKET_ID_ANY);
        other_pool = rte_pktmbuf_pool_create("release_other", pool_size, 0, 0,
                                             RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
        ASSERT_NE(pool, nullptr);
        ASSERT_NE(other_pool, nullptr);
    }
    void TearDown() override {
        rte_mempool_free(pool);
        rte_mempool_free(other_pool);
        rte_eal_cleanup();
    }
};
testing::Environment* const eal = testing::AddGlobalTestEnvironment(new Eal);

std::vector<rte_mbuf*> take(rte_mempool* from, unsigned count) {
    std::vector<rte_mbuf*> mbufs(count);
    EXPECT_EQ(rte_pktmbuf_alloc_bulk(from, mbufs.data(), count), 0);
    for (rte_mbuf* m : mbufs)
        rte_pktmbuf_append(m, 60);
    return mbufs;
}

TEST(MbufRelease, PlainSegmentsGoBackToTheirPool) {
    const unsigned before = rte_mempool_avail_count(pool);
    std::vector<rte_mbuf*> burst = take(pool, 32);
    EXPECT_TRUE(plain_segments_of(pool, burst.data(), 32));
    release_received(burst.data(), 32);
    EXPECT_EQ(rte_mempool_avail_count(pool), before);
    // Taken again, they are as a pool's mbufs must be: one segment, nothing after it.
    std::vector<rte_mbuf*> again = take(pool, 32);
    for (rte_mbuf* m : again) {
        EXPECT_EQ(m->nb_segs, 1);
        EXPECT_EQ(m->next, nullptr);
        EXPECT_EQ(rte_mbuf_refcnt_read(m), 1);
    }
    release_received(again.data(), 32);
    EXPECT_EQ(rte_mempool_avail_count(pool), before);
}

TEST(MbufRelease, AChainReturnsEverySegment) {
    const unsigned before = rte_mempool_avail_count(pool);
    std::vector<rte_mbuf*> burst = take(pool, 8);
    std::vector<rte_mbuf*> tails = take(pool, 3);
    for (rte_mbuf* tail : tails)
        ASSERT_EQ(rte_pktmbuf_chain(burst[5], tail), 0);
    EXPECT_FALSE(plain_segments_of(pool, burst.data(), 8));
    release_received(burst.data(), 8);
    EXPECT_EQ(rte_mempool_avail_count(pool), before);
}

TEST(MbufRelease, ASegmentStillReferencedStaysOut) {
    const unsigned before = rte_mempool_avail_count(pool);
    std::vector<rte_mbuf*> burst = take(pool, 8);
    rte_mbuf* shared = burst[3];
    rte_mbuf_refcnt_update(shared, 1);  // held elsewhere too
    EXPECT_FALSE(plain_segments_of(pool, burst.data(), 8));
    release_received(burst.data(), 8);
    EXPECT_EQ(rte_mempool_avail_count(pool), before - 1);
    EXPECT_EQ(rte_mbuf_refcnt_read(shared), 1);
    release_received(&shared, 1);
    EXPECT_EQ(rte_mempool_avail_count(pool), before);
}

TEST(MbufRelease, AClonesDirectBufferReturnsWithItsLastReference) {
    const unsigned before = rte_mempool_avail_count(pool);
    std::vector<rte_mbuf*> burst = take(pool, 4);
    // The clone's header comes from the same pool and points into burst[1]'s buffer: only its
    // attachment tells it from a plain segment.
    rte_mbuf* clone = rte_pktmbuf_clone(burst[1], pool);
    ASSERT_NE(clone, nullptr);
    EXPECT_EQ(rte_mbuf_refcnt_read(burst[1]), 2);
    std::vector<rte_mbuf*> with_clone = {burst[0], clone};
    EXPECT_FALSE(plain_segments_of(pool, with_clone.data(), 2));
    release_received(with_clone.data(), 2);
    EXPECT_EQ(rte_mbuf_refcnt_read(burst[1]), 1);
    EXPECT_EQ(rte_mempool_avail_count(pool), before - 3);  // burst[1], [2], [3] still out
    release_received(burst.data() + 1, 3);
    EXPECT_EQ(rte_mempool_avail_count(pool), before);
}

TEST(MbufRelease, ABurstFromTwoPoolsReturnsEachToItsOwn) {
    const unsigned before = rte_mempool_avail_count(pool);
    const unsigned other_before = rte_mempool_avail_count(other_pool);
    std::vector<rte_mbuf*> mine = take(pool, 6);
    std::vector<rte_mbuf*> others = take(other_pool, 2);
    std::vector<rte_mbuf*> burst = {mine[0], mine[1],   others[0], mine[2],
                                    mine[3], others[1], mine[4],   mine[5]};
    EXPECT_FALSE(plain_segments_of(pool, burst.data(), 8));
    release_received(burst.data(), static_cast<uint32_t>(burst.size()));
    EXPECT_EQ(rte_mempool_avail_count(pool), before);
    EXPECT_EQ(rte_mempool_avail_count(other_pool), other_before);
}

TEST(MbufRelease, AnEmptyBurstTouchesNothing) {
    const unsigned before = rte_mempool_avail_count(pool);
    release_received(nullptr, 0);
    EXPECT_EQ(rte_mempool_avail_count(pool), before);
}

}  // namespace
}  // namespace rstscope
