// SPDX-License-Identifier: BSD-3-Clause
// Per-worker flow table: a two-choice, 8-way set-associative hash table of FlowEntry.
//
// Thread contract: one worker owns a table and is its only reader and writer; no locks, no
// atomics. Memory is allocated and pre-touched at construction (which may throw); lookups,
// inserts and the expiry sweep never allocate and never fail: when both candidate buckets of a new
// flow are full, the caller evicts a victim chosen by `choose_victim` (docs/flow-table.md says why
// this beats rte_hash here).
#pragma once

#include <emmintrin.h>

#include <bit>
#include <cstddef>
#include <cstdint>

#include "rstscope/common/fixed_memory.h"
#include "rstscope/common/prefetch.h"
#include "rstscope/decode/decoded_packet.h"
#include "rstscope/flow/flow_entry.h"

namespace rstscope {

// The canonical key of a segment's connection; `src_is_lo` tells which key side sent it. With
// `vlan_in_key` false (Zeek's key, rstscope's default) the key's VLANs are vlan_none, so the same
// addresses and ports on two VLANs are one connection.
FlowKey flow_key_of(const DecodedPacket& packet, bool& src_is_lo, bool vlan_in_key) noexcept;

class FlowTable {
  public:
    static constexpr uint32_t ways = 8;  // ways_holding() compares a bucket's 8 signatures at once
    static constexpr uint32_t no_slot = UINT32_MAX;

    // `capacity` entries are rounded up to whole buckets of 8 (at least two buckets, at most
    // max_buckets: 2^31 entries; more throws). Any bucket count: a capture's table is one and a
    // half times its connections, not the next power of two above that (up to twice as much
    // memory to fault in). Live traffic is sized for ~50 % load at the expected flow count, which
    // keeps evictions rare (two choices of 8 ways) while flows come and go; a capture's table
    // holds all its connections at once at two thirds load (docs/flow-table.md).
    // The whole table is faulted in here, for captures too: the packet path then never takes a
    // page fault, and flows land all over the table, so a capture large enough to need a large
    // table touches all of it anyway. Faulting it in on use cost the reset-heavy capture's worker
    // 0.4 s more system time than the management thread spends populating it (lookups read the
    // kernel's shared zero page first, and each first write then replaces a 2 MiB page).
    // `huge_pages`: what its huge pages may cost to fault in (fixed_memory.h): always for live
    // traffic, while cheap for a capture.
    explicit FlowTable(uint32_t capacity, HugePages huge_pages = HugePages::always);
    FlowTable(const FlowTable&) = delete;
    FlowTable& operator=(const FlowTable&) = delete;

    // Gives the table's memory back to the system: a table with no room, which nothing may look
    // up or insert into afterwards (a worker after its last packet).
    void release_memory() noexcept;

    static uint64_t hash(const FlowKey& key) noexcept;

    // The buckets and the bytes a table asked for `capacity` entries takes (what the constructor
    // allocates, for checking a configuration against the machine before building it).
    static uint32_t buckets_for(uint32_t capacity);
    static size_t memory_for(uint32_t capacity);

    // How a hash is spent. Each choice takes its own bit range, so no choice narrows another:
    //   bits  0..27  primary bucket (scaled to the bucket count: up to 2^28 buckets)
    //   bits 28..39  owning worker, when workers redistribute packets (owner_of)
    //   bits 40..63  signature
    // The secondary bucket is drawn from the signature (no bits of its own), so a flow's two
    // buckets are independent and a signature says nothing about its bucket.
    // A worker's flows thus reach every bucket, and its signatures stay 24 bits wide.
    static constexpr unsigned bucket_bits = 28;
    static constexpr unsigned owner_shift = 28, owner_bits = 12;
    static constexpr unsigned signature_shift = 40, signature_bits = 24;
    static constexpr uint32_t max_buckets = 1u << bucket_bits;
    static_assert(bucket_bits <= owner_shift && owner_shift + owner_bits <= signature_shift &&
                  signature_shift + signature_bits == 64);

    // Which of `owners` workers (1..2^12) owns a flow with this hash; the same worker for both
    // directions. Multiply-shift rather than modulo: 12 bits shared by 3 workers are within
    // 1/1365 of even.
    static constexpr unsigned owner_of(uint64_t hash, unsigned owners) noexcept {
        uint64_t field = (hash >> owner_shift) & ((uint64_t{1} << owner_bits) - 1);
        return static_cast<unsigned>((field * owners) >> owner_bits);
    }

    // Never 0 (0 marks an empty slot): a marker bit above the 24 signature bits, so no value is
    // lost to the marker.
    static constexpr uint32_t signature(uint64_t hash) noexcept {
        return static_cast<uint32_t>(hash >> signature_shift) | (1u << signature_bits);
    }

    // The 28 bucket bits times the bucket count, shifted down (multiply-shift: any count, no
    // division): each bucket takes an equal share of the field's values, to within one part in
    // 2^28 / buckets. With 2^k buckets, the field's top k bits.
    static constexpr uint32_t primary_bucket(uint64_t hash, uint32_t buckets) noexcept {
        return static_cast<uint32_t>(((hash & (max_buckets - 1)) * buckets) >> bucket_bits);
    }

    // The primary plus an offset of 1 to buckets - 1, wrapping round: never the primary itself.
    // The offset is the signature times an odd constant (which carries the 24 signature bits into
    // all 32), scaled to buckets - 1 the same way. An offset, not the scaled signature itself, so
    // that the flows living in a bucket as their secondary have signatures of every value, as
    // those living there as their primary do.
    static constexpr uint32_t secondary_bucket(uint64_t hash, uint32_t buckets) noexcept {
        const uint32_t primary = primary_bucket(hash, buckets);
        const uint32_t spread = static_cast<uint32_t>(hash >> signature_shift) * 0x9E3779B1u;
        const uint32_t offset = 1 + static_cast<uint32_t>((uint64_t{spread} * (buckets - 1)) >> 32);
        const uint32_t secondary = primary + offset;
        return secondary >= buckets ? secondary - buckets : secondary;
    }

