// SPDX-License-Identifier: BSD-3-Clause
// The one 64-bit mixer: hashes that feed a distinct-count sketch (distinct_sketch.h) or a table
// whose keys are consecutive numbers go through it. Pure, constexpr.
#pragma once

#include <cstdint>

namespace rstscope {

// splitmix64's finaliser: consecutive inputs give unrelated outputs, and each input bit reaches
// every output bit (a sketch reads the top bits as a register index, the rest as a rank).
constexpr uint64_t mix64(uint64_t x) noexcept {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

}  // namespace rstscope
