// SPDX-License-Identifier: BSD-3-Clause
#include "rstscope/common/endpoint.h"

#include <tmmintrin.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>

namespace rstscope {
namespace {

// "0" .. "255" in four bytes each (the digits, then their count): one 4-byte copy an octet.
struct OctetText {
    char text[3];
    uint8_t length;
};
constexpr std::array<OctetText, 256> octet_texts = [] {
    std::array<OctetText, 256> table{};
    for (unsigned v = 0; v < 256; ++v) {
        OctetText& t = table[v];
        if (v >= 100) t.text[t.length++] = static_cast<char>('0' + v / 100);
        if (v >= 10) t.text[t.length++] = static_cast<char>('0' + v / 10 % 10);
        t.text[t.length++] = static_cast<char>('0' + v % 10);
    }
    return table;
}();

// Writes 4 bytes, advances by the octet's length: `out` needs one byte of slack past the text.
char* write_octet(uint8_t value, char* out) noexcept {
    std::memcpy(out, &octet_texts[value], 4);
    return out + octet_texts[value].length;
}

char* write_dotted_quad(const uint8_t* bytes, char* out) noexcept {
    out = write_octet(bytes[0], out);
    for (int i = 1; i < 4; ++i) {
        *out++ = '.';
        out = write_octet(bytes[i], out);
    }
    return out;
}

// "00" .. "ff".
constexpr std::array<char, 512> hex_pairs = [] {
    std::array<char, 512> table{};
    constexpr char hex[] = "0123456789abcdef";
    for (unsigned v = 0; v < 256; ++v) {
        table[2 * v] = hex[v >> 4];
        table[2 * v + 1] = hex[v & 0xF];
    }
    return table;
}();

// A 16-bit group in lower-case hex without leading zeros ("%x"): its four digits built in one
// word (little-endian: the first digit in the lowest byte), the leading zeros shifted out, one
// 4-byte copy. `out` needs three bytes of slack past the text.
char* write_group(uint16_t group, char* out) noexcept {
    uint16_t high, low;
    std::memcpy(&high, &hex_pairs[2 * (group >> 8)], 2);
    std::memcpy(&low, &hex_pairs[2 * (group & 0xFF)], 2);
    uint32_t digits = uint32_t{high} | uint32_t{low} << 16;
    int length = group == 0 ? 1 : (std::bit_width(group) + 3) / 4;
    digits >>= 8 * (4 - length);
    std::memcpy(out, &digits, 4);
    return out + length;
}

// The rules of glibc's inet_ntop6, so the log keeps the text it always had: the first of the
// longest runs of zero groups, if two groups or longer, becomes "::"; the last 32 bits are a dotted
// quad after six zero groups (IPv4-compatible) or five zero groups and ffff (v4-mapped).
char* write_ipv6(const uint8_t* bytes, char* out) noexcept {
    // The eight big-endian groups in host order and the mask of the zero ones, with one byte
    // shuffle (SSSE3) and one compare for all of them: 40 instructions an address fewer than
    // a loop over the groups.
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(bytes));
    uint16_t groups[8];
    _mm_storeu_si128(
        reinterpret_cast<__m128i*>(groups),
        _mm_shuffle_epi8(v, _mm_setr_epi8(1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14)));
    __m128i zero_groups = _mm_cmpeq_epi16(v, _mm_setzero_si128());
    // bit i: group i is zero (each group's compare narrowed to one byte, then its top bit)
    unsigned zeros =
        static_cast<unsigned>(_mm_movemask_epi8(_mm_packs_epi16(zero_groups, zero_groups))) & 0xFF;
    unsigned best = 8, best_length = 0;  // no run: "before the run" is every group
    for (unsigned rest = zeros; rest != 0;) {
        unsigned start = static_cast<unsigned>(std::countr_zero(rest));
        unsigned length = static_cast<unsigned>(std::countr_one(rest >> start));
        if (length > best_length) best = start, best_length = length;
        rest &= ~(((1u << length) - 1) << start);
    }
    if (best_length < 2) best = 8, best_length = 0;
    if (best == 0 && (best_length == 6 || (best_length == 5 && groups[5] == 0xFFFF))) {
        out = std::copy_n(best_length == 6 ? "::" : "::ffff:", best_length == 6 ? 2 : 7, out);
        return write_dotted_quad(bytes + 12, out);
    }
    for (unsigned i = 0; i < best; ++i) {
        if (i != 0) *out++ = ':';
        out = write_group(groups[i], out);
    }
    if (best_length == 0) return out;
    *out++ = ':';
    *out++ = ':';
    for (unsigned i = best + best_length; i < 8; ++i) {
        if (i != best + best_length) *out++ = ':';
        out = write_group(groups[i], out);
    }
    return out;
}

}  // namespace

char* write_ip(const IpAddress& address, IpFamily family, char* out) noexcept {
    return family == IpFamily::v4 ? write_dotted_quad(address.bytes, out)
                                  : write_ipv6(address.bytes, out);
}

size_t format_ip(const IpAddress& address, IpFamily family, char* out, size_t capacity) {
    char text[ip_text_max_length + ip_text_slack];
    size_t n = static_cast<size_t>(write_ip(address, family, text) - text);
    if (n >= capacity) {
        if (capacity) out[0] = '\0';
        return 0;
    }
    std::memcpy(out, text, n);
    out[n] = '\0';
    return n;
}

}  // namespace rstscope
