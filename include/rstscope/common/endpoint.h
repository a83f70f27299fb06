// Addresses and endpoints as the flow table stores them: IPv4 and IPv6 in one 16-byte form so a
// single key type serves both families.
#pragma once

#include <cstdint>
#include <cstring>

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

// Formats an address as text (dotted quad or RFC 5952 IPv6); returns the length written.
// Not for the hot path: management and tests only.
size_t format_ip(const IpAddress& address, IpFamily family, char* out, size_t capacity);

// VLAN tags as decoded: 12-bit IDs; `vlan_none` when the frame had no such tag.
inline constexpr uint16_t vlan_none = 0xFFFF;

}  // namespace rstscope
