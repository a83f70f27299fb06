// SPDX-License-Identifier: BSD-3-Clause
// A plain pcap capture read once (monitor mode): each record goes from the file's window straight
// into an mbuf, stamped with its time, onto the ring behind the capture's port, a net_ring ethdev.
// The worker polls that port with rte_eth_rx_burst like any other and gets the same frames, in
// the same order, that net_pcap would give it. net_pcap reads each record through libpcap (two
// fread calls, then a copy into the mbuf) and the capture clock reads its header a second time,
// about 680 of the worker's instructions a packet (docs/performance.md, "A capture read once:
// the capture feed"). What the probe cannot vouch for as plain (pcapng, damage), and inline mode
// (whose forwarded packets net_pcap writes to --pcap-out), stay with net_pcap and the capture
// clock.
//
// Hot path: top_up() runs on the reading worker between bursts. It allocates nothing but mbufs
// from the worker's pool and takes no lock; its system calls are the window's reads (pread).
#pragma once

#include <cstdint>

#include <rte_mbuf.h>
#include <rte_ring.h>

#include "../capture/capture_probe.h"
#include "rstscope/common/counters.h"

namespace rstscope {

class CaptureFeed {
  public:
    // Frames the ring holds: what one top-up can put ahead of a burst, at the longest burst.
    static constexpr unsigned ring_slots = 128;

    // Creates the ring and its port (after rte_eal_init, before setup_ports configures every
    // port). `records`: the probe's count. Throws when DPDK refuses either.
    CaptureFeed(PlainRecordReader reader, uint64_t records);
    // After stop_ports: the ring's mbufs go back to their pool, then the ring is freed.
    ~CaptureFeed();
    CaptureFeed(const CaptureFeed&) = delete;
    CaptureFeed& operator=(const CaptureFeed&) = delete;

    uint16_t port() const noexcept { return port_; }
    // Where the frames' mbufs come from, how they are stamped (the rx timestamp field,
    // ports.cc) and where an unreadable rest of the file is counted (capture_records_unread,
    // which ends the run without those records): the reading worker's.
    void attach(rte_mempool* pool, int timestamp_offset, uint64_t timestamp_flag,
                WorkerCounters& counters) noexcept;

    // Fills the ring up to `frames` frames (at most ring_slots), as far as the pool and the file
    // allow: a pool short of mbufs leaves the rest for the next call, nothing is dropped.
    void top_up(unsigned frames) noexcept;
    // The time of the last frame put on the ring: the capture's time once the worker has
    // received it (each top-up fills no more than the burst that follows it takes).
    uint64_t last_ns() const noexcept { return last_ns_; }

  private:
    // `m` holds the record's frame, continued in segments of its own when it is longer than an
    // mbuf's room (as net_pcap chains one). False when the pool has no segment for it now.
    bool fill(rte_mbuf* m, const PlainRecord& record) noexcept;

    PlainRecordReader reader_;
    uint64_t records_left_;
    rte_ring* ring_ = nullptr;
    uint16_t port_ = 0;
    rte_mempool* pool_ = nullptr;
    int timestamp_offset_ = -1;
    uint64_t timestamp_flag_ = 0;
    WorkerCounters* counters_ = nullptr;
    uint64_t last_ns_ = 0;
};

}  // namespace rstscope
