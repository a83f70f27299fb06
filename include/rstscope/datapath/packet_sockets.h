// SPDX-License-Identifier: BSD-3-Clause
// The kernel's packet sockets behind rstscope's live ports (net_af_packet's own, libpcap's under
// net_pcap), where the drivers leave something undone. Setup and management only, never per
// packet; no EAL: a port's sockets are found by the interface they are bound to.
//
// - Drops: what the kernel dropped because a socket's receive ring was full (the worker off its
//   CPU, or slower than the wire). DPDK 22.11's af_packet driver never asks the kernel for these
//   (its imissed stays 0), so a live run would lose them silently; rstscope asks itself and counts
//   them in rx_missed, as net_pcap's driver does for libpcap's sockets. The kernel resets a
//   socket's counts each time they are read (PACKET_STATISTICS), so one reader keeps the running
//   total: management, on a stats request and at the end.
// - Outgoing copies: on the loopback interface a packet socket sees every packet twice, leaving
//   and arriving. net_pcap's rx_iface_in keeps the arriving one, but libpcap discards the other
//   only after the kernel has put it in the ring: half the ring taken by copies nobody reads, and,
//   when the ring is full, each packet missed twice. Asking the kernel not to deliver them
//   (PACKET_IGNORE_OUTGOING, Linux 4.20) leaves the ring to the arriving packets.
#pragma once

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

namespace rstscope {

// The packet sockets of this process bound to one of `interfaces` (interface indexes), found
// through /proc/self/fd. Call once the ports are set up, and use them only while the ports hold
// them open (a closed descriptor's number may be reused).
std::vector<int> packet_sockets_bound_to(std::span<const unsigned> interfaces);

// Asks the kernel to deliver none of the packets leaving the interface to these sockets. Returns
// how many it agreed for (a kernel before 4.20 refuses: the copies are then read and discarded as
// before).
size_t ignore_outgoing_packets(std::span<const int> sockets) noexcept;

class PacketSocketDrops {
  public:
    // `sockets`: packet sockets this process holds; their counts are read, never their packets.
    explicit PacketSocketDrops(std::vector<int> sockets = {}) : sockets_(std::move(sockets)) {}

    // Frames dropped at the sockets since this object was made: what each dropped since the last
    // read, added to the total.
    uint64_t total() noexcept;

    size_t sockets() const noexcept { return sockets_.size(); }

  private:
    std::vector<int> sockets_;
    uint64_t total_ = 0;
};

}  // namespace rstscope
