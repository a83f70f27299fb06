#include "ports.h"

#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>

#include <stdexcept>

#include <fmt/format.h>

namespace rstscope {
namespace {

// RSS key with a repeating 16-bit pattern: the Toeplitz hash of (src, dst) then equals that of
// (dst, src), so a connection's two directions land in the same queue (Woo and Park, 2012).
constexpr uint8_t symmetric_rss_key[52] = {
    0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d,
    0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
    0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d,
    0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a};

constexpr uint16_t rx_descriptors = 1024;
constexpr uint16_t tx_descriptors = 1024;

void fail(uint16_t port, const char* what, int rc) {
    throw std::runtime_error(fmt::format("port {}: {} failed: {}", port, what, rte_strerror(-rc)));
}

}  // namespace

PortPlan setup_ports(const Options& o) {
    PortPlan plan;
    uint16_t port_count = rte_eth_dev_count_avail();
    if (port_count == 0) {
        throw std::runtime_error(
            "no network ports: give --pcap FILE or --iface NAME, or EAL options that name a NIC "
            "(e.g. -a 0000:03:00.0) or a vdev");
    }
    const unsigned workers = o.workers;
    plan.queues_of_worker.resize(workers);
    for (unsigned w = 0; w < workers; ++w) {
        std::string name = fmt::format("rstscope_mbufs_{}", w);
        rte_mempool* pool = rte_pktmbuf_pool_create(
            name.c_str(), o.mbufs, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, (int)rte_socket_id());
        if (pool == nullptr) {
            throw std::runtime_error(fmt::format("cannot create mbuf pool of {} mbufs: {}", o.mbufs,
                                                 rte_strerror(rte_errno)));
        }
        plan.pools.push_back(pool);
    }

    uint16_t port;
    unsigned next_worker = 0;
    RTE_ETH_FOREACH_DEV(port) {
        rte_eth_dev_info info;
        int rc = rte_eth_dev_info_get(port, &info);
        if (rc != 0) fail(port, "dev_info_get", rc);

        rte_eth_conf conf{};
        uint16_t rx_queues = 1;
        constexpr uint64_t wanted_rss = RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP;
        bool rss = workers > 1 && info.max_rx_queues >= workers &&
                   (info.flow_type_rss_offloads & wanted_rss) != 0;
        if (rss) {
            rx_queues = static_cast<uint16_t>(workers);
            conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
            conf.rx_adv_conf.rss_conf.rss_key = const_cast<uint8_t*>(symmetric_rss_key);
            conf.rx_adv_conf.rss_conf.rss_key_len =
                info.hash_key_size ? info.hash_key_size : sizeof(symmetric_rss_key);
            conf.rx_adv_conf.rss_conf.rss_hf = info.flow_type_rss_offloads & wanted_rss;
        } else if (workers > 1) {
            // af_packet's fanout and single-queue vdevs do not promise symmetry: redistribute.
            rx_queues = static_cast<uint16_t>(std::min<unsigned>(workers, info.max_rx_queues));
            plan.needs_dispatch = true;
        }
        uint16_t tx_queues =
            o.mode == Mode::inline_forward
                ? static_cast<uint16_t>(std::min<unsigned>(workers, info.max_tx_queues))
                : 0;
        if (o.mode == Mode::inline_forward && tx_queues < workers) {
            throw std::runtime_error(fmt::format(
                "port {} has {} transmit queue(s): inline mode needs one per worker ({})", port,
                info.max_tx_queues, workers));
        }
        rc = rte_eth_dev_configure(port, rx_queues, tx_queues, &conf);
        if (rc != 0) fail(port, "configure", rc);
        for (uint16_t q = 0; q < rx_queues; ++q) {
            unsigned worker = rss ? q : next_worker++ % workers;
            rc = rte_eth_rx_queue_setup(port, q, rx_descriptors, rte_eth_dev_socket_id(port),
                                        nullptr, plan.pools[worker]);
            if (rc != 0) fail(port, "rx_queue_setup", rc);
            plan.queues_of_worker[worker].push_back({port, q});
        }
        for (uint16_t q = 0; q < tx_queues; ++q) {
            rc = rte_eth_tx_queue_setup(port, q, tx_descriptors, rte_eth_dev_socket_id(port),
                                        nullptr);
            if (rc != 0) fail(port, "tx_queue_setup", rc);
        }
        rc = rte_eth_dev_start(port);
        if (rc != 0) fail(port, "start", rc);
        // Promiscuous mode matters on a mirror port; some vdevs do not support it.
        rte_eth_promiscuous_enable(port);
    }
    // Inline: ports forward in pairs (0↔1, 2↔3); an odd last port sends back out of itself.
    plan.tx_peer.resize(port_count);
    for (uint16_t p = 0; p < port_count; ++p)
        plan.tx_peer[p] = (p ^ 1u) < port_count ? static_cast<uint16_t>(p ^ 1u) : p;

    // The rx timestamp field carries a capture's packet time (CaptureClock) with the mbuf, so a
    // packet dispatched to another worker keeps it. Live traffic is timed by the TSC instead: NIC
    // timestamp units differ per device.
    uint64_t flag = 0;
    int offset = -1;
    if (rte_mbuf_dyn_rx_timestamp_register(&offset, &flag) == 0) {
        plan.timestamp_offset = offset;
        plan.timestamp_flag = flag;
    }
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

}  // namespace rstscope
