// SPDX-License-Identifier: BSD-3-Clause
#include "ports.h"

#include <net/if.h>
#include <rte_bus.h>
#include <rte_dev.h>
#include <rte_devargs.h>
#include <rte_ethdev.h>
#include <rte_kvargs.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>

#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include "rstscope/datapath/packet_sockets.h"
#include "rstscope/flow/symmetric_rss.h"

namespace rstscope {
namespace {

// The symmetric RSS key at its longest; a device takes the prefix of the length it reports.
// Static, because a driver may read the key through the configuration's pointer after
// rte_eth_dev_configure returns (at start, or at a restart).
const RssKey& longest_symmetric_rss_key() {
    static const RssKey key = symmetric_rss_key(RssKey::max_length);
    return key;
}

// For a device that reports no key size: 52 bytes (the largest common size, i40e) covers IPv6
// addresses and ports, and was the only length before devices were asked.
constexpr uint8_t default_rss_key_length = 52;

constexpr uint16_t rx_descriptors = 1024;

// Per-lcore mbuf caches make allocation cheap, but the mbufs a capture's reader lends to other
// workers then come back into those workers' caches, out of its reach, and a cache being flushed
// is briefly counted twice by rte_mempool_avail_count(). A capture shared between workers waits
// for its pool instead of losing records, so it needs an exact count: no caches there.
constexpr unsigned live_mempool_cache = 256;  // mbufs per lcore cache, DPDK's usual size
unsigned mempool_cache_size(const Options& o) {
    return !o.pcap.empty() && o.workers > 1 ? 0 : live_mempool_cache;
}
constexpr uint16_t tx_descriptors = 1024;

void fail(uint16_t port, const char* what, int rc) {
    throw std::runtime_error(fmt::format("port {}: {} failed: {}", port, what, rte_strerror(-rc)));
}

// The pools' ring in relaxed-tail-sync mode, not DPDK's default multi-producer/multi-consumer
// one: there a thread that has claimed slots and is preempted before it publishes them makes
// every other thread taking or returning mbufs spin until it runs again (lock-waiter
// preemption). Lcores sharing a CPU (more workers than CPUs, or a busy machine) then crawl: a
// 1.4 s capture with 3 workers on 2 CPUs took 132 s, its workers spinning in the pool's ring. In
// RTS mode the last thread out publishes for all, so none waits on another's tail.
constexpr const char* mbuf_pool_ops = "ring_mt_rts";

void create_pools(const Options& o, PortPlan& plan) {
    for (unsigned w = 0; w < o.workers; ++w) {
        std::string name = fmt::format("rstscope_mbufs_{}", w);
        rte_mempool* pool = rte_pktmbuf_pool_create_by_ops(
            name.c_str(), o.mbufs, mempool_cache_size(o), 0,
            RTE_PKTMBUF_HEADROOM + o.mbuf_data_room, (int)rte_socket_id(), mbuf_pool_ops);
        if (pool == nullptr) {
            throw std::runtime_error(fmt::format("cannot create mbuf pool of {} mbufs: {}", o.mbufs,
                                                 rte_strerror(rte_errno)));
        }
        plan.pools.push_back(pool);
    }
}

// The receive side of one port: one queue per worker with the symmetric RSS key when the device
// can spread that many, otherwise as many queues as it has (up to one per worker) and the
// workers redistribute among themselves (`needs_dispatch`). Returns the receive queue count.
uint16_t configure_receive(const rte_eth_dev_info& info, unsigned workers, rte_eth_conf& conf,
                           PortPlan& plan, bool& rss) {
    constexpr uint64_t wanted_rss = RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP;
    rss = workers > 1 && info.max_rx_queues >= workers &&
          (info.flow_type_rss_offloads & wanted_rss) != 0;
    if (rss) {
        conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
        // The key length the device asks for (some ask for 128 bytes): DPDK reads that many.
        conf.rx_adv_conf.rss_conf.rss_key =
            const_cast<uint8_t*>(longest_symmetric_rss_key().bytes.data());
        conf.rx_adv_conf.rss_conf.rss_key_len =
            info.hash_key_size ? info.hash_key_size : default_rss_key_length;
        conf.rx_adv_conf.rss_conf.rss_hf = info.flow_type_rss_offloads & wanted_rss;
        return static_cast<uint16_t>(workers);
    }
    if (workers == 1) return 1;
    // af_packet's fanout and single-queue vdevs do not promise symmetry: redistribute.
    plan.needs_dispatch = true;
    return static_cast<uint16_t>(std::min<unsigned>(workers, info.max_rx_queues));
}

// What the device does with RSS, for the workers' placing of reassembled datagrams: its
// redirection table as it reports it, else the round robin over the queues that drivers set up
// by default (128 entries, when the device reports no size).
void read_rss_spread(uint16_t port, const rte_eth_dev_info& info, uint64_t rss_hf,
                     uint16_t rx_queues, PortPlan& plan) {
    if (plan.rss.size() <= port) plan.rss.resize(port + 1u);
    RssSpread& spread = plan.rss[port];
    spread.hash_tcp4 = rss_hf & RTE_ETH_RSS_NONFRAG_IPV4_TCP;
    spread.hash_tcp6 = rss_hf & RTE_ETH_RSS_NONFRAG_IPV6_TCP;
    const uint16_t size = info.reta_size ? info.reta_size : 128;
    spread.reta.resize(size);
    for (uint16_t i = 0; i < size; ++i)
        spread.reta[i] = static_cast<uint16_t>(i % rx_queues);
    std::vector<rte_eth_rss_reta_entry64> table((size + RTE_ETH_RETA_GROUP_SIZE - 1) /
                                                RTE_ETH_RETA_GROUP_SIZE);
    for (auto& group : table)
        group.mask = ~0ull;
    if (info.reta_size && rte_eth_dev_rss_reta_query(port, table.data(), size) == 0) {
        for (uint16_t i = 0; i < size; ++i)
            spread.reta[i] =
                table[i / RTE_ETH_RETA_GROUP_SIZE].reta[i % RTE_ETH_RETA_GROUP_SIZE] % rx_queues;
    }
    plan.rss_key = longest_symmetric_rss_key().bytes.data();
}

// Inline mode transmits on one queue per worker; otherwise the port transmits nothing.
uint16_t transmit_queue_count(uint16_t port, const rte_eth_dev_info& info, const Options& o) {
    if (o.mode != Mode::inline_forward) return 0;
    if (info.max_tx_queues < o.workers) {
        throw std::runtime_error(
            fmt::format("port {} has {} transmit queue(s): inline mode needs one per worker ({})",
                        port, info.max_tx_queues, o.workers));
    }
    return static_cast<uint16_t>(o.workers);
}

// Configures, sets up the queues of and starts one port. Queues go to workers in turn
// (`next_worker`) when they are not one per worker by RSS.
void start_port(uint16_t port, const Options& o, PortPlan& plan, unsigned& next_worker) {
    rte_eth_dev_info info;
    int rc = rte_eth_dev_info_get(port, &info);
    if (rc != 0) fail(port, "dev_info_get", rc);

    rte_eth_conf conf{};
    bool rss = false;
    uint16_t rx_queues = configure_receive(info, o.workers, conf, plan, rss);
    uint16_t tx_queues = transmit_queue_count(port, info, o);
    rc = rte_eth_dev_configure(port, rx_queues, tx_queues, &conf);
    if (rc != 0) fail(port, "configure", rc);
    for (uint16_t q = 0; q < rx_queues; ++q) {
        unsigned worker = rss ? q : next_worker++ % o.workers;
        rc = rte_eth_rx_queue_setup(port, q, rx_descriptors, rte_eth_dev_socket_id(port), nullptr,
                                    plan.pools[worker]);
        if (rc != 0) fail(port, "rx_queue_setup", rc);
        plan.queues_of_worker[worker].push_back({port, q});
    }
    for (uint16_t q = 0; q < tx_queues; ++q) {
        rc = rte_eth_tx_queue_setup(port, q, tx_descriptors, rte_eth_dev_socket_id(port), nullptr);
        if (rc != 0) fail(port, "tx_queue_setup", rc);
    }
    rc = rte_eth_dev_start(port);
    if (rc != 0) fail(port, "start", rc);
    if (rss) read_rss_spread(port, info, conf.rx_adv_conf.rss_conf.rss_hf, rx_queues, plan);
    // Promiscuous mode matters on a mirror port; some vdevs do not support it.
    rte_eth_promiscuous_enable(port);
}

// Inline: ports forward in pairs (0↔1, 2↔3); an odd last port sends back out of itself.
void pair_ports(uint16_t port_count, PortPlan& plan) {
    plan.tx_peer.resize(port_count);
    for (uint16_t p = 0; p < port_count; ++p)
        plan.tx_peer[p] = (p ^ 1u) < port_count ? static_cast<uint16_t>(p ^ 1u) : p;
}

// The rx timestamp field carries a capture's packet time (CaptureClock) with the mbuf, so a
// packet dispatched to another worker keeps it. Live traffic is timed by the TSC instead: NIC
// timestamp units differ per device.
void register_timestamp_field(PortPlan& plan) {
    uint64_t flag = 0;
    int offset = -1;
    if (rte_mbuf_dyn_rx_timestamp_register(&offset, &flag) == 0) {
        plan.timestamp_offset = offset;
        plan.timestamp_flag = flag;
    }
}

// The interface a port of `driver` was given as `key` ("iface=NAME" in its device arguments), or
// 0 when the port is another driver's or names none.
unsigned interface_argument(uint16_t port, const char* driver, const char* key) {
    rte_eth_dev_info info;
    if (rte_eth_dev_info_get(port, &info) != 0 || info.driver_name == nullptr ||
        std::strcmp(info.driver_name, driver) != 0 || info.device == nullptr)
        return 0;
    const rte_devargs* devargs = rte_dev_devargs(info.device);
    if (devargs == nullptr || devargs->args == nullptr) return 0;
    rte_kvargs* arguments = rte_kvargs_parse(devargs->args, nullptr);
    if (arguments == nullptr) return 0;
    const char* iface = rte_kvargs_get(arguments, key);
    unsigned index = iface != nullptr ? if_nametoindex(iface) : 0;
    rte_kvargs_free(arguments);
    return index;
}

std::vector<unsigned> port_interfaces(const char* driver, const char* key) {
    std::vector<unsigned> interfaces;
    uint16_t port;
    RTE_ETH_FOREACH_DEV(port) {
        if (unsigned index = interface_argument(port, driver, key); index != 0)
            interfaces.push_back(index);
    }
    return interfaces;
}

// net_pcap's rx_iface_in (the loopback, eal_args.cc) wants the arriving packets only: the kernel
// is asked to leave the leaving copies out of libpcap's ring (rstscope/datapath/packet_sockets.h).
void keep_arriving_packets_only() {
    std::vector<int> sockets = packet_sockets_bound_to(port_interfaces("net_pcap", "rx_iface_in"));
    ignore_outgoing_packets(sockets);
}

}  // namespace

PortPlan setup_ports(const Options& o) {
    uint16_t port_count = rte_eth_dev_count_avail();
    if (port_count == 0) {
        throw std::runtime_error(
            "no network ports: give --pcap FILE or --iface NAME, or EAL options that name a NIC "
            "(e.g. -a 0000:03:00.0) or a vdev");
    }
    PortPlan plan;
    plan.queues_of_worker.resize(o.workers);
    create_pools(o, plan);
    uint16_t port;
    unsigned next_worker = 0;
    RTE_ETH_FOREACH_DEV(port) {
        start_port(port, o, plan, next_worker);
    }
    pair_ports(port_count, plan);
    register_timestamp_field(plan);
    keep_arriving_packets_only();
    return plan;
}

void stop_ports() {
    uint16_t port;
    RTE_ETH_FOREACH_DEV(port) {
        rte_eth_dev_stop(port);
        rte_eth_dev_close(port);
    }
}

void port_drop_totals(uint64_t& missed, uint64_t& errors) {
    missed = errors = 0;
    uint16_t port;
    RTE_ETH_FOREACH_DEV(port) {
        rte_eth_stats stats;
        if (rte_eth_stats_get(port, &stats) == 0) {
            missed += stats.imissed;
            errors += stats.ierrors + stats.rx_nombuf;
        }
    }
}

std::vector<unsigned> af_packet_interfaces() {
    return port_interfaces("net_af_packet", "iface");
}

}  // namespace rstscope
