// SPDX-License-Identifier: BSD-3-Clause
#include "tsc_calibration.h"

#include <cerrno>

#include <atomic>

namespace {

thread_local bool shortening = false;
std::atomic<uint32_t> shortened{0};

}  // namespace

// EAL calls nanosleep through its PLT; this definition in the executable comes before libc's in
// every library's lookup (as dlopen does in driver_loading.cc). It is glibc's own nanosleep
// (clock_nanosleep on CLOCK_REALTIME, the error in errno) with the request passed through
// calibration_sleep first, so every other caller sleeps exactly as before.
extern "C" int nanosleep(const timespec* requested, timespec* remaining) {
    timespec taken{};
    if (requested) {
        taken = rstscope::calibration_sleep(*requested, shortening);
        if (taken.tv_nsec != requested->tv_nsec) shortened.fetch_add(1, std::memory_order_relaxed);
        requested = &taken;
    }
    const int error = clock_nanosleep(CLOCK_REALTIME, 0, requested, remaining);
    if (error == 0) return 0;
    errno = error;
    return -1;
}

namespace rstscope {

timespec calibration_sleep(const timespec& requested, bool shortening_now) noexcept {
    if (shortening_now && requested.tv_sec == 0 && requested.tv_nsec == eal_calibration_sleep_ns)
        return timespec{.tv_sec = 0, .tv_nsec = short_calibration_sleep_ns};
    return requested;
}

ShortTscCalibration::ShortTscCalibration() noexcept {
    shortening = true;
}

ShortTscCalibration::~ShortTscCalibration() {
    shortening = false;
}

uint32_t shortened_calibration_sleeps() noexcept {
    return shortened.load(std::memory_order_relaxed);
}

}  // namespace rstscope
