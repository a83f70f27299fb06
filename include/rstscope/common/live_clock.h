// SPDX-License-Identifier: BSD-3-Clause
// Live packet time from the TSC, kept on the wall clock (CLOCK_REALTIME). The TSC rate EAL
// reports can be off by thousands of ppm on a VM (measured: -280 ms over 50 s, 5600 ppm), so a
// single anchor at start drifts without bound. The worker re-anchors once per `period`: it reads
// the wall clock with the TSC, and from then on the clock runs at the rate that lands it on the
// wall clock one period later (the measured rate, plus a slew that absorbs the error seen now).
// Time never steps and never runs backwards: each new anchor starts where the old line was.
//
// Pure arithmetic over (ticks, ns) pairs: the caller reads the TSC and the wall clock (a vDSO
// call, no system call with the TSC clocksource), so this is unit-tested without EAL.
// Thread contract: one clock per worker, used by that lcore only; noexcept, no allocation.
#pragma once

#include <cstdint>

namespace rstscope {

class LiveClock {
  public:
    // At most this fraction of a period is slewed per period: a wall clock stepped by NTP or by
    // hand is followed over several periods instead of bending time backwards.
    static constexpr int64_t max_slew_divisor = 4;
    // An error beyond this after a period is a step of the wall clock (NTP, by hand), not drift:
    // the rate is measured afresh from there, so the step does not bias it.
    static constexpr int64_t step_ns = 1'000'000;

    void start(uint64_t ticks, uint64_t wall_ns, uint64_t ticks_per_second) noexcept {
        base_ticks_ = first_ticks_ = ticks;
        base_ns_ = first_wall_ns_ = wall_ns;
        ns_per_tick_ = 1e9 / static_cast<double>(ticks_per_second ? ticks_per_second : 1);
        measured_ns_per_tick_ = ns_per_tick_;
        last_error_ns_ = 0;
    }

    uint64_t now_ns(uint64_t ticks) const noexcept {
        return base_ns_ +
               static_cast<uint64_t>(static_cast<double>(ticks - base_ticks_) * ns_per_tick_);
    }

    // Called about once per period with a (TSC, wall clock) pair read together: records how far
    // the clock had drifted, re-anchors where it stands now, and sets the rate for the next
    // period. Returns the error seen (wall clock minus this clock, ns).
    int64_t reanchor(uint64_t ticks, uint64_t wall_ns, uint64_t period_ns) noexcept {
        uint64_t now = now_ns(ticks);
        int64_t error = static_cast<int64_t>(wall_ns - now);
        last_error_ns_ = error;
        if (period_ns == 0) return error;
        // Right after a step the rate is measured from it, whatever the error: a TSC rate off by
        // more than step_ns per period would otherwise look like a step every time.
        bool after_step = after_step_;
        after_step_ = false;
        if (!after_step && (error > step_ns || error < -step_ns)) {
            first_ticks_ = ticks;
            first_wall_ns_ = wall_ns;
            after_step_ = true;
        } else if (ticks != first_ticks_ && wall_ns > first_wall_ns_) {
            // The rate measured since the start (or the latest step): its error shrinks as the
            // run grows.
            measured_ns_per_tick_ = static_cast<double>(wall_ns - first_wall_ns_) /
                                    static_cast<double>(ticks - first_ticks_);
        }
        double measured = measured_ns_per_tick_;
        int64_t limit = static_cast<int64_t>(period_ns) / max_slew_divisor;
        int64_t slew = error > limit ? limit : error < -limit ? -limit : error;
        // Over the next period, run (period + slew) ns of clock per period of wall time.
        ns_per_tick_ = measured * (static_cast<double>(static_cast<int64_t>(period_ns) + slew) /
                                   static_cast<double>(period_ns));
        base_ticks_ = ticks;
        base_ns_ = now;
        return error;
    }

    int64_t last_error_ns() const noexcept { return last_error_ns_; }

  private:
    uint64_t base_ticks_ = 0;
    uint64_t base_ns_ = 0;
    uint64_t first_ticks_ = 0;
    uint64_t first_wall_ns_ = 0;
    double ns_per_tick_ = 1.0;
    double measured_ns_per_tick_ = 1.0;
    bool after_step_ = false;
    int64_t last_error_ns_ = 0;
};

}  // namespace rstscope
