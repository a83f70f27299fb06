// SPDX-License-Identifier: BSD-3-Clause
// Addresses and endpoints as the flow table stores them: IPv4 and IPv6 in one 16-byte form so a
// single key type serves both families.
#pragma once

#include <cstdint>
#include <cstring>

#include "rstscope/common/mix64.h"

namespace rstscope {

enum class IpFamily : uint8_t { v4 = 4, v6 = 6 };

// IPv4 occupies the first 4 bytes, the rest is zero; `family` keeps ::a.b.c.d and a.b.c.d apart.
struct IpAddress {
    uint8_t bytes[16];

    static IpAddress from_v4(const uint8_t* network_order) {
        IpAddress a{};
        std::memcpy(a.bytes, network_order, 4);
        return a;
    }
    static IpAddress from_v6(const uint8_t* network_order) {
        IpAddress a{};
        std::memcpy(a.bytes, network_order, 16);
        return a;
    }
    friend bool operator==(const IpAddress& x, const IpAddress& y) {
        return std::memcmp(x.bytes, y.bytes, 16) == 0;
    }
};

// An address as one well-mixed 64-bit hash: what a distinct-count sketch (distinct_sketch.h) of
// addresses is fed, the findings engine's and the capture probe's alike. Unkeyed: a sketch's
// estimate, not a table's probe runs, depends on it.
inline uint64_t address_hash(const IpAddress& a) noexcept {
    uint64_t w[2];
    std::memcpy(w, a.bytes, 16);
    return mix64(w[0] ^ mix64(w[1] ^ 0x5851F42D4C957F2Dull));
}

// Longest address text (INET6_ADDRSTRLEN without its NUL): bounds every form write_ip() writes.
inline constexpr size_t ip_text_max_length = 45;
// Bytes past the text write_ip() may scribble on: it copies digits four bytes at a time.
inline constexpr size_t ip_text_slack = 3;

// Writes an address as text, exactly as glibc's inet_ntop does (dotted quad; RFC 5952 IPv6: lower
// case, the first longest run of two or more zero groups compressed, ::a.b.c.d for the
// IPv4-compatible and ::ffff:a.b.c.d for the v4-mapped forms) to `out`, which has room for
// ip_text_max_length + ip_text_slack bytes; returns the end of the text (no NUL). No allocation, no
// library call: management writes two per event (inet_ntop through sprintf cost about 1 000
// instructions each).
char* write_ip(const IpAddress& address, IpFamily family, char* out) noexcept;

// write_ip() into a buffer of `capacity` bytes, NUL-terminated; returns the length, or 0 (and an
// empty string) when the text does not fit.
size_t format_ip(const IpAddress& address, IpFamily family, char* out, size_t capacity);

// VLAN tags as decoded: 12-bit IDs; `vlan_none` when the frame had no such tag.
inline constexpr uint16_t vlan_none = 0xFFFF;

}  // namespace rstscope
