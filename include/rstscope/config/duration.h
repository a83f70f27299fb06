// SPDX-License-Identifier: BSD-3-Clause
// Durations: options give seconds as doubles, clocks and timers count nanoseconds in uint64_t.
// Every conversion from an option goes through seconds_to_ns(), so none can overflow. Pure, any
// thread.
#pragma once

#include <cstdint>
#include <limits>

namespace rstscope {

// 2^64 ns, about 584 years: the first double of seconds * 1e9 that no longer fits in uint64_t.
inline constexpr double ns_limit_as_double = 18446744073709551616.0;

// Seconds to the nearest nanosecond, saturating: NaN and values at or below zero give 0, values
// beyond 2^64 ns give UINT64_MAX. A plain static_cast<uint64_t>(s * 1e9) is undefined behaviour
// beyond 2^64 ns and in practice wraps (--storm-window 1e30 once became a zero window).
constexpr uint64_t seconds_to_ns(double seconds) noexcept {
    if (!(seconds > 0)) return 0;
    double ns = seconds * 1e9 + 0.5;
    if (ns >= ns_limit_as_double) return std::numeric_limits<uint64_t>::max();
    return static_cast<uint64_t>(ns);
}

}  // namespace rstscope
