// SPDX-License-Identifier: BSD-3-Clause
// Per-worker connection tracking and reset analysis: feeds each decoded TCP segment through the
// flow table, keeps the per-direction state the verdict needs, holds each connection's first RST
// in a linger queue while later packets add evidence, then classifies it and emits a ResetEvent.
//
// Thread contract: one tracker per worker lcore, used by that lcore only. Hot path: process*,
// advance and flush are noexcept, never allocate, lock, log or make system calls; they count.
// Events go to a bounded outbox that the worker empties into its event ring after every burst;
// advance() and flush_pending() write only what it has room for.
//
// Zeek records: a flow lives as long as the connection's past matters to the causes, but Zeek
// ends a connection record and starts a new one on the same 4-tuple in cases where the flow goes
// on. Each flow holds the Zeek record in progress (its ZeekTracking, start, timer and start
// sequence numbers); before each packet, on the packet's time, the tracker checks whether Zeek
// would have ended that record: tcp_close_delay after a complete close, tcp_attempt_delay after an
// unanswered SYN, inactivity, the expire check (every 6 s from 5 s after the record's start, and
// 6 s after a close the peer did not finish: ends the record when a side closed, the connection is
// reset, both closed or one side never spoke, and the last packet is more than 5 s old), and
// reuse (a SYN after a close, or with a new initial sequence number). A record's end writes its
// lingering reset (with the record's conn_state and history), and the next packet starts a new
// record: roles chosen afresh as for a new connection, and a RST in it is a new reset event.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <type_traits>

#include "rstscope/analysis/connection_windows.h"
#include "rstscope/analysis/flight_store.h"
#include "rstscope/analysis/host_fingerprint.h"
#include "rstscope/analysis/reset_classifier.h"
#include "rstscope/analysis/reset_event.h"
#include "rstscope/analysis/signature_scanner.h"
#include "rstscope/common/counters.h"
#include "rstscope/common/fixed_memory.h"
#include "rstscope/decode/decoded_packet.h"
#include "rstscope/flow/flow_table.h"

