// SPDX-License-Identifier: BSD-3-Clause
// The packet pipeline as one object: ports, per-worker trackers, counters, event rings and
// dispatch rings, and the worker lcores running on them. Its destructor stops and joins the
// workers before anything they use is freed, so an exception anywhere after launch (a later
// launch failing, management failing to start) cannot free memory a worker still reads.
// Setup and teardown only, on the main lcore.
#pragma once

#include <memory>
#include <vector>

#include <rte_ring.h>

#include "../channel/worker_channel.h"
#include "../datapath/ports.h"
#include "../datapath/worker.h"
#include "rstscope/analysis/flow_tracker.h"
#include "rstscope/config/options.h"

namespace rstscope {

class CaptureClock;
class CaptureFeed;

// Each worker's counters, flow tracker and event ring. Their memory comes from the kernel, not
// from DPDK, so they can be built while EAL starts: populating the flow tables (a tenth of a
// second for 100 MiB here) then overlaps EAL's TSC calibration, which sleeps as long. The linger
// queues' and rings' slots a capture's resets will take are faulted in later, once the workers
// run (Pipeline::fault_in_expected_resets(); docs/performance.md).
struct WorkerTrackers {
    std::vector<std::unique_ptr<WorkerCounters>> counters;
    std::vector<std::unique_ptr<FlowTracker>> trackers;
    std::vector<std::unique_ptr<EventRing>> rings;
};

// One tracker and one ring of `event_ring_size` events per worker from `tracker` (worker ids
// 0..workers-1). Throws std::bad_alloc or std::runtime_error when memory cannot be had. Needs no
// EAL.
WorkerTrackers build_worker_trackers(const TrackerConfig& tracker, unsigned workers,
                                     uint32_t event_ring_size);

class Pipeline {
  public:
    // Sets up ports, pools and dispatch rings for `options` around the workers' `trackers` (one
    // per worker; throws std::runtime_error with a one-line reason). `settings` are every worker's
    // (the port plan is filled in here). A capture is read by `capture_feed` (its port created
    // already), or by net_pcap with `capture_clock` stamping the packet times; both null live.
    Pipeline(const Options& options, const TrackerConfig& tracker, WorkerTrackers trackers,
             RunControl& run, const WorkerSettings& settings, CaptureFeed* capture_feed,
             CaptureClock* capture_clock);
    ~Pipeline();
    Pipeline(const Pipeline&) = delete;
    Pipeline& operator=(const Pipeline&) = delete;

    // Starts one worker lcore per worker (throws when an lcore cannot be launched).
    void launch();
    // After launch(): faults in each worker's linger slots and event-ring slots for the resets a
    // capture is expected to bring (TrackerConfig::expected_resets), on the calling thread while
    // the workers run. They are used in order from the first, so this keeps ahead of a worker;
    // before the launch it held the worker back (and EAL, waiting on the same lock): a tenth to a
    // fifth of the time to a reset-heavy capture's launch (docs/performance.md).
    void fault_in_expected_resets() noexcept;
    // Waits for every launched worker to return.
    void join();

    // What management sees of each worker, in worker order.
    std::vector<WorkerChannel*> channels() const;

  private:
    RunControl& run_;
    PortPlan plan_;
    WorkerSettings settings_;
    bool ports_started_ = false;
    std::vector<std::unique_ptr<WorkerCounters>> counters_;
    std::vector<std::unique_ptr<FlowTracker>> trackers_;
    std::vector<std::unique_ptr<EventRing>> rings_;
    uint64_t expected_resets_;
    std::vector<std::unique_ptr<FlowMailbox>> flow_boxes_;
    std::vector<std::unique_ptr<Reassembler>> reassemblers_;
    std::vector<rte_ring*> dispatch_;
    std::vector<std::unique_ptr<WorkerContext>> contexts_;
    bool launched_ = false;
    bool joined_ = false;
};

}  // namespace rstscope
