// SPDX-License-Identifier: BSD-3-Clause
// Connections per service and window, the worker's half of the rst_storm share
// (docs/findings.md, "rst_storm"): each worker counts the connections it sees start (a new flow,
// or a new Zeek record on a reused 4-tuple; not a flow whose first packet is a RST) toward each
// server:port and each farm prefix:port, in the findings window their first packet falls in.
// Management sums the workers' counts for a window once every worker's progress has passed its
// end, for the services it has storm candidates for, and the findings engine judges the share
// of their connections that were reset.
//
// The structure: per worker, `slots` copies of a count-min sketch (Cormode and Muthukrishnan
// 2005) of `depth` rows x `width` 32-bit counters, one copy per window, chosen by the window's
// number modulo `slots` (slots >= 2 + the linger and window lag, so management reads a window
// before the worker comes back to its copy). A key's count is the smallest of its `depth`
// counters: never below the truth, above it by at most e / width of the window's connections
// (both keys of each connection counted: 2 x the connections) with probability 1 - e^-depth
// (98 % for 4 rows). Counters of all workers are summed cell by cell before the minimum, so the
// estimate is the same however the flows are spread over workers: identical with 1 or N workers.
// Memory per worker: slots x depth x width x 4 bytes + 64 per slot (128 KiB at 4 slots).
//
// Thread contract: one writer, the worker (count(), from the flow tracker, only when a
// connection starts: no per-packet cost); one reader, management (add_cells()). A copy is
// guarded by its window stamp (a seqlock): the worker marks it busy, clears it and stamps the
// new window when its first connection of a window comes; management reads a copy's counters
// between two loads of the stamp and knows the window is lost when the stamp moved past it (the
// worker raced `slots` windows ahead: counted by management, the share is then unknown). A
// packet older than the window its copy now holds is not counted (late(): a capture out of time
// order). No lock, no allocation after construction, no system call.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "rstscope/common/endpoint.h"

namespace rstscope {

// The key of a service: `address` masked to `prefix_length` bits (0: the whole address, a
// server), its family and port. The same hash on both sides (worker and findings engine).
uint64_t connection_key_hash(const IpAddress& address, IpFamily family, uint16_t port,
                             uint8_t prefix_length) noexcept;

class ConnectionWindows {
  public:
    static constexpr unsigned depth = 4;
    static constexpr unsigned width = 2048;  // a power of two: 11 bits of hash per row
    static constexpr uint32_t min_slots = 4;
    static constexpr uint32_t max_slots = 64;

    // `window_ns`: the findings window (windows are aligned on multiples of it, as the engine's);
    // `slots` is rounded up to a power of two within [min_slots, max_slots].
    ConnectionWindows(uint64_t window_ns, uint32_t slots);

    // The slots a worker needs so that management, which reads a window once every worker's
    // progress less the linger has passed its end, reads it before the worker reuses its copy.
    static uint32_t slots_for(uint64_t window_ns, uint64_t linger_ns) noexcept;

    // Worker: a connection toward `server`:`port` started at `ts_ns`; `farm_prefix_length` the
    // farm prefix (24 for IPv4, 64 for IPv6) its second key is counted under.
    void count(uint64_t ts_ns, const IpAddress& server, IpFamily family, uint16_t port,
               uint8_t farm_prefix_length) noexcept;

    // Management: adds this worker's counters of `key_hash` in window number `window` (its start
    // / window_ns) to `cells`. False when the copy no longer holds that window (overwritten by a
    // later one); a window the worker never reached adds nothing and is true (no connection).
    bool add_cells(uint64_t window, uint64_t key_hash, uint64_t (&cells)[depth]) const noexcept;

    uint64_t late() const noexcept { return late_.load(std::memory_order_relaxed); }
    uint64_t window_ns() const noexcept { return window_ns_; }
    uint32_t slots() const noexcept { return slots_; }
    size_t memory_bytes() const noexcept { return size_t{slots_} * sizeof(Slot); }

  private:
    struct alignas(64) Slot {
        // window + 1 of the counters held; 0: none yet; busy: being cleared.
        std::atomic<uint64_t> stamp{0};
        std::atomic<uint32_t> cells[depth][width];
    };
    static constexpr uint64_t busy = UINT64_MAX;

    Slot& slot_for(uint64_t window) noexcept;
    void bump(Slot& s, uint64_t hash) noexcept;

    uint64_t window_ns_;
    uint32_t slots_;
    std::unique_ptr<Slot[]> slot_;
    uint64_t current_ = 0;  // worker: the newest window stamped (+1), 0 none
    std::atomic<uint64_t> late_{0};
};

}  // namespace rstscope
