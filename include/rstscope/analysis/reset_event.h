// SPDX-License-Identifier: BSD-3-Clause
// The record a worker hands to management for each reset connection: fixed size, no pointers,
// no heap, copied by value through the event ring.
#pragma once

#include <cstdint>
#include <type_traits>

#include "rstscope/analysis/app_identity.h"
#include "rstscope/analysis/verdict.h"
#include "rstscope/common/endpoint.h"
#include "rstscope/decode/decoded_packet.h"

namespace rstscope {

// Zeek history: `^`, zeek_history_max_letters (32) letters and the NUL fit, rounded up to 8.
inline constexpr size_t history_capacity = 40;
inline constexpr size_t rst_payload_capacity = 64;
// Signatures an event carries: the last match in each data direction and the RST payload's.
inline constexpr size_t signature_hits_capacity = 3;

// A signature that matched before the reset (signature_scanner.h). `rule` is the rule's index + 1
// in the rule set, 0 for an unused entry.
struct SignatureHit {
    uint32_t before_rst_ms;
    uint8_t rule;
    uint8_t where;  // SignatureWhere::orig, resp or rst
    uint8_t padding[2];
};

// The tunnel(s) that carried the frame of the first RST, copied from its DecodedPacket (the
// mirror-source facts an operator needs on ERSPAN or VXLAN feeds). `types` 0: not tunnelled.
struct EventTunnel {
    IpAddress outer_src;  // the innermost tunnel's outer IP header, as the RST's frame had it
    IpAddress outer_dst;
    uint32_t id;  // DecodedPacket::tunnel_id: VNI, TEID, GRE key or PPTP call ID
    IpFamily outer_family;
    uint8_t types;     // as DecodedPacket::tunnels: outermost type high nibble, innermost low
    bool outer_known;  // false when the outer header lay too far back to be recorded
    uint8_t padding;

    TunnelType innermost() const noexcept { return static_cast<TunnelType>(types & 0x0F); }
    TunnelType outermost() const noexcept { return static_cast<TunnelType>(types >> 4); }
};
static_assert(sizeof(EventTunnel) == 40);

// Where the flight recorder wrote a reset's packets (flight_recorder.h): file flight-FILE.pcapng,
// the byte offset of its first packet block, how many packets and bytes of blocks; packets 0:
// none written.
struct PcapRef {
    uint64_t offset;
    uint32_t file;
    uint16_t packets;
    uint16_t bytes;  // at most 16 x (2048 + 76): fits
};

// A reset event in two parts. The core is what every event has and every reader of events uses;
// the extras are the four parts most events leave empty (no RST payload, no tunnel, no signature,
// no application known) yet are the larger half of the event. The worker's linger queue keeps
// the extras apart, written only for the events that have some, so a reset costs 208 bytes of
// queue rather than 456 (flow_tracker.h); so does management's storm window (storm_window.h). The
// ring between them carries whole events.
struct ResetEventCore {
    // The event's number in this run's log, from 1, given by management when it settles the event
    // (log order); 0 until then. Queries, the flight recorder and exports name an event by it.
    uint64_t id;
    uint64_t ts_ns;        // packet time of the first RST
    uint64_t first_ts_ns;  // packet time of the flow's first packet
    uint64_t last_ts_ns;   // packet time of the flow's latest packet when the event was written
    IpAddress orig_h;
    IpAddress resp_h;
    uint16_t orig_p;
    uint16_t resp_p;
    uint16_t vlan_outer;  // vlan_none when untagged
    uint16_t vlan_inner;
    IpFamily family;
    bool orig_guessed;
    bool rst_by_orig;
    ConnState conn_state;
    ResetCause cause;
    Confidence confidence;
    SeqCheck seq_check;
    uint8_t rst_ttl;
    uint8_t usual_ttl;  // 0 when the sender was not seen before the RST
    uint8_t mptcp_reset_reason;
    uint8_t rst_payload_length;  // bytes kept in ResetEventExtras::rst_payload
    uint8_t worker;
    RstOrigin rst_origin;
    uint8_t hops_from_endpoint;  // path RSTs: how many hops nearer than the endpoint; 0 unknown
    uint8_t reserved[2];
    uint32_t rst_count;
    uint32_t orig_pkts;
    uint32_t resp_pkts;
    uint32_t rst_seq;
    uint32_t rst_ack;
    uint32_t idle_before_ms;  // meaningful when evidence has idle_before
    uint64_t orig_bytes;
    uint64_t resp_bytes;
    EvidenceSet evidence;
    char history[history_capacity];  // NUL-terminated Zeek history letters
    // The worker's flight-recorder block holding this connection's packets (flight_store.h), 0:
    // none; management reads it and fills `pcap` when it settles the event.
    uint64_t flight_block;
    PcapRef pcap;
    // Microseconds from the first RST to the next RST of the same sender on this connection, seen
    // while the reset lingered (an injector's burst); 0: none came. A real 0 is written as 1.
    uint32_t rst_spacing_us;
    uint32_t reserved_tail;

    bool has(Evidence e) const noexcept { return evidence & evidence_bit(e); }
};
static_assert(sizeof(ResetEventCore) == 208);

// All zero (value-initialised) says none of the four is known.
struct ResetEventExtras {
    uint8_t rst_payload[rst_payload_capacity];  // ResetEventCore::rst_payload_length bytes
    EventTunnel tunnel;
    SignatureHit signatures[signature_hits_capacity];
    AppIdentity app;  // proto none: not known (or no signatures configured)
};
static_assert(sizeof(ResetEventExtras) == 248);

struct ResetEvent : ResetEventCore, ResetEventExtras {};
static_assert(sizeof(ResetEvent) == sizeof(ResetEventCore) + sizeof(ResetEventExtras));

// Extras that say nothing, for an event kept without its own.
inline const ResetEventExtras no_reset_event_extras{};

// Makes `whole` the event kept in two parts (the linger queue, the storm window's pool).
inline void assemble_event(ResetEvent& whole, const ResetEventCore& core,
                           const ResetEventExtras& extras) noexcept {
    static_cast<ResetEventCore&>(whole) = core;
    static_cast<ResetEventExtras&>(whole) = extras;
}

// Whether an event's extras hold anything an event's readers use: its RST payload, tunnel,
// signatures or application. Extras that say nothing may be kept as no_reset_event_extras.
inline bool has_extras(const ResetEvent& e) noexcept {
    bool any_signature = false;
    for (const SignatureHit& hit : e.signatures)
        any_signature |= hit.rule != 0;
    return e.rst_payload_length != 0 || e.tunnel.types != 0 || any_signature ||
           e.app.proto != AppProto::none;
}

static_assert(std::is_trivially_copyable_v<ResetEvent>);
static_assert(std::is_trivially_copyable_v<ResetEventCore>);
static_assert(sizeof(ResetEvent) % 8 == 0,
              "ring slots follow each other: 8-byte fields stay aligned");

}  // namespace rstscope
