// SPDX-License-Identifier: BSD-3-Clause
// IP fragment reassembly for one worker: DPDK's rte_ip_frag table, bounded (datagrams in flight,
// associativity, a timeout on packet time), and every fragment's fate counted in the worker's
// counters: taken (`fragments`), part of a reassembled datagram (`fragments_reassembled` counts
// datagrams), or dropped as table full, timed out, invalid or too large. docs/architecture.md,
// "Fragments", says what is reassembled and why.
//
// Hot path (take, expire): no allocation, no lock; the table and its death row are this worker's
// alone. Built and destroyed at setup (throws there).
#pragma once

#include <cstdint>

#include <rte_ip_frag.h>
#include <rte_mbuf.h>

#include "rstscope/common/counters.h"
#include "rstscope/decode/packet_decoder.h"

namespace rstscope {

struct ReassemblyConfig {
    uint32_t datagrams = 512;  // in flight at once; 0: no reassembly
    uint32_t bucket_entries = 8;
    uint64_t timeout_ns = 30'000'000'000ull;
};

// Held fragments pin mbufs of the worker's pool (up to RTE_LIBRTE_IP_FRAG_MAX_FRAG a datagram):
// a table may hold at most half of the pool, so receiving never starves for it.
uint32_t reassembly_datagrams_for_pool(uint32_t wanted, uint32_t pool_mbufs) noexcept;

class Reassembler {
  public:
    Reassembler(const ReassemblyConfig& config, WorkerCounters& counters, int socket);
    ~Reassembler();
    Reassembler(const Reassembler&) = delete;
    Reassembler& operator=(const Reassembler&) = delete;

    // `m` holds a fragment as decode_frame() described it (`r`); its data starts at the frame.
    // Returns the reassembled datagram when `m` completed one (a chain whose first segment
    // holds the link and IP headers, IP lengths and fragment fields rewritten as for a whole
    // packet), otherwise nullptr: the table holds `m`, or dropped it and counted why. Either
    // way `m` is the table's now. `now_ns`: the fragment's packet time.
    rte_mbuf* take(rte_mbuf* m, const DecodeResult& r, uint64_t now_ns) noexcept;

    // Drops (and counts) the fragments of datagrams older than the timeout at `now_ns`.
    void expire(uint64_t now_ns) noexcept;
    // The input ended: every datagram still incomplete is dropped and counted as timed out.
    void expire_all() noexcept { expire(UINT64_MAX - timeout_ns_); }

  private:
    uint32_t free_death_row() noexcept;

    rte_ip_frag_tbl* table_ = nullptr;
    rte_ip_frag_death_row death_row_{};
    WorkerCounters& counters_;
    uint64_t timeout_ns_;
};

}  // namespace rstscope
