// Hot path: the poll loop below allocates nothing, takes no lock and logs nothing; anomalies are
// counted in the worker's own WorkerCounters. On live traffic it makes no system call. Reading a
// capture is the exception, by nature: the vdev and CaptureClock read the file (libpcap), and the
// reader asks the port's statistics each poll until every record has arrived
// (docs/architecture.md).
#include "worker.h"

#include <algorithm>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_pause.h>

namespace rstscope {
namespace {

constexpr uint32_t max_burst = 64;
constexpr uint32_t flush_batch = 256;

class WorkerLoop {
  public:
    explicit WorkerLoop(WorkerContext& ctx) noexcept : ctx_(ctx), run_(*ctx.run) {}

    void run() noexcept {
        const auto& queues = run_.plan->queues_of_worker[ctx_.id];
        bool input_done = queues.empty();
        uint64_t received = 0;
        for (;;) {
            uint32_t got = 0;
            if (!input_done && run_.stop.load(std::memory_order_relaxed)) finish_input(input_done);
            if (!input_done) {
                for (const RxQueueRef& q : queues) {
                    if (run_.capture && !ctx_.dispatch.empty() && !pool_has_room()) break;
                    uint16_t n = rte_eth_rx_burst(q.port, q.queue, mbufs_,
                                                  static_cast<uint16_t>(ctx_.burst));
                    if (n) handle(mbufs_, n, true);
                    got += n;
                    received += n;
                }
            }
            if (!ctx_.dispatch.empty()) {
                unsigned n = rte_ring_sc_dequeue_burst(
                    ctx_.dispatch[ctx_.id], reinterpret_cast<void**>(mbufs_), ctx_.burst, nullptr);
                if (n) handle(mbufs_, n, false);
                got += n;
            }
            uint64_t now = now_ns();
            ctx_.tracker->advance(now);
            hand_over_events(run_.capture);
            publish_progress(now);
            if (run_.capture && !input_done && capture_exhausted(received))
                finish_input(input_done);
            // Input ends for everyone at once: a worker fed by dispatch stays until every reader
            // is done and its own dispatch ring is empty, so no packet is left in a ring.
            if (got == 0 && run_.readers_done.load(std::memory_order_acquire) == run_.readers &&
                (ctx_.dispatch.empty() || rte_ring_empty(ctx_.dispatch[ctx_.id])))
                break;
            if (got == 0) rte_pause();
        }
        // End of input or shutdown: every reset still lingering gets its verdict now, and waits
        // for ring space until management has taken it or the shutdown deadline has passed.
        while (!ctx_.tracker->flush_pending(flush_batch))
            hand_over_events(true);
        hand_over_events(true);
    }

  private:
    void finish_input(bool& input_done) noexcept {
        input_done = true;
        run_.readers_done.fetch_add(1, std::memory_order_release);
    }

    // A capture's reader takes a burst only when its pool can supply it: the vdev drops a record
    // it has no mbuf for, and the mbufs it lends to other workers come back only as fast as
    // those workers get through their dispatch rings. A shared capture's pool has no per-lcore
    // caches (ports.cc), so its count is exact and only grows until this lcore allocates.
    bool pool_has_room() const noexcept { return rte_mempool_avail_count(ctx_.pool) >= ctx_.burst; }

    uint64_t now_ns() const noexcept {
        if (run_.capture) return ctx_.tracker->now_ns();
        uint64_t ticks = rte_rdtsc() - run_.tsc_start;
        return run_.wall_start_ns + static_cast<uint64_t>(static_cast<double>(ticks) * 1e9 /
                                                          static_cast<double>(run_.tsc_hz));
    }

    // The pcap vdev returns nothing once the file is read; the probe's record count says when
    // that is. A record the vdev could not take (ierrors, or rx_nombuf should the pool ever run
    // dry) is counted as a loss and included, so the run always ends.
    bool capture_exhausted(uint64_t received) const noexcept {
        if (received >= run_.capture_packets) return true;
        rte_eth_stats stats;
        uint64_t lost = 0;
        if (rte_eth_stats_get(0, &stats) == 0) lost = stats.ierrors + stats.rx_nombuf;
        return received + lost >= run_.capture_packets;
    }

    uint64_t packet_time(const rte_mbuf* m, uint64_t burst_now) const noexcept {
        const PortPlan& plan = *run_.plan;
        if (run_.capture && (m->ol_flags & plan.timestamp_flag)) {
            return *RTE_MBUF_DYNFIELD(m, plan.timestamp_offset, const rte_mbuf_timestamp_t*);
        }
        return burst_now;
    }

    // Inline: every packet leaves by the peer of the port it came in on (mbuf->port), in runs of
    // the same port; what the peer does not take is freed and counted.
    void forward(rte_mbuf** mbufs, uint32_t count) noexcept {
        uint32_t start = 0;
        while (start < count) {
            uint16_t in_port = mbufs[start]->port;
            uint32_t end = start + 1;
            while (end < count && mbufs[end]->port == in_port)
                ++end;
            uint16_t run_length = static_cast<uint16_t>(end - start);
            uint16_t sent =
                rte_eth_tx_burst(run_.plan->tx_peer[in_port], static_cast<uint16_t>(ctx_.id),
                                 mbufs + start, run_length);
            if (sent < run_length) {
                ctx_.counters->bump(WorkerCounter::tx_dropped, run_length - sent);
                rte_pktmbuf_free_bulk(mbufs + start + sent, run_length - sent);
            }
            start = end;
        }
    }