namespace rstscope {

inline constexpr uint64_t ns_per_second = 1'000'000'000ull;

struct TrackerConfig {
    uint32_t flow_capacity = 1u << 20;
    // Resets awaiting their verdict at once: 65536 x 496 B = 31 MiB, about 21 000 resets/s for
    // the default 3 s linger before the oldest are written early.
    uint32_t linger_capacity = 65536;
    uint64_t linger_ns = 3 * ns_per_second;
    uint64_t idle_threshold_ns = 180 * ns_per_second;
    // Long enough to outlive the middleboxes whose expiry rstscope must recognise: AWS NLB 350 s,
    // Azure LB 4 min, Cisco ASA 1 h.
    uint64_t established_timeout_ns = 7200 * ns_per_second;
    uint64_t half_open_timeout_ns = 60 * ns_per_second;
    uint64_t closed_timeout_ns = 60 * ns_per_second;
    // Zeek's connection-record timers (docs/events.md, "Zeek records"), Zeek's defaults: a record
    // ends this long after a complete close (tcp_close_delay), after an originator's SYN the peer
    // never answered (tcp_attempt_delay), and after silence while both sides are still in the
    // handshake (the TCP analyzer's first inactivity timeout), after it (tcp_inactivity_timeout)
    // and on ports 21, 22, 23 and 513 (Conn::port_inactivity_timeouts).
    uint64_t zeek_close_delay_ns = 5 * ns_per_second;
    uint64_t zeek_attempt_delay_ns = 5 * ns_per_second;
    uint64_t zeek_handshake_inactivity_ns = 60 * ns_per_second;
    uint64_t zeek_inactivity_ns = 300 * ns_per_second;
    uint64_t zeek_long_inactivity_ns = 3600 * ns_per_second;
    // Whether the VLAN tags are part of the flow key (--vlan-in-key). Off, as Zeek's key: the
    // same addresses and ports seen on two VLANs (a mirror of both sides of a router) are one
    // connection; events still carry the RST's own tags.
    bool vlan_in_key = false;
    // The idle-flow sweep visits the whole table once per this much time (packet time for
    // captures), a slice per advance(): its cost follows time, not packets. 0: the whole table on
    // every advance() (exact expiry, for tests).
    uint64_t sweep_period_ns = 5 * ns_per_second;
    // Hosts whose usual TTL and IP-ID behaviour a worker remembers across connections:
    // 16384 x 32 B = 512 KiB per worker; the least recently used of a full bucket is evicted.
    uint32_t host_capacity = 16384;
    uint8_t worker_id = 0;
    // Compiled once at start, shared read-only, outlives the tracker; null: no signatures.
    const SignatureDatabase* signatures = nullptr;
    // Connections whose application the worker can be parsing at once (app_identity.h): a
    // direct-mapped table indexed by flow slot, rounded up to a power of two; a connection that
    // starts sending takes its slot from whichever older one held it (counted as
    // app_slots_reused when that one was still open). 0: no application identity. rstscope sets
    // it with --signatures: 65536 x sizeof(AppSlot) (512 B) = 32 MiB per worker.
    uint32_t app_capacity = 0;
    // The flight recorder's per-flow packets and evidence blocks; packets 0: off.
    FlightConfig flight{.packets = 0};
    // Connections per service and findings window (connection_windows.h), for the rst_storm
    // share: the findings window; 0: not counted. `connection_slots`: its copies (slots_for()).
    uint64_t connection_window_ns = 0;
    uint32_t connection_slots = ConnectionWindows::min_slots;
    // When the linger queue (and the pipeline's event ring and reassembly scratch) take their
    // pages (fixed_memory.h): up front for live traffic, on first use for a capture. The flight
    // recorder's own is flight.paging; the flow table and the application table are always
    // faulted in up front (flow_table.h; every app slot is written at setup).
    Paging paging = Paging::up_front;
    // What the flow table's and the application table's huge pages may cost to fault in
    // (fixed_memory.h): always for live traffic, while cheap for a capture.
    HugePages table_huge_pages = HugePages::always;
    // The reset segments this worker is expected to meet (a capture's, from its probe; 0 for
    // live traffic, whose memory is up front and present already). As many linger slots (and
    // event-ring slots, pipeline.h) are written for certain, so they are faulted in off the
    // worker's path (5 % of a reset-heavy capture's run): by fault_in_expected_resets(), which
    // the pipeline calls once the worker runs (docs/performance.md).
    uint64_t expected_resets = 0;
    // process_burst() prefetches a few packets ahead while the flow table takes at most this
    // many bytes, the whole burst ahead beyond (FlowTracker::prefetch_ahead()).
    size_t rolling_prefetch_max_table_bytes = size_t{1} << 30;
};

// The app table rstscope (and worker_bench) gives each worker when signatures are on.
inline constexpr uint32_t app_capacity_with_signatures = 65536;

// Bits of FlowEntry::app_bits.
namespace app_bit {
inline constexpr uint8_t claimed = 0x01;    // the connection took its app slot
inline constexpr uint8_t orig_done = 0x02;  // the originator's parser wants no more bytes
inline constexpr uint8_t resp_done = 0x04;
inline constexpr uint8_t both_done = orig_done | resp_done;
}  // namespace app_bit

// The head of a direction's latest data segment past its first signature bytes, kept to be
// scanned when the connection is reset (the reply right before a RST on a long connection).
inline constexpr uint32_t last_payload_bytes = 128;

// One slot of a worker's application table: the connection holding it, its parse and, with
// signatures, the head of each direction's latest segment ([0] orig, [1] resp). Laid out by what
// a data segment touches, since each touch is a random line of a table larger than the caches:
// line 0 holds the holder, the kept heads' lengths and times and the originator's parser state;
// line 1 the responder's parser state and the found identity's lengths; lines 2-3 the found
// names (written only when found); lines 4-7 the kept heads. Taking the slot over clears lines 0
// and 1 only (AppRecord::reset), keeping a 32-byte head touches line 0 and one line of bytes.
struct alignas(64) AppSlot {
    uint32_t slot;  // flow-table slot and generation of the holder
    uint32_t generation;
    uint32_t last_at_ms[2];   // when each kept head arrived, after the flow's first packet
    uint16_t last_length[2];  // 0: none kept (the latest segment lay within the first bytes)
    uint32_t padding;
    AppRecord record;
    alignas(64) uint8_t last_bytes[2][last_payload_bytes];
};
static_assert(offsetof(AppSlot, record) + offsetof(AppRecord, resp) == 64, "see the layout note");
static_assert(offsetof(AppSlot, record) + offsetof(AppRecord, found) +
                      offsetof(AppIdentity, name) ==
                  128,
              "see the layout note");
static_assert(sizeof(AppSlot) == 512);
static_assert(std::is_trivially_destructible_v<AppSlot>);  // left to app_memory_'s unmapping

// A reset waiting out its linger window: the event's core as drafted at the RST, and what the
// verdict needs from it. Its extras (RST payload, tunnel, signatures, application) wait beside it
// in the tracker's extras array, at the same index, only once one of them is known. Most resets
// have none: a capture, whose memory is taken on use, never touches most pages of that array, and
// its queue holds 248 bytes a reset where it held 496 (live traffic takes both up front).
struct PendingReset {
    ResetEventCore event;
    ResetFacts facts;
    uint64_t deadline_ns;
    uint32_t slot;  // flow-table slot; FlowTable::no_slot once written out early
    uint32_t generation;
    uint32_t receiver_seq_next_at_rst;
    uint16_t flight_after_rst;  // packets the flight recorder kept after the RST
    bool rst_had_ack;
    bool has_extras;  // the extras array's entry at this index is this reset's
};

class FlowTracker {
  public:
    static constexpr uint32_t max_burst = 64;
    // One segment writes at most three events (a superseded RST, its successor with no linger,
    // and an evicted or reused flow's), so one burst fits with room to spare.
    static constexpr uint32_t max_events_per_segment = 3;
    static constexpr uint32_t outbox_capacity = 1024;
    static_assert(outbox_capacity >= max_burst * max_events_per_segment);

