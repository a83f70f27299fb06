// SPDX-License-Identifier: BSD-3-Clause
// Per-worker ring of ResetEvents to the management lcore: an rte_ring of fixed-size elements,
// single producer (the worker) and single consumer (management). A full ring never blocks the
// worker: the events that did not fit are counted as events_ring_full.
//
// The ring lives in memory of its own (fixed_memory.h), not in DPDK's heap: its pages are taken
// up front for live traffic and as the ring first fills for a capture, and DPDK's heap, which
// zeroes what it frees, would write every page of a ring a capture never filled at exit. Nor does
// it need EAL (rte_ring_init on that memory): the rings are made while EAL starts (pipeline.h).
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include <rte_ring.h>
#include <rte_ring_elem.h>
#include <rte_ring_peek_zc.h>

#include "rstscope/analysis/reset_event.h"
#include "rstscope/common/fixed_memory.h"

namespace rstscope {

class EventRing {
  public:
    // Setup: room for `size` events; throws std::runtime_error when it cannot be made.
    EventRing(const std::string& name, uint32_t size, Paging paging);
    // Setup: faults in the slots the first `events` events will take (FixedMemory::populate()).
    void populate(uint64_t events) noexcept;
    EventRing(const EventRing&) = delete;
    EventRing& operator=(const EventRing&) = delete;

    // Worker lcore only. Returns how many were enqueued. The events are copied into their slots
    // with memcpy (DPDK's zero-copy enqueue): rte_ring's own copy moves an element of any size
    // but 8 or 16 bytes four bytes at a time: 24 ns an event handed over and visited that way, 12
    // ns this way (tools/bench/ring_bench on this VM).
    // A call (one a burst of events), not inlined: inlined, it changed GCC's link-time inlining
    // of the packet path, and FlowTracker::process_one took 9.6 instructions a packet more
    // (worker_bench under callgrind: 190.13 M against 188.21 M before; as a call, 188.65 M).
    [[gnu::noinline]] uint32_t sp_enqueue(const ResetEvent* events, uint32_t count) noexcept;
    // Management lcore only: takes up to `most` events, calling visit(ResetEvent&) on each where
    // it lies in the ring, oldest first, and returns how many. The slots are the worker's again
    // only once every visit has returned, so an event is read (and may be amended) in place
    // instead of copied out first (456 bytes an event: 76 instructions, and a burst buffer's worth
    // of cache).
    // `ahead(const ResetEvent&)`, when given, is shown each event `lookahead` visits before its
    // own: where to start bringing in what its visit will need.
    template <typename Visit>
    uint32_t sc_consume(uint32_t most, Visit&& visit) {
        return sc_consume(
            most, visit, [](const ResetEvent&) {}, 0);
    }
    template <typename Visit, typename Ahead>
    uint32_t sc_consume(uint32_t most, Visit&& visit, Ahead&& ahead, uint32_t lookahead) {
        rte_ring_zc_data zone;
        uint32_t n =
            rte_ring_dequeue_zc_burst_elem_start(ring_, sizeof(ResetEvent), most, &zone, nullptr);
        if (n == 0) return 0;
        // The slots visited go back to the worker, the one whose visit threw included: none is
        // visited twice, and none left unvisited is lost.
        struct Taken {
            rte_ring* ring;
            uint32_t visited = 0;
            ~Taken() { rte_ring_dequeue_zc_elem_finish(ring, visited); }
        } taken{ring_};
        auto* first = static_cast<ResetEvent*>(zone.ptr1);
        auto* wrapped = static_cast<ResetEvent*>(zone.ptr2);  // past the ring's end, from its start
        auto at = [&](uint32_t k) -> ResetEvent& {
            return k < zone.n1 ? first[k] : wrapped[k - zone.n1];
        };
        while (taken.visited < n) {
            uint32_t k = taken.visited++;
            if (lookahead != 0 && k + lookahead < n) ahead(std::as_const(at(k + lookahead)));
            visit(at(k));
        }
        return n;
    }
    uint32_t count() const noexcept { return rte_ring_count(ring_); }
    uint32_t capacity() const noexcept { return rte_ring_get_capacity(ring_); }

  private:
    FixedMemory memory_;
    rte_ring* ring_;
};

}  // namespace rstscope