    // A worker with nothing waiting and nothing queued for it can vouch for the capture's current
    // time, not only for the packets it happened to get: otherwise one quiet worker would hold
    // back every storm verdict.
    void publish_progress(uint64_t now) noexcept {
        uint64_t progress = now;
        if (run_.capture) {
            if (ctx_.capture_clock)
                run_.capture_now_ns.store(ctx_.capture_clock->last_ns(), std::memory_order_relaxed);
            bool idle = !ctx_.tracker->has_pending() &&
                        (ctx_.dispatch.empty() || rte_ring_empty(ctx_.dispatch[ctx_.id]));
            if (idle)
                progress = std::max(progress, run_.capture_now_ns.load(std::memory_order_relaxed));
        }
        ctx_.progress_ns.store(progress, std::memory_order_release);
    }

    void stamp(rte_mbuf* m, uint64_t ts_ns) const noexcept {
        const PortPlan& plan = *run_.plan;
        *RTE_MBUF_DYNFIELD(m, plan.timestamp_offset, rte_mbuf_timestamp_t*) = ts_ns;
        m->ol_flags |= plan.timestamp_flag;
    }

    void handle(rte_mbuf** mbufs, uint32_t count, bool from_port) noexcept {
        WorkerCounters& counters = *ctx_.counters;
        uint32_t tcp = 0;
        uint32_t keep = 0;  // mbufs that stay with this worker (the others were dispatched)
        // One clock read per burst, not per packet: live packets of a burst share their time
        // (they arrived within microseconds); captures carry their own.
        const uint64_t burst_now = now_ns();
        uint64_t bytes = 0;
        for (uint32_t i = 0; i < count; ++i) {
            rte_mbuf* m = mbufs[i];
            if (i + 1 < count) rte_prefetch0(rte_pktmbuf_mtod(mbufs[i + 1], void*));
            if (from_port) {
                bytes += rte_pktmbuf_pkt_len(m);
                if (ctx_.capture_clock) stamp(m, ctx_.capture_clock->next_ns());
            }
            DecodedPacket& p = packets_[tcp];
            // Headers sit in the first segment; a chained jumbo's later payload is not needed.
            DecodeResult r = decode_frame(run_.link, rte_pktmbuf_mtod(m, const uint8_t*),
                                          rte_pktmbuf_data_len(m), p);
            if (!r.is_tcp) {
                counters.drop(r.reason);
                mbufs[keep++] = m;
                continue;
            }
            if (from_port && !ctx_.dispatch.empty()) {
                unsigned owner = owner_of(p);
                if (owner != ctx_.id) {
                    dispatch(m, owner);
                    continue;
                }
            }
            p.ts_ns = packet_time(m, burst_now);
            ++tcp;
            mbufs[keep++] = m;
        }
        if (from_port) {
            counters.bump(WorkerCounter::packets, count);
            counters.bump(WorkerCounter::bytes, bytes);
        }
        ctx_.tracker->process_burst(packets_, tcp);
        hand_over_events(run_.capture);
        if (run_.inline_mode) {
            forward(mbufs, keep);
        } else {
            rte_pktmbuf_free_bulk(mbufs, keep);
        }
    }

    // Live traffic cannot wait for a peer worker: what its ring does not take is dropped and
    // counted. A capture waits, so N workers see exactly the packets one worker would.
    void dispatch(rte_mbuf* m, unsigned owner) noexcept {
        rte_ring* ring = ctx_.dispatch[owner];
        int rc = rte_ring_mp_enqueue(ring, m);
        while (rc != 0 && run_.capture && !run_.abandon.load(std::memory_order_relaxed)) {
            rte_pause();
            rc = rte_ring_mp_enqueue(ring, m);
        }
        if (rc != 0) {
            ctx_.counters->bump(WorkerCounter::dispatch_ring_full);
            rte_pktmbuf_free(m);
        }
    }

    // The owner comes from the hash bits the flow table leaves to it, so each worker's flows
    // still spread over all of its table's buckets (FlowTable::owner_of).
    unsigned owner_of(const DecodedPacket& p) const noexcept {
        bool src_is_lo;
        return FlowTable::owner_of(FlowTable::hash(flow_key_of(p, src_is_lo)), ctx_.worker_count);
    }

    // Live traffic cannot wait: what the ring does not take is dropped and counted
    // (events_ring_full). A capture, and every worker at shutdown, waits until management has made
    // room, so neither offline analysis nor a stop loses an event; only the shutdown deadline
    // (`abandon`) ends the wait, and what is left then is counted as events_lost_shutdown.
    void hand_over_events(bool may_wait) noexcept {
        FlowTracker& tracker = *ctx_.tracker;
        uint32_t count = tracker.event_count();
        if (count == 0) return;
        uint32_t queued = ctx_.events->sp_enqueue(tracker.events(), count);
        while (may_wait && queued < count && !run_.abandon.load(std::memory_order_relaxed)) {
            rte_pause();
            queued += ctx_.events->sp_enqueue(tracker.events() + queued, count - queued);
        }
        ctx_.counters->bump(WorkerCounter::events_emitted, queued);
        if (queued < count) {
            bool abandoned = run_.abandon.load(std::memory_order_relaxed);
            ctx_.counters->bump(
                abandoned ? WorkerCounter::events_lost_shutdown : WorkerCounter::events_ring_full,
                count - queued);
        }
        tracker.clear_events();
    }

    WorkerContext& ctx_;
    RunControl& run_;
    rte_mbuf* mbufs_[max_burst];
    DecodedPacket packets_[max_burst];
};

}  // namespace

int worker_main(void* arg) {
    auto& ctx = *static_cast<WorkerContext*>(arg);
    WorkerLoop loop(ctx);
    loop.run();
    ctx.finished.store(true, std::memory_order_release);
    return 0;
}

}  // namespace rstscope
