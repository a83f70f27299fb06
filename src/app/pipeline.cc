// SPDX-License-Identifier: BSD-3-Clause
#include "pipeline.h"

#include <rte_launch.h>
#include <rte_lcore.h>

#include <stdexcept>

#include <fmt/format.h>

#include "../capture/capture_probe.h"
#include "rstscope/config/duration.h"
#include "rstscope/datapath/burst.h"

namespace rstscope {

WorkerTrackers build_worker_trackers(const TrackerConfig& tracker, unsigned workers,
                                     uint32_t event_ring_size) {
    WorkerTrackers built;
    for (unsigned w = 0; w < workers; ++w) {
        TrackerConfig config = tracker;
        config.worker_id = static_cast<uint8_t>(w);
        built.counters.push_back(std::make_unique<WorkerCounters>());
        built.trackers.push_back(std::make_unique<FlowTracker>(config, *built.counters.back()));
        built.rings.push_back(std::make_unique<EventRing>(fmt::format("rstscope_events_{}", w),
                                                          event_ring_size, tracker.paging));
    }
    return built;
}

Pipeline::Pipeline(const Options& options, const TrackerConfig& tracker, WorkerTrackers trackers,
                   RunControl& run, const WorkerSettings& settings, CaptureFeed* capture_feed,
                   CaptureClock* capture_clock)
    : run_(run),
      settings_(settings),
      counters_(std::move(trackers.counters)),
      trackers_(std::move(trackers.trackers)),
      rings_(std::move(trackers.rings)),
      expected_resets_(tracker.expected_resets) {
    if (trackers_.size() != options.workers || rings_.size() != options.workers)
        throw std::logic_error("one flow tracker and event ring per worker expected");
    if (rte_lcore_count() < options.workers + 1) {
        throw std::runtime_error(
            fmt::format("{} lcores available, need {} ({} workers + management)", rte_lcore_count(),
                        options.workers + 1, options.workers));
    }
    ports_started_ = true;  // setup_ports may start some ports before it throws
    plan_ = setup_ports(options);
    if (plan_.timestamp_offset < 0)
        throw std::runtime_error("cannot register the mbuf timestamp field");
    settings_.plan = &plan_;

    const unsigned n = options.workers;
    // Dispatch rings: every packet travels on them when the ports cannot spread flows (software
    // dispatch); with hardware RSS only reassembled datagrams do, whose fragments the device
    // spread by their addresses alone. Their producers publish in relaxed-tail-sync mode, so
    // that a producer preempted mid-enqueue stalls none of the others (ports.cc, mbuf_pool_ops).
    const bool reassembly = options.frag_datagrams > 0 && options.mode != Mode::inline_forward;
    const bool rings = plan_.needs_dispatch || (n > 1 && reassembly);
    for (unsigned w = 0; w < n; ++w) {
        if (rings) {
            rte_ring* r = rte_ring_create(fmt::format("rstscope_dispatch_{}", w).c_str(),
                                          dispatch_ring_size, static_cast<int>(rte_socket_id()),
                                          RING_F_MP_RTS_ENQ | RING_F_SC_DEQ);
            if (!r) throw std::runtime_error("cannot create dispatch ring");
            dispatch_.push_back(r);
        }
    }
    for (unsigned w = 0; w < n; ++w) {
        auto ctx = std::make_unique<WorkerContext>();
        ctx->id = w;
        ctx->worker_count = n;
        ctx->burst = options.burst;
        ctx->run = &run_;
        ctx->settings = &settings_;
        ctx->tracker = trackers_[w].get();
        ctx->channel.counters = counters_[w].get();
        ctx->channel.signatures = trackers_[w]->signature_scanner();
        ctx->channel.evidence = trackers_[w]->evidence();
        ctx->channel.connections = trackers_[w]->connections();
        ctx->channel.events = rings_[w].get();
        flow_boxes_.push_back(std::make_unique<FlowMailbox>());
        ctx->channel.flows = flow_boxes_.back().get();
        ctx->pool = plan_.pools[w];
        ctx->dispatch = dispatch_;
        ctx->dispatch_all = plan_.needs_dispatch;
        // Inline mode forwards every frame as it came: fragments stay fragments there.
        if (reassembly) {
            ReassemblyConfig frag{.datagrams = reassembly_datagrams_for_pool(options.frag_datagrams,
                                                                             plan_.pools[w]->size),
                                  .bucket_entries = options.frag_bucket_entries,
                                  .timeout_ns = seconds_to_ns(options.frag_timeout_s)};
            if (frag.datagrams > 0) {
                reassemblers_.push_back(std::make_unique<Reassembler>(
                    frag, *counters_[w], static_cast<int>(rte_socket_id())));
                ctx->reassembler = reassemblers_.back().get();
            }
        }
        // Every worker may meet a chain: a datagram reassembled by any worker, or a frame longer
        // than an mbuf's room (the capture feed and net_pcap chain those: a capture's pool is
        // sized to the frames the probe counted, at most 2 KiB, and its jumbo frames are longer).
        // Without reassembly its pages are taken only when such a frame comes.
        ctx->linear = FixedArray<uint8_t>(size_t{BurstPath::max_burst} * linear_slot,
                                          "the decode scratch for chained frames",
                                          reassembly ? tracker.paging : Paging::on_use);
        if (!plan_.queues_of_worker[w].empty()) {
            ++run_.readers;
            // A capture's port has one queue: its reader's frames carry their times.
            if (run_.capture) {
                ctx->capture_feed = capture_feed;
                ctx->capture_clock = capture_clock;
                if (capture_feed)
                    capture_feed->attach(plan_.pools[w], plan_.timestamp_offset,
                                         plan_.timestamp_flag, *counters_[w]);
            }
        }
        contexts_.push_back(std::move(ctx));
    }
}

void Pipeline::launch() {
    launched_ = true;  // from here the destructor must join whatever was started
    unsigned launched = 0;
    unsigned lcore;
    RTE_LCORE_FOREACH_WORKER(lcore) {
        if (launched == contexts_.size()) break;
        if (rte_eal_remote_launch(worker_main, contexts_[launched].get(), lcore) != 0)
            throw std::runtime_error(fmt::format("cannot launch a worker on lcore {}", lcore));
        ++launched;
    }
}

void Pipeline::fault_in_expected_resets() noexcept {
    for (size_t w = 0; w < trackers_.size(); ++w) {
        trackers_[w]->fault_in_expected_resets();
        // Every reset the worker meets passes through its ring once, at its linger's end.
        rings_[w]->populate(expected_resets_);
    }
}

void Pipeline::join() {
    if (!launched_ || joined_) return;
    rte_eal_mp_wait_lcore();
    joined_ = true;
}

Pipeline::~Pipeline() {
    if (launched_ && !joined_) {
        // An error path: nobody drains the rings any more, so workers must not wait for them.
        run_.stop.store(true);
        run_.abandon.store(true);
        join();
    }
    contexts_.clear();
    reassemblers_.clear();  // returns the fragments they hold to the pools, before the ports go
    for (rte_ring* r : dispatch_)
        rte_ring_free(r);
    rings_.clear();
    trackers_.clear();
    if (ports_started_) stop_ports();
}

std::vector<WorkerChannel*> Pipeline::channels() const {
    std::vector<WorkerChannel*> channels;
    for (const auto& c : contexts_)
        channels.push_back(&c->channel);
    return channels;
}

}  // namespace rstscope
