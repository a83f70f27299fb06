// SPDX-License-Identifier: BSD-3-Clause
// Port setup: every ethdev port DPDK found (NIC or vdev) is configured with one receive queue per
// worker when it offers RSS (with a symmetric key, so both directions of a connection reach the
// same worker) or a single queue otherwise, in which case the workers redistribute packets among
// themselves by the same symmetric flow hash. Setup only: throws on failure.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <rte_mempool.h>

#include "rss_spread.h"
#include "rstscope/config/options.h"

namespace rstscope {

struct RxQueueRef {
    uint16_t port;
    uint16_t queue;
};

struct PortPlan {
    std::vector<std::vector<RxQueueRef>> queues_of_worker;  // [worker] → queues it polls
    std::vector<uint16_t> tx_peer;  // inline mode: port → port it forwards to
    bool needs_dispatch = false;    // some port lacks symmetric RSS across the workers
    int timestamp_offset = -1;      // mbuf dynfield offset of the rx timestamp, -1 if none
    uint64_t timestamp_flag = 0;
    std::vector<rte_mempool*> pools;  // one per worker
    // Ports spread by hardware RSS (queue q is worker q): how, for the reassembled datagrams
    // the workers place themselves (worker.cc). [port]; an empty table where there is no RSS.
    std::vector<RssSpread> rss;
    const uint8_t* rss_key = nullptr;  // the symmetric key every RSS port was given
};

PortPlan setup_ports(const Options& options);
void stop_ports();

// Sum of imissed and of ierrors + rx_nombuf over all ports (management, at the end or on stats).
void port_drop_totals(uint64_t& missed, uint64_t& errors);

// The interfaces (indexes) behind the net_af_packet ports, whose packet sockets' drops the driver
// does not count (rstscope/datapath/packet_sockets.h).
std::vector<unsigned> af_packet_interfaces();

}  // namespace rstscope
