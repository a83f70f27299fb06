// SPDX-License-Identifier: BSD-3-Clause
// One tracked TCP connection. Layout is deliberate (256 bytes, four cache lines):
//   line 0: key, generation and times — all a lookup and the expiry sweep touch;
//   line 1: per-direction state — sequence/ack/window/TTL/IP-ID, what the verdict needs;
//   lines 2-3: Zeek's endpoint states, numbers and history letters (84 B: ZeekTracking) and the
//   reset bookkeeping. The fourth line came with Zeek's sequence-based sizes and repeated history
//   letters (issue 11, items 3 and 4): 64 B per flow.
// A segment in the middle of a connection reads or writes all four lines (the Zeek numbers and
// states in line 2, the gaps, flags and record timer in line 3): 165 bytes of it, more than a
// 128-byte entry holds (docs/performance.md, "What a 128-byte flow entry would need").
// Everything the reset verdict needs lives here; nothing that only one event needs (payload text,
// the draft verdict) does: that waits in the linger queue instead (flow_tracker.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "rstscope/analysis/zeek_state.h"
#include "rstscope/common/endpoint.h"

namespace rstscope {

// Canonical 5-tuple plus VLANs: the lower (address, port) endpoint first, so both directions of a
// connection produce the same key and hash.
struct FlowKey {
    IpAddress addr_lo;
    IpAddress addr_hi;
    uint16_t port_lo;
    uint16_t port_hi;
    uint16_t vlan_outer;
    uint16_t vlan_inner;
    IpFamily family;
    uint8_t padding[3];  // kept zero: keys compare bytewise

    // Inline word compare: a lookup compares keys on every signature hit.
    friend bool operator==(const FlowKey& a, const FlowKey& b) noexcept {
        const auto* x = reinterpret_cast<const unsigned char*>(&a);
        const auto* y = reinterpret_cast<const unsigned char*>(&b);
        uint64_t difference = 0;
        for (size_t i = 0; i < 40; i += 8) {
            uint64_t u, v;
            std::memcpy(&u, x + i, 8);
            std::memcpy(&v, y + i, 8);
            difference |= u ^ v;
        }
        uint32_t u, v;
        std::memcpy(&u, x + 40, 4);
        std::memcpy(&v, y + 40, 4);
        return (difference | (u ^ v)) == 0;
    }
};
static_assert(sizeof(FlowKey) == 44);

// Bits of DirectionState::bits.
namespace direction_bit {
inline constexpr uint8_t seq_known = 0x01;
inline constexpr uint8_t ack_known = 0x02;
inline constexpr uint8_t ttl_varied = 0x04;     // TTL changed between non-RST packets
inline constexpr uint8_t zero_window = 0x08;    // advertised a zero window at least once
inline constexpr uint8_t retransmitted = 0x10;  // sent payload already sent before
inline constexpr uint8_t sent_fin = 0x20;
inline constexpr uint8_t window_known = 0x80;
}  // namespace direction_bit

// What one side of the connection has sent, as the monitor saw it.
struct DirectionState {
    uint64_t payload_bytes;  // payload on the wire (RST payload excluded: it is not stream data)
    uint32_t pkts;
    uint32_t seq_next;  // highest sequence number sent plus its length: the next expected
    uint32_t ack_last;  // highest acknowledgment sent: the peer's bytes it has received
    uint16_t window;    // last raw (unscaled) window advertised
    uint16_t ip_id_last;
    uint8_t window_scale;  // from this side's SYN, tcp_wscale_absent when none
    uint8_t ttl_usual;     // TTL/hop limit of this side's first packet
    uint8_t bits;          // direction_bit::*
    uint8_t ip_id_steps;   // consecutive small positive IP-ID increments (a counter-based sender)
    uint32_t record_seq;   // sequence number of this side's first packet in the Zeek record
};
static_assert(sizeof(DirectionState) == 32);

enum class Lifecycle : uint8_t { half_open, established, closed };

// Bits of FlowEntry::record_bits: the Zeek connection record inside the flow (flow_tracker.h).
namespace record_bit {
inline constexpr uint8_t seq_known_lo = 0x01;  // side[0].record_seq is set
inline constexpr uint8_t seq_known_hi = 0x02;  // side[1].record_seq is set
inline constexpr uint8_t attempt = 0x04;       // record_timer_ms: the originator's first SYN
inline constexpr uint8_t closed = 0x08;        // record_timer_ms: the last complete close
inline constexpr uint8_t half_closed = 0x10;   // record_timer_ms: a close the peer did not finish
}  // namespace record_bit

// Bits of FlowEntry::flags.
namespace flow_bit {
inline constexpr uint8_t orig_is_hi = 0x01;  // the originator is the key's hi endpoint
inline constexpr uint8_t orig_guessed = 0x02;
inline constexpr uint8_t started_with_rst = 0x04;  // the first packet seen was a RST
inline constexpr uint8_t event_pending = 0x08;     // a reset event waits in the linger queue
inline constexpr uint8_t event_done = 0x10;        // this connection's reset event was written
inline constexpr uint8_t synack_seen = 0x20;
inline constexpr uint8_t handshake_acked = 0x40;  // the originator acknowledged the SYN-ACK
inline constexpr uint8_t orig_syn_seen = 0x80;
}  // namespace flow_bit

struct alignas(64) FlowEntry {
    // line 0
    FlowKey key;
    uint32_t generation;  // bumped on every reuse of the slot: stale references detect it
    uint64_t first_ts_ns;
    uint64_t last_ts_ns;
    // line 1
    DirectionState side[2];  // [0] = key's lo endpoint, [1] = hi
    // lines 2-3
    ZeekTracking zeek;
    uint32_t orig_syn_seq;     // the originator's ISN, to check a refusal's acknowledgment
    uint32_t last_gap_ms;      // silence before the latest packet
    uint32_t previous_gap_ms;  // silence before the packet before it
    // Linger-queue slot while flow_bit::event_pending (the queue holds at most 2^24), sharing a
    // word with the record bits to make room for flight_last.
    uint32_t pending_slot : 24;
    uint32_t record_bits : 8;  // record_bit::*
    // The flight recorder's latest record of this flow (flight_store.h); 0: none.
    uint32_t flight_last;
    // The last signature matched in each data direction ([0] orig, [1] resp): rule index + 1 (0:
    // none) and when, in ms after first_ts_ns. Held in what was padding: no byte added per flow.
    uint32_t signature_at_ms[2];
    uint16_t rst_count;  // RSTs seen, stopping at 65535
    uint8_t signature_rule[2];
    uint8_t flags;  // flow_bit::*
    Lifecycle lifecycle;
    bool was_established;  // reached established once (closing does not undo it)
    uint8_t app_bits;      // app_bit::*: where the application parsers stand (flow_tracker.h)
    // The Zeek record in progress (flow_tracker.h): when it started and the time its timers run
    // from, in ms after first_ts_ns. Held in what was padding: no byte added per flow.
    uint32_t record_start_ms;
    uint32_t record_timer_ms;

    DirectionState& orig() noexcept { return side[(flags & flow_bit::orig_is_hi) ? 1 : 0]; }
    DirectionState& resp() noexcept { return side[(flags & flow_bit::orig_is_hi) ? 0 : 1]; }
    bool has(uint8_t bit) const noexcept { return flags & bit; }
};
static_assert(sizeof(FlowEntry) == 256, "four cache lines: see the layout note above");

}  // namespace rstscope
