// SPDX-License-Identifier: BSD-3-Clause
// EAL's TSC calibration, shortened. When the CPU does not report its TSC frequency (CPUID leaf
// 0x15, or MSR_PLATFORM_INFO on the Intel models DPDK knows; neither on KVM guests like this one
// nor on AMD), rte_eal_init measures it against CLOCK_MONOTONIC_RAW across one nanosleep of
// 100 ms: two thirds of a small capture's whole run (docs/performance.md). EAL then rounds what it
// measured to 10 MHz (up to 1 900 ppm at 2.6 GHz), which outweighs what the longer sleep buys
// (two clock reads microseconds apart: about 100 ppm over 10 ms, 10 over 100 ms). Captures take
// their packet times from the capture, and live runs correct the reported rate themselves every
// 100 ms (live_clock.h), so while a ShortTscCalibration lives, that one sleep, on this thread and
// of exactly EAL's length, lasts 10 ms: EAL still measures the frequency, over a tenth of the time.
// Setup only, main thread.
#pragma once

#include <cstdint>
#include <ctime>

namespace rstscope {

// The sleep of EAL's calibration (get_tsc_freq in lib/eal/linux/eal_timer.c, DPDK 22.11) and the
// one rstscope takes instead.
inline constexpr long eal_calibration_sleep_ns = 100'000'000;
inline constexpr long short_calibration_sleep_ns = 10'000'000;

// The sleep to take when `requested` is asked for: EAL's calibration length shortened while
// `shortening`, anything else as asked.
timespec calibration_sleep(const timespec& requested, bool shortening) noexcept;

// While one lives, this thread's sleeps of EAL's calibration length are shortened.
class ShortTscCalibration {
  public:
    ShortTscCalibration() noexcept;
    ~ShortTscCalibration();
    ShortTscCalibration(const ShortTscCalibration&) = delete;
    ShortTscCalibration& operator=(const ShortTscCalibration&) = delete;
};

// Sleeps shortened in this process so far: one per rte_eal_init that measured the frequency.
uint32_t shortened_calibration_sleeps() noexcept;

}  // namespace rstscope
