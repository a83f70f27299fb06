// SPDX-License-Identifier: BSD-3-Clause
// Hot path except the constructor and destructor: noexcept, no allocation, no locks.
#include "rstscope/flow/flow_table.h"

#include <nmmintrin.h>

#include <algorithm>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>

namespace rstscope {

FlowKey flow_key_of(const DecodedPacket& p, bool& src_is_lo, bool vlan_in_key) noexcept {
    // Byte order of addresses as two big-endian words: the same order as memcmp, without a call.
    uint64_t src_high, src_low, dst_high, dst_low;
    std::memcpy(&src_high, p.src.bytes, 8);
    std::memcpy(&src_low, p.src.bytes + 8, 8);
    std::memcpy(&dst_high, p.dst.bytes, 8);
    std::memcpy(&dst_low, p.dst.bytes + 8, 8);
    src_high = __builtin_bswap64(src_high);
    src_low = __builtin_bswap64(src_low);
    dst_high = __builtin_bswap64(dst_high);
    dst_low = __builtin_bswap64(dst_low);
    if (src_high != dst_high) {
        src_is_lo = src_high < dst_high;
    } else if (src_low != dst_low) {
        src_is_lo = src_low < dst_low;
    } else {
        src_is_lo = p.src_port <= p.dst_port;
    }
    FlowKey k{};
    k.addr_lo = src_is_lo ? p.src : p.dst;
    k.addr_hi = src_is_lo ? p.dst : p.src;
    k.port_lo = src_is_lo ? p.src_port : p.dst_port;
    k.port_hi = src_is_lo ? p.dst_port : p.src_port;
    k.vlan_outer = vlan_in_key ? p.vlan_outer : vlan_none;
    k.vlan_inner = vlan_in_key ? p.vlan_inner : vlan_none;
    k.family = p.family;
    return k;
}

namespace {
int lifecycle_rank(Lifecycle l) {
    switch (l) {
        case Lifecycle::closed:
            return 0;
        case Lifecycle::half_open:
            return 1;
        case Lifecycle::established:
            return 2;
    }
    return 2;
}

// A bucket's 8 signatures take 32 bytes; the entries start at the next cache line.
size_t signature_bytes_for(uint32_t buckets) {
    return (static_cast<size_t>(buckets) * FlowTable::ways * sizeof(uint32_t) + 63) & ~size_t{63};
}
}  // namespace

uint32_t FlowTable::buckets_for(uint32_t capacity) {
    const uint64_t buckets = std::max<uint64_t>(2, (uint64_t{capacity} + ways - 1) / ways);
    if (buckets > max_buckets) throw std::invalid_argument("flow table capacity too large");
    return static_cast<uint32_t>(buckets);
}

size_t FlowTable::memory_for(uint32_t capacity) {
    const uint32_t buckets = buckets_for(capacity);
    return signature_bytes_for(buckets) + size_t{buckets} * ways * sizeof(FlowEntry);
}

FlowTable::FlowTable(uint32_t capacity, HugePages huge_pages) {
    buckets_ = buckets_for(capacity);
    capacity_ = buckets_ * ways;
    // Transparent huge pages (FixedMemory asks for them) cut TLB misses on random flow lookups.
    memory_ = FixedMemory(memory_for(capacity), "the flow table", Paging::up_front, Access::random,
                          huge_pages);
    signatures_ = reinterpret_cast<uint32_t*>(memory_.data());
    entries_ = reinterpret_cast<FlowEntry*>(memory_.data() + signature_bytes_for(buckets_));
}

void FlowTable::release_memory() noexcept {
    FixedMemory released = std::move(memory_);  // unmapped as it goes out of scope
    signatures_ = nullptr;
    entries_ = nullptr;
    capacity_ = buckets_ = size_ = 0;
}

uint64_t FlowTable::hash(const FlowKey& key) noexcept {
    // Two CRC32C chains (one instruction per 8 bytes each) give the 64 bits the header divides.
    // CRC is linear: two chains over the same words, however seeded or XORed with a constant,
    // differ by a constant (the high half was the low half XOR 0x95bb33ed, 32 bits of entropy in
    // all). The second chain therefore reads each word times an odd constant, a bijection that is
    // not linear over GF(2), so its 32 bits are independent of the first chain's.
    uint64_t words[6] = {};
    std::memcpy(words, &key, sizeof(FlowKey));
    uint64_t a = 0x9E3779B9u, b = 0x85EBCA6Bu;
    for (uint64_t w : words) {
        a = _mm_crc32_u64(a, w);
        b = _mm_crc32_u64(b, w * 0xC2B2AE3D27D4EB4Full);
    }
    return a | (b << 32);
}

uint32_t FlowTable::find(const FlowKey& key, uint64_t hash) const noexcept {
    const uint32_t sig = signature(hash);
    for (uint32_t bucket : {primary_bucket(hash), secondary_bucket(hash)}) {
        for (uint32_t matching = ways_holding(bucket, sig); matching != 0;
             matching &= matching - 1) {
            const uint32_t slot = bucket * ways + std::countr_zero(matching);
            if (entries_[slot].key == key) return slot;
        }
    }
    return no_slot;
}

uint32_t FlowTable::free_slot(uint64_t hash) const noexcept {
    // The emptier of the two buckets: two choices keep the load even (fewer forced evictions).
    uint32_t best = no_slot, best_free = 0;
    for (uint32_t bucket : {primary_bucket(hash), secondary_bucket(hash)}) {
        const uint32_t free_ways = ways_holding(bucket, 0);
        const uint32_t free_count = static_cast<uint32_t>(std::popcount(free_ways));
        if (free_count > best_free) {
            best_free = free_count;
            best = bucket * ways + std::countr_zero(free_ways);
        }
    }
    return best;
}

uint32_t FlowTable::choose_victim(uint64_t hash) const noexcept {
    uint32_t victim = no_slot;
    for (uint32_t bucket : {primary_bucket(hash), secondary_bucket(hash)}) {
        for (uint32_t way = 0; way < ways; ++way) {
            uint32_t slot = bucket * ways + way;
            if (victim == no_slot) {
                victim = slot;
                continue;
            }
            const FlowEntry& e = entries_[slot];
            const FlowEntry& v = entries_[victim];
            int rank = lifecycle_rank(e.lifecycle), victim_rank = lifecycle_rank(v.lifecycle);
            if (rank < victim_rank || (rank == victim_rank && e.last_ts_ns < v.last_ts_ns))
                victim = slot;
        }
    }
    return victim;
}

FlowEntry& FlowTable::occupy(uint32_t slot, const FlowKey& key, uint64_t hash) noexcept {
    if (signatures_[slot] == 0) ++size_;
    signatures_[slot] = signature(hash);
    FlowEntry& e = entries_[slot];
    uint32_t generation = e.generation + 1;
    std::memset(static_cast<void*>(&e), 0, sizeof(FlowEntry));
    e.key = key;
    e.generation = generation;
    return e;
}

void FlowTable::release(uint32_t slot) noexcept {
    if (signatures_[slot] != 0) {
        signatures_[slot] = 0;
        --size_;
    }
    ++entries_[slot].generation;
}

}  // namespace rstscope
