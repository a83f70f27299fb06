// SPDX-License-Identifier: BSD-3-Clause
#include "event_ring.h"

#include <rte_errno.h>

#include <algorithm>
#include <bit>
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

void EventRing::populate(uint64_t events) noexcept {
    // The slots follow the ring's header and are used from the first on.
    memory_.populate(sizeof(rte_ring) +
                     std::min<uint64_t>(events, capacity()) * sizeof(ResetEvent));
}

}  // namespace rstscope
