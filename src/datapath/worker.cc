// SPDX-License-Identifier: BSD-3-Clause
// Hot path: the poll loop below allocates nothing, takes no lock and logs nothing; anomalies are
// counted in the worker's own WorkerCounters. On live traffic it makes no system call (the wall
// clock, read every 100 ms to keep packet time true, is a vDSO call with a TSC clocksource).
// Reading a capture is the exception, by nature: the capture feed (or net_pcap and CaptureClock)
// reads the file, and the reader checks each poll whether every record has arrived
// (docs/architecture.md); a capture's worker with nothing to do yields its CPU (wait_a_moment).
//
// The burst itself (decode, track, hand over) is BurstPath (include/rstscope/datapath/burst.h);
// this file is its DPDK shell: mbufs, the dispatch rings, the event ring, forwarding and time.
#include "worker.h"

#include <sched.h>

#include <algorithm>
#include <array>
#include <ctime>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_pause.h>

#include "mbuf_release.h"
#include "rstscope/common/live_clock.h"
#include "rstscope/common/monotonic_clock.h"
#include "rstscope/datapath/burst.h"

namespace rstscope {
namespace {

// Pending resets given their verdict per try at the end of the input, between hand-overs.
constexpr uint32_t flush_batch = 256;
// Live time is re-anchored to CLOCK_REALTIME this often (docs/architecture.md, "Time"): with a
// TSC rate off by 5600 ppm (measured on a VM) the first period drifts 0.56 ms, later ones by
// the rate's residual error only.
constexpr uint64_t reanchor_period_ns = 100'000'000;

uint64_t wall_clock_ns() noexcept {
    return clock_ns(CLOCK_REALTIME);
}

// A worker with nothing to do for now (no packet, no room in a ring it must wait for). Live
// traffic keeps polling: a packet must not wait for a scheduler. A capture has no line rate, and
// its lcores may share CPUs with each other, with management and with the log's writer: there the
// CPU goes to whoever has work (three workers on this project's two CPUs read the mixed capture in
// 0.57 s instead of 0.92, docs/performance.md).
void wait_a_moment(const RunControl& run) noexcept {
    if (run.capture)
        sched_yield();
    else
        rte_pause();
}

// The event ring as BurstPath's sink: a capture, and every worker at shutdown, waits for room
// until the shutdown deadline (`abandon`).
class EventRingSink {
  public:
    EventRingSink(EventRing& ring, const RunControl& run) noexcept : ring_(ring), run_(run) {}
    uint32_t enqueue(const ResetEvent* events, uint32_t count) noexcept {
        return ring_.sp_enqueue(events, count);
    }
    bool abandoned() const noexcept { return run_.abandon.load(std::memory_order_relaxed); }
    void pause() const noexcept { wait_a_moment(run_); }

