// SPDX-License-Identifier: BSD-3-Clause
// What the decoder hands to the flow tracker: a POD view of one TCP segment. Pointers refer into
// the frame buffer, which stays valid for the duration of the burst.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "rstscope/common/counters.h"  // RSTSCOPE_*_ENTRY
#include "rstscope/common/endpoint.h"

namespace rstscope {

inline constexpr uint8_t tcp_wscale_absent = 0xFF;

// Parsed on SYN and RST segments only: the only ones whose options the analysis uses.
struct TcpOptions {
    uint16_t mss = 0;                          // 0: absent
    uint8_t window_scale = tcp_wscale_absent;  // RFC 7323 shift count, clamped to 14
    bool sack_permitted = false;
    bool has_timestamps = false;
    bool has_mptcp_reset = false;  // RFC 8684 MP_TCPRST, carries a reason code
    uint8_t mptcp_reset_reason = 0;
    uint32_t ts_value = 0;
    uint32_t ts_echo = 0;
};

// What carried a segment found inside a tunnel: the enum, the names the event log writes
// (`tunnel.type`) and docs/events.md come from this one list. Numbered for the 4-bit halves of
// DecodedPacket::tunnels; `none` is 0.
#define RSTSCOPE_TUNNEL_TYPES(X)                                                  \
    X(none, "not tunnelled")                                                      \
    X(ip_in_ip, "IPv4 or IPv6 directly in IPv4 or IPv6 (protocols 4 and 41)")     \
    X(gre, "GRE version 0 (RFC 2784/2890), NVGRE, Aruba 802.11; id: the GRE key") \
    X(erspan, "GRE carrying ERSPAN type I, II or III; id: the GRE key")           \
    X(pptp, "enhanced GRE version 1 carrying PPP (RFC 2637); id: the call ID")    \
    X(gre_in_udp, "GRE in UDP (RFC 8086), port 4754; id: the GRE key")            \
    X(vxlan, "VXLAN (RFC 7348), UDP port 4789; id: the VNI")                      \
    X(geneve, "Geneve (RFC 8926), UDP port 6081; id: the VNI")                    \
    X(teredo, "Teredo (RFC 4380), UDP port 3544 or recognised by content")        \
    X(ayiya, "AYIYA (Anything In Anything), UDP port 5072")                       \
    X(gtp_u, "GTPv1-U G-PDU, UDP port 2152; id: the TEID")

enum class TunnelType : uint8_t { RSTSCOPE_TUNNEL_TYPES(RSTSCOPE_ENUM_ENTRY) count };
inline constexpr size_t tunnel_type_count = static_cast<size_t>(TunnelType::count);
static_assert(tunnel_type_count <= 16, "a type fits in 4 bits");

inline constexpr std::array<std::string_view, tunnel_type_count> tunnel_type_names{
    RSTSCOPE_TUNNEL_TYPES(RSTSCOPE_NAME_ENTRY)};
inline constexpr std::array<std::string_view, tunnel_type_count> tunnel_type_descriptions{
    RSTSCOPE_TUNNEL_TYPES(RSTSCOPE_DESCRIPTION_ENTRY)};

// Whether the type's header always carries the identifier kept in DecodedPacket::tunnel_id. GRE's
// key is optional: its types report the key only when it is not 0 (a key of 0 reads as absent).
constexpr bool tunnel_id_always_present(TunnelType type) noexcept {
    return type == TunnelType::vxlan || type == TunnelType::geneve || type == TunnelType::gtp_u ||
           type == TunnelType::pptp;
}

struct DecodedPacket {
    uint64_t ts_ns = 0;  // capture or NIC time, nanoseconds since the epoch
    IpAddress src{};
    IpAddress dst{};
    uint16_t src_port = 0;
    uint16_t dst_port = 0;
    uint16_t vlan_outer = vlan_none;
    uint16_t vlan_inner = vlan_none;
    IpFamily family = IpFamily::v4;
    uint8_t ttl = 0;  // IPv4 TTL or IPv6 hop limit
    uint8_t tcp_flags = 0;
    bool has_ip_id = false;  // IPv4 only (IPv6 has no identification outside fragments)
    bool dont_fragment = false;
    // Outermost tunnel type in the high nibble, innermost in the low one; 0 when not tunnelled.
    // Sits in what was padding: see the size check below.
    uint8_t tunnels = 0;
    uint16_t ip_id = 0;
    uint32_t seq = 0;
    uint32_t ack = 0;
    uint16_t window = 0;            // raw, unscaled
    uint16_t payload_captured = 0;  // payload bytes present in the buffer
    uint32_t payload_length = 0;    // payload bytes on the wire, from the IP lengths
    const uint8_t* payload = nullptr;
    TcpOptions options{};
    bool options_malformed = false;
    uint8_t encapsulation = 0;  // bit set of encapsulation_* below
    // Meaningful only when `tunnels` is not 0, and like `payload` only while the frame is.
    // The innermost tunnel's outer IP header starts `tunnel_header_back` bytes before `payload`
    // (0: further back than 65535 bytes, not recorded); read it with innermost_tunnel_endpoints().
    uint16_t tunnel_header_back = 0;
    uint32_t tunnel_id = 0;  // the innermost tunnel's VXLAN/Geneve VNI, GTP TEID or GRE key; else 0

    TunnelType outermost_tunnel() const noexcept { return static_cast<TunnelType>(tunnels >> 4); }
    TunnelType innermost_tunnel() const noexcept { return static_cast<TunnelType>(tunnels & 0x0F); }
};

// The burst arrays hold one DecodedPacket per frame; the tunnel fields were fitted into what was
// padding so that it stays 104 bytes. Growing it is a hot-path change: measure it (tools/bench).
static_assert(sizeof(DecodedPacket) == 104, "DecodedPacket grew: measure before accepting it");

// The outer addresses of the tunnel that carried `packet` (the innermost one): false when it was
// not tunnelled or the header was not recorded. Valid only while the frame is (as `payload`).
bool innermost_tunnel_endpoints(const DecodedPacket& packet, IpFamily& family, IpAddress& src,
                                IpAddress& dst) noexcept;

inline constexpr uint8_t encapsulation_vlan = 0x01;
inline constexpr uint8_t encapsulation_mpls = 0x02;
inline constexpr uint8_t encapsulation_tunnel = 0x04;

}  // namespace rstscope