    FlowTracker(const TrackerConfig& config, WorkerCounters& counters);

    // Analyses a burst of decoded segments (bulk hashing and prefetch across the burst).
    // `frames`: each segment's frame, for the flight recorder (null: none kept), of pcap link
    // type `link`.
    void process_burst(const DecodedPacket* packets, uint32_t count,
                       const FrameRef* frames = nullptr, uint16_t link = 1) noexcept;
    void process(const DecodedPacket& packet) noexcept { process_burst(&packet, 1); }

    // Faults in the linger slots of the expected resets (TrackerConfig::expected_resets). Any
    // thread, while the worker runs: the worker takes the slots in order from the first, far
    // slower than they are faulted in, and a slot it reaches first it faults in itself. Its
    // contents are never touched, so it needs no synchronisation with the worker.
    void fault_in_expected_resets() noexcept;

    // Moves time forward (packet time for captures): writes out resets whose linger ended and
    // sweeps a few buckets for idle flows. Call once per poll, burst or not.
    void advance(uint64_t now_ns) noexcept;

    // Writes out up to `limit` pending resets regardless of their linger; returns true when none
    // remain (end of capture, shutdown).
    bool flush_pending(uint32_t limit) noexcept;

    bool has_pending() const noexcept { return pending_head_ != pending_tail_; }

    // After the last packet and flush: the flow table's memory goes back to the system, and no
    // packet may come after. What the tracker shares with management (its tallies, evidence and
    // connection windows) stays.
    void release_flow_table() noexcept { table_.release_memory(); }
    // A time no pending reset's linger ends before (deadline: its RST's time plus the linger):
    // the oldest's while the deadlines from it on were queued in order, 0 (nothing known) while a
    // reset queued after it has an earlier one (a capture whose times go back); UINT64_MAX when
    // none is pending. The flush writes pending resets in queue order.
    uint64_t pending_deadline_floor() const noexcept {
        if (!has_pending()) return UINT64_MAX;
        if (out_of_order_ && static_cast<int32_t>(out_of_order_position_ - pending_head_) > 0)
            return 0;
        return pending_[pending_head_ & pending_mask_].deadline_ns;
    }

    const ResetEvent* events() const noexcept { return outbox_.get(); }
    uint32_t event_count() const noexcept { return outbox_count_; }
    void clear_events() noexcept { outbox_count_ = 0; }

    const FlowTable& table() const noexcept { return table_; }
    // How many packets ahead of the one it analyses process_burst() asks for a flow entry:
    // rolling_entry_ahead, or max_burst (the whole burst first) for a table beyond
    // TrackerConfig::rolling_prefetch_max_table_bytes.
    uint32_t prefetch_ahead() const noexcept { return entry_ahead_; }
    // The key this tracker files `packet` under (--vlan-in-key decides whether VLANs count); the
    // worker's dispatch to the owning worker uses it too, so both agree on a connection.
    FlowKey key_of(const DecodedPacket& packet, bool& src_is_lo) const noexcept {
        return flow_key_of(packet, src_is_lo, config_.vlan_in_key);
    }
    HostFingerprints& hosts() noexcept { return hosts_; }
    uint64_t now_ns() const noexcept { return now_ns_; }
    // Null without signatures; management reads its match counters.
    const SignatureScanner* signature_scanner() const noexcept { return scanner_.get(); }
    // Null when the flight recorder is off; management reads the blocks events name.
    const EvidenceArena* evidence() const noexcept { return evidence_.get(); }
    // Null when connections are not counted; management reads a window's counts.
    const ConnectionWindows* connections() const noexcept { return connections_.get(); }