  private:
    EventRing& ring_;
    const RunControl& run_;
};

class WorkerLoop {
  public:
    explicit WorkerLoop(WorkerContext& ctx) noexcept
        : ctx_(ctx),
          run_(*ctx.run),
          settings_(*ctx.settings),
          path_(*ctx.tracker, *ctx.channel.counters),
          events_(*ctx.channel.events, *ctx.run) {
        clock_.start(settings_.tsc_start, settings_.wall_start_ns, settings_.tsc_hz);
        anchored_ticks_ = settings_.tsc_start;
        reanchor_ticks_ = settings_.tsc_hz / (1'000'000'000ull / reanchor_period_ns);
    }

    void run() noexcept {
        const auto& queues = settings_.plan->queues_of_worker[ctx_.id];
        bool input_done = queues.empty();
        uint64_t received = 0;
        // Packets flow from here: management reports the run ready once every reader says so.
        if (!input_done) run_.readers_polling.fetch_add(1, std::memory_order_release);
        for (;;) {
            uint32_t got = 0;
            if (!input_done && run_.stop.load(std::memory_order_relaxed)) finish_input(input_done);
            if (!input_done) {
                for (const RxQueueRef& q : queues) {
                    if (run_.capture && !ctx_.dispatch.empty() && !pool_has_room()) break;
                    if (ctx_.capture_feed) ctx_.capture_feed->top_up(ctx_.burst);
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
            keep_time_true();
            uint64_t now = now_ns();
            path_.advance(now);
            if (ctx_.reassembler) ctx_.reassembler->expire(now);
            path_.hand_over(events_, run_.capture);
            publish_progress(now);
            // Between bursts, never per packet: a bounded slice of a `flow` query, if one waits.
            if (ctx_.channel.flows) ctx_.channel.flows->serve(ctx_.tracker->table());
            if (run_.capture && !input_done && capture_exhausted(received))
                finish_input(input_done);
            // Input ends for everyone at once: a worker fed by dispatch stays until every reader
            // is done and its own dispatch ring is empty, so no packet is left in a ring.
            if (got == 0 && run_.readers_done.load(std::memory_order_acquire) == run_.readers &&
                (ctx_.dispatch.empty() || rte_ring_empty(ctx_.dispatch[ctx_.id])))
                break;
            if (got == 0) wait_a_moment(run_);
        }
        // Datagrams still missing fragments will not get them: dropped and counted.
        if (ctx_.reassembler) ctx_.reassembler->expire_all();
        // End of input or shutdown: every reset still lingering gets its verdict now, and waits
        // for ring space until management has taken it or the shutdown deadline has passed.
        path_.flush(events_, flush_batch, ctx_.channel.progress_ns);
    }

  private:
    // One burst of mbufs as BurstPath's Frames: what stays with this worker is compacted to the
    // front of the array (`kept`), to be freed or forwarded after the burst.
    class MbufBurst {
      public:
        MbufBurst(WorkerLoop& loop, rte_mbuf** mbufs, bool from_port) noexcept
            : loop_(loop),
              mbufs_(mbufs),
              from_port_(from_port),
              // One clock read per burst, not per packet: live packets of a burst share their
              // time (they arrived within microseconds); captures carry their own.
              burst_now_(loop.now_ns()),
              // What every packet of the burst asks of the worker's set-up, read once: each is
              // a chain of loads that the packet loop would repeat (about ten instructions a
              // packet).
              capture_clock_(loop.ctx_.capture_clock),
              sole_worker_(loop.ctx_.dispatch.empty()),
              stamped_flag_(loop.run_.capture ? loop.settings_.plan->timestamp_flag : 0),
              stamp_offset_(loop.settings_.plan->timestamp_offset) {}

        bool arriving() const noexcept { return from_port_; }
        void prefetch(uint32_t i) const noexcept {
            rte_prefetch0(rte_pktmbuf_mtod(mbufs_[i], void*));
        }
        void arrived(uint32_t i) const noexcept {
            if (capture_clock_) loop_.stamp(mbufs_[i], capture_clock_->next_ns());
        }
        // A chain is a reassembled datagram or a frame longer than an mbuf's room (receive
        // queues do not scatter; the capture feed and net_pcap chain such frames): the decoder,
        // the signatures and the flight recorder read it copied whole into this position's slot.
        const uint8_t* data(uint32_t i) const noexcept {
            const rte_mbuf* m = mbufs_[i];
            if (likely(m->nb_segs == 1)) return rte_pktmbuf_mtod(m, const uint8_t*);
            return static_cast<const uint8_t*>(rte_pktmbuf_read(
                m, 0, data_length(i), loop_.ctx_.linear.data() + size_t{i} * linear_slot));
        }
        uint32_t data_length(uint32_t i) const noexcept {
            const rte_mbuf* m = mbufs_[i];
            if (likely(m->nb_segs == 1)) return rte_pktmbuf_data_len(m);
            return std::min(rte_pktmbuf_pkt_len(m), linear_slot);
        }
        FragmentFate reassemble(uint32_t i, const DecodeResult& r) noexcept {
            Reassembler* reassembler = loop_.ctx_.reassembler;
            if (reassembler == nullptr) return FragmentFate::not_taken;
            uint64_t t = time_ns(i);
            rte_mbuf* datagram = reassembler->take(mbufs_[i], r, t);
            if (datagram == nullptr) return FragmentFate::held;
            // The datagram is timed by the fragment that completed it, as Zeek does; its mbuf
            // is the first fragment's, which a capture stamped with that fragment's time.
            if (loop_.run_.capture) loop_.stamp(datagram, t);
            mbufs_[i] = datagram;
            return FragmentFate::datagram;
        }
        uint32_t packet_length(uint32_t i) const noexcept { return rte_pktmbuf_pkt_len(mbufs_[i]); }
        bool stays(uint32_t i, const DecodedPacket& p) const noexcept {
            if (sole_worker_) return true;
            unsigned owner;
            if (loop_.ctx_.dispatch_all) {
                owner = loop_.owner_of(p);
            } else {
                // Hardware RSS placed every whole segment; a chain is a reassembled datagram,
                // whose fragments the device spread by their addresses alone.
                if (likely(mbufs_[i]->nb_segs == 1)) return true;
                owner = loop_.rss_owner(mbufs_[i]->port, p);
            }
            if (owner == loop_.ctx_.id) return true;
            loop_.hold_for(mbufs_[i], owner);
            return false;
        }
        // A capture's frames carry their record's time (stamped by the capture feed, the
        // capture clock or reassembly); live frames take the burst's.
        uint64_t time_ns(uint32_t i) const noexcept {
            const rte_mbuf* m = mbufs_[i];
            if (m->ol_flags & stamped_flag_)
                return *RTE_MBUF_DYNFIELD(m, stamp_offset_, const rte_mbuf_timestamp_t*);
            return burst_now_;
        }
        void keep(uint32_t i) noexcept { mbufs_[kept_++] = mbufs_[i]; }
        uint32_t kept() const noexcept { return kept_; }

      private:
        WorkerLoop& loop_;
        rte_mbuf** mbufs_;
        const bool from_port_;
        const uint64_t burst_now_;
        CaptureClock* const capture_clock_;
        const bool sole_worker_;
        const uint64_t stamped_flag_;  // 0 for live traffic: no frame counts as stamped
        const int stamp_offset_;
        uint32_t kept_ = 0;
    };

    void handle(rte_mbuf** mbufs, uint32_t count, bool from_port) noexcept {
        MbufBurst burst(*this, mbufs, from_port);
        path_.track(settings_.link, burst, count);
        dispatch_held();
        path_.hand_over(events_, run_.capture);
        if (settings_.inline_mode) {
            forward(mbufs, burst.kept());
        } else {
            release_received(mbufs, burst.kept());
        }
    }

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
        return clock_.now_ns(rte_rdtsc());
    }

    // Live: once per period the TSC-based clock is re-anchored on the wall clock (LiveClock).
    void keep_time_true() noexcept {
        if (run_.capture) return;
        uint64_t ticks = rte_rdtsc();
        if (ticks - anchored_ticks_ < reanchor_ticks_) return;
        clock_.reanchor(ticks, wall_clock_ns(), reanchor_period_ns);
        anchored_ticks_ = ticks;
    }

    // The port returns nothing once the file is read; the probe's record count says when that
    // is. A record that could not be had (gone from the file; net_pcap's ierrors, or rx_nombuf
    // should the pool ever run dry) is counted as a loss and included, so the run always ends.
    bool capture_exhausted(uint64_t received) const noexcept {
        if (received >= run_.capture_packets) return true;
        uint64_t lost = 0;
        rte_eth_stats stats;
        if (ctx_.capture_feed)
            lost = ctx_.channel.counters->get(WorkerCounter::capture_records_unread);
        else if (rte_eth_stats_get(0, &stats) == 0)
            lost = stats.ierrors + stats.rx_nombuf;
        return received + lost >= run_.capture_packets;
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
                rte_eth_tx_burst(settings_.plan->tx_peer[in_port], static_cast<uint16_t>(ctx_.id),
                                 mbufs + start, run_length);
            if (sent < run_length) {
                ctx_.channel.counters->bump(WorkerCounter::tx_dropped, run_length - sent);
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
            if (ctx_.capture_feed)
                run_.capture_now_ns.store(ctx_.capture_feed->last_ns(), std::memory_order_relaxed);
            else if (ctx_.capture_clock)
                run_.capture_now_ns.store(ctx_.capture_clock->last_ns(), std::memory_order_relaxed);
            bool idle = !ctx_.tracker->has_pending() &&
                        (ctx_.dispatch.empty() || rte_ring_empty(ctx_.dispatch[ctx_.id]));
            if (idle)
                progress = std::max(progress, run_.capture_now_ns.load(std::memory_order_relaxed));
        }
        ctx_.channel.progress_ns.store(progress, std::memory_order_release);
    }

    void stamp(rte_mbuf* m, uint64_t ts_ns) const noexcept {
        const PortPlan& plan = *settings_.plan;
        *RTE_MBUF_DYNFIELD(m, plan.timestamp_offset, rte_mbuf_timestamp_t*) = ts_ns;
        m->ol_flags |= plan.timestamp_flag;
    }

    // A frame for another worker waits with the others of its burst for that worker, and all
    // go at the burst's end in one enqueue (one synchronisation of the ring a burst, not a frame),
    // in their order: a flow's frames all go to one owner.
    void hold_for(rte_mbuf* m, unsigned owner) noexcept { held_[owner][held_count_[owner]++] = m; }

    // Live traffic cannot wait for a peer worker: what its ring does not take is dropped and
    // counted. A capture waits, so N workers see exactly the packets one worker would.
    void dispatch_held() noexcept {
        for (unsigned owner = 0; owner < ctx_.dispatch.size(); ++owner) {
            const unsigned count = held_count_[owner];
            if (count == 0) continue;
            held_count_[owner] = 0;
            rte_ring* ring = ctx_.dispatch[owner];
            rte_mbuf** held = held_[owner].data();
            // The ring's own mode (relaxed tail sync, pipeline.cc), which the mp_ calls would
            // bypass.
            unsigned sent =
                rte_ring_enqueue_burst(ring, reinterpret_cast<void**>(held), count, nullptr);
            while (sent < count && run_.capture && !run_.abandon.load(std::memory_order_relaxed)) {
                wait_a_moment(run_);
                sent += rte_ring_enqueue_burst(ring, reinterpret_cast<void**>(held + sent),
                                               count - sent, nullptr);
            }
            if (sent < count) {
                ctx_.channel.counters->bump(WorkerCounter::dispatch_ring_full, count - sent);
                rte_pktmbuf_free_bulk(held + sent, count - sent);
            }
        }
    }

    // With hardware RSS: the worker whose queue (queue q is worker q) the device gives the flow.
    unsigned rss_owner(uint16_t port, const DecodedPacket& p) const noexcept {
        const PortPlan& plan = *settings_.plan;
        if (port >= plan.rss.size() || plan.rss[port].reta.empty()) return ctx_.id;
        unsigned queue = rss_queue(plan.rss[port], p, plan.rss_key);
        return queue < ctx_.worker_count ? queue : ctx_.id;
    }

    // The owner comes from the hash bits the flow table leaves to it, so each worker's flows
    // still spread over all of its table's buckets (FlowTable::owner_of).
    unsigned owner_of(const DecodedPacket& p) const noexcept {
        bool src_is_lo;
        return FlowTable::owner_of(FlowTable::hash(ctx_.tracker->key_of(p, src_is_lo)),
                                   ctx_.worker_count);
    }

    WorkerContext& ctx_;
    RunControl& run_;
    const WorkerSettings& settings_;
    BurstPath path_;
    EventRingSink events_;
    LiveClock clock_;
    uint64_t anchored_ticks_ = 0;
    // Frames of this burst for each other worker (dispatch_held).
    std::array<std::array<rte_mbuf*, BurstPath::max_burst>, max_workers> held_;
    std::array<uint32_t, max_workers> held_count_{};
    uint64_t reanchor_ticks_ = 0;
    rte_mbuf* mbufs_[BurstPath::max_burst];
};

}  // namespace

int worker_main(void* arg) {
    auto& ctx = *static_cast<WorkerContext*>(arg);
    WorkerLoop loop(ctx);
    loop.run();
    ctx.channel.finished.store(true, std::memory_order_release);
    // The flow table is the run's largest region, and nothing reads it after the flush. Its pages
    // are freed here, on this worker's CPU while management writes the run's last events, rather
    // than on management's thread after them, where a capture's end waits for it.
    ctx.tracker->release_flow_table();
    return 0;
}

}  // namespace rstscope
