// SPDX-License-Identifier: BSD-3-Clause
#include "capture_feed.h"

#include <rte_bus_vdev.h>
#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_lcore.h>
#include <rte_mbuf_dyn.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace rstscope {
namespace {
constexpr const char* ring_name = "rstscope_capture";
}  // namespace

CaptureFeed::CaptureFeed(PlainRecordReader reader, uint64_t records)
    : reader_(std::move(reader)), records_left_(records) {
    // One producer (the feed) and one consumer (the port's only queue), on the same lcore.
    ring_ = rte_ring_create(ring_name, ring_slots, static_cast<int>(rte_socket_id()),
                            RING_F_SP_ENQ | RING_F_SC_DEQ);
    if (ring_ == nullptr) {
        throw std::runtime_error(
            fmt::format("cannot create the capture's ring: {}", rte_strerror(rte_errno)));
    }
    int port = rte_eth_from_ring(ring_);
    if (port < 0) {
        rte_ring_free(ring_);
        throw std::runtime_error(
            fmt::format("cannot create the capture's port: {}", rte_strerror(rte_errno)));
    }
    port_ = static_cast<uint16_t>(port);
}

CaptureFeed::~CaptureFeed() {
    rte_mbuf* m;
    while (rte_ring_sc_dequeue(ring_, reinterpret_cast<void**>(&m)) == 0)
        rte_pktmbuf_free(m);
    rte_ring_free(ring_);
    // The port's device leaves the vdev bus too (rte_eth_from_ring named it after the ring), so
    // that a later feed in the same process (the tests') can create its own.
    rte_vdev_uninit(fmt::format("net_ring_{}", ring_name).c_str());
}

void CaptureFeed::attach(rte_mempool* pool, int timestamp_offset, uint64_t timestamp_flag,
                         WorkerCounters& counters) noexcept {
    pool_ = pool;
    timestamp_offset_ = timestamp_offset;
    timestamp_flag_ = timestamp_flag;
    counters_ = &counters;
}

void CaptureFeed::top_up(unsigned frames) noexcept {
    unsigned held = rte_ring_count(ring_);
    frames = std::min(frames, ring_slots - 1);
    if (held >= frames || records_left_ == 0) return;
    unsigned wanted = static_cast<unsigned>(std::min<uint64_t>(frames - held, records_left_));
    rte_mbuf* mbufs[ring_slots];
    if (rte_pktmbuf_alloc_bulk(pool_, mbufs, wanted) != 0) return;  // the next call tries again
    unsigned filled = 0;
    while (filled < wanted) {
        std::optional<PlainRecord> record = reader_.next(true);
        if (!record) {  // the file was cut short since the probe counted its records
            counters_->bump(WorkerCounter::capture_records_unread, records_left_);
            records_left_ = 0;
            break;
        }
        rte_mbuf* m = mbufs[filled];
        if (!fill(m, *record)) {
            reader_.put_back();
            break;
        }
        m->port = port_;
        *RTE_MBUF_DYNFIELD(m, timestamp_offset_, rte_mbuf_timestamp_t*) = record->time_ns;
        m->ol_flags |= timestamp_flag_;
        last_ns_ = record->time_ns;
        --records_left_;
        ++filled;
    }
    rte_ring_sp_enqueue_bulk(ring_, reinterpret_cast<void**>(mbufs), filled, nullptr);
    if (filled < wanted) rte_pktmbuf_free_bulk(mbufs + filled, wanted - filled);
}

bool CaptureFeed::fill(rte_mbuf* m, const PlainRecord& record) noexcept {
    const uint16_t room = rte_pktmbuf_tailroom(m);
    if (record.length <= room) {
        std::memcpy(rte_pktmbuf_mtod(m, uint8_t*), record.frame, record.length);
        m->data_len = static_cast<uint16_t>(record.length);
        m->pkt_len = record.length;
        return true;
    }
    // Longer than the room the pool was sized with (at most 2 KiB: a jumbo frame, or one a
    // capture taken with GRO holds): a chain, each segment full but the last.
    uint32_t copied = 0;
    rte_mbuf* last = nullptr;
    for (rte_mbuf* segment = m; copied < record.length;) {
        uint16_t piece = static_cast<uint16_t>(std::min<uint32_t>(record.length - copied, room));
        std::memcpy(rte_pktmbuf_mtod(segment, uint8_t*), record.frame + copied, piece);
        segment->data_len = piece;
        copied += piece;
        if (last != nullptr) {
            last->next = segment;
            ++m->nb_segs;
        }
        last = segment;
        if (copied == record.length) break;
        segment = rte_pktmbuf_alloc(pool_);
        if (segment == nullptr) {
            // Back to one empty segment: the caller frees it or fills it again later.
            if (m->next != nullptr) rte_pktmbuf_free(m->next);
            m->next = nullptr;
            m->nb_segs = 1;
            m->data_len = 0;
            return false;
        }
    }
    m->pkt_len = record.length;
    return true;
}

}  // namespace rstscope
