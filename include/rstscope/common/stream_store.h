// SPDX-License-Identifier: BSD-3-Clause
// Writes whole cache lines to memory that is written once, in order, and read back rarely (the
// flight recorder's ring): non-temporal stores go to memory through write-combining buffers
// without first reading each line into the cache, so the ring neither costs the packet path a
// read for ownership nor pushes the flow table's lines out of the cache. Measured in
// docs/performance.md ("The recorder as a ring").
//
// The writing core sees the lines at once (a core sees its own stores); another thread would need
// an _mm_sfence before a release store to see them: the ring's one reader is its own worker.
// Hot path: no allocation, no lock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace rstscope {

inline constexpr size_t cache_line_bytes = 64;

constexpr size_t round_up_to_line(size_t bytes) noexcept {
    return (bytes + cache_line_bytes - 1) & ~(cache_line_bytes - 1);
}

// Writes `head` (head_bytes, a multiple of 16, 16-byte aligned), then `length` bytes of `data`
// (any alignment; not read beyond its end), then zeros to the end of `lines` whole cache lines at
// `destination` (64-byte aligned): head_bytes + length must fit in them.
inline void stream_lines(void* destination, size_t lines, const void* head, size_t head_bytes,
                         const uint8_t* data, size_t length) noexcept {
#if defined(__SSE2__)
    auto* out = static_cast<__m128i*>(destination);
    auto* const end = out + lines * (cache_line_bytes / sizeof(__m128i));
    const auto* in = static_cast<const __m128i*>(head);
    for (size_t i = 0; i < head_bytes / sizeof(__m128i); ++i)
        _mm_stream_si128(out++, _mm_load_si128(in + i));
    const size_t whole = length / sizeof(__m128i);
    for (size_t i = 0; i < whole; ++i)
        _mm_stream_si128(out++, _mm_loadu_si128(reinterpret_cast<const __m128i*>(data) + i));
    if (const size_t rest = length % sizeof(__m128i); rest != 0) {
        alignas(sizeof(__m128i)) uint8_t last[sizeof(__m128i)] = {};
        std::memcpy(last, data + whole * sizeof(__m128i), rest);
        _mm_stream_si128(out++, _mm_load_si128(reinterpret_cast<const __m128i*>(last)));
    }
    while (out < end)
        _mm_stream_si128(out++, _mm_setzero_si128());
#else
    auto* out = static_cast<uint8_t*>(destination);
    std::memcpy(out, head, head_bytes);
    std::memcpy(out + head_bytes, data, length);
    std::memset(out + head_bytes + length, 0, lines * cache_line_bytes - head_bytes - length);
#endif
}

}  // namespace rstscope
