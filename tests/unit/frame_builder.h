// SPDX-License-Identifier: BSD-3-Clause
// Builds test frames byte by byte: Ethernet, VLAN tags, MPLS, IPv4/IPv6 (with extension headers),
// GRE, UDP tunnels (VXLAN, Geneve, Teredo, AYIYA, GTPv1-U), TCP with options. Tests only.
#pragma once

#include <arpa/inet.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
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

inline Bytes udp(uint16_t sport, uint16_t dport, const Bytes& payload) {
    Bytes b;
    put16(b, sport);
    put16(b, dport);
    put16(b, static_cast<uint16_t>(8 + payload.size()));
    put16(b, 0);  // checksum: optional over IPv4, not verified
    append(b, payload);
    return b;
}

inline Bytes ipv4_udp(uint16_t sport, uint16_t dport, const Bytes& payload,
                      const std::string& src = "192.0.2.1", const std::string& dst = "192.0.2.2") {
    return ipv4(src, dst, 17, udp(sport, dport, payload));
}

// The inner connection every tunnel test carries: 198.51.100.7:40000 → 203.0.113.8:80.
inline Bytes inner_ipv4_tcp(uint8_t flags = 0x04) {
    TcpSpec t;
    t.flags = flags;
    return ipv4("198.51.100.7", "203.0.113.8", 6, tcp_segment(t), 61);
}
inline Bytes inner_ipv6_tcp(const std::string& src = "2001:0:db8::7",
                            const std::string& dst = "2001:db8::8") {
    TcpSpec t;
    t.flags = 0x04;
    return ipv6(src, dst, 6, tcp_segment(t), 61);
}

inline Bytes vxlan(uint32_t vni, const Bytes& inner_frame, uint8_t flags = 0x08) {
    Bytes b{flags, 0, 0, 0};
    put32(b, vni << 8);
    append(b, inner_frame);
    return b;
}

inline Bytes geneve(uint32_t vni, uint16_t protocol, const Bytes& payload,
                    const Bytes& options = {}, uint8_t version = 0) {
    Bytes b{static_cast<uint8_t>(version << 6 | options.size() / 4), 0};
    put16(b, protocol);
    put32(b, vni << 8);
    append(b, options);
    append(b, payload);
    return b;
}

// GTPv1-U: version 1, protocol type GTP; `extension` (a whole extension header, length byte
// first, next-type byte last) sets the E flag.
inline Bytes gtp_u(uint32_t teid, const Bytes& payload, uint8_t message_type = 0xFF,
                   const Bytes& extension = {}, uint8_t version = 1) {
    uint8_t flags = static_cast<uint8_t>(version << 5 | 0x10 | (extension.empty() ? 0 : 0x04));
    Bytes b{flags, message_type};
    size_t optional = extension.empty() ? 0 : 4 + extension.size();
    put16(b, static_cast<uint16_t>(optional + payload.size()));
    put32(b, teid);
    if (!extension.empty()) {
        Bytes word{0, 0, 0, 0x85};  // sequence, N-PDU, next extension: PDU session container
        append(b, word);
        append(b, extension);
    }
    append(b, payload);
    return b;
}

// Teredo: optional authentication header (empty client ID and authenticator) and origin
// indication before the IPv6 packet.
inline Bytes teredo(const Bytes& ipv6_packet, bool authentication = false, bool origin = false) {
    Bytes b;
    if (authentication) append(b, Bytes{0, 1, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0});
    if (origin) append(b, Bytes{0, 0, 0xF0, 0x0F, 0x3F, 0xFF, 0xFF, 0xFE});
    append(b, ipv6_packet);
    return b;
}

// AYIYA with a 4-byte identity (nibble 2), no signature.
inline Bytes ayiya(uint8_t next_header, const Bytes& payload, uint8_t opcode = 1) {
    Bytes b{0x20, 0x00, static_cast<uint8_t>(0x10 | opcode), next_header, 0, 0, 0, 1};
    append(b, Bytes{10, 0, 0, 1});
    append(b, payload);
    return b;
}

// GRE version 0, with a key when `key` is given.
inline Bytes gre(uint16_t protocol, const Bytes& payload, std::optional<uint32_t> key = {}) {
    Bytes b;
    put16(b, key ? 0x2000 : 0x0000);
    put16(b, protocol);
    if (key) put32(b, *key);
    append(b, payload);
    return b;
}

// Enhanced GRE (version 1, PPTP) carrying PPP with address and control bytes unless `compressed`.
inline Bytes gre_pptp(uint16_t call_id, uint16_t ppp_protocol, const Bytes& payload,
                      bool compressed = false, bool sequence_and_ack = false) {
    Bytes b;
    put16(b, static_cast<uint16_t>(0x2001 | (sequence_and_ack ? 0x1080 : 0)));
    put16(b, 0x880B);
    Bytes ppp;
    if (!compressed) ppp = {0xFF, 0x03};
    put16(ppp, ppp_protocol);
    append(ppp, payload);
    put16(b, static_cast<uint16_t>(ppp.size()));
    put16(b, call_id);
    if (sequence_and_ack) {
        put32(b, 7);
        put32(b, 6);
    }
    append(b, ppp);
    return b;
}

// 802.2 LLC (unnumbered) + SNAP with OUI 0.
inline Bytes llc_snap(uint16_t ethertype, const Bytes& payload) {
    Bytes b{0xAA, 0xAA, 0x03, 0, 0, 0};
    put16(b, ethertype);
    append(b, payload);
    return b;
}

// An 802.11 data frame (to DS) or QoS data frame, with LLC/SNAP.
inline Bytes ieee80211_data(const Bytes& ip_packet, bool qos = false, bool amsdu = false) {
    Bytes b{static_cast<uint8_t>(qos ? 0x88 : 0x08), 0x01, 0, 0};
    for (int i = 0; i < 18; ++i)
        b.push_back(static_cast<uint8_t>(i));  // three addresses
    put16(b, 0x10);                            // sequence control
    if (qos) append(b, Bytes{static_cast<uint8_t>(amsdu ? 0x80 : 0x00), 0});
    append(b, llc_snap(0x0800, ip_packet));
    return b;
}

}  // namespace rstscope::test
