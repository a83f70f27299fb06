// SPDX-License-Identifier: BSD-3-Clause
// When a capture's reset segments happen, coarsely: the most of them within any span of packet
// time of a given length. What holds a reset for a span of packet time (a worker's linger queue
// for --linger, management's storm window for --storm-window) needs room for that many at once,
// not for all of the capture's resets: a capture's sizes follow its busiest span
// (capture_sizes.h), so an RST storm is judged with every reset in view, and a long capture of
// sparse resets does not take memory for all of them.
//
// Times are kept per bucket of 2^26 ns (67 ms): a run of (bucket, count) each time the bucket
// changes, so a capture in time order keeps one run per bucket that saw a reset. A span of S ns
// overlaps at most S / 2^26 + 2 buckets, whose sum is the answer: never below the true count,
// above it by at most the resets of the two buckets at the span's ends. Setup only; allocates.
// Should memory run out, the times are forgotten and the answer is every reset it was given.
#pragma once

#include <cstdint>
#include <vector>

namespace rstscope {

class ResetPeaks {
  public:
    static constexpr unsigned bucket_bits = 26;

    // One reset segment at packet time `ts_ns`.
    void add(uint64_t ts_ns) noexcept {
        ++total_;
        const uint64_t bucket = ts_ns >> bucket_bits;
        if (current_count_ != 0 && bucket == current_bucket_) {
            ++current_count_;
            return;
        }
        close_run();
        current_bucket_ = bucket;
        current_count_ = 1;
    }
    // Adds what `other` saw (another share of the same capture).
    void merge(const ResetPeaks& other) noexcept;

    // At least the number of resets with times in any [t, t + span_ns], and at most that plus the
    // resets of the two buckets at its ends; every reset when the times were lost.
    uint64_t most_within(uint64_t span_ns) const;
    uint64_t total() const noexcept { return total_; }

  private:
    struct Run {
        uint64_t bucket;
        uint64_t count;
    };
    void close_run() noexcept;

    std::vector<Run> runs_;
    uint64_t current_bucket_ = 0;
    uint64_t current_count_ = 0;
    uint64_t total_ = 0;
    bool times_lost_ = false;  // an allocation failed: most_within() answers total_
};

}  // namespace rstscope
