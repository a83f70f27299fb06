// SPDX-License-Identifier: BSD-3-Clause
// The `flow` query's worker half: which flows of a table match a host, host:port or 5-tuple, and
// a copy of each match's live state, taken by the worker that owns the table (flow_table.h: no
// other thread may read it).
//
// Cost: a scan is resumable. Each call visits at most `slots_per_call` slots from where the
// previous call stopped, so a worker spends a bounded slice of time between bursts whatever the
// table's size (worst case per call: slots_per_call signature reads plus, per match, one 192-byte
// entry compared and copied), and a table smaller than the slice is scanned in one call. Nothing
// here allocates: the matches go to the caller's fixed array. It never runs per packet.
#pragma once

#include <cstddef>
#include <cstdint>

#include "rstscope/analysis/zeek_state.h"
#include "rstscope/common/endpoint.h"
#include "rstscope/flow/flow_entry.h"

namespace rstscope {

class FlowTable;

// At most this many flows per worker answer: the whole answer stays well under the control
// socket's per-client output bound (256 KiB) with up to 8 workers.
inline constexpr uint32_t flow_query_max_flows = 50;

// Which flows: a host on either side; with `port`, that host's port; with `peer`, the other side
// too (host:port <-> peer:peer_port: a 5-tuple, TCP implied). VLANs are not filtered on.
struct FlowFilter {
    IpAddress host{};
    IpFamily family = IpFamily::v4;
    uint16_t port = 0;  // 0: any port
    bool has_peer = false;
    IpAddress peer{};
    uint16_t peer_port = 0;  // 0: any port
};

bool flow_matches(const FlowKey& key, const FlowFilter& filter) noexcept;

// One side of a flow as the answer shows it.
struct FlowSideSnapshot {
    IpAddress address;
    uint16_t port;
    uint32_t packets;
    uint64_t payload_bytes;
    uint8_t ttl_first;  // TTL/hop limit of the side's first packet
    bool ttl_varied;    // a later non-RST packet came with another TTL
};

// A flow's live state, copied by the owning worker; trivially copyable, so it can cross a ring.
struct FlowSnapshot {
    FlowSideSnapshot orig;  // the originator as the tracker sees it (flow_bit::orig_is_hi)
    FlowSideSnapshot resp;
    IpFamily family;
    uint16_t vlan_outer;  // vlan_none: untagged
    uint16_t vlan_inner;
    uint64_t first_ns;
    uint64_t last_ns;
    ZeekTracking zeek;
    uint32_t rst_count;
    Lifecycle lifecycle;
};

FlowSnapshot snapshot_of(const FlowEntry& entry) noexcept;

// A scan in progress over one table.
class FlowScan {
  public:
    void start(const FlowFilter& filter) noexcept;
    bool active() const noexcept { return active_; }

    // Visits up to `slots_per_call` slots and copies matches into out[count..max). Returns true
    // when the scan has ended (every slot visited, or `max` matches found with more left: then
    // `cut` says the answer was cut).
    bool step(const FlowTable& table, uint32_t slots_per_call, FlowSnapshot* out, uint32_t& count,
              uint32_t max, bool& cut) noexcept;

  private:
    FlowFilter filter_{};
    uint32_t next_slot_ = 0;
    bool active_ = false;
};

}  // namespace rstscope
