// What the decoder hands to the flow tracker: a POD view of one TCP segment. Pointers refer into
// the frame buffer, which stays valid for the duration of the burst.
#pragma once

#include <cstdint>

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
};

inline constexpr uint8_t encapsulation_vlan = 0x01;
inline constexpr uint8_t encapsulation_mpls = 0x02;
inline constexpr uint8_t encapsulation_tunnel = 0x04;

}  // namespace rstscope
