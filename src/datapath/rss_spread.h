// SPDX-License-Identifier: BSD-3-Clause
// Where a NIC's RSS puts a TCP segment: the Toeplitz hash (Microsoft's RSS specification, computed
// by DPDK's rte_softrss) of its addresses, and of its ports when the device hashes them, then the
// device's redirection table. The worker needs it for reassembled datagrams only: their fragments
// were spread by their addresses alone, the flow's other segments by what the device hashes for
// TCP. Pure (no EAL); hot path: no allocation.
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

#include <rte_byteorder.h>
#include <rte_ip.h>
#include <rte_thash.h>

#include "rstscope/decode/decoded_packet.h"

namespace rstscope {

// One port's spreading, read from the device after it started (ports.cc).
struct RssSpread {
    std::vector<uint16_t> reta;  // redirection table: entry → receive queue; empty: no RSS
    bool hash_tcp4 = false;      // IPv4 TCP hashed on addresses and ports (else addresses only)
    bool hash_tcp6 = false;      // the same for IPv6
};

// The device's hash of `p` (a whole TCP segment) with `key`, which holds at least 40 bytes.
inline uint32_t rss_hash(const DecodedPacket& p, bool with_ports, const uint8_t* key) noexcept {
    rte_thash_tuple tuple{};
    if (p.family == IpFamily::v4) {
        uint32_t src, dst;
        std::memcpy(&src, p.src.bytes, 4);
        std::memcpy(&dst, p.dst.bytes, 4);
        tuple.v4.src_addr = rte_be_to_cpu_32(src);
        tuple.v4.dst_addr = rte_be_to_cpu_32(dst);
        tuple.v4.sport = p.src_port;
        tuple.v4.dport = p.dst_port;
        return rte_softrss(reinterpret_cast<uint32_t*>(&tuple),
                           with_ports ? RTE_THASH_V4_L4_LEN : RTE_THASH_V4_L3_LEN, key);
    }
    rte_ipv6_hdr header{};
    std::memcpy(header.src_addr, p.src.bytes, 16);
    std::memcpy(header.dst_addr, p.dst.bytes, 16);
    rte_thash_load_v6_addrs(&header, &tuple);
    tuple.v6.sport = p.src_port;
    tuple.v6.dport = p.dst_port;
    return rte_softrss(reinterpret_cast<uint32_t*>(&tuple),
                       with_ports ? RTE_THASH_V6_L4_LEN : RTE_THASH_V6_L3_LEN, key);
}

// The receive queue the device gives `p`'s flow (`spread.reta` not empty).
inline uint16_t rss_queue(const RssSpread& spread, const DecodedPacket& p,
                          const uint8_t* key) noexcept {
    const bool ports = p.family == IpFamily::v4 ? spread.hash_tcp4 : spread.hash_tcp6;
    return spread.reta[rss_hash(p, ports, key) % spread.reta.size()];
}

}  // namespace rstscope
