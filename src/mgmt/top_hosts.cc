// SPDX-License-Identifier: BSD-3-Clause
#include "rstscope/mgmt/top_hosts.h"

#include <algorithm>
#include <cassert>
#include <utility>

namespace rstscope {

TopHostCounter::TopHostCounter(uint32_t capacity, HostHash hash)
    : index_(capacity, std::move(hash)), counters_(index_.capacity()), buckets_(index_.capacity()) {
    for (uint32_t b = 0; b < buckets_.size(); ++b)
        buckets_[b] = {0, nil, b + 1 < buckets_.size() ? b + 1 : nil, nil};
    free_buckets_ = 0;
}

size_t TopHostCounter::memory_for(uint32_t capacity) noexcept {
    capacity = std::max<uint32_t>(capacity, 1);
    return capacity * (sizeof(Counter) + sizeof(Bucket)) + HostIndex::memory_for(capacity);
}

size_t TopHostCounter::memory_bytes() const noexcept {
    return counters_.capacity() * sizeof(Counter) + buckets_.capacity() * sizeof(Bucket) +
           index_.memory_bytes();
}

uint32_t TopHostCounter::new_bucket(uint64_t count, uint32_t lower, uint32_t higher) noexcept {
    uint32_t b = free_buckets_;  // never empty: buckets in use <= counters in use < capacity
    free_buckets_ = buckets_[b].lower;
    buckets_[b] = {count, nil, lower, higher};
    (lower != nil ? buckets_[lower].higher : lowest_) = b;
    (higher != nil ? buckets_[higher].lower : highest_) = b;
    return b;
}

void TopHostCounter::free_bucket(uint32_t b) noexcept {
    Bucket& bucket = buckets_[b];
    (bucket.lower != nil ? buckets_[bucket.lower].higher : lowest_) = bucket.higher;
    (bucket.higher != nil ? buckets_[bucket.higher].lower : highest_) = bucket.lower;
    bucket.lower = free_buckets_;
    free_buckets_ = b;
}

void TopHostCounter::attach(uint32_t c, uint32_t b) noexcept {
    Counter& counter = counters_[c];
    counter.bucket = b;
    counter.prev = nil;
    counter.next = buckets_[b].first;
    if (counter.next != nil) counters_[counter.next].prev = c;
    buckets_[b].first = c;
}

void TopHostCounter::detach(uint32_t c) noexcept {
    Counter& counter = counters_[c];
    (counter.prev != nil ? counters_[counter.prev].next : buckets_[counter.bucket].first) =
        counter.next;
    if (counter.next != nil) counters_[counter.next].prev = counter.prev;
}

inline void TopHostCounter::increment(uint32_t c) noexcept {
    uint32_t b = counters_[c].bucket;
    uint64_t count = buckets_[b].count + 1;
    uint32_t higher = buckets_[b].higher;
    detach(c);
    bool emptied = buckets_[b].first == nil;
    if (higher != nil && buckets_[higher].count == count) {
        attach(c, higher);
        if (emptied) free_bucket(b);
    } else if (emptied) {
        buckets_[b].count = count;  // still between its neighbours: reuse it in place
        attach(c, b);
    } else {
        attach(c, new_bucket(count, b, higher));
    }
}

void TopHostCounter::add(const HostKey& host, uint64_t hash) noexcept {
    size_t home = index_.home_of(hash);
    assert(home == index_.home(host));  // hashed with this counter's seeds
    uint32_t c = index_.find(host, home);
    if (c != HostIndex::none) {
        increment(c);
        return;
    }
    if (used_ < counters_.size()) {
        c = used_++;
        index_.insert(host, c, home);
        counters_[c].error = 0;
        uint32_t b =
            lowest_ != nil && buckets_[lowest_].count == 1 ? lowest_ : new_bucket(1, nil, lowest_);
        attach(c, b);
        return;
    }
    // Space-Saving: the newcomer takes over a smallest counter and inherits its count as error.
    c = buckets_[lowest_].first;
    index_.erase(c);
    index_.insert(host, c, home);
    counters_[c].error = buckets_[lowest_].count;
    increment(c);
    ++evicted_;
}

std::vector<TopHost> TopHostCounter::top(size_t n) const {
    std::vector<TopHost> top;
    if (n == 0) return top;
    // Whole buckets from the highest down, so hosts tied with the n-th are all ordered by text.
    for (uint32_t b = highest_; b != nil && top.size() < n; b = buckets_[b].lower) {
        for (uint32_t c = buckets_[b].first; c != nil; c = counters_[c].next)
            top.push_back({host_text(index_.key(c)), buckets_[b].count, counters_[c].error});
    }
    std::sort(top.begin(), top.end(), [](const TopHost& x, const TopHost& y) {
        return x.resets != y.resets ? x.resets > y.resets : x.host < y.host;
    });
    if (top.size() > n) top.resize(n);
    return top;
}

}  // namespace rstscope
