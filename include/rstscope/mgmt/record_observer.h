// SPDX-License-Identifier: BSD-3-Clause
// What follows the event log: the parts that need every record management writes (pattern
// findings, the flight recorder's pcap, the HTML report, the fleet exporter) register here instead
// of each adding its own call to management's per-event path. Every call comes from the management
// lcore, in log order, and must not block: an observer that cannot keep up counts a drop.
#pragma once

#include <cstdint>
#include <string_view>

#include "rstscope/analysis/reset_event.h"

namespace rstscope {

class RecordObserver {
  public:
    virtual ~RecordObserver() = default;

    // A reset event was taken from its worker's ring, before it waits in the RST-storm window
    // (no id yet): an observer may act on it early (the flight recorder writes its packets while
    // its worker's copy is fresh) and fill in what it will refer to.
    virtual void event_received(ResetEvent& /*event*/) {}

    // A reset event is settled (its id given, its storm verdict applied) and about to be
    // formatted: an observer may fill in what the line refers to (the flight recorder's pcap).
    virtual void event_settled(ResetEventCore& /*event*/) {}

    // A record was handed to the log: `line` without its newline. `event` is the reset event the
    // line was formatted from, or null for a record of another type (a finding).
    virtual void record_written(std::string_view /*line*/, const ResetEventCore* /*event*/) {}

    // Once per management pass with the monotonic clock (timers, batching), and once at the end
    // of the run after the last record, before the log is closed.
    virtual void tick(uint64_t /*now_ns*/) {}
    virtual void run_finished() {}
};

}  // namespace rstscope
