// SPDX-License-Identifier: BSD-3-Clause
// ring_bench: what handing a reset event from a worker to management through its event ring costs
// (channel/event_ring.h), EAL-free: bursts of 64 events enqueued, then visited where they lie, N
// bursts (default 200 000) through a 4 096-slot ring. Two ways of copying into the slots: the
// ring's (EventRing::sp_enqueue, memcpy into the zero-copy zone) and rte_ring's own element copy
// (rte_ring_sp_enqueue_burst_elem on a ring made the same way), which moves an element of any size
// but 8 or 16 bytes four bytes at a time. Prints ns/event for each, best of five runs.
//
// usage: ring_bench [N]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "channel/event_ring.h"

using namespace rstscope;

namespace {

constexpr uint32_t ring_size = 4096;
constexpr uint32_t burst = 64;

// A ring as EventRing makes one, for rte_ring's own copy.
struct PlainRing {
    PlainRing() {
        ssize_t bytes = rte_ring_get_memsize_elem(sizeof(ResetEvent), ring_size * 2);
        if (bytes < 0) std::abort();
        memory.reset(static_cast<char*>(std::aligned_alloc(64, static_cast<size_t>(bytes))));
        ring = reinterpret_cast<rte_ring*>(memory.get());
        if (rte_ring_init(ring, "plain", ring_size,
                          RING_F_SP_ENQ | RING_F_SC_DEQ | RING_F_EXACT_SZ))
            std::abort();
    }
    struct Free {
        void operator()(char* p) const noexcept { std::free(p); }
    };
    std::unique_ptr<char, Free> memory;
    rte_ring* ring;
};

template <typename Enqueue>
double ns_per_event(uint64_t bursts, EventRing& consumer, Enqueue&& enqueue, uint64_t& sum) {
    double best = 1e30;
    for (int run = 0; run < 5; ++run) {
        auto t0 = std::chrono::steady_clock::now();
        for (uint64_t i = 0; i < bursts; ++i) {
            sum += enqueue();
            consumer.sc_consume(burst, [&](ResetEvent& e) { sum += e.orig_p; });
        }
        double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        best = std::min(best, s * 1e9 / static_cast<double>(bursts * burst));
    }
    return best;
}

}  // namespace

int main(int argc, char** argv) {
    const uint64_t bursts = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 200000;
    std::vector<ResetEvent> events(burst);
    for (uint32_t i = 0; i < burst; ++i) {
        events[i] = ResetEvent{};
        events[i].orig_p = static_cast<uint16_t>(i);
    }
    uint64_t sum = 0;
    EventRing ours("ring_bench", ring_size, Paging::up_front);
    const double memcpy_ns = ns_per_event(
        bursts, ours, [&] { return ours.sp_enqueue(events.data(), burst); }, sum);
    // The plain ring's events are visited where they lie, as EventRing::sc_consume visits them
    // (DPDK's zero-copy dequeue): only the enqueue's copy differs.
    PlainRing plain;
    uint64_t plain_sum = 0;
    double plain_ns = 1e30;
    for (int run = 0; run < 5; ++run) {
        auto t0 = std::chrono::steady_clock::now();
        for (uint64_t i = 0; i < bursts; ++i) {
            plain_sum += rte_ring_sp_enqueue_burst_elem(plain.ring, events.data(),
                                                        sizeof(ResetEvent), burst, nullptr);
            rte_ring_zc_data zone;
            uint32_t n = rte_ring_dequeue_zc_burst_elem_start(plain.ring, sizeof(ResetEvent), burst,
                                                              &zone, nullptr);
            for (uint32_t k = 0; k < n; ++k) {
                const auto* e = k < zone.n1
                                    ? static_cast<const ResetEvent*>(zone.ptr1) + k
                                    : static_cast<const ResetEvent*>(zone.ptr2) + (k - zone.n1);
                plain_sum += e->orig_p;
            }
            rte_ring_dequeue_zc_elem_finish(plain.ring, n);
        }
        double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        plain_ns = std::min(plain_ns, s * 1e9 / static_cast<double>(bursts * burst));
    }
    std::printf(
        "event_bytes=%zu burst=%u ring=%u events=%llu memcpy_ns_per_event=%.1f "
        "rte_ring_copy_ns_per_event=%.1f checksum_equal=%s\n",
        sizeof(ResetEvent), burst, ring_size, static_cast<unsigned long long>(bursts * burst),
        memcpy_ns, plain_ns, sum == plain_sum ? "yes" : "no");
    return sum == plain_sum ? 0 : 1;
}
