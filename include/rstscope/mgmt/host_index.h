// SPDX-License-Identifier: BSD-3-Clause
// HostIndex: a fixed-capacity map from a host (binary address and family, and for a server its
// port) to a small integer id, for the management lcore's bounded tables (the top-hosts sketches,
// the RST-storm window): an IdIndex (id_index.h) at most a quarter full. A quarter, not half: the
// top-hosts sketches miss and evict on almost every event of a scan or a reset-heavy capture, and
// the shorter probe runs cut mgmt_bench by 138 instructions an event for 4 more bytes per id
// (docs/performance.md, issue 9). The hash is seeded per instance from std::random_device, so a
// flood of addresses chosen to collide in one process cannot be precomputed: a probe stays O(1)
// on average whatever the traffic.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "rstscope/analysis/reset_event.h"
#include "rstscope/common/endpoint.h"
#include "rstscope/mgmt/id_index.h"

namespace rstscope {

struct HostKey {
    IpAddress address;
    IpFamily family;
    uint16_t port = 0;  // a server's port; 0: the host alone

    // The host that sent the event's RST.
    static HostKey resetter_of(const ResetEventCore& event) noexcept {
        return {event.rst_by_orig ? event.orig_h : event.resp_h, event.family};
    }
    // The responder and its port: the service whose connections were reset.
    static HostKey server_of(const ResetEventCore& event) noexcept {
        return {event.resp_h, event.family, event.resp_p};
    }
    // The originator, whichever side reset.
    static HostKey client_of(const ResetEventCore& event) noexcept {
        return {event.orig_h, event.family};
    }
    friend bool operator==(const HostKey& x, const HostKey& y) noexcept {
        return x.family == y.family && x.port == y.port && x.address == y.address;
    }
};

// The address as text (dotted quad or RFC 5952), with ":port" (IPv6: "[addr]:port") when the key
// has a port: formatted only when asked, never per event.
std::string host_text(const HostKey& key);

// Three 64-bit words hashed by two folded multiplies by secret seeds (the construction of
// wyhash), seeded per instance from std::random_device: the keyed hash of management's indexes
// (HostHash; the findings engine's keys), so a flood of keys chosen to collide in one process
// cannot be precomputed and a probe stays O(1) on average whatever the traffic.
class SeededHash {
  public:
    SeededHash();
    uint64_t operator()(uint64_t a, uint64_t b, uint64_t c) const noexcept {
        return fold_multiply(fold_multiply(a ^ seeds_[0], b ^ seeds_[1]) ^ c ^ seeds_[2],
                             seeds_[3]);
    }

  private:
    // The two halves of the 128-bit product, xored: every bit of either factor reaches the high
    // half.
    static uint64_t fold_multiply(uint64_t a, uint64_t b) noexcept {
        unsigned __int128 product = static_cast<unsigned __int128>(a) * b;
        return static_cast<uint64_t>(product) ^ static_cast<uint64_t>(product >> 64);
    }

    uint64_t seeds_[4];
};

// 67 instructions an event fewer in mgmt_bench than two MurmurHash3 finalisers when an event
// hashed four keys (the storm window's and the three top-host sketches'); the resetters' sketch now
// reuses the window's hash (StormWindow::Judged::resetter_hash).
class HostHash {
  public:
    uint64_t operator()(const HostKey& key) const noexcept {
        uint64_t low, high;
        std::memcpy(&low, key.address.bytes, 8);
        std::memcpy(&high, key.address.bytes + 8, 8);
        low ^= static_cast<uint64_t>(key.family) << 56 ^ static_cast<uint64_t>(key.port) << 40;
        return hash_(low, high, 0);
    }

  private:
    SeededHash hash_;
};

using HostIndex = IdIndex<HostKey, HostHash, 4>;

}  // namespace rstscope
