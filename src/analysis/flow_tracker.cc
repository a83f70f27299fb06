// SPDX-License-Identifier: BSD-3-Clause
// Hot path (see flow_tracker.h): noexcept, no allocation after construction, no locks, no I/O.
#include "rstscope/analysis/flow_tracker.h"

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstring>
#include <new>

#include "rstscope/analysis/zeek_reversal.h"
#include "rstscope/common/prefetch.h"
#include "rstscope/common/tcp_flags.h"

namespace rstscope {
namespace {

using namespace tcp_flag;

constexpr uint64_t ns_per_ms = 1'000'000;
// A RST this soon after the first packet following a long silence answers that packet.
constexpr uint64_t answer_window_ms = 1000;
// IP-ID steps that make a sender's counter trustworthy, and the jump that breaks it.
constexpr uint8_t ip_id_trusted_steps = 3;
constexpr uint16_t ip_id_max_plausible_jump = 1024;
// The IP-ID step a RST may take from its sender's previous packet and still continue its counter.
constexpr uint16_t ip_id_continue_max_step = 256;
// A connection side's IP-ID behaviour is judged (for its host's fingerprint) at this packet.
constexpr uint32_t ip_id_judged_at_packet = 5;
// Per advance(), at most this many lingering resets get their verdict and at most this many
// buckets are swept for idle flows, so that no single poll stalls on a long queue or a large table.
constexpr uint32_t max_verdicts_per_advance = 256;
// How many resets ahead of the one being written (at its deadline, early from a full linger queue,
// or at the end) a later one's flow entry and pending record are brought in: both were last
// touched up to a linger window ago, and each was a load miss finalize() waited on (88 % of its
// samples in the reset-heavy capture, docs/performance.md).
constexpr uint32_t verdict_lookahead = 4;
constexpr uint64_t max_buckets_per_sweep = 1024;

uint32_t ms_between(uint64_t earlier_ns, uint64_t later_ns) noexcept {
    if (later_ns <= earlier_ns) return 0;
    uint64_t ms = (later_ns - earlier_ns) / ns_per_ms;
    return ms > UINT32_MAX ? UINT32_MAX : static_cast<uint32_t>(ms);
}

uint8_t effective_scale(const DirectionState& side, const DirectionState& peer) noexcept {
    // RFC 7323 2.2: scaling is in force only when both SYNs carried the option.
    if (side.window_scale == tcp_wscale_absent || peer.window_scale == tcp_wscale_absent) return 0;
    return side.window_scale;
}

void set_bit(EvidenceSet& set, Evidence e, bool on = true) noexcept {
    if (on) set |= evidence_bit(e);
}

// Zeek's fixed TCP timers behind its expire check: tcp_SYN_timeout, tcp_session_timer and
// tcp_connection_linger.
constexpr uint64_t zeek_syn_timeout_ms = 5000;
constexpr uint64_t zeek_session_timer_ms = 6000;
constexpr uint64_t zeek_linger_ms = 5000;

}  // namespace

SeqCheck check_rst_sequence(uint32_t seq, const DirectionState& sender,
                            const DirectionState& receiver) noexcept {
    bool sender_known = sender.bits & direction_bit::seq_known;
    bool receiver_known = receiver.bits & direction_bit::ack_known;
    if (!sender_known && !receiver_known) return SeqCheck::unknown;
    // The receiver's RCV.NXT lies between what it last acknowledged and what the sender last
    // sent: anything in that range may be exact once in-flight ACKs land.
    uint32_t low = receiver_known ? receiver.ack_last : sender.seq_next;
    uint32_t high = sender_known ? sender.seq_next : receiver.ack_last;
    if (seq_lt(high, low)) std::swap(low, high);  // capture loss on the sender's direction
    if (seq_ge(seq, low) && seq_le(seq, high)) return SeqCheck::exact;
    if (!(receiver.bits & direction_bit::window_known)) return SeqCheck::unknown;
    uint64_t window = uint64_t{receiver.window} << effective_scale(receiver, sender);
    if (window == 0) window = 1;  // RFC 9293 3.10.7.4: a zero window still accepts RCV.NXT
    if (seq_ge(seq, low) && uint64_t{static_cast<uint32_t>(seq - low)} < window)
        return SeqCheck::in_window;
    return SeqCheck::out_of_window;
}

FlowTracker::FlowTracker(const TrackerConfig& config, WorkerCounters& counters)
    : config_(config),
      counters_(counters),
      table_(config.flow_capacity, config.table_huge_pages),
      hosts_(config.host_capacity),
      flight_(config.flight) {
    uint32_t capacity = 16;
    while (capacity < config.linger_capacity)
        capacity <<= 1;
    // push_pending writes a slot whole before anything reads it.
    pending_ = FixedArray<PendingReset>(capacity, "the linger queue", config.paging,
                                        Elements::written_before_read);
    // Not populated here (fault_in_expected_resets()), nor ever the extras: a capture's resets
    // mostly have none, and only theirs take pages there.
    pending_extras_ = FixedArray<ResetEventExtras>(capacity, "the linger queue's extras",
                                                   config.paging, Elements::written_before_read);
    pending_mask_ = capacity - 1;
    outbox_ = std::make_unique<ResetEvent[]>(outbox_capacity);
    if (config.signatures) scanner_ = std::make_unique<SignatureScanner>(*config.signatures);
    if (config.app_capacity > 0) {
        uint32_t apps = std::bit_ceil(config.app_capacity);
        // Up front whatever the input: every slot is written below (no holder is not zero).
        app_memory_ = std::make_unique<FixedMemory>(size_t{apps} * sizeof(AppSlot),
                                                    "the application table", Paging::up_front,
                                                    Access::random, config.table_huge_pages);
        apps_ = reinterpret_cast<AppSlot*>(app_memory_->data());
        for (uint32_t i = 0; i < apps; ++i) {
            new (&apps_[i]) AppSlot{};
            apps_[i].slot = FlowTable::no_slot;  // no holder
        }
        app_mask_ = apps - 1;
    }
    if (flight_.enabled())
        evidence_ = std::make_unique<EvidenceArena>(config.flight.evidence_blocks,
                                                    flight_.packets_per_flow(),
                                                    flight_.record_bytes(), config.flight.paging);
    if (config.connection_window_ns > 0)
        connections_ = std::make_unique<ConnectionWindows>(config.connection_window_ns,
                                                           config.connection_slots);
}

// A connection starts (a new flow or a new Zeek record): counted toward its responder, unless
// its first packet is a RST (no connection: backscatter, or the RST of a flow seen too late).
void FlowTracker::count_connection(const FlowEntry& e, const DecodedPacket& p) noexcept {
    if (!connections_ || (p.tcp_flags & rst)) return;
    const bool resp_is_lo = e.has(flow_bit::orig_is_hi);
    connections_->count(p.ts_ns, resp_is_lo ? e.key.addr_lo : e.key.addr_hi, e.key.family,
                        resp_is_lo ? e.key.port_lo : e.key.port_hi,
                        e.key.family == IpFamily::v4 ? 24 : 64);
}

void FlowTracker::process_burst(const DecodedPacket* packets, uint32_t count,
                                const FrameRef* frames, uint16_t link) noexcept {
    if (!flight_.enabled()) frames = nullptr;
    // Two prefetch stages hide the memory latency of a large table: a packet's buckets, then the
    // entry its matching signature points to (the slot found is where its lookup starts), each
    // some packets ahead of the packet being analysed (entry_ahead_, flow_tracker.h).
    // How far ahead the app-table slot a data segment will touch is prefetched; `holder_ahead`
    // packets ahead that slot, by then in cache, names the connection holding it, whose entry is
    // prefetched in turn when the segment's connection is about to take the slot over.
    // The flight recorder needs none: it appends to its ring in order (flight_store.h).
    constexpr uint32_t holder_ahead = 4;
    constexpr uint32_t app_ahead = 2 * holder_ahead;
    static_assert(rolling_entry_ahead >= app_ahead, "the app stage reads the entry stage's slot");
    const uint32_t entry_ahead = entry_ahead_;
    const uint32_t bucket_ahead = entry_ahead + bucket_lead;
    FlowKey keys[max_burst];
    uint64_t hashes[max_burst];
    bool src_is_lo[max_burst];
    uint32_t slots[max_burst];
    while (count > 0) {
        uint32_t n = std::min(count, max_burst);
        for (uint32_t i = 0; i < n; ++i) {
            keys[i] = key_of(packets[i], src_is_lo[i]);
            hashes[i] = FlowTable::hash(keys[i]);
        }
        for (uint32_t i = 0; i < std::min(n, bucket_ahead); ++i)
            table_.prefetch(hashes[i]);
        for (uint32_t i = 0; i < std::min(n, entry_ahead); ++i)
            slots[i] = table_.prefetch_entry(hashes[i]);
        counters_.bump(WorkerCounter::tcp_packets, n);
        if (apps_)
            for (uint32_t i = 0; i < std::min(n, app_ahead); ++i)
                prefetch_app(slots[i], packets[i], src_is_lo[i]);
        // process_one is a call here: beside the entry stage's code GCC no longer inlines it, and
        // forcing it costs more than the call (flow_tracker.h, entry_ahead_).
        for (uint32_t i = 0; i < n; ++i) {
            if (i + bucket_ahead < n) table_.prefetch(hashes[i + bucket_ahead]);
            if (i + entry_ahead < n)
                slots[i + entry_ahead] = table_.prefetch_entry(hashes[i + entry_ahead]);
            if (apps_) {
                if (i + app_ahead < n)
                    prefetch_app(slots[i + app_ahead], packets[i + app_ahead],
                                 src_is_lo[i + app_ahead]);
                if (i + holder_ahead < n && i >= app_ahead - holder_ahead)
                    prefetch_app_holder(slots[i + holder_ahead], packets[i + holder_ahead],
                                        src_is_lo[i + holder_ahead]);
            }
            process_one(packets[i], keys[i], hashes[i], slots[i], src_is_lo[i],
                        frames ? frames + i : nullptr, link);
        }
        packets += n;
        if (frames) frames += n;
        count -= n;
    }
}

uint32_t FlowTracker::take_slot(uint64_t hash) noexcept {
    uint32_t slot = table_.free_slot(hash);
    if (slot != FlowTable::no_slot) return slot;
    slot = table_.choose_victim(hash);
    finalize_flow(slot);
    counters_.bump(WorkerCounter::flows_evicted);
    return slot;
}

// Roles: the SYN's sender originates; a SYN-ACK's sender responds; otherwise Zeek's port
// heuristic, then the first packet's sender, and the guess is said in the event.
static void set_roles(FlowEntry& e, const DecodedPacket& p, bool src_is_lo) noexcept {
    bool src_is_orig;
    uint8_t syn_ack = p.tcp_flags & (syn | ack);
    if (syn_ack == syn) {
        src_is_orig = true;
    } else if (syn_ack == (syn | ack)) {
        src_is_orig = false;
    } else {
        src_is_orig = !zeek_should_flip(p.src_port, p.dst_port, p.tcp_flags);
        e.flags |= flow_bit::orig_guessed;
    }
    e.zeek.flipped = !src_is_orig;
    // Zeek keeps a SYN-ACK's sender as originator unless the port rule flips it, and flips it
    // on the ACK or data that follows ("^h", as taken here at once); a SYN that follows instead
    // is a SYN/SYN-ACK reversal (zeek_state.h).
    if (syn_ack == (syn | ack) && !zeek_should_flip(p.src_port, p.dst_port, p.tcp_flags))
        zeek_synack_sender_was_originator(e.zeek);
    bool orig_is_lo = src_is_orig == src_is_lo;
    if (!orig_is_lo) e.flags |= flow_bit::orig_is_hi;
}

FlowEntry& FlowTracker::new_flow(uint32_t slot, const FlowKey& key, uint64_t hash,
                                 const DecodedPacket& p, bool src_is_lo) noexcept {
    FlowEntry& e = table_.occupy(slot, key, hash);
    counters_.bump(WorkerCounter::flows_created);
    e.first_ts_ns = p.ts_ns;
    e.last_ts_ns = p.ts_ns;
    e.lifecycle = Lifecycle::half_open;
    for (auto& side : e.side)
        side.window_scale = tcp_wscale_absent;
    set_roles(e, p, src_is_lo);
    if (p.tcp_flags & rst) e.flags |= flow_bit::started_with_rst;
    count_connection(e, p);
    return e;
}

// Ends the flow's Zeek record (its lingering reset is written with the record's state) and
// starts a new one with this packet, as Zeek starts a new connection.
void FlowTracker::start_record(uint32_t slot, FlowEntry& e, const DecodedPacket& p, bool src_is_lo,
                               uint32_t now_ms) noexcept {
    finalize_flow(slot);
    counters_.bump(WorkerCounter::zeek_records_split);
    const bool orig_was_hi = e.has(flow_bit::orig_is_hi);
    e.flags &= static_cast<uint8_t>(~(flow_bit::orig_is_hi | flow_bit::orig_guessed |
                                      flow_bit::event_done | flow_bit::event_pending));
    e.zeek = ZeekTracking{};
    set_roles(e, p, src_is_lo);
    // The handshake facts name roles: they do not survive a change of them.
    if (e.has(flow_bit::orig_is_hi) != orig_was_hi)
        e.flags &= static_cast<uint8_t>(
            ~(flow_bit::orig_syn_seen | flow_bit::synack_seen | flow_bit::handshake_acked));
    e.record_start_ms = now_ms;
    e.record_timer_ms = 0;
    e.record_bits = 0;
    count_connection(e, p);
}

// Zeek's TCPSessionAdapter::IsReuse and its timers (ConnDeleteTimer, AttemptTimer, ExpireTimer,
// the inactivity timer), checked before the packet on its own time: would Zeek have ended the
// record this packet would join?
bool FlowTracker::record_ends(const FlowEntry& e, const DecodedPacket& p, bool src_is_lo,
                              uint32_t now_ms) const noexcept {
    const ZeekTracking& z = e.zeek;
    using E = ZeekEndpoint;
    const uint64_t timer_ms = e.record_timer_ms;
    if ((e.record_bits & record_bit::closed) &&
        now_ms >= timer_ms + config_.zeek_close_delay_ns / ns_per_ms)
        return true;
    if ((e.record_bits & record_bit::attempt) &&
        (z.orig == E::syn_sent || z.orig == E::syn_ack_sent) && z.resp == E::inactive &&
        now_ms >= timer_ms + config_.zeek_attempt_delay_ns / ns_per_ms)
        return true;
    const auto handshake = [](E s) {
        return s == E::inactive || s == E::syn_sent || s == E::syn_ack_sent;
    };
    const bool orig_is_hi = e.has(flow_bit::orig_is_hi) != zeek_roles_inverted(z);
    const uint16_t resp_port = orig_is_hi ? e.key.port_lo : e.key.port_hi;
    uint64_t inactivity = handshake(z.orig) && handshake(z.resp)
                              ? config_.zeek_handshake_inactivity_ns
                              : config_.zeek_inactivity_ns;
    if (resp_port == 21 || resp_port == 22 || resp_port == 23 || resp_port == 513)
        inactivity = config_.zeek_long_inactivity_ns;
    if (p.ts_ns >= e.last_ts_ns + inactivity) return true;

    const bool orig_closed = zeek_did_close(z, true);
    const bool resp_closed = zeek_did_close(z, false);
    if (!(e.record_bits & record_bit::closed) && (orig_closed || resp_closed) &&
        ((orig_closed && resp_closed) || z.orig == E::reset || z.resp == E::reset ||
         z.orig == E::inactive || z.resp == E::inactive)) {
        // The expire check runs at tcp_SYN_timeout after the start and every tcp_session_timer
        // after, and from a half close on; it ends the record once the last packet is more than
        // tcp_connection_linger old.
        const uint64_t after_ms = ms_between(e.first_ts_ns, e.last_ts_ns) + zeek_linger_ms;
        const auto next_check = [after_ms](uint64_t base) {
            if (base > after_ms) return base;
            return base + ((after_ms - base) / zeek_session_timer_ms + 1) * zeek_session_timer_ms;
        };
        uint64_t check = next_check(uint64_t{e.record_start_ms} + zeek_syn_timeout_ms);
        if (e.record_bits & record_bit::half_closed)
            check = std::min(check, next_check(timer_ms + zeek_session_timer_ms));
        if (check <= now_ms) return true;
    }

    if (!(p.tcp_flags & syn)) return false;
    // Reuse: a SYN after a close; else a SYN with another initial sequence number than the
    // originator's (a SYN-ACK: the responder's, and only while the originator never spoke).
    const bool synack = p.tcp_flags & ack;
    if (synack && z.orig != E::inactive) return false;
    if (orig_closed || resp_closed) return true;
    // The SYN a first SYN-ACK answered, seen after it: Zeek flips the roles, same record.
    if (zeek_is_reversal(z, src_is_lo != e.has(flow_bit::orig_is_hi), p.tcp_flags, p.seq))
        return false;
    const unsigned orig_index = orig_is_hi ? 1 : 0;
    const unsigned index = synack ? 1 - orig_index : orig_index;
    const uint8_t known = index == 0 ? record_bit::seq_known_lo : record_bit::seq_known_hi;
    // A side that has not spoken in the record has the start its peer's first ACK gave it
    // (Zeek's init_peer: the acknowledgement less one), or none (0).
    const uint32_t start =
        (e.record_bits & known) ? e.side[index].record_seq : z.side[synack ? 1 : 0].start;
    if (p.seq == start) return false;
    // A SYN and SYN-ACK seen in reverse order: Zeek flips the roles instead.
    const uint8_t resp_known =
        orig_index == 0 ? record_bit::seq_known_hi : record_bit::seq_known_lo;
    const uint32_t resp_start =
        (e.record_bits & resp_known) ? e.side[1 - orig_index].record_seq : 0;
    if (!synack && z.orig == E::syn_ack_sent && z.resp == E::inactive && p.seq == resp_start)
        return false;
    (void)src_is_lo;
    return true;
}

// After the packet went through Zeek's state machine: the record's start sequence numbers and
// the timer a SYN or a close arms.
void FlowTracker::follow_record(FlowEntry& e, const DecodedPacket& p, bool src_is_lo,
                                ZeekEndpoint orig_before, ZeekClose close,
                                uint32_t now_ms) noexcept {
    const uint8_t known = src_is_lo ? record_bit::seq_known_lo : record_bit::seq_known_hi;
    if (!(e.record_bits & known)) {
        e.side[src_is_lo ? 0 : 1].record_seq = p.seq;
        e.record_bits |= known;
    }
    constexpr uint8_t timers = record_bit::attempt | record_bit::closed | record_bit::half_closed;
    if (close == ZeekClose::complete) {
        e.record_bits = static_cast<uint8_t>((e.record_bits & ~timers) | record_bit::closed);
        e.record_timer_ms = now_ms;
    } else if (close == ZeekClose::incomplete && !(e.record_bits & record_bit::closed)) {
        e.record_bits = static_cast<uint8_t>((e.record_bits & ~timers) | record_bit::half_closed);
        e.record_timer_ms = now_ms;
    } else if (!(e.record_bits & timers) && orig_before == ZeekEndpoint::inactive &&
               (e.zeek.orig == ZeekEndpoint::syn_sent ||
                e.zeek.orig == ZeekEndpoint::syn_ack_sent)) {
        e.record_bits |= record_bit::attempt;
        e.record_timer_ms = now_ms;
    }
}

// Segments the summary counts by kind, besides their analysis.
void FlowTracker::count_segment_kinds(const DecodedPacket& p) noexcept {
    if (p.family == IpFamily::v6) counters_.bump(WorkerCounter::ipv6_packets);
    if (p.encapsulation & encapsulation_vlan) counters_.bump(WorkerCounter::vlan_packets);
    if (p.encapsulation & encapsulation_mpls) counters_.bump(WorkerCounter::mpls_packets);
    if (p.encapsulation & encapsulation_tunnel) counters_.bump(WorkerCounter::tunnel_packets);
    if (p.payload_captured < p.payload_length) counters_.bump(WorkerCounter::payload_truncated);
    if (p.options_malformed) counters_.bump(WorkerCounter::tcp_option_malformed);
}

// The segment's connection: found, or created in a free (or evicted) slot. A SYN on a finished
// connection opens a new one on the same 4-tuple, even with the old ISN: stacks that retry a
// refused connect() resend the same SYN (Zeek agrees: one conn.log entry per attempt).
// Handshake steps seen, and the connection's lifecycle: established once the handshake is
// acknowledged (or, joined midstream, once both sides spoke), closed by two FINs.
void FlowTracker::follow_lifecycle(FlowEntry& e, const DecodedPacket& p, bool from_orig) noexcept {
    const uint8_t flags = p.tcp_flags;
    const bool is_rst = flags & rst;
    if (is_rst) {
        // A SYN+RST opens nothing.
    } else if ((flags & (syn | ack)) == syn && from_orig) {
        if (e.has(flow_bit::orig_syn_seen) && p.seq == e.orig_syn_seq)
            counters_.bump(WorkerCounter::syn_retransmitted);
        e.flags |= flow_bit::orig_syn_seen;
        e.orig_syn_seq = p.seq;
    } else if ((flags & (syn | ack)) == (syn | ack) && !from_orig) {
        // The same SYN-ACK again (nothing sent after it) once the originator has acknowledged it:
        // the responder's stack dropped that ACK. Linux does so when the listener's accept queue
        // is full and tcp_abort_on_overflow is 0, the overload that otherwise sends no RST.
        if (e.has(flow_bit::handshake_acked) && p.seq + 1 == e.resp().seq_next)
            counters_.bump(WorkerCounter::synack_after_handshake_ack);
        e.flags |= flow_bit::synack_seen;
    } else if (!is_rst && (flags & ack) && from_orig && e.has(flow_bit::synack_seen)) {
        e.flags |= flow_bit::handshake_acked;
    }
    if (e.lifecycle == Lifecycle::half_open && !is_rst) {
        bool midstream = !e.has(flow_bit::orig_syn_seen) && !e.has(flow_bit::synack_seen);
        bool both_sides = e.orig().ttl_usual != 0 && e.resp().ttl_usual != 0;
        if (e.has(flow_bit::handshake_acked) || (midstream && both_sides)) {
            e.lifecycle = Lifecycle::established;
            e.was_established = true;
        }
    }
    if ((e.orig().bits & direction_bit::sent_fin) && (e.resp().bits & direction_bit::sent_fin))
        e.lifecycle = Lifecycle::closed;
}

void FlowTracker::process_one(const DecodedPacket& p, const FlowKey& key, uint64_t hash,
                              uint32_t slot_hint, bool src_is_lo, const FrameRef* frame,
                              uint16_t link) noexcept {
    const uint8_t flags = p.tcp_flags;
    const bool is_rst = flags & rst;
    // A SYN+RST segment is a RST (receiving stacks check RST first) and Zeek's `Q`: analysed.
    if (is_rst) counters_.bump(WorkerCounter::rst_packets);
    count_segment_kinds(p);
    if (p.ts_ns > now_ns_) now_ns_ = p.ts_ns;

    uint32_t slot = table_.find(key, hash, slot_hint);
    FlowEntry* entry;
    uint32_t now_ms = 0;  // after the flow's first packet: 0 for a flow this packet opens
    if (slot == FlowTable::no_slot) {
        slot = take_slot(hash);
        entry = &new_flow(slot, key, hash, p, src_is_lo);
    } else {
        entry = &table_.entry(slot);
        // A SYN on a finished connection opens a new one on the same 4-tuple, even with the old
        // ISN: stacks that retry a refused connect() resend the same SYN (Zeek agrees: one
        // conn.log entry per attempt).
        bool fresh_syn =
            (flags & (syn | ack | rst)) == syn && entry->lifecycle == Lifecycle::closed;
        if (fresh_syn) {
            finalize_flow(slot);
            entry = &new_flow(slot, key, hash, p, src_is_lo);
        } else {
            now_ms = ms_between(entry->first_ts_ns, p.ts_ns);
            if (record_ends(*entry, p, src_is_lo, now_ms))
                start_record(slot, *entry, p, src_is_lo, now_ms);
        }
    }
    FlowEntry& e = *entry;
    if (frame) record_frame(e, slot, *frame, p.ts_ns, link);

    const bool from_orig = src_is_lo != e.has(flow_bit::orig_is_hi);
    DirectionState& sender = from_orig ? e.orig() : e.resp();

    uint64_t previous_ts = e.last_ts_ns;
    if (p.ts_ns > previous_ts) {
        e.previous_gap_ms = e.last_gap_ms;
        e.last_gap_ms = ms_between(previous_ts, p.ts_ns);
        e.last_ts_ns = p.ts_ns;
    }

    const bool seen_before = sender.ttl_usual != 0;  // a non-RST packet came from this side
    ++sender.pkts;
    // Zeek's history letters need what the segment shows of its sender's sequence space.
    ZeekSegment segment{from_orig, flags, p.payload_length, p.seq, p.ack, p.window == 0, false};
    bool retransmission = false;
    if (!is_rst) {
        if (scanner_ && p.payload_captured > 0) scan_data(e, p, from_orig, sender.payload_bytes);
        if (apps_ && p.payload_captured > 0 &&
            (e.app_bits & app_bit::both_done) != app_bit::both_done)
            feed_app(e, slot, p, from_orig, sender);
        if (scanner_ && apps_ && p.payload_captured > 0)
            keep_last_payload(e, slot, p, from_orig, sender.payload_bytes);
        sender.payload_bytes += p.payload_length;
        if (!seen_before) {
            sender.ttl_usual = p.ttl ? p.ttl : 1;
        } else if (p.ttl != sender.ttl_usual) {
            sender.bits |= direction_bit::ttl_varied;
        }
        if (p.has_ip_id) {
            uint16_t step = static_cast<uint16_t>(p.ip_id - sender.ip_id_last);
            if (seen_before && step >= 1 && step <= 256) {
                if (sender.ip_id_steps < 255) ++sender.ip_id_steps;
            } else if (seen_before) {
                sender.ip_id_steps = 0;
            }
            sender.ip_id_last = p.ip_id;
        }
        learn_host(p, sender, !seen_before);
        uint32_t length = p.payload_length + ((flags & syn) ? 1 : 0) + ((flags & fin) ? 1 : 0);
        uint32_t end = p.seq + length;
        if (sender.bits & direction_bit::seq_known) {
            if (p.payload_length > 0 && seq_le(end, sender.seq_next)) retransmission = true;
            if (seq_gt(p.seq, sender.seq_next)) segment.content_gap = true;
            if (seq_gt(end, sender.seq_next)) sender.seq_next = end;
        } else {
            sender.seq_next = end;
            sender.bits |= direction_bit::seq_known;
        }
        if (retransmission) sender.bits |= direction_bit::retransmitted;
        if (flags & ack) {
            if (!(sender.bits & direction_bit::ack_known) || seq_gt(p.ack, sender.ack_last))
                sender.ack_last = p.ack;
            sender.bits |= direction_bit::ack_known;
        }
        sender.window = p.window;
        sender.bits |= direction_bit::window_known;
        if (flags & syn) {
            sender.window_scale = p.options.window_scale;
        } else if (p.window == 0 && !(flags & fin)) {
            sender.bits |= direction_bit::zero_window;
        }
        if (flags & fin) sender.bits |= direction_bit::sent_fin;
    }

    follow_lifecycle(e, p, from_orig);
    const ZeekEndpoint orig_before = e.zeek.orig;
    const ZeekClose close = zeek_track(e.zeek, segment);
    follow_record(e, p, src_is_lo, orig_before, close, now_ms);

    if (is_rst) {
        handle_rst(e, slot, p, from_orig);
    } else if (e.has(flow_bit::event_pending)) {
        observe_after_rst(e, p, from_orig);
    }
}

// RFC 5961 acceptability of a RST, except in SYN-SENT (RFC 9293 3.10.7.3), where a RST counts
// only if it acknowledges the SYN.
SeqCheck FlowTracker::rst_sequence_check(const FlowEntry& e, const DecodedPacket& p,
                                         bool in_syn_sent, const DirectionState& sender,
                                         const DirectionState& receiver) noexcept {
    if (!in_syn_sent) return check_rst_sequence(p.seq, sender, receiver);
    if (!(p.tcp_flags & ack)) return SeqCheck::unknown;
    return p.ack == e.orig_syn_seq + 1 ? SeqCheck::exact : SeqCheck::out_of_window;
}

// A later RST on a connection whose reset is still lingering adds evidence to it. RFC 5961: after
// an inexact RST (and its challenge ACK) an exact one is the real reset: the first is written
// now, as what it was, and the exact one becomes the connection's event (returns false then).
bool FlowTracker::add_to_pending_reset(FlowEntry& e, const DecodedPacket& p, bool from_orig,
                                       SeqCheck check, const DirectionState& receiver) noexcept {
    PendingReset& first = pending_[e.pending_slot];
    bool first_ignored = first.facts.seq_check == SeqCheck::in_window ||
                         first.facts.seq_check == SeqCheck::out_of_window;
    if (first_ignored && check == SeqCheck::exact) {
        finalize(first, true);
        if (!e.has(flow_bit::event_pending)) return false;
    }
    PendingReset& pending = pending_[e.pending_slot];
    if (from_orig != pending.event.rst_by_orig) return true;
    if (pending.event.rst_spacing_us == 0 && p.ts_ns >= pending.event.ts_ns)
        pending.event.rst_spacing_us = static_cast<uint32_t>(
            std::clamp<uint64_t>((p.ts_ns - pending.event.ts_ns) / 1000, 1, UINT32_MAX));
    EvidenceSet& evidence = pending.event.evidence;
    bool same_seq = p.seq == pending.event.rst_seq;
    set_bit(evidence, same_seq ? Evidence::rst_retransmitted : Evidence::rst_seq_change);
    // A different ACK on a later RST is suspicious only if the peer sent nothing new that a
    // genuine stack would have acknowledged in between.
    bool peer_quiet = receiver.seq_next == pending.receiver_seq_next_at_rst;
    if ((p.tcp_flags & ack) && pending.rst_had_ack && p.ack != pending.event.rst_ack && peer_quiet)
        set_bit(evidence, Evidence::rst_ack_change);
    return true;
}

// The event as far as the RST itself tells: who, when, the addresses, the RST's own fields.
void FlowTracker::draft_event(PendingReset& pending, const FlowEntry& e, const DecodedPacket& p,
                              bool from_orig, SeqCheck check,
                              const DirectionState& sender) noexcept {
    ResetEventCore& ev = pending.event;
    std::memset(static_cast<void*>(&ev), 0, sizeof(ev));
    ev.ts_ns = p.ts_ns;
    ev.first_ts_ns = e.first_ts_ns;
    ev.last_ts_ns = p.ts_ns;
    ev.orig_h = from_orig ? p.src : p.dst;
    ev.resp_h = from_orig ? p.dst : p.src;
    ev.orig_p = from_orig ? p.src_port : p.dst_port;
    ev.resp_p = from_orig ? p.dst_port : p.src_port;
    ev.vlan_outer = p.vlan_outer;
    ev.vlan_inner = p.vlan_inner;
    ev.family = p.family;
    ev.orig_guessed = e.has(flow_bit::orig_guessed);
    ev.rst_by_orig = from_orig;
    ev.seq_check = check;
    ev.rst_ttl = p.ttl;
    ev.usual_ttl = sender.ttl_usual;
    ev.rst_seq = p.seq;
    ev.rst_ack = (p.tcp_flags & ack) ? p.ack : 0;
    ev.worker = config_.worker_id;
    ev.rst_payload_length =
        static_cast<uint8_t>(std::min<uint32_t>(p.payload_captured, rst_payload_capacity));
    if (ev.rst_payload_length)
        std::memcpy(extras_of(pending).rst_payload, p.payload, ev.rst_payload_length);
    ev.mptcp_reset_reason = p.options.mptcp_reset_reason;
    if (p.tunnels != 0) {
        EventTunnel& tunnel = extras_of(pending).tunnel;
        tunnel.types = p.tunnels;
        tunnel.id = p.tunnel_id;
        // The frame is still valid here (it is the burst's): the outer header can be read.
        tunnel.outer_known =
            innermost_tunnel_endpoints(p, tunnel.outer_family, tunnel.outer_src, tunnel.outer_dst);
    }
}

ResetEventExtras& FlowTracker::extras_of(PendingReset& pending) noexcept {
    ResetEventExtras& extras = pending_extras_[index_of(pending)];
    if (!pending.has_extras) {
        extras = no_reset_event_extras;
        pending.has_extras = true;
    }
    return extras;
}

// The evidence the connection's past gives about its RST (docs/causes.md); returns whether a
// silence long enough to be idle came before it.
bool FlowTracker::gather_evidence(ResetEventCore& ev, const FlowEntry& e, const DecodedPacket& p,
                                  SeqCheck check, const DirectionState& sender,
                                  const DirectionState& receiver) noexcept {
    EvidenceSet& evidence = ev.evidence;
    set_bit(evidence, Evidence::seq_exact, check == SeqCheck::exact);
    set_bit(evidence, Evidence::seq_in_window, check == SeqCheck::in_window);
    set_bit(evidence, Evidence::seq_out_of_window, check == SeqCheck::out_of_window);
    set_bit(evidence, Evidence::ttl_mismatch,
            sender.ttl_usual != 0 && !(sender.bits & direction_bit::ttl_varied) &&
                p.ttl != sender.ttl_usual);
    if (p.has_ip_id && sender.ip_id_steps >= ip_id_trusted_steps) {
        uint16_t step = static_cast<uint16_t>(p.ip_id - sender.ip_id_last);
        set_bit(evidence, Evidence::ipid_mismatch, step == 0 || step > ip_id_max_plausible_jump);
    }
    set_bit(evidence, Evidence::zero_window_before, sender.bits & direction_bit::zero_window);
    set_bit(evidence, Evidence::retransmits_before,
            (sender.bits | receiver.bits) & direction_bit::retransmitted);
    set_bit(evidence, Evidence::fin_before,
            (sender.bits | receiver.bits) & direction_bit::sent_fin);
    set_bit(evidence, Evidence::payload_in_rst, p.payload_length > 0);
    set_bit(evidence, Evidence::mptcp_reset_reason, p.options.has_mptcp_reset);
    uint32_t idle_ms = e.last_gap_ms;
    if (idle_ms < answer_window_ms) idle_ms = std::max(idle_ms, e.previous_gap_ms);
    ev.idle_before_ms = idle_ms;
    bool idle = uint64_t{idle_ms} * ns_per_ms >= config_.idle_threshold_ns;
    set_bit(evidence, Evidence::idle_before, idle);
    return idle;
}

// The host's fingerprint from a connection side's non-RST packets: its TTL from the first, its
// IP-ID behaviour once a few packets tell. Twice per connection side, not per packet.
void FlowTracker::learn_host(const DecodedPacket& p, const DirectionState& sender,
                             bool first_packet) noexcept {
    if (first_packet) {
        if (hosts_.learn_ttl(p.src, p.family, p.ttl)) counters_.bump(WorkerCounter::hosts_evicted);
    } else if (p.has_ip_id && sender.pkts == ip_id_judged_at_packet) {
        bool counter = sender.ip_id_steps >= ip_id_trusted_steps;
        hosts_.learn_ip_id(p.src, p.family, counter, !counter && p.ip_id == 0, p.ip_id);
    }
}

// Who sent the RST, from its TTL and IP-ID against the sender's usual ones: the connection's,
// or the host's fingerprint when the sender had not spoken on this connection (a refusal).
// Kernel fingerprints (docs/causes.md): a RST sent from no socket (closed port, data after
// close, listen overflow) carries IP-ID 0 and the system's default TTL, not a TTL the
// application set, so with IP_TTL 255 it "breaks" both TTL and IP-ID: one fact, not two.
void FlowTracker::gather_origin_evidence(ResetEventCore& ev, const FlowEntry& e,
                                         const DecodedPacket& p, bool from_orig, SeqCheck check,
                                         const DirectionState& sender) noexcept {
    EvidenceSet& evidence = ev.evidence;
    const bool spoke = sender.ttl_usual != 0;
    uint8_t usual = (spoke && !(sender.bits & direction_bit::ttl_varied)) ? sender.ttl_usual : 0;
    const HostFingerprint* host = spoke ? nullptr : hosts_.find(p.src, p.family);
    if (host != nullptr && !host->ttl_varied) usual = host->usual_ttl;
    // Per worker: with several workers another one may know the host, or not (docs/causes.md).
    set_bit(evidence, Evidence::host_fingerprint, host != nullptr);
    bool ip_id_continues = false;
    if (p.has_ip_id && p.ip_id != 0) {
        uint16_t step = 0;
        if (spoke && sender.ip_id_last != 0) {
            step = static_cast<uint16_t>(p.ip_id - sender.ip_id_last);
        } else if (host != nullptr && host->ip_id == IpIdBehaviour::global_counter) {
            step = static_cast<uint16_t>(p.ip_id - host->last_ip_id);
        }
        ip_id_continues = step >= 1 && step <= ip_id_continue_max_step;
        set_bit(evidence, Evidence::ipid_continues, ip_id_continues);
    }
    if (usual != 0) {
        const uint8_t endpoint_hops = hops_of(usual);
        const uint32_t ttl_at_source = uint32_t{p.ttl} + endpoint_hops;
        const bool socketless =
            p.has_ip_id && p.ip_id == 0 &&
            (ttl_at_source == 64 || ttl_at_source == 128 || ttl_at_source == 255);
        const bool match = p.ttl == usual;
        // The endpoint's own IP-ID counter outweighs its TTL: a route or load-balancer change.
        const bool on_path =
            !match && !socketless && !ip_id_continues && hops_of(p.ttl) < endpoint_hops;
        set_bit(evidence, Evidence::ttl_match, match);
        set_bit(evidence, Evidence::socketless_rst, socketless);
        set_bit(evidence, Evidence::ttl_on_path, on_path);
        if (on_path) ev.hops_from_endpoint = static_cast<uint8_t>(endpoint_hops - hops_of(p.ttl));
        if (socketless)
            evidence &=
                ~(evidence_bit(Evidence::ttl_mismatch) | evidence_bit(Evidence::ipid_mismatch));
    }
    // tcp_abort_on_overflow: the listener answers the handshake's last ACK with a bare RST at
    // the SYN-ACK's sequence + 1 before the responder sent a byte (RFC 9293 3.10.7.1: a RST
    // answering an ACK takes the ACK's number as its sequence and carries no ACK itself).
    set_bit(evidence, Evidence::listen_overflow,
            !from_orig && !(p.tcp_flags & tcp_flag::ack) && check == SeqCheck::exact &&
                !ev.has(Evidence::idle_before) && !ev.has(Evidence::fin_before) &&
                e.has(flow_bit::synack_seen) && e.has(flow_bit::handshake_acked) &&
                sender.payload_bytes == 0 && !(sender.bits & direction_bit::sent_fin));
}

void FlowTracker::handle_rst(FlowEntry& e, uint32_t slot, const DecodedPacket& p,
                             bool from_orig) noexcept {
    if (e.rst_count < UINT16_MAX) ++e.rst_count;
    DirectionState& sender = from_orig ? e.orig() : e.resp();
    DirectionState& receiver = from_orig ? e.resp() : e.orig();

    const bool in_syn_sent =
        !from_orig && e.has(flow_bit::orig_syn_seen) && !e.has(flow_bit::synack_seen);
    const SeqCheck check = rst_sequence_check(e, p, in_syn_sent, sender, receiver);
    const bool accepted = check == SeqCheck::exact || check == SeqCheck::unknown;
    // Only one event per connection: a later RST adds to the lingering one, or to none.
    bool added =
        e.has(flow_bit::event_pending) && add_to_pending_reset(e, p, from_orig, check, receiver);
    if (added || e.has(flow_bit::event_done)) {
        if (accepted) e.lifecycle = Lifecycle::closed;
        return;
    }

    counters_.bump(WorkerCounter::reset_connections);
    PendingReset& pending = push_pending(slot, e);
    draft_event(pending, e, p, from_orig, check, sender);
    bool idle = gather_evidence(pending.event, e, p, check, sender, receiver);
    gather_origin_evidence(pending.event, e, p, from_orig, check, sender);

    ResetFacts& facts = pending.facts;
    facts = ResetFacts{};
    facts.rst_by_orig = from_orig;
    facts.started_with_rst = e.orig().pkts + e.resp().pkts == 1;
    facts.orig_syn_seen = e.has(flow_bit::orig_syn_seen);
    facts.synack_seen = e.has(flow_bit::synack_seen);
    facts.established = e.was_established;
    facts.ack_matches_syn = in_syn_sent && check == SeqCheck::exact;
    facts.idle = idle;
    facts.seq_check = check;
    pending.receiver_seq_next_at_rst = receiver.seq_next;
    pending.rst_had_ack = p.tcp_flags & ack;
    pending.deadline_ns = p.ts_ns + config_.linger_ns;
    if (pending.deadline_ns < latest_queued_deadline_) {
        out_of_order_ = true;
        out_of_order_position_ = pending_tail_ - 1;
    } else {
        latest_queued_deadline_ = pending.deadline_ns;
    }
    if (scanner_) add_signatures(pending, e, slot, p);
    if (apps_) add_app(pending, e, slot);
    if (accepted) e.lifecycle = Lifecycle::closed;
    if (config_.linger_ns == 0) finalize(pending);
}

// A direction's first bytes are known only when the connection's start was seen (its SYN or
// SYN-ACK; data on a SYN counts): joined midstream, the bytes seen first may lie anywhere in the
// stream, so they are not scanned as the first bytes; the head of each direction's latest segment
// is kept instead and scanned at the RST.
static bool start_seen(const FlowEntry& e, const DecodedPacket& p) noexcept {
    return (e.flags & (flow_bit::orig_syn_seen | flow_bit::synack_seen)) || (p.tcp_flags & syn);
}

// Block-mode scan of the part of a data segment within its direction's first bytes
// (signature_scanner.h); `offset`: the direction's payload bytes before this segment.
void FlowTracker::scan_data(FlowEntry& e, const DecodedPacket& p, bool from_orig,
                            uint64_t offset) noexcept {
    const SignatureWhere where = from_orig ? SignatureWhere::orig : SignatureWhere::resp;
    const uint32_t limit = scanner_->database().bytes_for(where);
    if (offset >= limit || !start_seen(e, p)) return;
    uint32_t length = std::min<uint32_t>(p.payload_captured, limit - static_cast<uint32_t>(offset));
    uint8_t rule = scanner_->scan(p.payload, length, where, offset);
    if (rule == 0) return;
    e.signature_rule[from_orig ? 0 : 1] = rule;
    e.signature_at_ms[from_orig ? 0 : 1] = ms_between(e.first_ts_ns, p.ts_ns);
}

// The connection's signatures join its reset's event: the last match of each data direction and
// the RST payload's own, and the causes they name join the facts.
void FlowTracker::add_signatures(PendingReset& pending, const FlowEntry& e, uint32_t slot,
                                 const DecodedPacket& p) noexcept {
    ResetEventCore& ev = pending.event;
    const auto& rules = scanner_->database().rules();
    const uint32_t rst_ms = ms_between(e.first_ts_ns, p.ts_ns);
    size_t count = 0;
    uint32_t latest_reply_ms = 0;
    const AppSlot* a = app_slot_of(e, slot);
    for (int side = 0; side < 2; ++side) {
        uint8_t rule = e.signature_rule[side];
        uint32_t at_ms = e.signature_at_ms[side];
        // The latest segment past the first bytes, scanned now: a match there is the later one.
        if (a && a->last_length[side] > 0) {
            uint8_t late =
                scanner_->scan(a->last_bytes[side], a->last_length[side],
                               side == 0 ? SignatureWhere::orig : SignatureWhere::resp, 0);
            if (late != 0) {
                rule = late;
                at_ms = a->last_at_ms[side];
            }
        }
        if (rule == 0) continue;
        extras_of(pending).signatures[count++] = {
            rst_ms - std::min(at_ms, rst_ms),
            rule,
            static_cast<uint8_t>(side == 0 ? SignatureWhere::orig : SignatureWhere::resp),
            {}};
        ResetCause cause = rules[rule - 1].cause;
        bool later = pending.facts.reply_cause == ResetCause::count || at_ms >= latest_reply_ms;
        if (cause != ResetCause::count && later) {
            pending.facts.reply_cause = cause;
            latest_reply_ms = at_ms;
            set_bit(ev.evidence, Evidence::server_error);
        }
    }
    const uint32_t rst_limit = scanner_->database().bytes_for(SignatureWhere::rst);
    if (p.payload_captured == 0 || rst_limit == 0) return;
    uint8_t rule = scanner_->scan(p.payload, std::min<uint32_t>(p.payload_captured, rst_limit),
                                  SignatureWhere::rst, 0);
    if (rule == 0) return;
    extras_of(pending).signatures[count] = {0, rule, static_cast<uint8_t>(SignatureWhere::rst), {}};
    ResetCause cause = rules[rule - 1].cause;
    if (cause != ResetCause::count) {
        pending.facts.rst_reason_cause = cause;
        set_bit(ev.evidence, Evidence::rst_reason);
    }
}

// The next in-order bytes of a direction go to the connection's application parsers
// (app_identity.h); a gap in the stream, or losing the slot to a newer connection, ends them.
void FlowTracker::feed_app(FlowEntry& e, uint32_t slot, const DecodedPacket& p, bool from_orig,
                           const DirectionState& sender) noexcept {
    const uint8_t done = from_orig ? app_bit::orig_done : app_bit::resp_done;
    if ((e.app_bits & done) || (p.tcp_flags & syn)) return;
    AppSlot& a = apps_[slot & app_mask_];
    if (!(e.app_bits & app_bit::claimed)) {
        if (a.slot != FlowTable::no_slot) {
            const FlowEntry& holder = table_.entry(a.slot);
            if (holder.generation == a.generation && !holder.has(flow_bit::event_done) &&
                (holder.app_bits & app_bit::both_done) != app_bit::both_done)
                counters_.bump(WorkerCounter::app_slots_reused);
        }
        a.slot = slot;
        a.generation = e.generation;
        a.record.reset();
        a.last_length[0] = a.last_length[1] = 0;
        e.app_bits |= app_bit::claimed;
    } else if (a.slot != slot || a.generation != e.generation) {
        e.app_bits |= app_bit::both_done;  // taken by a newer connection (counted there)
        return;
    }
    uint32_t skip = 0;
    if (sender.bits & direction_bit::seq_known) {
        const auto ahead = static_cast<int32_t>(p.seq - sender.seq_next);
        if (ahead > 0) {  // bytes before this segment were missed
            counters_.bump(WorkerCounter::app_gaps);
            e.app_bits |= done;
            return;
        }
        skip = static_cast<uint32_t>(-static_cast<int64_t>(ahead));  // a retransmission's old part
        if (skip >= p.payload_captured) return;
    }
    const uint8_t* data = p.payload + skip;
    const uint32_t length = p.payload_captured - skip;
    bool more = from_orig ? a.record.feed_orig(data, length) : a.record.feed_resp(data, length);
    if (more && p.payload_captured < p.payload_length) {  // the capture cut the rest
        counters_.bump(WorkerCounter::app_gaps);
        more = false;
    }
    if (!more) e.app_bits |= done;
}

// The lines of the app-table slot that feed_app and keep_last_payload will touch for `p`, judged
// from the flow entry (prefetched with the table; `slot` may be another flow's on a rare
// signature collision: a useless prefetch, nothing more). Every data segment of a connection
// still parsing or keeping its latest head touches its slot, at a random place in a table
// larger than the caches: unprefetched, each is a load miss the packet waits on.
void FlowTracker::prefetch_app(uint32_t slot, const DecodedPacket& p,
                               bool src_is_lo) const noexcept {
    asm volatile("");  // keeps the calls (flow_tracker.h)
    if (slot == FlowTable::no_slot || p.payload_captured == 0 || (p.tcp_flags & rst)) return;
    const FlowEntry& e = table_.entry(slot);
    const bool from_orig = src_is_lo != e.has(flow_bit::orig_is_hi);
    const int side = from_orig ? 0 : 1;
    const uint8_t done = from_orig ? app_bit::orig_done : app_bit::resp_done;
    const bool feeds = !(e.app_bits & done) && !(p.tcp_flags & syn);
    const uint64_t offset = e.side[src_is_lo ? 0 : 1].payload_bytes;  // the sender's
    const bool keeps = scanner_ && keeps_last_payload(e, p, from_orig, offset);
    if (!feeds && !keeps) return;
    const char* a = reinterpret_cast<const char*>(&apps_[slot & app_mask_]);
    __builtin_prefetch(a, 1);  // the holder, the kept heads' lengths, the originator's parser
    // Taking the slot clears the responder's parser too, on line 1; so does feeding it.
    if (feeds && (!from_orig || !(e.app_bits & app_bit::claimed))) __builtin_prefetch(a + 64, 1);
    if (keeps) {
        const size_t at =
            offsetof(AppSlot, last_bytes) + static_cast<size_t>(side) * last_payload_bytes;
        __builtin_prefetch(a + at, 1);
        if (p.payload_captured > 64) __builtin_prefetch(a + at + 64, 1);
    }
}

// A connection about to claim its app-table slot (feed_app) reads the entry of the connection
// holding it, to count a slot taken from one still parsing: a random line of the flow table,
// prefetched here once the app slot itself (prefetch_app, some packets earlier) says whose.
void FlowTracker::prefetch_app_holder(uint32_t slot, const DecodedPacket& p,
                                      bool src_is_lo) const noexcept {
    asm volatile("");  // keeps the calls (flow_tracker.h)
    if (slot == FlowTable::no_slot || p.payload_captured == 0 || (p.tcp_flags & (rst | syn)))
        return;
    const FlowEntry& e = table_.entry(slot);
    if (e.app_bits & app_bit::claimed) return;
    const bool from_orig = src_is_lo != e.has(flow_bit::orig_is_hi);
    if (e.app_bits & (from_orig ? app_bit::orig_done : app_bit::resp_done)) return;
    const uint32_t holder = apps_[slot & app_mask_].slot;
    if (holder == FlowTable::no_slot || holder == slot) return;
    const char* h = reinterpret_cast<const char*>(&table_.entry(holder));
    __builtin_prefetch(h + offsetof(FlowEntry, generation));
    __builtin_prefetch(h + offsetof(FlowEntry, app_bits));
}

// Whether keep_last_payload keeps this segment's head: past its direction's first signature
// bytes, or any data segment of a connection joined midstream.
bool FlowTracker::keeps_last_payload(const FlowEntry& e, const DecodedPacket& p, bool from_orig,
                                     uint64_t offset) const noexcept {
    const uint32_t limit =
        scanner_->database().bytes_for(from_orig ? SignatureWhere::orig : SignatureWhere::resp);
    return limit != 0 && (offset >= limit || !start_seen(e, p));
}

// A data segment starting past its direction's first signature bytes (which scan_data covers),
// or any data segment of a connection joined midstream (whose first bytes were not seen): its
// head is kept as the direction's latest, scanned only if the connection is reset.
void FlowTracker::keep_last_payload(const FlowEntry& e, uint32_t slot, const DecodedPacket& p,
                                    bool from_orig, uint64_t offset) noexcept {
    if (!keeps_last_payload(e, p, from_orig, offset)) return;
    AppSlot* a = app_slot_of(e, slot);
    if (!a) return;
    const int side = from_orig ? 0 : 1;
    const uint32_t length = std::min<uint32_t>(p.payload_captured, last_payload_bytes);
    a->last_length[side] = static_cast<uint16_t>(length);
    a->last_at_ms[side] = ms_between(e.first_ts_ns, p.ts_ns);
    std::memcpy(a->last_bytes[side], p.payload, length);
}

// What the parsers found joins the reset's event (nothing found leaves its extras untouched).
void FlowTracker::add_app(PendingReset& pending, const FlowEntry& e, uint32_t slot) noexcept {
    const AppSlot* a = app_slot_of(e, slot);
    if (!a) return;
    const AppIdentity identity = a->record.identity(pending.event.resp_p);
    if (identity.proto != AppProto::none) extras_of(pending).app = identity;
}

// The packet joins the flight recorder's ring as its flow's latest; after a drafted reset's RST
// only the share flight_store.h gives to what follows it.
void FlowTracker::record_frame(FlowEntry& e, uint32_t slot, const FrameRef& frame, uint64_t ts_ns,
                               uint16_t link) noexcept {
    if (e.has(flow_bit::event_pending)) {
        PendingReset& pending = pending_[e.pending_slot];
        if (pending.flight_after_rst >= flight_.after_rst()) {
            counters_.bump(WorkerCounter::recorder_packets_skipped);
            return;
        }
        ++pending.flight_after_rst;
    }
    flight_.append(e.flight_last, slot, e.generation, frame, ts_ns, link);
}

void FlowTracker::observe_after_rst(FlowEntry& e, const DecodedPacket& p, bool from_orig) noexcept {
    PendingReset& pending = pending_[e.pending_slot];
    EvidenceSet& evidence = pending.event.evidence;
    if (from_orig == pending.event.rst_by_orig) {
        // The race behind injection: the genuine sender, unaware of "its" RST, keeps sending.
        if (p.payload_length > 0 && seq_gt(p.seq + p.payload_length, pending.event.rst_seq))
            set_bit(evidence, Evidence::data_after_rst);
    } else if (pending.facts.seq_check != SeqCheck::exact && (p.tcp_flags & ack) &&
               !(p.tcp_flags & (syn | fin)) && p.payload_length == 0) {
        set_bit(evidence, Evidence::challenge_ack);
    }
}

PendingReset& FlowTracker::push_pending(uint32_t slot, FlowEntry& e) noexcept {
    if (pending_tail_ - pending_head_ > pending_mask_) {
        // Full: the oldest reset is written now, with the evidence gathered so far.
        PendingReset& oldest = pending_[pending_head_ & pending_mask_];
        if (oldest.slot != FlowTable::no_slot) {
            prefetch_verdicts(pending_head_);
            finalize(oldest);
            counters_.bump(WorkerCounter::linger_queue_full);
        }
        ++pending_head_;
    }
    uint32_t index = pending_tail_++ & pending_mask_;
    PendingReset& pending = pending_[index];
    pending.slot = slot;
    pending.generation = e.generation;
    pending.flight_after_rst = 0;
    pending.has_extras = false;
    e.pending_slot = index;
    e.flags |= flow_bit::event_pending;
    return pending;
}

void FlowTracker::finalize(PendingReset& pending, bool superseded) noexcept {
    ResetEventCore& ev = pending.event;
    FlowEntry& e = table_.entry(pending.slot);
    if (table_.occupied(pending.slot) && e.generation == pending.generation) {
        // A superseded RST's event does not count the RST that superseded it.
        ev.rst_count = e.rst_count - (superseded ? 1 : 0);
        ev.last_ts_ns = e.last_ts_ns;
        ev.orig_pkts = e.orig().pkts;
        ev.resp_pkts = e.resp().pkts;
        ev.orig_bytes = e.orig().payload_bytes;
        ev.resp_bytes = e.resp().payload_bytes;
        ev.conn_state = zeek_conn_state(e.zeek);
        zeek_history(e.zeek, ev.history, history_capacity);
        e.flags &= static_cast<uint8_t>(~flow_bit::event_pending);
        if (evidence_) {
            const FlightStore::Sealed sealed =
                flight_.seal(e.flight_last, pending.slot, e.generation,
                             uint64_t{e.side[0].pkts} + e.side[1].pkts, *evidence_);
            ev.flight_block = sealed.block;
            counters_.bump(WorkerCounter::recorder_packets_overwritten, sealed.overwritten);
        }
    }
    if (evidence_ && ev.flight_block == 0)
        counters_.bump(WorkerCounter::recorder_events_without_packets);
    pending.facts.evidence = ev.evidence;
    Verdict verdict = classify_reset(pending.facts);
    ev.cause = verdict.cause;
    ev.confidence = verdict.confidence;
    ev.rst_origin = rst_origin_of(pending.facts, verdict.cause);
    if (ev.rst_origin != RstOrigin::path || !ev.has(Evidence::ttl_on_path))
        ev.hops_from_endpoint = 0;
    // A RST the receiver ignored did not end the connection: a later real one gets its own event.
    if (!superseded && verdict.cause != ResetCause::out_of_window &&
        e.generation == pending.generation)
        e.flags |= flow_bit::event_done;
    pending.slot = FlowTable::no_slot;
    emit(pending);
}

void FlowTracker::finalize_flow(uint32_t slot) noexcept {
    FlowEntry& e = table_.entry(slot);
    if (table_.occupied(slot) && e.has(flow_bit::event_pending)) {
        PendingReset& pending = pending_[e.pending_slot];
        if (pending.slot == slot && pending.generation == e.generation) finalize(pending);
    }
}

// Two stages ahead of the verdict being written at `head`: the pending record twice the lookahead
// further on (all of it: finalize reads the draft and copies it out), and the flow entry (and
// extras, if any) of the one a lookahead further on, whose record the first stage brought in.
void FlowTracker::prefetch_verdicts(uint32_t head) const noexcept {
    const uint32_t queued = pending_tail_ - head;
    if (queued > 2 * verdict_lookahead) {
        prefetch_whole<true>(pending_[(head + 2 * verdict_lookahead) & pending_mask_]);
    }
    if (queued > verdict_lookahead) {
        const uint32_t index = (head + verdict_lookahead) & pending_mask_;
        const uint32_t slot = pending_[index].slot;
        if (slot != FlowTable::no_slot) table_.prefetch_slot(slot);
        if (pending_[index].has_extras) prefetch_whole(pending_extras_[index]);
    }
}

void FlowTracker::advance(uint64_t now_ns) noexcept {
    if (now_ns > now_ns_) now_ns_ = now_ns;
    for (uint32_t budget = max_verdicts_per_advance;
         budget > 0 && pending_head_ != pending_tail_ && outbox_count_ < outbox_capacity;
         --budget) {
        PendingReset& oldest = pending_[pending_head_ & pending_mask_];
        if (oldest.slot != FlowTable::no_slot) {
            if (oldest.deadline_ns > now_ns_) break;
            prefetch_verdicts(pending_head_);
            finalize(oldest);
        }
        ++pending_head_;
    }
    // Once the head has passed the last reset queued out of order, it no longer matters (and its
    // position cannot come round again).
    if (out_of_order_ && static_cast<int32_t>(out_of_order_position_ - pending_head_) < 0)
        out_of_order_ = false;
    sweep();
}

void FlowTracker::sweep() noexcept {
    const uint64_t buckets = table_.bucket_count();
    uint64_t due;
    if (config_.sweep_period_ns == 0) {
        due = buckets;
    } else {
        if (last_sweep_ns_ == 0 || now_ns_ < last_sweep_ns_) last_sweep_ns_ = now_ns_;
        uint64_t elapsed = now_ns_ - last_sweep_ns_;
        uint64_t earned = elapsed >= config_.sweep_period_ns
                              ? buckets
                              : static_cast<uint64_t>(static_cast<unsigned __int128>(buckets) *
                                                      elapsed / config_.sweep_period_ns);
        // Elapsed time too short to earn a bucket is kept for the next call.
        if (earned > 0) {
            sweep_credit_ += earned;
            last_sweep_ns_ = now_ns_;
        }
        if (sweep_credit_ > buckets) sweep_credit_ = buckets;
        due = std::min(sweep_credit_, max_buckets_per_sweep);
        sweep_credit_ -= due;
    }
    for (uint64_t i = 0; i < due; ++i) {
        // A bucket can write one event per way: stop while the outbox could not take them, and
        // keep the rest of the credit for the next call.
        if (outbox_capacity - outbox_count_ < FlowTable::ways) {
            sweep_credit_ += due - i;
            break;
        }
        uint32_t bucket = sweep_cursor_++ & static_cast<uint32_t>(buckets - 1);
        for (uint32_t way = 0; way < FlowTable::ways; ++way) {
            uint32_t slot = bucket * FlowTable::ways + way;
            if (!table_.occupied(slot)) continue;
            const FlowEntry& e = table_.entry(slot);
            uint64_t timeout = e.lifecycle == Lifecycle::established
                                   ? config_.established_timeout_ns
                               : e.lifecycle == Lifecycle::closed ? config_.closed_timeout_ns
                                                                  : config_.half_open_timeout_ns;
            if (now_ns_ - e.last_ts_ns <= timeout || now_ns_ < e.last_ts_ns) continue;
            finalize_flow(slot);
            table_.release(slot);
            counters_.bump(WorkerCounter::flows_expired);
        }
    }
}

void FlowTracker::fault_in_expected_resets() noexcept {
    pending_.populate(config_.expected_resets);
}

bool FlowTracker::flush_pending(uint32_t limit) noexcept {
    limit = std::min(limit, outbox_capacity - outbox_count_);
    for (; limit > 0 && pending_head_ != pending_tail_; --limit) {
        PendingReset& oldest = pending_[pending_head_ & pending_mask_];
        if (oldest.slot != FlowTable::no_slot) {
            prefetch_verdicts(pending_head_);
            finalize(oldest);
        }
        ++pending_head_;
    }
    return pending_head_ == pending_tail_;
}

void FlowTracker::emit(const PendingReset& pending) noexcept {
    // Bounded by construction: the worker empties the outbox after every burst (at most
    // max_events_per_segment events per segment) and advance() and flush_pending() stop
    // while it lacks room. Should that ever fail, the loss has its own counter.
    if (outbox_count_ == outbox_capacity) {
        counters_.bump(WorkerCounter::events_outbox_full);
        return;
    }
    assemble_event(outbox_[outbox_count_++], pending.event,
                   pending.has_extras ? pending_extras_[index_of(pending)] : no_reset_event_extras);
}

}  // namespace rstscope
