// SPDX-License-Identifier: BSD-3-Clause
#include "rstscope/flow/flow_query.h"

#include "rstscope/flow/flow_table.h"

namespace rstscope {
namespace {

bool endpoint_is(const IpAddress& address, uint16_t port, const IpAddress& wanted,
                 uint16_t wanted_port) noexcept {
    return address == wanted && (wanted_port == 0 || port == wanted_port);
}

FlowSideSnapshot side_of(const FlowKey& key, const DirectionState& side, bool hi) noexcept {
    return {hi ? key.addr_hi : key.addr_lo,
            hi ? key.port_hi : key.port_lo,
            side.pkts,
            side.payload_bytes,
            side.ttl_usual,
            (side.bits & direction_bit::ttl_varied) != 0};
}

}  // namespace

bool flow_matches(const FlowKey& key, const FlowFilter& filter) noexcept {
    if (key.family != filter.family) return false;
    bool host_lo = endpoint_is(key.addr_lo, key.port_lo, filter.host, filter.port);
    bool host_hi = endpoint_is(key.addr_hi, key.port_hi, filter.host, filter.port);
    if (!filter.has_peer) return host_lo || host_hi;
    return (host_lo && endpoint_is(key.addr_hi, key.port_hi, filter.peer, filter.peer_port)) ||
           (host_hi && endpoint_is(key.addr_lo, key.port_lo, filter.peer, filter.peer_port));
}

FlowSnapshot snapshot_of(const FlowEntry& entry) noexcept {
    const bool orig_hi = entry.has(flow_bit::orig_is_hi);
    const FlowKey& key = entry.key;
    return {side_of(key, entry.side[orig_hi ? 1 : 0], orig_hi),
            side_of(key, entry.side[orig_hi ? 0 : 1], !orig_hi),
            key.family,
            key.vlan_outer,
            key.vlan_inner,
            entry.first_ts_ns,
            entry.last_ts_ns,
            entry.zeek,
            entry.rst_count,
            entry.lifecycle};
}

void FlowScan::start(const FlowFilter& filter) noexcept {
    filter_ = filter;
    next_slot_ = 0;
    active_ = true;
}

bool FlowScan::step(const FlowTable& table, uint32_t slots_per_call, FlowSnapshot* out,
                    uint32_t& count, uint32_t max, bool& cut) noexcept {
    if (!active_) return true;
    const uint32_t slots = table.capacity();
    uint32_t end = slots - next_slot_ > slots_per_call ? next_slot_ + slots_per_call : slots;
    for (uint32_t slot = next_slot_; slot < end; ++slot) {
        if (!table.occupied(slot) || !flow_matches(table.entry(slot).key, filter_)) continue;
        if (count == max) {
            cut = true;
            active_ = false;
            return true;
        }
        out[count++] = snapshot_of(table.entry(slot));
    }
    next_slot_ = end;
    if (end == slots) active_ = false;
    return !active_;
}

}  // namespace rstscope
