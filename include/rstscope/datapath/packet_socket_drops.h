// SPDX-License-Identifier: BSD-3-Clause
// What the kernel dropped at the packet sockets behind net_af_packet ports: frames that arrived
// on the interface while the socket's receive ring was full (the worker off its CPU, or slower
// than the wire). DPDK 22.11's af_packet driver never asks the kernel for these (its imissed
// stays 0), so a live run would lose them silently; rstscope asks itself and counts them in
// rx_missed, as net_pcap's driver does for libpcap's sockets.
//
// The kernel resets a socket's counts each time they are read (PACKET_STATISTICS), so one reader
// must keep the running total: management, on a stats request and at the end, never per packet.
// No EAL: the sockets are found by the interface they are bound to.
#pragma once

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

namespace rstscope {

class PacketSocketDrops {
  public:
    // `sockets`: packet sockets this process holds; their counts are read, never their packets.
    explicit PacketSocketDrops(std::vector<int> sockets = {}) : sockets_(std::move(sockets)) {}

    // The packet sockets of this process bound to one of `interfaces` (interface indexes), found
    // through /proc/self/fd. Call once the ports are set up, and read them only while the ports
    // hold them open (a closed descriptor's number may be reused).
    static std::vector<int> bound_to(std::span<const unsigned> interfaces);

    // Frames dropped at the sockets since this object was made: what each dropped since the last
    // read, added to the total.
    uint64_t total() noexcept;

    size_t sockets() const noexcept { return sockets_.size(); }

  private:
    std::vector<int> sockets_;
    uint64_t total_ = 0;
};

}  // namespace rstscope
