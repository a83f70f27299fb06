// SPDX-License-Identifier: BSD-3-Clause
// Zeek-compatible connection state and history; see the header for the contract and deviations.
// Written from Zeek's behaviour as documented and as its TCP analyzer implements it
// (src/packet_analysis/protocol/tcp/TCPSessionAdapter.cc, TCP.cc,
// src/analyzer/protocol/tcp/TCP_Endpoint.cc, TCP_Reassembler.cc).

#include "rstscope/analysis/zeek_state.h"
#include "rstscope/analysis/zeek_reversal.h"

#include <algorithm>
#include <array>
#include <initializer_list>
#include <utility>

#include "rstscope/common/tcp_flags.h"

namespace rstscope {

namespace {

// Letter kinds, in the order of this string; a letter's code is kind * 2 + (1 if the responder
// sent it), so codes 0..23 fit in 5 bits and in the low 24 bits of letters_seen.
constexpr char kind_letters[] = "SHADFRCGTWIQ";
enum Kind : uint8_t {
    k_syn,
    k_syn_ack,
    k_ack,
    k_data,
    k_fin,
    k_rst,
    k_bad_checksum,
    k_gap,
    k_rexmit,
    k_zero_window,
    k_inconsistent,
    k_multi_flag,
};

// '^' where Zeek appends it mid-history (a SYN/SYN-ACK reversal): a code no letter kind uses.
constexpr uint8_t flip_code = 24;

constexpr unsigned code_bits = 5;
constexpr uint32_t letter_mask = (uint32_t{1} << 24) - 1;
constexpr uint32_t even_letter_bits = 0x555555;  // originator letters
constexpr uint32_t roles_inverted_bit = uint32_t{1} << 28;
// zeek_synack_sender_was_originator(): the first packet's SYN-ACK was given to the responder,
// where Zeek keeps it with the originator until the next segment.
constexpr uint32_t early_flip_bit = uint32_t{1} << 29;

// ZeekSide::bits: the few facts Zeek keeps per endpoint besides its numbers.
constexpr uint8_t clean_transition_bit = 0x01;     // see set_state
constexpr uint8_t gap_pending_bit = 0x02;          // a hole waits for the peer's ACK
constexpr uint8_t did_close_bit = 0x04;            // Zeek's did_close
constexpr uint8_t fin_seen_bit = 0x08;             // Zeek's FIN_cnt > 0
constexpr uint8_t reset_from_inactive_bit = 0x10;  // RESET reached from INACTIVE (prev_state)

// Zeek's TOO_LARGE_SEQ_DELTA: a SYN's or RST's number this far from last_seq is not trusted.
constexpr int32_t too_large_seq_delta = 1 << 20;

constexpr unsigned orig_side = 0;
constexpr unsigned resp_side = 1;

ZeekEndpoint& state_of(ZeekTracking& t, unsigned side) noexcept {
    return side == orig_side ? t.orig : t.resp;
}
ZeekEndpoint state_of(const ZeekTracking& t, unsigned side) noexcept {
    return side == orig_side ? t.orig : t.resp;
}

bool flag_bit(const ZeekTracking& t, uint8_t bit, unsigned side) noexcept {
    return (t.side[side].bits & bit) != 0;
}
void put_flag_bit(ZeekTracking& t, uint8_t bit, unsigned side, bool on) noexcept {
    if (on)
        t.side[side].bits |= bit;
    else
        t.side[side].bits &= static_cast<uint8_t>(~bit);
}

// Zeek keeps each endpoint's previous state; only three transitions matter to the rules used
// here: CLOSED reached from ESTABLISHED (a clean close, TCP_Reassembler's is_clean) and RESET
// reached from CLOSED (a RST after a FIN, which a later FIN from the peer turns back into CLOSED)
// share one bit; RESET reached from INACTIVE (a SYN after it restarts the numbers) has its own.
void set_state(ZeekTracking& t, unsigned side, ZeekEndpoint next) noexcept {
    ZeekEndpoint& current = state_of(t, side);
    if (current == next) return;  // TCP_Endpoint::SetState ignores non-changes
    const bool clean = (next == ZeekEndpoint::closed && current == ZeekEndpoint::established) ||
                       (next == ZeekEndpoint::reset && current == ZeekEndpoint::closed);
    put_flag_bit(t, clean_transition_bit, side, clean);
    put_flag_bit(t, reset_from_inactive_bit, side,
                 next == ZeekEndpoint::reset && current == ZeekEndpoint::inactive);
    current = next;
}

bool closed_cleanly(const ZeekTracking& t, unsigned side) noexcept {
    return state_of(t, side) == ZeekEndpoint::closed && flag_bit(t, clean_transition_bit, side);
}
bool reset_after_fin(const ZeekTracking& t, unsigned side) noexcept {
    return state_of(t, side) == ZeekEndpoint::reset && flag_bit(t, clean_transition_bit, side);
}

// TCP_Reassembler only records a gap while both endpoints are established or cleanly closing:
// elsewhere holes come from RST sequence numbers or unseen starts of partial connections.
bool clean_for_gaps(const ZeekTracking& t, unsigned side) noexcept {
    return state_of(t, side) == ZeekEndpoint::established || closed_cleanly(t, side);
}

uint8_t letter_code(Kind kind, unsigned side) noexcept {
    return static_cast<uint8_t>(kind * 2 + side);
}
bool seen(const ZeekTracking& t, Kind kind, unsigned side) noexcept {
    return (t.letters_seen & (uint32_t{1} << letter_code(kind, side))) != 0;
}

// Letters are 5-bit codes packed little-endian into ZeekTracking::letters. A code is read from
// a two-byte window, whether or not it spans both: a branch on that was one the CPU could not
// predict (every reset event renders its history: zeek_history()). Only the last byte has no
// byte after it, and a code there never spans two.
uint8_t code_at(const ZeekTracking& t, unsigned index) noexcept {
    const unsigned bit = index * code_bits;
    const unsigned byte = bit / 8;
    const unsigned next = byte + 1 < sizeof(t.letters) ? t.letters[byte + 1] : 0u;
    return static_cast<uint8_t>(((t.letters[byte] | next << 8) >> (bit % 8)) & 0x1f);
}
void put_code(ZeekTracking& t, unsigned index, uint8_t code) noexcept {
    const unsigned bit = index * code_bits;
    const unsigned shift = bit % 8;
    const unsigned mask = 0x1fu << shift;
    t.letters[bit / 8] =
        static_cast<uint8_t>((t.letters[bit / 8] & ~mask) | ((unsigned{code} << shift) & 0xff));
    if (shift + code_bits > 8) {
        const unsigned high = mask >> 8;
        t.letters[bit / 8 + 1] = static_cast<uint8_t>((t.letters[bit / 8 + 1] & ~high) |
                                                      (unsigned{code} >> (8 - shift)));
    }
}

// Zeek's AddHistory: the letter is appended, whatever came before.
// Appends a code to the history while it has room (later ones are dropped: see zeek_state.h).
void append_code(ZeekTracking& t, uint8_t code) noexcept {
    if (t.history_length >= zeek_history_max_letters) return;
    put_code(t, t.history_length, code);
    ++t.history_length;
}

void add(ZeekTracking& t, Kind kind, unsigned side) noexcept {
    const uint8_t code = letter_code(kind, side);
    t.letters_seen |= uint32_t{1} << code;
    append_code(t, code);
}

// Zeek's CheckHistory: the letter is added once per direction.
void record(ZeekTracking& t, Kind kind, unsigned side) noexcept {
    if (seen(t, kind, side)) return;
    add(t, kind, side);
}

// Zeek's ScaledHistoryEntry: the letter is added at the 1st, 10th, 100th... occurrence.
template <typename Counter>
void scaled(ZeekTracking& t, Kind kind, unsigned side, Counter& count) noexcept {
    if (count == static_cast<Counter>(~Counter{0})) return;  // saturated: see the header
    ++count;
    unsigned threshold = 1;
    while (threshold < count)
        threshold *= 10;
    if (threshold == count) add(t, kind, side);
}

// Both ways of changing roles below exchange the endpoints whole: states, numbers, counters.
void swap_endpoints(ZeekTracking& t) noexcept {
    std::swap(t.orig, t.resp);
    std::swap(t.side[orig_side], t.side[resp_side]);
}

// Zeek 5.1+ (zeek/zeek#2191): a connection that began with a SYN-ACK is flipped once an ACK or a
// data segment follows in either direction, since a stealth scan elicits only RSTs or silence.
// Zeek's logs of such connections ("^haf" in zeek/zeek#5047) show the letters already recorded
// rewritten as if the roles had been known from the start, so the same is done here.
void flip_roles(ZeekTracking& t) noexcept {
    swap_endpoints(t);

    const uint32_t letters = t.letters_seen & letter_mask;
    const uint32_t swapped_letters =
        ((letters & even_letter_bits) << 1) | ((letters >> 1) & even_letter_bits);
    t.letters_seen = swapped_letters | ((t.letters_seen & ~letter_mask) ^ roles_inverted_bit);

    for (unsigned i = 0; i < t.history_length; ++i) {
        const uint8_t code = code_at(t, i);
        if (code != flip_code) put_code(t, i, static_cast<uint8_t>(code ^ 1));  // bit 0: the side
    }
    t.flipped = true;
}

// Zeek's Connection::FlipRoles on a SYN/SYN-ACK reversal (UpdateInactiveState): the endpoints
// swap roles with their numbers, states and counters, and '^' is appended to the history. Unlike
// the flip above, Zeek rewrites nothing here: the letters already recorded keep their case, and
// its per-direction "letter seen" bits (Session::hist_seen) stay where they are.
void reverse_roles(ZeekTracking& t) noexcept {
    swap_endpoints(t);
    t.letters_seen ^= roles_inverted_bit;
    append_code(t, flip_code);
}

bool is_ack_or_data_only(const ZeekSegment& s) noexcept {
    constexpr uint8_t control = tcp_flag::syn | tcp_flag::fin | tcp_flag::rst;
    return !(s.flags & control) && ((s.flags & tcp_flag::ack) || s.payload_length > 0);
}

// Zeek's update_history: one letter per packet from its SYN/FIN/RST bits, else D or A. S/H (one
// slot per direction), F and R repeat when the segment's relative number differs from that of
// the endpoint's previous one of the kind (for a FIN: its end, after its data).
void record_flag_letters(ZeekTracking& t, const ZeekSegment& s, unsigned side,
                         uint32_t rel_seq) noexcept {
    const bool syn = s.flags & tcp_flag::syn;
    const bool fin = s.flags & tcp_flag::fin;
    const bool rst = s.flags & tcp_flag::rst;
    const int control_bits = int{syn} + int{fin} + int{rst};
    ZeekSide& e = t.side[side];
    if (control_bits > 1) {
        record(t, fin && rst ? k_inconsistent : k_multi_flag, side);
    } else if (syn) {
        const Kind kind = (s.flags & tcp_flag::ack) ? k_syn_ack : k_syn;
        if (!seen(t, k_syn, side) && !seen(t, k_syn_ack, side))
            add(t, kind, side);
        else if (static_cast<uint16_t>(rel_seq) != e.last_syn)
            add(t, kind, side);
        e.last_syn = static_cast<uint16_t>(rel_seq);
    } else if (fin) {
        const uint32_t end = rel_seq + s.payload_length;
        if (!seen(t, k_fin, side) || end != e.last_fin) add(t, k_fin, side);
        e.last_fin = end;
    } else if (rst) {
        if (!seen(t, k_rst, side) || rel_seq != e.last_rst) add(t, k_rst, side);
        e.last_rst = rel_seq;
    } else if (s.payload_length > 0) {
        record(t, k_data, side);
    } else if (s.flags & tcp_flag::ack) {
        record(t, k_ack, side);
    }
}

// TCPSessionAdapter's init_endpoint: where an endpoint's numbers start, and when a SYN restarts
// them.
void init_numbers(ZeekTracking& t, const ZeekSegment& s, unsigned side,
                  uint32_t one_past) noexcept {
    ZeekSide& e = t.side[side];
    const bool syn = s.flags & tcp_flag::syn;
    bool restart = false;
    switch (state_of(t, side)) {
        case ZeekEndpoint::inactive:
            e.start = e.ack = syn ? s.seq : s.seq - 1;
            e.last = syn ? one_past : s.seq;  // a first segment is never a retransmission
            return;
        case ZeekEndpoint::syn_sent:
        case ZeekEndpoint::syn_ack_sent:
            restart = syn && s.seq != e.start;
            break;
        case ZeekEndpoint::established:
        case ZeekEndpoint::partial:
            restart = syn;
            break;
        case ZeekEndpoint::reset:
            restart = syn && flag_bit(t, reset_from_inactive_bit, side);
            break;
        case ZeekEndpoint::closed:
            break;
    }
    if (restart) {
        e.start = e.ack = s.seq;
        e.last = one_past;
    }
}

// TCPSessionAdapter::Process on the peer's numbers: the ACK of a segment (not of a RST) moves
// what the peer has acknowledged; the first one seen from a silent peer's side sets its numbers.
void follow_ack(ZeekTracking& t, const ZeekSegment& s, unsigned peer) noexcept {
    if (!(s.flags & tcp_flag::ack)) return;
    ZeekSide& p = t.side[peer];
    if (state_of(t, peer) == ZeekEndpoint::inactive) {
        p.start = p.ack = p.last = s.ack - 1;
        return;
    }
    if (static_cast<int32_t>(s.ack - p.start) < 0) return;  // below the start: not trusted
    if (s.flags & tcp_flag::rst) return;                    // ACKs on RSTs are ignored
    const auto delta = static_cast<int32_t>(s.ack - p.ack);
    if (s.ack == 0 && delta > too_large_seq_delta) return;  // more likely a broken ACK
    if (delta > 0) p.ack = s.ack;
}

// TCPSessionAdapter's update_last_seq; returns true for Zeek's retransmission (DidRxmit).
bool follow_last_seq(ZeekTracking& t, const ZeekSegment& s, unsigned side,
                     uint32_t one_past) noexcept {
    ZeekSide& e = t.side[side];
    const auto delta = static_cast<int32_t>(one_past - e.last);
    const bool syn_or_rst = s.flags & (tcp_flag::syn | tcp_flag::rst);
    if (syn_or_rst && (delta > too_large_seq_delta || delta < -too_large_seq_delta)) return false;
    if ((s.flags & tcp_flag::fin) && e.last == e.start + 1) {
        e.last = one_past;  // only the SYN and the FIN seen: trust the FIN
        return false;
    }
    if (state_of(t, side) == ZeekEndpoint::reset) return false;  // nothing after our own RST
    if (delta > 0) {
        e.last = one_past;
        return false;
    }
    return s.payload_length > 0;
}

// TCPSessionAdapter::UpdateInactiveState. Returns true when it flipped the roles: the sender is
// then on the other side (`side` names it no more).
bool update_inactive(ZeekTracking& t, const ZeekSegment& s, unsigned side) noexcept {
    unsigned peer = 1 - side;
    const bool ack = s.flags & tcp_flag::ack;
    bool flipped = false;
    if (s.flags & tcp_flag::syn) {
        if (side == orig_side) {
            set_state(t, side, ack ? ZeekEndpoint::syn_ack_sent : ZeekEndpoint::syn_sent);
        } else {
            if (!ack && state_of(t, peer) == ZeekEndpoint::syn_ack_sent) {
                // A SYN/SYN-ACK reversal: the originator sent the SYN-ACK, and this is the SYN it
                // answered (a SYN with another number would have begun a new record: see
                // FlowTracker's reuse rule). Zeek flips the roles and establishes both sides.
                reverse_roles(t);
                flipped = true;
                std::swap(side, peer);
                set_state(t, peer, ZeekEndpoint::established);
            }
            // A responder SYN answers an originator SYN (SYN-ACK, or a simultaneous open).
            if (state_of(t, peer) == ZeekEndpoint::syn_sent)
                set_state(t, peer, ZeekEndpoint::established);
            set_state(t, side, ZeekEndpoint::established);
        }
    }
    if (s.flags & tcp_flag::fin) set_state(t, side, ZeekEndpoint::closed);
    if (s.flags & tcp_flag::rst) set_state(t, side, ZeekEndpoint::reset);

    if (state_of(t, side) != ZeekEndpoint::inactive) return flipped;
    if (side == resp_side && s.payload_length == 0 && t.orig == ZeekEndpoint::syn_sent) {
        // Some stacks ACK a SYN before sending their SYN-ACK; Zeek does not count that ACK as
        // the start of a partial connection.
    } else if (ack && state_of(t, peer) == ZeekEndpoint::established) {
        // The peer's SYN-ACK was seen, only our SYN was missed: establish rather than go partial.
        set_state(t, side, ZeekEndpoint::established);
    } else {
        set_state(t, side, ZeekEndpoint::partial);
    }
    return flipped;
}

// TCPSessionAdapter::UpdateSYN_SentState.
void update_syn_sent(ZeekTracking& t, const ZeekSegment& s, unsigned side) noexcept {
    if (s.flags & tcp_flag::fin) set_state(t, side, ZeekEndpoint::closed);
    if (s.flags & tcp_flag::rst) set_state(t, side, ZeekEndpoint::reset);
}

// TCPSessionAdapter::UpdateEstablishedState (also for PARTIAL).
void update_established(ZeekTracking& t, const ZeekSegment& s, unsigned side) noexcept {
    const unsigned peer = 1 - side;
    if ((s.flags & tcp_flag::syn) && !(s.flags & tcp_flag::ack) &&
        state_of(t, side) == ZeekEndpoint::partial && state_of(t, peer) == ZeekEndpoint::inactive)
        set_state(t, side, ZeekEndpoint::syn_sent);
    if ((s.flags & tcp_flag::fin) && !(s.flags & tcp_flag::rst)) {
        set_state(t, side, ZeekEndpoint::closed);
        // The peer's FIN then RST, answered by our FIN, is a normal close (SF), not a reset.
        if (reset_after_fin(t, peer)) set_state(t, peer, ZeekEndpoint::closed);
    }
    if (s.flags & tcp_flag::rst) set_state(t, side, ZeekEndpoint::reset);
}

// TCPSessionAdapter::UpdateClosedState: after both FINs a RST changes nothing.
void update_closed(ZeekTracking& t, const ZeekSegment& s, unsigned side) noexcept {
    if ((s.flags & tcp_flag::rst) && state_of(t, 1 - side) != ZeekEndpoint::closed)
        set_state(t, side, ZeekEndpoint::reset);
}

// Returns true when the roles flipped (a SYN/SYN-ACK reversal).
bool update_state_machine(ZeekTracking& t, const ZeekSegment& s, unsigned side) noexcept {
    switch (state_of(t, side)) {
        case ZeekEndpoint::inactive:
            return update_inactive(t, s, side);
        case ZeekEndpoint::syn_sent:
        case ZeekEndpoint::syn_ack_sent:
            update_syn_sent(t, s, side);
            break;
        case ZeekEndpoint::established:
        case ZeekEndpoint::partial:
            update_established(t, s, side);
            break;
        case ZeekEndpoint::closed:
            update_closed(t, s, side);
            break;
        case ZeekEndpoint::reset:
            break;  // Zeek only reports weirds here
    }
    return false;
}

// Matches Zeek's /\^?S[^HAFGIQ]*R.*/ (whole string) against the recorded letters.
bool history_is_syn_then_rst(const ZeekTracking& t) noexcept {
    if (t.history_length == 0 || code_at(t, 0) != letter_code(k_syn, orig_side)) return false;
    for (unsigned i = 1; i < t.history_length; ++i) {
        const uint8_t code = code_at(t, i);
        if (code == letter_code(k_rst, orig_side)) return true;
        if ((code & 1) == orig_side) {
            switch (code >> 1) {
                case k_syn_ack:
                case k_ack:
                case k_fin:
                case k_gap:
                case k_inconsistent:
                case k_multi_flag:
                    return false;
                default:
                    break;
            }
        }
    }
    return false;
}

// TCPSessionAdapter::UpdateStateMachine's do_close and ConnectionClosed: a FIN or RST closes its
// sender, except a RST after both FINs and anything after the sender's own RST.
ZeekClose note_close(ZeekTracking& t, const ZeekSegment& s, unsigned side,
                     ZeekEndpoint sender_before, ZeekEndpoint peer_before) noexcept {
    const bool fin = s.flags & tcp_flag::fin;
    const bool rst = s.flags & tcp_flag::rst;
    bool do_close = fin || rst;
    if (sender_before == ZeekEndpoint::closed)
        do_close = rst && peer_before != ZeekEndpoint::closed;
    if (sender_before == ZeekEndpoint::reset) do_close = false;
    if (!do_close || flag_bit(t, did_close_bit, side)) return ZeekClose::none;
    put_flag_bit(t, did_close_bit, side, true);
    const unsigned peer = 1 - side;
    const bool complete = state_of(t, side) == ZeekEndpoint::reset ||
                          flag_bit(t, did_close_bit, peer) ||
                          state_of(t, peer) == ZeekEndpoint::inactive;
    return complete ? ZeekClose::complete : ZeekClose::incomplete;
}

}  // namespace

bool zeek_did_close(const ZeekTracking& t, bool orig) noexcept {
    return flag_bit(t, did_close_bit, orig ? orig_side : resp_side);
}

void zeek_synack_sender_was_originator(ZeekTracking& t) noexcept {
    t.letters_seen |= early_flip_bit;
}

bool zeek_is_reversal(const ZeekTracking& t, bool from_orig, uint8_t flags, uint32_t seq) noexcept {
    constexpr uint8_t handshake = tcp_flag::syn | tcp_flag::ack | tcp_flag::fin | tcp_flag::rst;
    return (t.letters_seen & early_flip_bit) && (flags & handshake) == tcp_flag::syn &&
           from_orig != zeek_roles_inverted(t) && t.orig == ZeekEndpoint::inactive &&
           t.resp == ZeekEndpoint::established && t.history_length == 1 &&
           code_at(t, 0) == letter_code(k_syn_ack, resp_side) && seq == t.side[orig_side].start;
}

namespace {

// The SYN/SYN-ACK reversal after an early flip (zeek_synack_sender_was_originator): the history
// Zeek has is "H" (the SYN-ACK, its sender then originator), then "s" (this SYN, its sender then
// responder), then the flip's "^"; its per-direction "letter seen" bits stay where they were set.
// Afterwards Zeek's roles are the caller's: the SYN's sender originates.
void take_reversal(ZeekTracking& t, const ZeekSegment& s) noexcept {
    t.letters_seen &= ~(letter_mask | early_flip_bit);
    t.history_length = 0;
    t.flipped = false;
    add(t, k_syn_ack, orig_side);
    add(t, k_syn, resp_side);
    ZeekSide& e = t.side[orig_side];
    e.start = e.ack = s.seq;
    e.last = s.seq + 1 + s.payload_length;
    e.last_syn = 0;
    // update_window: the SYN's zero window is the responder's letter then.
    if (s.zero_window) scaled(t, k_zero_window, resp_side, e.zero_windows);
    append_code(t, flip_code);
    set_state(t, orig_side, ZeekEndpoint::established);
}

}  // namespace

ZeekClose zeek_track(ZeekTracking& t, const ZeekSegment& s) noexcept {
    bool from_orig = s.from_orig != ((t.letters_seen & roles_inverted_bit) != 0);
    // The bulk of all segments: an ACK or new data on a connection established both ways, whose
    // letter this side already has, with nothing unusual about it. Only the numbers move: leave
    // at once (measured: about half of this function's instructions).
    constexpr uint8_t plain = tcp_flag::ack | tcp_flag::psh | tcp_flag::ece | tcp_flag::cwr;
    if ((s.flags & ~plain) == 0 && (s.flags & tcp_flag::ack) && !s.zero_window && !s.content_gap &&
        t.orig == ZeekEndpoint::established && t.resp == ZeekEndpoint::established) {
        const unsigned side = from_orig ? orig_side : resp_side;
        ZeekSide& e = t.side[side];
        const uint32_t one_past = s.seq + s.payload_length;
        const bool advances = static_cast<int32_t>(one_past - e.last) > 0;
        if ((advances || s.payload_length == 0) &&
            seen(t, s.payload_length > 0 ? k_data : k_ack, side) &&
            !flag_bit(t, gap_pending_bit, 1 - side) && !flag_bit(t, gap_pending_bit, side)) {
            if (advances) e.last = one_past;
            follow_ack(t, s, 1 - side);
            return ZeekClose::none;
        }
    }
    if (t.letters_seen & early_flip_bit) {
        if (zeek_is_reversal(t, s.from_orig, s.flags, s.seq)) {
            take_reversal(t, s);
            return ZeekClose::none;
        }
        // Anything else but the SYN-ACK (or a copy of it): Zeek flips too, or never will.
        const bool synack =
            (s.flags & (tcp_flag::syn | tcp_flag::ack)) == (tcp_flag::syn | tcp_flag::ack);
        if (!synack || s.from_orig != zeek_roles_inverted(t)) t.letters_seen &= ~early_flip_bit;
    }
    if (!t.flipped && t.orig == ZeekEndpoint::syn_ack_sent && t.resp == ZeekEndpoint::inactive &&
        is_ack_or_data_only(s)) {
        flip_roles(t);
        from_orig = !from_orig;
    }
    unsigned side = from_orig ? orig_side : resp_side;
    unsigned peer = 1 - side;
    const ZeekEndpoint sender_before = state_of(t, side);
    const ZeekEndpoint peer_before = state_of(t, peer);

    // Sequence space: SYN and FIN take one number each; a RST's payload is not stream data.
    uint32_t length = s.payload_length;
    if (s.flags & tcp_flag::syn) ++length;
    if (s.flags & tcp_flag::fin) ++length;
    if (s.flags & tcp_flag::rst) length -= s.payload_length;
    const uint32_t one_past = s.seq + length;
    init_numbers(t, s, side, one_past);

    record_flag_letters(t, s, side, s.seq - t.side[side].start);

    // update_window: a zero window is not news with a RST, after our own RST, or once the peer
    // has closed (there is nothing left for it to send us).
    if (s.zero_window && !(s.flags & tcp_flag::rst) && peer_before != ZeekEndpoint::closed &&
        sender_before != ZeekEndpoint::reset)
        scaled(t, k_zero_window, side, t.side[side].zero_windows);
    if (s.flags & tcp_flag::fin) put_flag_bit(t, fin_seen_bit, side, true);

    follow_ack(t, s, peer);
    const bool retransmission = follow_last_seq(t, s, side, one_past);
    if (retransmission) scaled(t, k_rexmit, side, t.side[side].rexmits);

    if (update_state_machine(t, s, side)) std::swap(side, peer);
    const ZeekClose close = note_close(t, s, side, sender_before, peer_before);

    // Zeek learns of a hole in the peer's stream from the ACK that covers it, after the state
    // machine ran, so a hole revealed by a FIN or RST in an unclean state is ignored.
    if ((s.flags & tcp_flag::ack) && flag_bit(t, gap_pending_bit, peer)) {
        put_flag_bit(t, gap_pending_bit, peer, false);
        if (clean_for_gaps(t, side) && clean_for_gaps(t, peer))
            scaled(t, k_gap, peer, t.side[peer].gaps);
    }
    if (retransmission) put_flag_bit(t, gap_pending_bit, side, false);
    if (s.content_gap) put_flag_bit(t, gap_pending_bit, side, true);
    return close;
}

uint64_t zeek_size(const ZeekTracking& t, bool orig) noexcept {
    const ZeekSide& e = t.side[orig ? orig_side : resp_side];
    const uint32_t highest = static_cast<int32_t>(e.last - e.ack) > 0 ? e.last : e.ack;
    uint64_t size = static_cast<uint32_t>(highest - e.start);
    if (size != 0) --size;  // the SYN's number (partial starts pretend one was there)
    if ((e.bits & fin_seen_bit) && size != 0) --size;  // the FIN's
    return size;
}

ConnState zeek_conn_state(const ZeekTracking& t) noexcept {
    using E = ZeekEndpoint;
    const E os = t.orig;
    const E rs = t.resp;
    const bool orig_inactive = os == E::inactive || os == E::partial;
    const bool resp_inactive = rs == E::inactive || rs == E::partial;

    if (rs == E::reset) {
        if (os == E::syn_sent || os == E::syn_ack_sent ||
            (os == E::reset && zeek_size(t, true) == 0 && zeek_size(t, false) == 0))
            return ConnState::REJ;
        return orig_inactive ? ConnState::RSTRH : ConnState::RSTR;
    }
    if (os == E::reset) {
        if (resp_inactive) return history_is_syn_then_rst(t) ? ConnState::RSTOS0 : ConnState::OTH;
        return ConnState::RSTO;
    }
    if (rs == E::closed && os == E::closed) return ConnState::SF;
    if (os == E::closed) return resp_inactive ? ConnState::SH : ConnState::S2;
    if (rs == E::closed) return orig_inactive ? ConnState::SHR : ConnState::S3;
    if (os == E::syn_sent && rs == E::inactive) return ConnState::S0;
    if (os == E::established && rs == E::established) return ConnState::S1;
    return ConnState::OTH;
}

// The character each code stands for: the kind's letter, in lower case for the responder's, and
// '^' for a flip.
constexpr std::array<char, 32> code_characters = [] {
    std::array<char, 32> characters{};
    for (uint8_t code = 0; code < flip_code; ++code) {
        const char upper = kind_letters[code >> 1];
        characters[code] = (code & 1) ? static_cast<char>(upper - 'A' + 'a') : upper;
    }
    characters[flip_code] = '^';
    return characters;
}();

// Every reset event renders its history, so each letter is one table lookup: the test for a flip
// and the choice of case were branches the CPU could not predict (docs/performance.md).
size_t zeek_history(const ZeekTracking& t, char* out, size_t capacity) noexcept {
    size_t written = 0;
    if (t.flipped && written < capacity) out[written++] = '^';
    const size_t letters = std::min<size_t>(t.history_length, capacity - written);
    for (size_t i = 0; i < letters; ++i)
        out[written++] = code_characters[code_at(t, static_cast<unsigned>(i))];
    if (written < capacity) out[written] = '\0';
    return written;
}

bool zeek_roles_inverted(const ZeekTracking& t) noexcept {
    return (t.letters_seen & roles_inverted_bit) != 0;
}

bool zeek_likely_server_port(uint16_t port) noexcept {
    // Zeek's likely_server_ports as its default scripts fill it: the TCP ports its bundled
    // analyzers register (FTP 21, SSH 22, SMTP 25/587, DNS 53, HTTP and proxies 80/81/631/1080/
    // 3128/8000/8080/8888, IMAP, LDAP, TLS variants, IRC 6666-6669, XMPP, MySQL, RDP, PostgreSQL,
    // Redis, MQTT, Modbus 502, DNP3 20000, ...). Not "every port below 1024": a connection
    // between two unregistered ports keeps the first packet's sender as originator, as in Zeek.
    switch (port) {
        case 21:
        case 22:
        case 25:
        case 53:
        case 79:
        case 80:
        case 81:
        case 88:
        case 135:
        case 139:
        case 143:
        case 389:
        case 443:
        case 445:
        case 465:
        case 502:
        case 514:
        case 563:
        case 585:
        case 587:
        case 614:
        case 631:
        case 636:
        case 989:
        case 990:
        case 992:
        case 993:
        case 995:
        case 1080:
        case 1434:
        case 1883:
        case 2811:
        case 3128:
        case 3268:
        case 3306:
        case 3389:
        case 5222:
        case 5223:
        case 5269:
        case 5432:
        case 6379:
        case 6666:
        case 6667:
        case 6668:
        case 6669:
        case 8000:
        case 8080:
        case 8888:
        case 20000:
            return true;
        default:
            return false;
    }
}

bool zeek_should_flip(uint16_t src_port, uint16_t dst_port, uint8_t flags) noexcept {
    const bool syn = flags & tcp_flag::syn;
    if (syn && !(flags & tcp_flag::ack)) return false;  // a bare SYN names its sender originator
    if (!zeek_likely_server_port(src_port)) return false;
    // Both ports plausible: never flip a SYN-ACK (a stealth scan's probe answers look the same),
    // otherwise favour the lower port as the server.
    if (zeek_likely_server_port(dst_port)) return !syn && src_port < dst_port;
    return true;
}

}  // namespace rstscope
