// SPDX-License-Identifier: BSD-3-Clause
// Monitor mode gives back every frame it receives. A frame straight from a receive queue or the
// capture feed is one direct segment that nothing else refers to, and it can go back to its pool
// as it is, in one rte_mempool_put_bulk for the burst: what DPDK's fast-free transmit offload
// does for a driver. rte_pktmbuf_free_bulk checks each segment's reference count, chain and
// attachment and groups the burst by pool, about 40 instructions a frame (docs/performance.md).
// A burst holding anything else (a chain, a clone, an attached buffer, a second pool) takes that
// general path whole.
//
// Hot path: allocates nothing, locks nothing (the pool's per-lcore cache, as
// rte_pktmbuf_free_bulk).
#pragma once

#include <cstdint>

#include <rte_mbuf.h>
#include <rte_mempool.h>

namespace rstscope {

// True when each of `mbufs` is a single direct segment of `pool` that only its holder refers to:
// what rte_pktmbuf_prefree_seg would hand back to the pool unchanged. Reads the first cache line
// of each mbuf only (a single segment's `next` is null, as every mbuf in a pool's keeping).
inline bool plain_segments_of(const rte_mempool* pool, rte_mbuf* const* mbufs,
                              uint32_t count) noexcept {
    constexpr uint64_t attached = RTE_MBUF_F_INDIRECT | RTE_MBUF_F_EXTERNAL;
    bool plain = true;
    for (uint32_t i = 0; i < count; ++i) {
        const rte_mbuf* m = mbufs[i];
        // Bitwise &: one test at the end, no branch per frame.
        plain &= (m->pool == pool) & (m->nb_segs == 1) & (rte_mbuf_refcnt_read(m) == 1) &
                 ((m->ol_flags & attached) == 0);
    }
    return plain;
}

// Gives `count` received frames back, each to its pool (see above).
inline void release_received(rte_mbuf** mbufs, uint32_t count) noexcept {
    if (count == 0) return;
    rte_mempool* pool = mbufs[0]->pool;
    if (plain_segments_of(pool, mbufs, count)) {
        rte_mempool_put_bulk(pool, reinterpret_cast<void* const*>(mbufs), count);
    } else {
        rte_pktmbuf_free_bulk(mbufs, count);
    }
}

}  // namespace rstscope