    // Brings the key's buckets into cache ahead of find(); worthwhile across a burst. The prefetch
    // helpers are always inlined: GCC deletes the calls it does not inline to a function whose only
    // effect is prefetching (flow_tracker.h).
    [[gnu::always_inline]] void prefetch(uint64_t hash) const noexcept {
        __builtin_prefetch(&signatures_[primary_bucket(hash) * ways]);
        __builtin_prefetch(&signatures_[secondary_bucket(hash) * ways]);
    }

    // Second prefetch stage, once the buckets are in cache: brings in the entry whose signature
    // matches (the likely hit), all four of its cache lines, and returns its slot (no_slot when
    // no signature matches), so that per-slot stores beside the table can be prefetched too.
    // Inline: it runs for every packet, and the path without a use for the slot drops it.
    // The secondary bucket is worked out only when the primary holds no match: most flows live
    // in their primary. No match is most likely a new flow: the entry free_slot() would give it
    // is brought in for writing, as occupy() writes all of it (a SYN or RST flood opens a flow
    // with nearly every packet; unprefetched, each waited for a load miss there).
    uint32_t prefetch_entry(uint64_t hash) const noexcept {
        const uint32_t sig = signature(hash);
        uint32_t bucket = primary_bucket(hash);
        uint32_t ways_matching = ways_holding(bucket, sig);
        if (ways_matching == 0) {
            bucket = secondary_bucket(hash);
            ways_matching = ways_holding(bucket, sig);
            if (ways_matching == 0) {
                if (const uint32_t slot = free_slot(hash); slot != no_slot)
                    prefetch_whole<true>(entries_[slot]);
                return no_slot;
            }
        }
        const uint32_t slot = bucket * ways + std::countr_zero(ways_matching);
        prefetch_whole(entries_[slot]);
        return slot;
    }

    // A slot's signature and entry, all of it, for writing: for a later visit by slot, not key
    // (a reset's verdict, written seconds of packet time after the flow was last touched).
    [[gnu::always_inline]] void prefetch_slot(uint32_t slot) const noexcept {
        __builtin_prefetch(&signatures_[slot], 0);
        prefetch_whole<true>(entries_[slot]);
    }

    // Returns the slot holding `key`, or no_slot.
    uint32_t find(const FlowKey& key, uint64_t hash) const noexcept;

    // find() that first tries `hint`, the slot prefetch_entry() returned for this hash earlier in
    // the burst: a key is held in one slot at most, so a hint holding it is the answer, and the
    // second walk over both buckets is saved. A hint gone stale since (the slot freed, or taken
    // by another flow) fails the key comparison and falls back to the walk.
    uint32_t find(const FlowKey& key, uint64_t hash, uint32_t hint) const noexcept {
        if (hint != no_slot && signatures_[hint] == signature(hash) && entries_[hint].key == key)
            return hint;
        return find(key, hash);
    }

    // Returns a free slot for a new key with this hash, or no_slot when both buckets are full.
    uint32_t free_slot(uint64_t hash) const noexcept;

    // When both buckets are full: the slot whose flow is cheapest to lose — closed before
    // half-open before established, then the longest idle.
    uint32_t choose_victim(uint64_t hash) const noexcept;

    // Claims `slot` for `key` (after free_slot or after the victim was handled); zeroes the entry.
    FlowEntry& occupy(uint32_t slot, const FlowKey& key, uint64_t hash) noexcept;

    void release(uint32_t slot) noexcept;

    bool occupied(uint32_t slot) const noexcept { return signatures_[slot] != 0; }
    FlowEntry& entry(uint32_t slot) noexcept { return entries_[slot]; }
    const FlowEntry& entry(uint32_t slot) const noexcept { return entries_[slot]; }
    uint32_t capacity() const noexcept { return capacity_; }
    uint32_t bucket_count() const noexcept { return buckets_; }
    uint32_t size() const noexcept { return size_; }
    size_t memory_bytes() const noexcept { return memory_.size(); }

  private:
    // Bit w set when way w of `bucket` holds `sig` (0: the free ways). The bucket's eight
    // signatures are compared at once, two SSE2 compares: a way-by-way loop ends at a way the CPU
    // cannot predict, a mispredicted branch on most packets.
    uint32_t ways_holding(uint32_t bucket, uint32_t sig) const noexcept {
        const __m128i wanted = _mm_set1_epi32(static_cast<int>(sig));
        const auto* sigs = reinterpret_cast<const __m128i*>(&signatures_[bucket * ways]);
        const __m128i low = _mm_cmpeq_epi32(_mm_loadu_si128(sigs), wanted);
        const __m128i high = _mm_cmpeq_epi32(_mm_loadu_si128(sigs + 1), wanted);
        return static_cast<uint32_t>(_mm_movemask_ps(_mm_castsi128_ps(low)) |
                                     _mm_movemask_ps(_mm_castsi128_ps(high)) << 4);
    }
    uint32_t primary_bucket(uint64_t hash) const noexcept { return primary_bucket(hash, buckets_); }
    uint32_t secondary_bucket(uint64_t hash) const noexcept {
        return secondary_bucket(hash, buckets_);
    }

    uint32_t capacity_;
    uint32_t buckets_;
    uint32_t size_ = 0;
    uint32_t* signatures_;  // per slot; 0 = empty. A bucket's 8 signatures share 32 bytes.
    FlowEntry* entries_;
    FixedMemory memory_;
};

}  // namespace rstscope
