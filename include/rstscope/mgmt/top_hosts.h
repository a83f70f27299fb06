// SPDX-License-Identifier: BSD-3-Clause
// The hosts that reset the most connections, in memory fixed by a capacity whatever the traffic:
// the Space-Saving heavy-hitter algorithm (Metwally, Agrawal, El Abbadi, "Efficient computation
// of frequent and top-k elements in data streams", ICDT 2005). Management thread only.
//
// What a reported count means, after N resets counted with capacity m:
// - While at most m distinct hosts have been seen, every count is exact and its error is 0.
// - Beyond that, a host arriving when all m counters are taken replaces the host with the
//   smallest count c (an eviction) and starts from c + 1 with error c. For every host reported,
//       resets - error <= true resets <= resets,   and   error <= min count <= N / m.
// - A host with more than N / m true resets is always among those tracked.
//
// Cost: add is O(1) and never allocates (the "stream summary": counters grouped in buckets of
// equal count, buckets in a list in count order, so a counter moves to the next bucket up and the
// victim is the first counter of the lowest bucket). top() formats text only for the hosts it
// returns and their ties, at most m of them.
//
// Memory: memory_for(m) = m * (sizeof(Counter) + sizeof(Bucket)) + HostIndex::memory_for(m),
// 88 bytes per counter (1024 counters: 88 KiB), all allocated by the constructor.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "rstscope/mgmt/host_index.h"

namespace rstscope {

struct TopHost {
    std::string host;  // as text
    uint64_t resets;   // an overestimate by at most `error`
    uint64_t error;    // 0: exact
    friend bool operator==(const TopHost&, const TopHost&) = default;
};

class TopHostCounter {
  public:
    // `hash`: a copy of the HostHash of another index whose hashes add() is given (the storm
    // window's, for the resetters' sketch).
    explicit TopHostCounter(uint32_t capacity, HostHash hash = HostHash{});

    void add(const HostKey& host) noexcept { add(host, index_.hash(host)); }
    // `hash`: index_.hash(host), or its low 32 bits, as an index sharing this counter's HostHash
    // computed it (checked in debug builds).
    void add(const HostKey& host, uint64_t hash) noexcept;

    // The `n` highest counts, highest first, equal counts in the order of their text.
    std::vector<TopHost> top(size_t n) const;

    uint32_t capacity() const noexcept { return index_.capacity(); }
    uint32_t tracked() const noexcept { return used_; }
    // Hosts that lost their counter to a newcomer.
    uint64_t evicted() const noexcept { return evicted_; }

    size_t memory_bytes() const noexcept;
    static size_t memory_for(uint32_t capacity) noexcept;

  private:
    static constexpr uint32_t nil = UINT32_MAX;
    struct Counter {
        uint64_t error;
        uint32_t bucket;
        uint32_t prev, next;  // within the bucket
    };
    struct Bucket {
        uint64_t count;
        uint32_t first;          // its counters; `nil` for a free bucket
        uint32_t lower, higher;  // neighbours in count order (`lower` links the free list)
    };

    // Inlined into add(), the one caller on the per-event path: the call cost 12 instructions an
    // event in mgmt_bench (three sketches).
    [[gnu::always_inline]] inline void increment(uint32_t counter) noexcept;
    void attach(uint32_t counter, uint32_t bucket) noexcept;
    void detach(uint32_t counter) noexcept;
    // A bucket with `count`, linked between `lower` and `higher` (either may be nil).
    uint32_t new_bucket(uint64_t count, uint32_t lower, uint32_t higher) noexcept;
    void free_bucket(uint32_t bucket) noexcept;

    HostIndex index_;
    std::vector<Counter> counters_;
    std::vector<Bucket> buckets_;  // never more in use than counters: each holds one at least
    uint32_t used_ = 0;
    uint32_t lowest_ = nil, highest_ = nil, free_buckets_ = nil;
    uint64_t evicted_ = 0;
};

}  // namespace rstscope
