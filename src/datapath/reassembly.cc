// SPDX-License-Identifier: BSD-3-Clause
// rte_ip_frag_table_del_expired_entries is still experimental in DPDK 22.11; only this file uses
// it.
#define ALLOW_EXPERIMENTAL_API 1
#include "reassembly.h"

#include <algorithm>
#include <stdexcept>

#include <rte_ip.h>

namespace rstscope {

uint32_t reassembly_datagrams_for_pool(uint32_t wanted, uint32_t pool_mbufs) noexcept {
    return std::min<uint32_t>(wanted, pool_mbufs / (2 * RTE_LIBRTE_IP_FRAG_MAX_FRAG));
}

Reassembler::Reassembler(const ReassemblyConfig& config, WorkerCounters& counters, int socket)
    : counters_(counters), timeout_ns_(config.timeout_ns) {
    if (config.datagrams == 0) return;
    // rte_ip_frag looks a key up in two buckets of `bucket_entries`: with as many buckets as
    // `datagrams / bucket_entries`, the table has twice the entries it may fill.
    uint32_t buckets = std::max<uint32_t>(
        1, (config.datagrams + config.bucket_entries - 1) / config.bucket_entries);
    table_ = rte_ip_frag_table_create(buckets, config.bucket_entries, config.datagrams,
                                      config.timeout_ns, socket);
    if (table_ == nullptr) throw std::runtime_error("cannot create the IP reassembly table");
}

Reassembler::~Reassembler() {
    if (table_ == nullptr) return;
    free_death_row();
    rte_ip_frag_table_destroy(table_);  // frees the fragments it still holds
}

uint32_t Reassembler::free_death_row() noexcept {
    uint32_t freed = death_row_.cnt;
    if (freed) rte_ip_frag_free_death_row(&death_row_, 0);
    return freed;
}

rte_mbuf* Reassembler::take(rte_mbuf* m, const DecodeResult& r, uint64_t now_ns) noexcept {
    counters_.bump(WorkerCounter::fragments);
    auto* ip = rte_pktmbuf_mtod_offset(m, uint8_t*, r.fragment_l2_length);
    const bool v4 = (ip[0] >> 4) == 4;
    // The checks rte_ip_frag does not make, or makes without saying which failed.
    uint32_t offset, length;
    bool more;
    if (v4) {
        uint16_t fragment = rte_be_to_cpu_16(reinterpret_cast<rte_ipv4_hdr*>(ip)->fragment_offset);
        offset = (fragment & RTE_IPV4_HDR_OFFSET_MASK) * 8u;
        more = fragment & RTE_IPV4_HDR_MF_FLAG;
        uint32_t total = rte_be_to_cpu_16(reinterpret_cast<rte_ipv4_hdr*>(ip)->total_length);
        length = total > r.fragment_l3_length ? total - r.fragment_l3_length : 0;
    } else {
        auto* fragment = reinterpret_cast<rte_ipv6_fragment_ext*>(ip + sizeof(rte_ipv6_hdr));
        uint16_t data = rte_be_to_cpu_16(fragment->frag_data);
        offset = data & 0xFFF8u;
        more = data & 1u;
        uint32_t payload = rte_be_to_cpu_16(reinterpret_cast<rte_ipv6_hdr*>(ip)->payload_len);
        length = payload > sizeof(rte_ipv6_fragment_ext) ? payload - 8u : 0;
    }
    switch (check_fragment(v4 ? IpFamily::v4 : IpFamily::v6, r.fragment_l3_length, offset, length,
                           more)) {
        case FragmentCheck::take:
            break;
        case FragmentCheck::too_large:
            counters_.bump(WorkerCounter::fragments_too_large);
            rte_pktmbuf_free(m);
            return nullptr;
        case FragmentCheck::invalid:
            counters_.bump(WorkerCounter::fragments_invalid);
            rte_pktmbuf_free(m);
            return nullptr;
    }
    if (table_ == nullptr) {  // not reached: the shell does not call take() without a table
        counters_.bump(WorkerCounter::fragments_table_full);
        rte_pktmbuf_free(m);
        return nullptr;
    }
    // Timed-out datagrams first, so that what the call below puts on the death row can only be
    // this fragment (the table was full) or this fragment with its datagram's (invalid).
    expire(now_ns);
    m->l2_len = r.fragment_l2_length;
    m->l3_len = r.fragment_l3_length;
    rte_mbuf* done;
    if (v4) {
        done = rte_ipv4_frag_reassemble_packet(table_, &death_row_, m, now_ns,
                                               reinterpret_cast<rte_ipv4_hdr*>(ip));
    } else {
        done = rte_ipv6_frag_reassemble_packet(
            table_, &death_row_, m, now_ns, reinterpret_cast<rte_ipv6_hdr*>(ip),
            reinterpret_cast<rte_ipv6_fragment_ext*>(ip + sizeof(rte_ipv6_hdr)));
    }
    uint32_t dropped = free_death_row();
    if (done != nullptr) {
        counters_.bump(WorkerCounter::fragments_reassembled);
    } else if (dropped == 1) {
        counters_.bump(WorkerCounter::fragments_table_full);
    } else if (dropped > 1) {
        counters_.bump(WorkerCounter::fragments_invalid, dropped);
    }
    return done;
}

void Reassembler::expire(uint64_t now_ns) noexcept {
    if (table_ == nullptr) return;
    // The death row takes a bounded number of mbufs a call: repeat until nothing more expires.
    for (;;) {
        rte_ip_frag_table_del_expired_entries(table_, &death_row_, now_ns);
        uint32_t freed = free_death_row();
        if (freed == 0) return;
        counters_.bump(WorkerCounter::fragments_timed_out, freed);
    }
}

}  // namespace rstscope
