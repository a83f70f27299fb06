// SPDX-License-Identifier: BSD-3-Clause
#include "reset_peaks.h"

#include <algorithm>
#include <new>

namespace rstscope {

void ResetPeaks::close_run() noexcept {
    if (current_count_ == 0 || times_lost_) return;
    try {
        runs_.push_back({current_bucket_, current_count_});
    } catch (const std::bad_alloc&) {
        times_lost_ = true;
        runs_ = {};
    }
    current_count_ = 0;
}

void ResetPeaks::merge(const ResetPeaks& other) noexcept {
    close_run();
    total_ += other.total_;
    if (times_lost_ || other.times_lost_) {
        times_lost_ = true;
        runs_ = {};
        return;
    }
    try {
        runs_.insert(runs_.end(), other.runs_.begin(), other.runs_.end());
        if (other.current_count_ != 0)
            runs_.push_back({other.current_bucket_, other.current_count_});
    } catch (const std::bad_alloc&) {
        times_lost_ = true;
        runs_ = {};
    }
}

uint64_t ResetPeaks::most_within(uint64_t span_ns) const {
    if (times_lost_) return total_;
    std::vector<Run> buckets;
    try {
        buckets.reserve(runs_.size() + 1);
    } catch (const std::bad_alloc&) {
        return total_;
    }
    buckets = runs_;
    if (current_count_ != 0) buckets.push_back({current_bucket_, current_count_});
    std::sort(buckets.begin(), buckets.end(),
              [](const Run& x, const Run& y) { return x.bucket < y.bucket; });
    // Buckets b to b + reach - 1 are those a span starting in bucket b can overlap.
    const uint64_t reach = (span_ns >> bucket_bits) + 2;
    uint64_t most = 0, sum = 0;
    size_t first = 0;
    for (size_t last = 0; last < buckets.size(); ++last) {
        sum += buckets[last].count;
        while (buckets[last].bucket - buckets[first].bucket >= reach)
            sum -= buckets[first++].count;
        most = std::max(most, sum);
    }
    return most;
}

}  // namespace rstscope
