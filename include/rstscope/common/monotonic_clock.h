// SPDX-License-Identifier: BSD-3-Clause
// The monotonic clock in nanoseconds (CLOCK_MONOTONIC: a vDSO call, no system call): what
// management, the control socket, the event log's writer and the exporter time their retries,
// timeouts and idle sleeps by. Any thread.
#pragma once

#include <time.h>

#include <cstdint>

namespace rstscope {

inline uint64_t monotonic_ns() noexcept {
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    return static_cast<uint64_t>(now.tv_sec) * 1'000'000'000ull +
           static_cast<uint64_t>(now.tv_nsec);
}

}  // namespace rstscope
