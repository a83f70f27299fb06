// SPDX-License-Identifier: BSD-3-Clause
// Zeek-compatible TCP connection state: the per-endpoint state machine of Zeek's TCP analyzer
// (TCPSessionAdapter::UpdateStateMachine), the conn.log `conn_state` it derives
// (base/protocols/conn/main.zeek) and the `history` letters (update_history and the
// ScaledHistoryEntry counters). rstscope reports these so its verdicts can be joined with, and
// checked against, Zeek logs of the same traffic.
//
// Hot path: zeek_track() is noexcept, allocates nothing and touches only the ZeekTracking it is
// given, so any worker lcore may call it on the flow entries it owns. The other functions are pure
// and may be called from any thread on a copy of the tracking state.
//
// What the caller computes (Zeek derives these from sequence numbers this module never sees):
//  - from_orig: roles. On a connection's first packet, call zeek_should_flip(); if it returns true,
//    the first packet's sender is the responder and the caller sets ZeekTracking::flipped before
//    the first zeek_track(). Afterwards pass from_orig in that same sense for the whole flow, even
//    if zeek_track() later flips the roles itself (see zeek_roles_inverted()).
//  - retransmission: the segment carries payload and its end (seq + payload, +1 for SYN and for
//    FIN; RSTs excluded) does not pass the highest such end already seen from the sender. This is
//    Zeek's update_last_seq test, which produces the 't' letter.
//  - zero_window: window field 0 on a segment without SYN, RST or FIN.
//  - content_gap: the segment starts beyond the sender's next expected sequence number: bytes of
//    the sender's stream were not seen (lost before the monitor, or reordered).
//
// Deviations from Zeek, all because the flow entry holds no sequence numbers:
//  - Each letter is recorded at most once per direction. Zeek repeats F, R, S and H when the
//    sequence number differs from the last one of that kind, and repeats C, G, T and W when their
//    count reaches 10, 100, 1000...; here only the first occurrence is kept.
//  - At most 12 letters are kept (the first 12); `^` is not counted.
//  - C (bad checksum) is never recorded: checksums are not verified (as Zeek with -C).
//  - The SYN/SYN-ACK reversal flip (responder's SYN seen after the originator's SYN-ACK, with the
//    matching sequence number) is not done: it is treated as a simultaneous open.
//  - G is recorded when the peer next sends an ACK, as Zeek only learns of a hole from the ACK
//    that covers it; a retransmission from the sender before that ACK is taken to fill the hole
//    and cancels the letter. Zeek compares the ACK number with the hole; this cannot.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "rstscope/analysis/verdict.h"

namespace rstscope {

// Values equal Zeek's TCP_INACTIVE .. TCP_RESET (0..6), as printed in Zeek's endpoint records.
enum class ZeekEndpoint : uint8_t {
    inactive,
    syn_sent,
    syn_ack_sent,
    partial,
    established,
    closed,
    reset
};

// One TCP segment as the state machine sees it. Field meanings: see the file comment.
struct ZeekSegment {
    bool from_orig;           // sent by the originator, in the caller's sense
    uint8_t flags;            // TCP flags byte (tcp_flag::syn etc.)
    uint32_t payload_length;  // TCP payload bytes on the wire
    bool retransmission;      // Zeek 't'
    bool zero_window;         // Zeek 'w'
    bool content_gap;         // Zeek 'g'
};

// Lives in each flow-table entry; zero-initialised (value-initialised) means "no packet yet".
//
// letters_seen holds one bit per history letter already recorded (bit = letter code, 0..23), and
// in its top byte the few facts Zeek keeps per endpoint that the 16-byte budget has no other
// room for: which endpoints reached CLOSED from ESTABLISHED / RESET from CLOSED (Zeek's
// prev_state, needed by the FIN-after-RST and gap rules), which directions have a gap waiting for
// the peer's ACK, and whether zeek_track() flipped the roles itself. Read it through the functions
// below, not directly.
struct ZeekTracking {
    ZeekEndpoint orig = ZeekEndpoint::inactive;
    ZeekEndpoint resp = ZeekEndpoint::inactive;
    uint8_t history_length = 0;  // letters recorded, at most 12
    bool flipped = false;        // history starts with '^'
    uint32_t letters_seen = 0;
    uint64_t letters = 0;  // 5-bit letter codes in order of first appearance
};
static_assert(sizeof(ZeekTracking) <= 16, "ZeekTracking sits in every flow-table entry");
static_assert(std::is_trivially_copyable_v<ZeekTracking>);

inline constexpr size_t zeek_history_max_letters = 12;

// What a segment did to the end of Zeek's connection record (TCPSessionAdapter::ConnectionClosed):
// its sender closed (a FIN or RST that sets the endpoint's did_close), and whether that close is
// complete (the sender reset, or its peer had closed or was never seen), which ends the record
// tcp_close_delay (5 s) later.
enum class ZeekClose : uint8_t { none, incomplete, complete };

// Feeds one segment through Zeek's endpoint state machine and history rules. Hot path.
ZeekClose zeek_track(ZeekTracking& t, const ZeekSegment& s) noexcept;

// Zeek's did_close of an endpoint, in Zeek's roles (after zeek_roles_inverted()).
bool zeek_did_close(const ZeekTracking& t, bool orig) noexcept;

// Zeek repeats the R letter when a side sends a RST whose sequence number differs from its
// previous one; the flow tracker, which keeps those numbers, calls this for such a RST (after
// zeek_track for the same segment). Hot path.
void zeek_repeat_rst(ZeekTracking& t, bool from_orig) noexcept;

// Zeek's conn_state for the tracked state. Payload byte counts are the caller's, per Zeek role
// (Zeek uses them only to tell REJ from RSTR when both sides reset).
ConnState zeek_conn_state(const ZeekTracking& t, uint64_t orig_payload_bytes,
                          uint64_t resp_payload_bytes) noexcept;

// Writes the history string (e.g. "^ShADadR") to out: at most `capacity` characters, followed by a
// NUL if there is room. Returns the number of characters written, NUL excluded. A buffer of
// zeek_history_max_letters + 2 always holds the whole string and its NUL.
size_t zeek_history(const ZeekTracking& t, char* out, size_t capacity) noexcept;

// True when zeek_track() flipped the roles after the first packet (Zeek 5.1+: a connection that
// began with a SYN-ACK is flipped once an ACK or data segment follows). The caller keeps passing
// from_orig in its own sense; it should swap the addresses it reports as originator and responder
// (and the per-role byte counts it passes to zeek_conn_state).
bool zeek_roles_inverted(const ZeekTracking& t) noexcept;

// Zeek's likely_server_ports with its default scripts loaded: the TCP ports its bundled analyzers
// register, and no others. It only matters for connections whose first packet is not a bare SYN.
bool zeek_likely_server_port(uint16_t port) noexcept;

// Zeek's TCPAnalyzer::WantConnection rule: on a connection's first packet, should roles flip
// (the first packet's sender is then the responder)?
bool zeek_should_flip(uint16_t src_port, uint16_t dst_port, uint8_t flags) noexcept;

}  // namespace rstscope
