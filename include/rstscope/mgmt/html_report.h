// SPDX-License-Identifier: BSD-3-Clause
// The HTML report of a run (`--report FILE`): one self-contained page (inline CSS, inline SVG,
// inline script; nothing fetched) with a timeline of resets by cause, the top servers, clients and
// ports, the findings and a searchable table of events. docs/report.md describes the page.
//
// HtmlReport follows the log as a RecordObserver: every call comes from the management lcore and
// none allocates. Per reset event it adds to fixed tables (the timeline's buckets, two Space-Saving
// sketches, an array of 65 536 port counters) and copies the line into an arena reserved at
// construction while the table's cap and the arena allow; a finding record is kept the same way.
// What did not fit is counted and said on the page. The page is made once, by render(), after the
// run (main writes it with write()); only then are the kept lines parsed.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "rstscope/analysis/reset_event.h"
#include "rstscope/analysis/verdict.h"
#include "rstscope/mgmt/record_observer.h"
#include "rstscope/mgmt/top_hosts.h"

namespace rstscope {

// Resets per cause in a fixed number of equal time buckets over packet time. The bucket width
// starts at 1 ms and doubles (neighbouring buckets merged) whenever an event falls outside the
// span the buckets cover, so any capture, a second long or a month long, fits in `bucket_count`
// buckets without allocating; an event older than the first bucket shifts the buckets right.
class ResetTimeline {
  public:
    static constexpr size_t bucket_count = 120;
    static constexpr size_t cause_count = enum_count<ResetCause>;
    using Bucket = std::array<uint64_t, cause_count>;

    void add(uint64_t ts_ns, ResetCause cause) noexcept;

    bool empty() const noexcept { return total_ == 0; }
    uint64_t total() const noexcept { return total_; }
    uint64_t width_ns() const noexcept { return static_cast<uint64_t>(width_ns_); }
    int64_t start_ns() const noexcept { return start_ns_; }  // bucket 0's start (may be < 0)
    // Buckets in use: from 0 to the last that holds an event.
    size_t used() const noexcept { return used_; }
    const Bucket& bucket(size_t i) const noexcept { return buckets_[i]; }

  private:
    void widen() noexcept;                 // doubles the width, merging pairs
    void shift_right(size_t by) noexcept;  // makes room for older events

    std::array<Bucket, bucket_count> buckets_{};
    int64_t start_ns_ = 0;  // signed: shifting left of a time near 0 must not wrap
    int64_t width_ns_ = 1'000'000;
    size_t used_ = 0;
    uint64_t total_ = 0;
};

struct HtmlReportLimits {
    uint32_t max_events = 10000;   // rows of the events table (--report-events)
    uint32_t max_findings = 2000;  // finding records kept
    size_t arena_bytes = 0;        // 0: max_events * 1 KiB + max_findings * 2 KiB
    uint32_t top_capacity = 1024;  // counters of the servers' and clients' sketches
    uint32_t top_rows = 10;        // rows of each top table
};

// Where the page finds the flight recorder's files (--recorder-dir) from the page's own folder,
// e.g. "flight" or "../var/rstscope"; empty: the events' pcap files are named, not linked.
struct HtmlReportLinks {
    std::string recorder_dir;
};

class HtmlReport final : public RecordObserver {
  public:
    // Setup: allocates everything the run will use.
    HtmlReport(std::string title, HtmlReportLimits limits, HtmlReportLinks links = {});

    // RecordObserver (management lcore).
    void record_written(std::string_view line, const ResetEventCore* event) override;

    // The page, made from what was recorded. Any thread once the run is over.
    std::string render() const;
    // render() written to `path` (replaced); false with `error` set when that fails.
    bool write(const std::string& path, std::string& error) const;

    uint64_t events() const noexcept { return timeline_.total(); }
    uint64_t events_left_out() const noexcept { return events_left_out_; }
    uint64_t findings() const noexcept { return findings_seen_; }
    uint64_t findings_left_out() const noexcept { return findings_left_out_; }

  private:
    struct Kept {
        uint32_t offset;
        uint32_t length;
    };
    bool keep(std::string_view line, std::vector<Kept>& into, uint32_t cap);

    std::string title_;
    HtmlReportLimits limits_;
    HtmlReportLinks links_;
    ResetTimeline timeline_;
    std::array<uint64_t, enum_count<ResetCause>> causes_{};
    TopHostCounter servers_;
    TopHostCounter clients_;
    std::vector<uint64_t> ports_;  // by responder port, 65 536 counters
    std::vector<char> arena_;      // kept lines, back to back; capacity reserved, never grown
    std::vector<Kept> event_lines_;
    std::vector<Kept> finding_lines_;
    uint64_t events_left_out_ = 0;
    uint64_t findings_seen_ = 0;
    uint64_t findings_left_out_ = 0;
    uint64_t first_ts_ns_ = UINT64_MAX;
    uint64_t last_ts_ns_ = 0;
};

// `text` with &, <, >, " and ' replaced by their HTML entities.
std::string html_escape(std::string_view text);

}  // namespace rstscope