  private:
    void count_connection(const FlowEntry& e, const DecodedPacket& p) noexcept;
    void process_one(const DecodedPacket& p, const FlowKey& key, uint64_t hash, uint32_t slot_hint,
                     bool src_is_lo, const FrameRef* frame, uint16_t link) noexcept;
    void count_segment_kinds(const DecodedPacket& p) noexcept;
    uint32_t slot_of_connection(const DecodedPacket& p, const FlowKey& key, uint64_t hash,
                                bool src_is_lo) noexcept;
    FlowEntry& new_flow(uint32_t slot, const FlowKey& key, uint64_t hash, const DecodedPacket& p,
                        bool src_is_lo) noexcept;
    uint32_t take_slot(uint64_t hash) noexcept;
    // `now_ms`: the packet's time in ms after the flow's first packet (ms_between), worked out
    // once a packet in process_one.
    bool record_ends(const FlowEntry& e, const DecodedPacket& p, bool src_is_lo,
                     uint32_t now_ms) const noexcept;
    void start_record(uint32_t slot, FlowEntry& e, const DecodedPacket& p, bool src_is_lo,
                      uint32_t now_ms) noexcept;
    static void follow_record(FlowEntry& e, const DecodedPacket& p, bool src_is_lo,
                              ZeekEndpoint orig_before, ZeekClose close, uint32_t now_ms) noexcept;
    void follow_lifecycle(FlowEntry& e, const DecodedPacket& p, bool from_orig) noexcept;
    void handle_rst(FlowEntry& e, uint32_t slot, const DecodedPacket& p, bool from_orig) noexcept;
    static SeqCheck rst_sequence_check(const FlowEntry& e, const DecodedPacket& p, bool in_syn_sent,
                                       const DirectionState& sender,
                                       const DirectionState& receiver) noexcept;
    bool add_to_pending_reset(FlowEntry& e, const DecodedPacket& p, bool from_orig, SeqCheck check,
                              const DirectionState& receiver) noexcept;
    void draft_event(PendingReset& pending, const FlowEntry& e, const DecodedPacket& p,
                     bool from_orig, SeqCheck check, const DirectionState& sender) noexcept;
    // The extras of `pending`, zeroed on first use for its reset.
    ResetEventExtras& extras_of(PendingReset& pending) noexcept;
    size_t index_of(const PendingReset& pending) const noexcept {
        return static_cast<size_t>(&pending - pending_.data());
    }
    bool gather_evidence(ResetEventCore& ev, const FlowEntry& e, const DecodedPacket& p,
                         SeqCheck check, const DirectionState& sender,
                         const DirectionState& receiver) noexcept;
    void gather_origin_evidence(ResetEventCore& ev, const FlowEntry& e, const DecodedPacket& p,
                                bool from_orig, SeqCheck check,
                                const DirectionState& sender) noexcept;
    void learn_host(const DecodedPacket& p, const DirectionState& sender,
                    bool first_packet) noexcept;
    void scan_data(FlowEntry& e, const DecodedPacket& p, bool from_orig, uint64_t offset) noexcept;
    void add_signatures(PendingReset& pending, const FlowEntry& e, uint32_t slot,
                        const DecodedPacket& p) noexcept;
    void feed_app(FlowEntry& e, uint32_t slot, const DecodedPacket& p, bool from_orig,
                  const DirectionState& sender) noexcept;
    void add_app(PendingReset& pending, const FlowEntry& e, uint32_t slot) noexcept;
    void keep_last_payload(const FlowEntry& e, uint32_t slot, const DecodedPacket& p,
                           bool from_orig, uint64_t offset) noexcept;
    bool keeps_last_payload(const FlowEntry& e, const DecodedPacket& p, bool from_orig,
                            uint64_t offset) const noexcept;
    // A function whose only effect is prefetching counts as having none to GCC, which deletes
    // every call to it that it does not inline (the release build's app-table prefetches were all
    // gone that way; docs/performance.md). These two stay calls (inlined, they made the packet loop
    // too large for GCC to inline process_one) that begin with an empty volatile asm, a side
    // effect to every compiler; the small helpers are always inlined.
    void prefetch_app(uint32_t slot, const DecodedPacket& p, bool src_is_lo) const noexcept;
    void prefetch_app_holder(uint32_t slot, const DecodedPacket& p, bool src_is_lo) const noexcept;
    AppSlot* app_slot_of(const FlowEntry& e, uint32_t slot) const noexcept {
        AppSlot* a = apps_ ? &apps_[slot & app_mask_] : nullptr;
        if (!a || !(e.app_bits & app_bit::claimed) || a->slot != slot ||
            a->generation != e.generation)
            return nullptr;
        return a;
    }
    void record_frame(FlowEntry& e, uint32_t slot, const FrameRef& frame, uint64_t ts_ns,
                      uint16_t link) noexcept;
    void observe_after_rst(FlowEntry& e, const DecodedPacket& p, bool from_orig) noexcept;
    PendingReset& push_pending(uint32_t slot, FlowEntry& e) noexcept;
    // Classifies and emits; `superseded`: a later RST replaces it as the connection's reset.
    void finalize(PendingReset& pending, bool superseded = false) noexcept;
    void finalize_flow(uint32_t slot) noexcept;
    void sweep() noexcept;
    // Writes the pending reset's whole event (core and extras) into the outbox.
    void emit(const PendingReset& pending) noexcept;
    [[gnu::always_inline]] inline void prefetch_verdicts(uint32_t head) const noexcept;

