#include "capture_sizes.h"

#include <algorithm>
#include <bit>

namespace rstscope {
namespace {

// The smallest pool DPDK's per-lcore mbuf cache (256) allows; 2^q - 1 is a mempool's best size.
constexpr uint64_t min_capture_mbufs = 1023;

}  // namespace

CaptureSizes sizes_for_capture(const Options& o, uint64_t packets) {
    CaptureSizes sizes;
    // Two slots per packet a worker may see: under 50 % load even if every packet opened a flow
    // (an RST flood), where the two-choice table practically never evicts.
    uint64_t per_worker = 2 * packets / o.workers;
    sizes.flow_capacity = static_cast<uint32_t>(
        std::min<uint64_t>(o.flow_table_size, std::bit_ceil(std::max<uint64_t>(1024, per_worker))));
    sizes.linger_capacity = static_cast<uint32_t>(
        std::min<uint64_t>(o.linger_capacity, std::max<uint64_t>(16, packets)));
    // A pool larger than the capture is never drawn on beyond the capture's packets, yet DPDK
    // writes every mbuf's header when it creates the pool (8191 mbufs: 19 MiB, a third of a small
    // run's time).
    sizes.mbufs = static_cast<unsigned>(
        std::min<uint64_t>(o.mbufs, std::max<uint64_t>(min_capture_mbufs, packets)));
    // One more than the capture's packets: every reset event needs a packet, so the window never
    // fills and never judges an event early, exactly as with the configured bounds. The storm
    // window zeroes its pool when built (the defaults: 31 MiB).
    uint64_t storm_bound = packets + 1;
    sizes.storm_max_pending =
        static_cast<uint32_t>(std::min<uint64_t>(o.storm_max_pending, storm_bound));
    sizes.storm_max_hosts =
        static_cast<uint32_t>(std::min<uint64_t>(o.storm_max_hosts, storm_bound));
    return sizes;
}

}  // namespace rstscope
