// SPDX-License-Identifier: BSD-3-Clause
// How a `flow` query reaches the worker that owns a table and comes back: a single-slot request
// and answer box per worker (an SP/SC ring of depth one in each direction), so that management
// never reads another core's table (flow_table.h) and never waits for a worker.
//
// Threads: management is the only one to call post() and answer(); the owning worker the only one
// to call serve(), once per poll between bursts, never per packet. Sequence numbers carry the
// hand-over: a request is published by `requested` (release) and taken by the worker (`taken`,
// release) before management may write the next one, so the filter is never written while the
// worker copies it; an answer is published by `answered` (release) and read by management only
// when it carries the number management is waiting for. A worker that has not taken the previous
// request (stalled, or between runs) gets no new one: post() returns false and management reports
// the worker as not answering. serve() allocates nothing, locks nothing, and visits at most
// `slots_per_serve` slots per call (flow_query.h gives the cost), so a query over a large table
// spreads over several polls.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <span>

#include "rstscope/flow/flow_query.h"
#include "rstscope/flow/flow_table.h"

namespace rstscope {

class FlowMailbox {
  public:
    // Slots visited per serve(): 4096 signatures (16 KiB read) and at most 50 entries copied, a
    // few microseconds; a table of 2^20 slots answers within 256 polls.
    static constexpr uint32_t slots_per_serve = 4096;

    // Management: asks for the flows matching `filter`; returns the request's number, or 0 when
    // the worker has not yet taken the previous request.
    uint64_t post(const FlowFilter& filter) noexcept {
        uint64_t last = requested_.load(std::memory_order_relaxed);
        if (taken_.load(std::memory_order_acquire) != last) return 0;
        filter_ = filter;
        requested_.store(last + 1, std::memory_order_release);
        return last + 1;
    }

    // Management: true once the answer to request `number` is in; `flows`/`cut` then stay valid
    // until the next post().
    bool answered(uint64_t number) const noexcept {
        return answered_.load(std::memory_order_acquire) == number;
    }
    std::span<const FlowSnapshot> flows() const noexcept { return {answer_.data(), count_}; }
    bool cut() const noexcept { return cut_; }

    // The owning worker, once per poll: takes a new request, or continues the current scan.
    void serve(const FlowTable& table) noexcept {
        uint64_t wanted = requested_.load(std::memory_order_acquire);
        if (wanted != serving_) {
            // A new request; one not yet finished is dropped (management no longer waits for it).
            scan_.start(filter_);
            serving_ = wanted;
            count_ = 0;
            cut_ = false;
            taken_.store(wanted, std::memory_order_release);
        }
        if (!scan_.active()) return;
        if (scan_.step(table, slots_per_serve, answer_.data(), count_, flow_query_max_flows, cut_))
            answered_.store(serving_, std::memory_order_release);
    }

  private:
    // Management's side.
    alignas(64) std::atomic<uint64_t> requested_{0};
    FlowFilter filter_{};
    // The worker's side.
    alignas(64) std::atomic<uint64_t> taken_{0};
    std::atomic<uint64_t> answered_{0};
    uint64_t serving_ = 0;
    FlowScan scan_;
    uint32_t count_ = 0;
    bool cut_ = false;
    std::array<FlowSnapshot, flow_query_max_flows> answer_{};
};

}  // namespace rstscope