    TrackerConfig config_;
    WorkerCounters& counters_;
    FlowTable table_;
    // How many packets ahead of the one analysed process_burst() asks for its entry (and
    // bucket_lead more, for its buckets). A few packets ahead, rolling, the misses overlap the
    // analysis of the packets before; the whole burst ahead, they are all awaited before its first
    // packet. Rolling is faster by the wall clock at 100 K flows (4.6-5.5 -> 8.4-8.5 Mpps) and 1 M
    // (5.3-5.6 -> 6.4-8.0), though its loop no longer inlines process_one (16 instructions a
    // packet more; forcing it, 24 more again, and prefetching in steps of eight to keep it
    // inlined, slower). Beyond about 1 GiB of table (2 M flows on this VM;
    // TrackerConfig::rolling_prefetch_max_table_bytes), where a miss also walks the page tables,
    // eight packets no longer cover a miss and the whole burst ahead is 10-15 % faster
    // (docs/performance.md, "Prefetching a few packets ahead").
    static constexpr uint32_t rolling_entry_ahead = 8;
    static constexpr uint32_t bucket_lead = 4;
    uint32_t entry_ahead_ = table_.memory_bytes() <= config_.rolling_prefetch_max_table_bytes
                                ? rolling_entry_ahead
                                : max_burst;
    HostFingerprints hosts_;
    FixedArray<PendingReset> pending_;
    FixedArray<ResetEventExtras> pending_extras_;  // by the same index, where has_extras
    uint32_t pending_mask_;
    uint32_t pending_head_ = 0;  // oldest
    uint32_t pending_tail_ = 0;  // next free
    // The latest deadline queued, and the last reset queued with an earlier one than that, while
    // the head has not passed it (pending_deadline_floor).
    uint64_t latest_queued_deadline_ = 0;
    uint32_t out_of_order_position_ = 0;
    bool out_of_order_ = false;
    std::unique_ptr<ResetEvent[]> outbox_;
    uint32_t outbox_count_ = 0;
    uint32_t sweep_cursor_ = 0;
    uint64_t sweep_credit_ = 0;  // buckets due for a visit
    uint64_t last_sweep_ns_ = 0;
    uint64_t now_ns_ = 0;
    std::unique_ptr<SignatureScanner> scanner_;
    // The application table, on transparent huge pages as the flow table: every data segment of
    // a connection still parsing reaches a random slot, and on 4 KiB pages each missed the TLB.
    std::unique_ptr<FixedMemory> app_memory_;
    AppSlot* apps_ = nullptr;  // in app_memory_; null: no application identity
    uint32_t app_mask_ = 0;
    FlightStore flight_;
    std::unique_ptr<EvidenceArena> evidence_;
    std::unique_ptr<ConnectionWindows> connections_;
};

// Exposed for unit tests: RFC 5961 acceptability of a RST with sequence number `seq` sent by
// `sender` to `receiver`, as far as a passive observer can tell (ACKs may still be in flight).
SeqCheck check_rst_sequence(uint32_t seq, const DirectionState& sender,
                            const DirectionState& receiver) noexcept;

}  // namespace rstscope
