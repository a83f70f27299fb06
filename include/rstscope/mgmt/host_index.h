// SPDX-License-Identifier: BSD-3-Clause
// A fixed-capacity map from a host (binary address and family, and for a server its port) to a
// small integer id, for the management lcore's bounded tables (the top-hosts sketches, the
// RST-storm window). Management thread
// only. Everything is allocated by the constructor; find, insert and erase never allocate.
//
// Layout: the keys in an array indexed by id with each key's home slot beside it (so erase's
// backward shift never hashes a key again), and an open-addressing table (linear probing, at
// most a quarter full, backward-shift deletion, so no tombstones pile up under churn) of ids. A
// quarter, not half: the top-hosts sketches miss and evict on almost every event of a scan or a
// reset-heavy capture, and the shorter probe runs cut mgmt_bench by 138 instructions an event for
// 4 more bytes per id (docs/performance.md, issue 9). The hash
// is seeded per instance from std::random_device, so a flood of addresses chosen to collide in one
// process cannot be precomputed: a probe stays O(1) on average whatever the traffic.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "rstscope/analysis/reset_event.h"
#include "rstscope/common/endpoint.h"

namespace rstscope {

struct HostKey {
    IpAddress address;
    IpFamily family;
    uint16_t port = 0;  // a server's port; 0: the host alone

    // The host that sent the event's RST.
    static HostKey resetter_of(const ResetEvent& event) noexcept {
        return {event.rst_by_orig ? event.orig_h : event.resp_h, event.family};
    }
    // The responder and its port: the service whose connections were reset.
    static HostKey server_of(const ResetEvent& event) noexcept {
        return {event.resp_h, event.family, event.resp_p};
    }
    // The originator, whichever side reset.
    static HostKey client_of(const ResetEvent& event) noexcept {
        return {event.orig_h, event.family};
    }
    friend bool operator==(const HostKey& x, const HostKey& y) noexcept {
        return x.family == y.family && x.port == y.port && x.address == y.address;
    }
};

// The address as text (dotted quad or RFC 5952), with ":port" (IPv6: "[addr]:port") when the key
// has a port: formatted only when asked, never per event.
std::string host_text(const HostKey& key);

class HostIndex {
  public:
    static constexpr uint32_t none = UINT32_MAX;

    // Ids run from 0 to capacity - 1 (at least 1); the caller hands them out.
    explicit HostIndex(uint32_t capacity);

    // Where `key`'s probe starts: hashed once, for a find and the insert that follows it.
    size_t home(const HostKey& key) const noexcept;
    // The id of `key`, or `none`.
    uint32_t find(const HostKey& key) const noexcept { return find(key, home(key)); }
    uint32_t find(const HostKey& key, size_t home) const noexcept;
    // Binds `key`, which must be absent, to `id`, which must be unbound.
    void insert(const HostKey& key, uint32_t id) noexcept { insert(key, id, home(key)); }
    void insert(const HostKey& key, uint32_t id, size_t home) noexcept;
    // Unbinds `id`, which must be bound.
    void erase(uint32_t id) noexcept;
    const HostKey& key(uint32_t id) const noexcept { return keys_[id]; }

    uint32_t capacity() const noexcept { return static_cast<uint32_t>(keys_.size()); }
    // Bytes held (exactly memory_for(capacity)).
    size_t memory_bytes() const noexcept;
    static size_t memory_for(uint32_t capacity) noexcept;

  private:
    static size_t table_size_for(uint32_t capacity) noexcept;

    std::vector<HostKey> keys_;    // by id
    std::vector<uint32_t> homes_;  // by id: home(keys_[id])
    std::vector<uint32_t> table_;  // ids; `none` marks an empty slot
    size_t mask_;
    uint64_t seeds_[4];
};

}  // namespace rstscope
