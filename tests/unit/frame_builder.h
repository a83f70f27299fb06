// Builds test frames byte by byte: Ethernet, VLAN tags, MPLS, IPv4/IPv6 (with extension headers),
// GRE, TCP with options. Tests only.
#pragma once

#include <arpa/inet.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "rstscope/decode/decoded_packet.h"

namespace rstscope::test {

using Bytes = std::vector<uint8_t>;

inline void put16(Bytes& b, uint16_t v) {
    b.push_back(static_cast<uint8_t>(v >> 8));
    b.push_back(static_cast<uint8_t>(v));
}
inline void put32(Bytes& b, uint32_t v) {
    put16(b, static_cast<uint16_t>(v >> 16));
    put16(b, static_cast<uint16_t>(v));
}
inline void append(Bytes& b, const Bytes& more) {
    b.insert(b.end(), more.begin(), more.end());
}

struct TcpSpec {
    uint16_t sport = 40000, dport = 80;
    uint32_t seq = 1000, ack = 0;
    uint8_t flags = 0x02;
    uint16_t window = 65535;
    Bytes options;
    std::string payload;
};

inline Bytes tcp_segment(const TcpSpec& t) {
    Bytes b;
    put16(b, t.sport);
    put16(b, t.dport);
    put32(b, t.seq);
    put32(b, t.ack);
    Bytes options = t.options;
    while (options.size() % 4)
        options.push_back(0);
    b.push_back(static_cast<uint8_t>(((20 + options.size()) / 4) << 4));
    b.push_back(t.flags);
    put16(b, t.window);
    put16(b, 0);  // checksum: not verified by rstscope
    put16(b, 0);
    append(b, options);
    b.insert(b.end(), t.payload.begin(), t.payload.end());
    return b;
}

inline Bytes ipv4(const std::string& src, const std::string& dst, uint8_t protocol,
                  const Bytes& payload, uint8_t ttl = 64, uint16_t id = 1,
                  uint16_t fragment = 0x4000, Bytes options = {}) {
    Bytes b;
    uint8_t ihl = static_cast<uint8_t>(5 + options.size() / 4);
    b.push_back(static_cast<uint8_t>(0x40 | ihl));
    b.push_back(0);
    put16(b, static_cast<uint16_t>(ihl * 4 + payload.size()));
    put16(b, id);
    put16(b, fragment);
    b.push_back(ttl);
    b.push_back(protocol);
    put16(b, 0);
    uint8_t addr[4];
    inet_pton(AF_INET, src.c_str(), addr);
    b.insert(b.end(), addr, addr + 4);
    inet_pton(AF_INET, dst.c_str(), addr);
    b.insert(b.end(), addr, addr + 4);
    append(b, options);
    append(b, payload);
    return b;
}

inline Bytes ipv6(const std::string& src, const std::string& dst, uint8_t next_header,
                  const Bytes& payload, uint8_t hop_limit = 64) {
    Bytes b{0x60, 0, 0, 0};
    put16(b, static_cast<uint16_t>(payload.size()));
    b.push_back(next_header);
    b.push_back(hop_limit);
    uint8_t addr[16];
    inet_pton(AF_INET6, src.c_str(), addr);
    b.insert(b.end(), addr, addr + 16);
    inet_pton(AF_INET6, dst.c_str(), addr);
    b.insert(b.end(), addr, addr + 16);
    append(b, payload);
    return b;
}

inline Bytes ethernet(uint16_t ethertype, const Bytes& payload,
                      std::initializer_list<uint16_t> vlans = {}, uint16_t tag_type = 0x8100) {
    Bytes b{0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2};
    bool outer = true;
    for (uint16_t vlan : vlans) {
        put16(b, outer && vlans.size() > 1 ? tag_type : 0x8100);
        put16(b, vlan);
        outer = false;
    }
    put16(b, ethertype);
    append(b, payload);
    return b;
}

inline Bytes eth_ipv4_tcp(const TcpSpec& t, const std::string& src = "198.51.100.1",
                          const std::string& dst = "203.0.113.2", uint8_t ttl = 64,
                          uint16_t id = 1) {
    return ethernet(0x0800, ipv4(src, dst, 6, tcp_segment(t), ttl, id));
}

}  // namespace rstscope::test
