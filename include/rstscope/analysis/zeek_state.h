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
// What the caller computes (the rest Zeek derives from the segment's numbers, and so does this
// module: see ZeekSegment):
//  - from_orig: roles. On a connection's first packet, call zeek_should_flip(); if it returns true,
//    the first packet's sender is the responder and the caller sets ZeekTracking::flipped before
//    the first zeek_track(). Afterwards pass from_orig in that same sense for the whole flow, even
//    if zeek_track() later flips the roles itself (see zeek_roles_inverted()).
//  - content_gap: the segment starts beyond the sender's next expected sequence number: bytes of
//    the sender's stream were not seen (lost before the monitor, or reordered).
//
// Sequence state, as Zeek's TCP_Endpoint keeps it per endpoint: the start (the SYN's number, or
// one before the first number seen), the highest end seen (last_seq: SYN and FIN count one, a
// RST's payload none, a SYN's or RST's number only within +-1 MiB, nothing after the endpoint's
// own RST) and the highest number the peer acknowledged (ack_seq: ACKs on RSTs ignored). From
// them: Zeek's sizes (conn.log orig_bytes/resp_bytes), the retransmission letter T (a segment with
// payload whose end does not pass last_seq, a RST's payload included), and the relative numbers
// that decide whether S/H, F and R repeat.
//
// Deviations from Zeek:
//  - Sequence numbers are kept in 32 bits without Zeek's wrap counters: sizes are taken modulo
//    2^32 (a record that moved 4 GiB or more in one direction gets a size modulo 4 GiB; only a
//    size of exactly 0 matters to conn_state). The relative number of the last SYN is compared
//    in its low 16 bits (a repeated SYN/SYN-ACK whose number differs by a multiple of 65536 from
//    the previous one adds no letter; Zeek's SYN repeats are rare: a new SYN on a live record is
//    a new record, see flow_tracker.h).
//  - Scaled letters (T, W at 1, 10, 100, 1000, 10000 occurrences; G at 1, 10, 100): their counters
//    saturate (65535, and 255 for gaps), so the 100000th retransmission (1000th gap) adds no
//    letter.
//  - At most zeek_history_max_letters letters are kept (the first ones); a leading `^` is not
//    counted, a `^` inside the history (a SYN/SYN-ACK reversal) is.
//    Later letters are dropped (Zeek's history has no limit).
//  - C (bad checksum) is never recorded: checksums are not verified (as Zeek with -C).
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
    uint32_t seq;             // the segment's sequence number
    uint32_t ack;             // its acknowledgment number (read only with tcp_flag::ack)
    bool zero_window;         // window field 0 (Zeek's W rule decides whether it counts)
    bool content_gap;         // Zeek 'g'
};

// One endpoint's sequence state and letter bookkeeping, in Zeek's roles.
struct ZeekSide {
    uint32_t start;     // Zeek's start_seq
    uint32_t last;      // last_seq: one past the highest sequence number sent
    uint32_t ack;       // ack_seq: the highest number the peer acknowledged
    uint32_t last_rst;  // relative number of the endpoint's last RST (R repeats when it differs)
    uint32_t last_fin;  // relative end of the endpoint's last FIN (F repeats when it differs)
    uint16_t last_syn;  // low 16 bits of the relative number of its last SYN (S/H repeat)
    uint16_t rexmits;   // retransmissions (T at 1, 10, 100, ...), saturating
    uint16_t zero_windows;  // zero windows (W), saturating
    uint8_t gaps;           // content gaps (G), saturating
    uint8_t bits;           // internal: see zeek_state.cc
};
static_assert(sizeof(ZeekSide) == 28);

inline constexpr size_t zeek_history_max_letters = 32;

// Lives in each flow-table entry; zero-initialised (value-initialised) means "no packet yet".
// letters_seen holds one bit per history letter already recorded (bit = letter code, 0..23) and
// whether zeek_track() flipped the roles itself; read it through the functions below.
struct ZeekTracking {
    ZeekSide side[2];  // [0] originator, [1] responder, in Zeek's roles
    uint32_t letters_seen = 0;
    ZeekEndpoint orig = ZeekEndpoint::inactive;
    ZeekEndpoint resp = ZeekEndpoint::inactive;
    uint8_t history_length = 0;  // letters recorded, at most zeek_history_max_letters
    bool flipped = false;        // history starts with '^'
    uint8_t letters[zeek_history_max_letters * 5 / 8] = {};  // 5-bit letter codes, in order
};
static_assert(sizeof(ZeekTracking) == 84, "ZeekTracking sits in every flow-table entry");
static_assert(std::is_trivially_copyable_v<ZeekTracking>);

// What a segment did to the end of Zeek's connection record (TCPSessionAdapter::ConnectionClosed):
// its sender closed (a FIN or RST that sets the endpoint's did_close), and whether that close is
// complete (the sender reset, or its peer had closed or was never seen), which ends the record
// tcp_close_delay (5 s) later.
enum class ZeekClose : uint8_t { none, incomplete, complete };

// Feeds one segment through Zeek's endpoint state machine and history rules. Hot path.
ZeekClose zeek_track(ZeekTracking& t, const ZeekSegment& s) noexcept;

// Zeek's did_close of an endpoint, in Zeek's roles (after zeek_roles_inverted()).
bool zeek_did_close(const ZeekTracking& t, bool orig) noexcept;

// Zeek's conn_state for the tracked state (REJ when both sides reset with Zeek sizes of zero).
ConnState zeek_conn_state(const ZeekTracking& t) noexcept;

// Zeek's size of an endpoint (conn.log orig_bytes / resp_bytes), in Zeek's roles: the highest
// end seen or acknowledged minus the start, less one for the SYN and one for a FIN.
uint64_t zeek_size(const ZeekTracking& t, bool orig) noexcept;

// Writes the history string (e.g. "^ShADadR") to out: at most `capacity` characters, followed by a
// NUL if there is room. Returns the number of characters written, NUL excluded. A buffer of
// zeek_history_max_letters + 2 always holds the whole string and its NUL.
size_t zeek_history(const ZeekTracking& t, char* out, size_t capacity) noexcept;

// True when zeek_track() flipped the roles after the first packet (Zeek 5.1+: a connection that
// began with a SYN-ACK is flipped once an ACK or data segment follows; and a SYN/SYN-ACK
// reversal: the originator's SYN-ACK was seen before the responder's SYN it answers, history
// "Hs^..."; two flips cancel). The caller keeps passing
// from_orig in its own sense; it should swap the addresses it reports as originator and responder
// and the per-role figures it reports).
bool zeek_roles_inverted(const ZeekTracking& t) noexcept;

// Zeek's likely_server_ports with its default scripts loaded: the TCP ports its bundled analyzers
// register, and no others. It only matters for connections whose first packet is not a bare SYN.
bool zeek_likely_server_port(uint16_t port) noexcept;

// Zeek's TCPAnalyzer::WantConnection rule: on a connection's first packet, should roles flip
// (the first packet's sender is then the responder)?
bool zeek_should_flip(uint16_t src_port, uint16_t dst_port, uint8_t flags) noexcept;

}  // namespace rstscope
