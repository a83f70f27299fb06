// SPDX-License-Identifier: BSD-3-Clause
// EAL's short TSC calibration (src/app/tsc_calibration.h): which sleeps are shortened,
// and, in an EAL test (no hugepages, no PCI), that EAL still measures the TSC's frequency right
// when its calibration sleep is cut to 10 ms.
#include <rte_cycles.h>
#include <rte_eal.h>

#include <cmath>
#include <cstdio>
#include <thread>

#include <gtest/gtest.h>

#include "app/tsc_calibration.h"
#include "eal_for_tests.h"
#include "rstscope/common/monotonic_clock.h"

using namespace rstscope;

namespace {

constexpr timespec eal_request{.tv_sec = 0, .tv_nsec = eal_calibration_sleep_ns};

uint64_t raw_ns() {
    return clock_ns(CLOCK_MONOTONIC_RAW);
}

// Nanoseconds one nanosleep of `request` took, and whether it was shortened.
std::pair<uint64_t, bool> timed_sleep(const timespec& request) {
    const uint32_t before = shortened_calibration_sleeps();
    const uint64_t start = raw_ns();
    EXPECT_EQ(nanosleep(&request, nullptr), 0);
    return {raw_ns() - start, shortened_calibration_sleeps() != before};
}

TEST(CalibrationSleep, OnlyEalsRequestIsShortenedAndOnlyWhileShortening) {
    const timespec shortened = calibration_sleep(eal_request, true);
    EXPECT_EQ(shortened.tv_sec, 0);
    EXPECT_EQ(shortened.tv_nsec, short_calibration_sleep_ns);
    EXPECT_EQ(calibration_sleep(eal_request, false).tv_nsec, eal_calibration_sleep_ns);
    for (timespec other : {timespec{1, eal_calibration_sleep_ns}, timespec{0, 99'999'999},
                           timespec{0, 100'000'001}, timespec{0, 1'000}, timespec{2, 0}}) {
        const timespec taken = calibration_sleep(other, true);
        EXPECT_EQ(taken.tv_sec, other.tv_sec);
        EXPECT_EQ(taken.tv_nsec, other.tv_nsec);
    }
}

TEST(ShortTscCalibration, ShortensThisThreadsCalibrationSleepWhileItLives) {
    auto [unscoped_ns, unscoped_shortened] = timed_sleep(eal_request);
    EXPECT_FALSE(unscoped_shortened);
    EXPECT_GE(unscoped_ns, uint64_t{eal_calibration_sleep_ns});
    {
        ShortTscCalibration scope;
        auto [scoped_ns, scoped_shortened] = timed_sleep(eal_request);
        EXPECT_TRUE(scoped_shortened);
        EXPECT_GE(scoped_ns, uint64_t{short_calibration_sleep_ns});
        // Another thread's sleep of the same length, meanwhile: as asked.
        std::pair<uint64_t, bool> other_thread;
        std::thread([&] { other_thread = timed_sleep(eal_request); }).join();
        EXPECT_FALSE(other_thread.second);
        EXPECT_GE(other_thread.first, uint64_t{eal_calibration_sleep_ns});
    }
    auto [after_ns, after_shortened] = timed_sleep(eal_request);
    EXPECT_FALSE(after_shortened);
    EXPECT_GE(after_ns, uint64_t{eal_calibration_sleep_ns});
}

// The TSC's frequency measured the long way: ticks over 300 ms of CLOCK_MONOTONIC_RAW.
double reference_tsc_hz() {
    const uint64_t start_ns = raw_ns();
    const uint64_t start_ticks = rte_rdtsc();
    const timespec wait{.tv_sec = 0, .tv_nsec = 300'000'000};
    nanosleep(&wait, nullptr);
    const uint64_t end_ns = raw_ns();
    const uint64_t end_ticks = rte_rdtsc();
    return static_cast<double>(end_ticks - start_ticks) * 1e9 /
           static_cast<double>(end_ns - start_ns);
}

TEST(EalCalibration, MeasuresTheFrequencyOverTheShortSleep) {
    const double reference_hz = reference_tsc_hz();
    const uint32_t before = shortened_calibration_sleeps();
    {
        ShortTscCalibration scope;
        ASSERT_GE(start_eal_for_tests("test_tsc_calibration"), 0);
    }
    // One sleep shortened where the CPU does not report the frequency (this KVM guest), none
    // where it does; either way EAL's figure must be the TSC's.
    EXPECT_LE(shortened_calibration_sleeps() - before, 1u);
    const double error =
        std::abs(static_cast<double>(rte_get_tsc_hz()) - reference_hz) / reference_hz;
    std::printf("EAL: %llu Hz (%u sleep shortened), reference %.0f Hz: %.3f %% apart\n",
                static_cast<unsigned long long>(rte_get_tsc_hz()),
                shortened_calibration_sleeps() - before, reference_hz, error * 100);
    // EAL rounds to 10 MHz (0.2 % at 2.6 GHz); an EAL that took the sleep's nominal length
    // instead of measuring it would be 10x off.
    EXPECT_LT(error, 0.01);
    rte_eal_cleanup();
}

}  // namespace
