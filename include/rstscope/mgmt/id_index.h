// SPDX-License-Identifier: BSD-3-Clause
// IdIndex: a fixed-capacity map from a key to a small integer id, the one index of management's
// bounded tables (HostIndex: the top-host sketches and the storm window; the findings engine's
// KeyedTable, which keeps its values, free ids and eviction on top). Management thread only.
// Everything is allocated by the constructor; find, insert and erase never allocate.
//
// Layout: the keys in an array indexed by id with each key's home slot beside it (so erase's
// backward shift never hashes a key again), and an open-addressing table of ids: linear probing,
// at most 1/Spread full, backward-shift deletion, so no tombstones pile up under churn and a
// lookup's run stays short however long the table lives. The caller hands out the ids.
//
// Hash: a callable, hash(key) -> uint64_t, whose low bits pick the home slot. Where the key comes
// from the traffic and the table's order shows nowhere, seed it per instance (HostIndex), so a
// flood of keys chosen to collide cannot be precomputed.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace rstscope {

template <class Key, class Hash, unsigned Spread>
class IdIndex {
    static_assert(Spread >= 2 && (Spread & (Spread - 1)) == 0, "Spread: a power of two, >= 2");

  public:
    static constexpr uint32_t none = UINT32_MAX;

    // Ids run from 0 to capacity - 1 (at least 1).
    explicit IdIndex(uint32_t capacity, Hash hash = Hash{})
        : keys_(std::max<uint32_t>(capacity, 1)),
          homes_(keys_.size()),
          table_(table_size_for(std::max<uint32_t>(capacity, 1)), none),
          mask_(table_.size() - 1),
          hash_(std::move(hash)) {}

    // Where `key`'s probe starts: hashed once, for a find and the insert that follows it.
    size_t home(const Key& key) const noexcept { return home_of(hash_(key)); }
    // The key's hash, for an index built with a copy of the same Hash to find the key without
    // hashing it again: home_of(hash) there. Its low 32 bits suffice while the table has at most
    // 2^32 slots.
    uint64_t hash(const Key& key) const noexcept { return hash_(key); }
    size_t home_of(uint64_t hash) const noexcept { return static_cast<size_t>(hash) & mask_; }
    // The id of `key`, or `none`.
    uint32_t find(const Key& key) const noexcept { return find(key, home(key)); }
    uint32_t find(const Key& key, size_t home) const noexcept {
        for (size_t i = home;; i = (i + 1) & mask_) {
            uint32_t id = table_[i];
            if (id == none || keys_[id] == key) return id;
        }
    }
    // Binds `key`, which must be absent, to `id`, which must be unbound; `home` is home(key).
    void insert(const Key& key, uint32_t id) noexcept { insert(key, id, home(key)); }
    void insert(const Key& key, uint32_t id, size_t home) noexcept {
        keys_[id] = key;
        homes_[id] = static_cast<uint32_t>(home);
        size_t i = home;
        while (table_[i] != none)
            i = (i + 1) & mask_;
        table_[i] = id;
    }
    // Unbinds `id`, which must be bound. Its key stays readable until the id is bound again.
    void erase(uint32_t id) noexcept {
        size_t hole = homes_[id];
        while (table_[hole] != id)
            hole = (hole + 1) & mask_;
        // Backward shift: pull a later member of the run into the hole when the hole lies on its
        // way from its home slot (no farther from home than where it is, counted around the
        // table's end), so a lookup never meets an empty slot before its key.
        for (size_t next = (hole + 1) & mask_; table_[next] != none; next = (next + 1) & mask_) {
            size_t wanted = homes_[table_[next]];
            if (((next - wanted) & mask_) >= ((next - hole) & mask_)) {
                table_[hole] = table_[next];
                hole = next;
            }
        }
        table_[hole] = none;
    }
    // Brings in the table slot a find() from `home` reads first. Always inlined: GCC deletes calls
    // it does not inline to a function whose only effect is a prefetch.
    [[gnu::always_inline]] void prefetch(size_t home) const noexcept {
        __builtin_prefetch(&table_[home]);
    }
    // The id in table slot `slot` (a home_of()), or none: where a lookup of a key at home there
    // would look first, for a caller bringing in what that id names before it looks.
    uint32_t id_in(size_t slot) const noexcept { return table_[slot]; }
    [[gnu::always_inline]] void prefetch_key(uint32_t id) const noexcept {
        __builtin_prefetch(&keys_[id]);
    }
    const Key& key(uint32_t id) const noexcept { return keys_[id]; }

    uint32_t capacity() const noexcept { return static_cast<uint32_t>(keys_.size()); }
    // Slots in the table: a power of two, at least Spread * capacity.
    size_t table_size() const noexcept { return table_.size(); }
    // Bytes held (exactly memory_for(capacity)).
    size_t memory_bytes() const noexcept {
        return keys_.capacity() * sizeof(Key) + homes_.capacity() * sizeof(uint32_t) +
               table_.capacity() * sizeof(uint32_t);
    }
    static size_t memory_for(uint32_t capacity) noexcept {
        capacity = std::max<uint32_t>(capacity, 1);
        return capacity * (sizeof(Key) + sizeof(uint32_t)) +
               table_size_for(capacity) * sizeof(uint32_t);
    }

  private:
    static size_t table_size_for(uint32_t capacity) noexcept {
        size_t size = 2;
        while (size < Spread * static_cast<size_t>(capacity))
            size *= 2;
        return size;
    }

    std::vector<Key> keys_;        // by id
    std::vector<uint32_t> homes_;  // by id: home(keys_[id])
    std::vector<uint32_t> table_;  // ids; `none` marks an empty slot
    size_t mask_;
    Hash hash_;
};

}  // namespace rstscope
