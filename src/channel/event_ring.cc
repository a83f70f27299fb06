// SPDX-License-Identifier: BSD-3-Clause
#include "event_ring.h"

#include <rte_errno.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <stdexcept>

namespace rstscope {
namespace {

constexpr unsigned ring_flags = RING_F_SP_ENQ | RING_F_SC_DEQ | RING_F_EXACT_SZ;

// The bytes of a ring that holds `size` events: with RING_F_EXACT_SZ DPDK gives it the power
// of two above `size` slots, as rte_ring_create_elem would.
size_t ring_bytes(const std::string& name, uint32_t size) {
    if (size == 0 || size >= RTE_RING_SZ_MASK)
        throw std::runtime_error("cannot create event ring " + name + " of " +
                                 std::to_string(size) + " events");
    ssize_t bytes = rte_ring_get_memsize_elem(sizeof(ResetEvent), std::bit_ceil(size + 1));
    if (bytes < 0)
        throw std::runtime_error("cannot create event ring " + name + ": " +
                                 rte_strerror(static_cast<int>(-bytes)));
    return static_cast<size_t>(bytes);
}

}  // namespace

EventRing::EventRing(const std::string& name, uint32_t size, Paging paging)
    : memory_(ring_bytes(name, size), "the event ring", paging),
      ring_(reinterpret_cast<rte_ring*>(memory_.data())) {
    if (int rc = rte_ring_init(ring_, name.c_str(), size, ring_flags); rc != 0)
        throw std::runtime_error("cannot create event ring " + name + ": " + rte_strerror(-rc));
}

uint32_t EventRing::sp_enqueue(const ResetEvent* events, uint32_t count) noexcept {
    rte_ring_zc_data zone;
    uint32_t n =
        rte_ring_enqueue_zc_burst_elem_start(ring_, sizeof(ResetEvent), count, &zone, nullptr);
    if (n == 0) return 0;
    const uint32_t before_wrap = std::min(n, zone.n1);
    std::memcpy(zone.ptr1, events, size_t{before_wrap} * sizeof(ResetEvent));
    if (n > before_wrap)
        std::memcpy(zone.ptr2, events + before_wrap, size_t{n - before_wrap} * sizeof(ResetEvent));
    rte_ring_enqueue_zc_elem_finish(ring_, n);
    return n;
}

void EventRing::populate(uint64_t events) noexcept {
    // The slots follow the ring's header and are used from the first on, every one of them in
    // turn: with RING_F_EXACT_SZ the ring has the power of two above its capacity, up to twice
    // as many slots as it holds events at once. (Capped at the capacity, the populate left half
    // of a capture's ring to fault in on the worker: 1 824 page faults in the reset-heavy run's
    // flush.)
    memory_.populate(sizeof(rte_ring) +
                     std::min<uint64_t>(events, ring_->size) * sizeof(ResetEvent));
}

}  // namespace rstscope
