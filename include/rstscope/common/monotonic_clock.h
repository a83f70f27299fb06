// SPDX-License-Identifier: BSD-3-Clause
// Clocks in nanoseconds. The monotonic clock (CLOCK_MONOTONIC: a vDSO call, no system call) is
// what management, the control socket, the event log's writer and the exporter time their
// retries, timeouts and idle sleeps by. Any thread.
#pragma once

#include <time.h>

#include <cstdint>

namespace rstscope {

// `clock` (CLOCK_REALTIME, CLOCK_THREAD_CPUTIME_ID, ...) now.
inline uint64_t clock_ns(clockid_t clock) noexcept {
    timespec now{};
    clock_gettime(clock, &now);
    return static_cast<uint64_t>(now.tv_sec) * 1'000'000'000ull +
           static_cast<uint64_t>(now.tv_nsec);
}

inline uint64_t monotonic_ns() noexcept {
    return clock_ns(CLOCK_MONOTONIC);
}

}  // namespace rstscope
