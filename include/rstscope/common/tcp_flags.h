// SPDX-License-Identifier: BSD-3-Clause
// TCP header flag bits (RFC 9293 section 3.1, RFC 3168 for ECE/CWR).
#pragma once

#include <cstdint>

namespace rstscope::tcp_flag {
inline constexpr uint8_t fin = 0x01;
inline constexpr uint8_t syn = 0x02;
inline constexpr uint8_t rst = 0x04;
inline constexpr uint8_t psh = 0x08;
inline constexpr uint8_t ack = 0x10;
inline constexpr uint8_t urg = 0x20;
inline constexpr uint8_t ece = 0x40;
inline constexpr uint8_t cwr = 0x80;
}  // namespace rstscope::tcp_flag

namespace rstscope {
// Sequence-space comparisons modulo 2^32 (RFC 9293 section 3.4).
inline bool seq_lt(uint32_t a, uint32_t b) {
    return static_cast<int32_t>(a - b) < 0;
}
inline bool seq_le(uint32_t a, uint32_t b) {
    return static_cast<int32_t>(a - b) <= 0;
}
inline bool seq_gt(uint32_t a, uint32_t b) {
    return static_cast<int32_t>(a - b) > 0;
}
inline bool seq_ge(uint32_t a, uint32_t b) {
    return static_cast<int32_t>(a - b) >= 0;
}
}  // namespace rstscope
