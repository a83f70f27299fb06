// SPDX-License-Identifier: BSD-3-Clause
#include "event_ring.h"

#include <rte_errno.h>

#include <stdexcept>

namespace rstscope {

EventRing::EventRing(const std::string& name, uint32_t size, int socket) {
    ring_ = rte_ring_create_elem(name.c_str(), sizeof(ResetEvent), size, socket,
                                 RING_F_SP_ENQ | RING_F_SC_DEQ | RING_F_EXACT_SZ);
    if (ring_ == nullptr) {
        throw std::runtime_error("cannot create event ring " + name + ": " +
                                 rte_strerror(rte_errno));
    }
}

EventRing::~EventRing() {
    rte_ring_free(ring_);
}

}  // namespace rstscope
