// SPDX-License-Identifier: BSD-3-Clause
// RST storms: a host that resets many connections within a short time is shedding load. Events
// wait here for one storm window of time so that a storm's first resets are recognised as well as
// its last. Management thread only.
//
// Verdict. An event is a storm when its resetting host has at least `threshold` resets (the event
// itself included) with times in [ts - window, ts + window]; counting stops at `threshold`.
// Events are released in the order (ts_ns, orig_h bytes, orig_p, resp_h bytes, resp_p, arrival),
// an event once `ts + window < now` (or every event when `everything`), so the log's order does
// not depend on which worker was faster.
//
// Exact within bounds: while events arrive no earlier than the `now` of the last release (an
// `everything` release coming last), at most `max_pending` wait at once and at most `max_hosts`
// hosts have times that still matter, every verdict and the release order equal those of a
// brute-force count over every event (the unit tests compare against one). Beyond the bounds
// memory stays fixed and verdicts are approximate:
// - the `max_pending`-th waiting event makes room by judging the oldest early (early_judged());
// - a new host when all `max_hosts` slots are taken replaces the idle host (no event waiting) that
//   went idle first, i.e. whose latest reset is oldest (hosts_evicted()); when every slot has
//   waiting events, the oldest events are judged early until one host goes idle.
// Idle hosts whose latest reset is more than one window before every event still to come are
// pruned (hosts_pruned()), oldest first from the idle list's head: amortised O(1).
//
// Per host only what a verdict needs is kept: its waiting events and its `threshold - 1` most
// recent judged times (a count capped at `threshold` never needs older ones: the event itself is
// one of them). Beyond the bounds a verdict counts a subset of the real resets: it may miss a
// storm, never invent one.
//
// Order without sorting: events mostly arrive in release order, so each order (the global one and
// each host's) is a list that in-order arrivals join at the tail in O(1), plus a heap for the
// stragglers (a binary heap globally, a leftist heap threaded through the event pool per host);
// the first event is the list's head or the heap's top. Cost per event: O(1) in order, O(log n)
// for a straggler, plus O(threshold) to count; no allocation after construction (the caller's
// output vector aside). Measured (-O2, 2 M events, 10 ms window, this 2-vCPU VM while loaded, so
// ranges): one host storming 0.22-0.35 us/event (a leftist heap alone took 1.0 us, the old map
// of string-keyed deques 0.85-1.3 us); 1000 hosts 0.3-0.5 us (old 1.8-2.8 us); 2 M distinct hosts
// 0.75-0.85 us with ResetStatistics (old: 18-26 us at 200 K hosts, growing without bound).
//
// Memory, all allocated by the constructor (memory_for() computes it exactly), in bytes, with
// P = max_pending, H = max_hosts, T = threshold, E = sizeof(ResetEvent) = 456 (an event's core,
// 208, and its extras, 248, whose pages only the events with extras take):
//     P * (E + 52)  +  J * (E + 32)  +  H * (8 * (T - 1) + 80)  +  4 * pow2ceil(4 * H)
//     +  4 * (T + 2)
// with J = judged_in_pool. P = 2^18, H = 2^16, T = 20, J = 0 take 142.5 MiB, 114 MiB of it the
// waiting events; the defaults (--storm-max-pending and --storm-max-hosts 2^16, --storm-threshold
// 20) 47.3 MiB, 28.5 MiB of it, and Management's J (its release slice and a pass's events from
// each worker: 5 120 with one worker) 2.4 MiB more.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "rstscope/analysis/reset_event.h"
#include "rstscope/common/fixed_memory.h"
#include "rstscope/mgmt/host_index.h"

namespace rstscope {

inline constexpr uint32_t storm_default_max_pending = 1u << 18;
inline constexpr uint32_t storm_default_max_hosts = 1u << 16;

class StormWindow {
  public:
    // A judged event, in release order, left in the pool while there is room: its slot is retired,
    // not freed, until the caller has written it and calls recycle(), so the copy out is saved (76
    // instructions an event, measured when the pool held whole events). Up to `judged_in_pool`
    // slots beyond max_pending hold them; once they are all retired, further judged events are
    // copied out and their slots freed. The pool keeps an event's core and, only when they say
    // something (has_extras()), its extras beside it: 208 bytes an event for most, not 456.
    struct Judged {
        // Declared so that emplace_back builds one in place: clang 14 (the fuzz build) lacks
        // C++20's aggregate initialisation from parentheses.
        Judged(ResetEventCore* pooled_event, const ResetEventExtras* extras_in_pool, bool in_storm,
               uint32_t hash) noexcept
            : pooled(pooled_event),
              pooled_extras(extras_in_pool),
              storm(in_storm),
              resetter_hashed(true),
              resetter_hash(hash) {}
        // Copied out of the pool; `extras` null: none.
        Judged(const ResetEventCore& judged_event, const ResetEventExtras* extras, bool in_storm,
               uint32_t hash) noexcept
            : pooled(nullptr), storm(in_storm), resetter_hashed(true), resetter_hash(hash) {
            assemble_event(copy, judged_event, extras ? *extras : no_reset_event_extras);
        }
        // One made outside a window: its resetter not hashed.
        Judged(const ResetEvent& judged_event, bool in_storm) noexcept
            : pooled(nullptr), storm(in_storm), copy(judged_event) {}
        ResetEventCore& event() noexcept {
            return pooled ? *pooled : static_cast<ResetEventCore&>(copy);
        }
        const ResetEventCore& event() const noexcept {
            return pooled ? *pooled : static_cast<const ResetEventCore&>(copy);
        }
        const ResetEventExtras& extras() const noexcept {
            if (!pooled) return copy;
            return pooled_extras ? *pooled_extras : no_reset_event_extras;
        }

        ResetEventCore* pooled;  // in the pool until recycle(); null: `copy`
        const ResetEventExtras* pooled_extras = nullptr;  // beside it in the pool; null: none
        bool storm;
        // The low 32 bits of the window's hash of the resetter (HostKey::resetter_of), for the
        // resetters' sketch sharing its HostHash (ResetStatistics::settle): hashed once an event.
        bool resetter_hashed = false;
        uint32_t resetter_hash = 0;
        ResetEvent copy;  // left unwritten when pooled
    };

    // `threshold`, `max_pending` and `max_hosts` below 1 count as 1. `judged_in_pool`: how many
    // judged events may wait in the pool for recycle() (Judged): the most the caller hands out
    // between two recycle() calls, say; 0 copies every one out. `hash`: the hosts' HostHash, a
    // copy of the resetters' sketch's (Judged::resetter_hash).
    StormWindow(uint32_t threshold, uint64_t window_ns, uint32_t max_pending, uint32_t max_hosts,
                uint32_t judged_in_pool = 0, HostHash hash = HostHash{});

    // Takes an event to judge later. When the bounds force it, appends the oldest waiting events,
    // judged early, to `out` (they precede anything a later release hands out).
    void add(const ResetEvent& event, std::vector<Judged>& out);

    // Brings in the first slot add(event) will read of the hosts' index: a miss per event once
    // the window has more hosts than the caches hold. For the event `add_lookahead` add() calls
    // ahead.
    static constexpr uint32_t add_lookahead = 4;
    [[gnu::always_inline]] void prefetch(const ResetEvent& event) noexcept {
        const size_t home = index_.home_of(index_.hash(HostKey::resetter_of(event)));
        index_.prefetch(home);
        // The slot asked for two events ago has come in by now: the host it names, and its key,
        // are asked for too, the next dependent step (each was a miss in add() at 65 536 hosts).
        size_t& earlier = prefetched_homes_[prefetch_turn_++ & 1];
        if (uint32_t h = index_.id_in(earlier); h != HostIndex::none) {
            index_.prefetch_key(h);
            __builtin_prefetch(&hosts_[h]);
        }
        earlier = home;
    }

    // Judges and appends to `out`, in release order, the events whose window closed before
    // `now_ns` (a time before which no further event can arrive); every event when `everything`.
    // At most `max_events` per call, so a caller can serve other work between slices (a jump of
    // `now_ns` can make max_pending events due at once).
    void release(uint64_t now_ns, bool everything, std::vector<Judged>& out,
                 size_t max_events = SIZE_MAX);

    // Every judged event handed out so far has been written: their slots may be taken again.
    void recycle() noexcept;

    // Faults in the pool slots (and their order ring) that `events` reset events can take, and
    // the records and past times of `hosts` resetting hosts, at most all of each, now instead of
    // where the events arrive: a capture whose every reset lingers to its end brings them all at
    // once, to a management lcore the end of the run waits for (docs/performance.md). Hosts take
    // ids from the first on, as events take slots. Setup only.
    void populate(uint64_t events, uint64_t hosts) noexcept;

    uint32_t pending() const noexcept { return pending_; }
    uint32_t hosts() const noexcept { return hosts_in_use_; }
    uint64_t early_judged() const noexcept { return early_judged_; }
    uint64_t hosts_evicted() const noexcept { return hosts_evicted_; }
    uint64_t hosts_pruned() const noexcept { return hosts_pruned_; }

    size_t memory_bytes() const noexcept;
    static size_t memory_for(uint32_t threshold, uint32_t max_pending, uint32_t max_hosts,
                             uint32_t judged_in_pool = 0) noexcept;

  private:
    static constexpr uint32_t nil = UINT32_MAX;

    // A waiting event's bookkeeping, apart from the event so heap steps touch 32-byte records.
    struct Slot {
        uint64_t ts;
        uint64_t arrival;  // last tie-break: equal events leave in arrival order
        uint32_t host;
        // The host's leftist heap; `left` alone links the host's in-order list, or the free list.
        uint32_t left, right;
        uint16_t rank;    // null-path length: at most log2(max_pending + 1)
        bool has_extras;  // extras_[slot] is this event's
    };
    struct Host {
        uint64_t latest;  // newest judged time (orders idle hosts)
        // The time of `last`, kept here because the next event's order test and the judgement's
        // count need only it, and the slot itself is a cache miss once the window holds more
        // events than the caches do (half of drain's time on a flood's end).
        uint64_t last_ts;
        uint32_t first, last;            // waiting events that came in order: a sorted list
        uint32_t heap;                   // waiting stragglers
        uint32_t prev, next;             // idle list (oldest first); `next` links the free list
        uint32_t past_first, past_size;  // ring of its most recent judged times, oldest first
        uint32_t hash;                   // index_.hash(key)'s low 32 bits (Judged::resetter_hash)
        uint32_t in_order;               // length of the first..last list
    };
    struct Due {  // a straggler in release order: the time inline, the rest via the slot
        uint64_t ts;
        uint32_t slot;
    };

    // Release order. Times differ in the common case: that test is inline, the connection's
    // tie-break is a call.
    bool before(uint32_t a, uint32_t b) const noexcept {
        return before(slots_[a].ts, a, slots_[b].ts, b);
    }
    // The same, with the slots' times given (a host's last_ts: its slot need not be read).
    bool before(uint64_t a_ts, uint32_t a, uint64_t b_ts, uint32_t b) const noexcept {
        if (a_ts != b_ts) return a_ts < b_ts;
        return tie_before(a, b);
    }
    bool tie_before(uint32_t a, uint32_t b) const noexcept;  // equal times
    uint32_t merge(uint32_t a, uint32_t b) noexcept;         // two leftist heaps of one host
    void push_due(uint32_t slot) noexcept;
    uint32_t first_due() const noexcept;   // the first waiting event; pending_ > 0
    void pop_due(uint32_t slot) noexcept;  // removes first_due()
    uint32_t take_slot() noexcept;         // pending_ < max_pending_
    uint32_t acquire_host(const HostKey& key, uint64_t hash, std::vector<Judged>& out);
    void release_host(uint32_t host) noexcept;
    void judge_oldest(std::vector<Judged>& out, bool early);
    void prefetch_judgements_ahead() const noexcept;
    uint32_t count_waiting(const Host& host, uint64_t to, uint32_t limit) noexcept;
    uint32_t count_past(const Host& host, const uint64_t* past, uint64_t from, uint64_t to,
                        uint32_t limit) const noexcept;
    void remember(Host& host, uint64_t* past, uint64_t ts) noexcept;
    void unlink_idle(uint32_t host) noexcept;

    uint32_t threshold_;
    uint64_t window_ns_;
    uint32_t past_capacity_;  // threshold - 1

    // The pools management fills as events come (fixed_memory.h: pages taken on first use, since
    // management is not the packet path): a capture sized for its every packet uses a fraction.
    uint32_t max_pending_;
    uint32_t judged_in_pool_;
    FixedArray<ResetEventCore> events_;    // the pool of waiting and retired events, by slot
    FixedArray<ResetEventExtras> extras_;  // by slot, for the events whose Slot::has_extras
    FixedArray<Slot> slots_;
    uint32_t slots_used_ = 0;  // slots [0, slots_used_) were ever handed out
    // Judged events' slots until recycle(), linked by `left`: at most judged_in_pool_.
    uint32_t retired_first_ = nil, retired_last_ = nil, retired_ = 0;
    FixedArray<uint32_t> in_order_;  // ring of the slots that came in release order
    uint32_t in_order_first_ = 0, in_order_size_ = 0;
    FixedArray<Due> stragglers_;  // binary heap of the others
    uint32_t stragglers_size_ = 0;
    uint32_t pending_ = 0;
    uint32_t free_slots_ = nil;
    uint64_t arrivals_ = 0;

    HostIndex index_;
    FixedArray<Host> hosts_;
    uint32_t hosts_used_ = 0;    // hosts [0, hosts_used_) were ever handed out
    FixedArray<uint64_t> past_;  // past_capacity_ per host
    uint32_t hosts_in_use_ = 0;
    uint32_t free_hosts_ = nil;
    uint32_t idle_first_ = nil, idle_last_ = nil;
    uint64_t horizon_ = 0;  // no event still to come is older than this

    std::vector<uint32_t> stack_;  // count_waiting's walk of a heap: at most threshold + 1 deep
    // prefetch()'s home slots of the last two events it was shown, the older one's turn next.
    std::array<size_t, 2> prefetched_homes_{};
    uint32_t prefetch_turn_ = 0;

    uint64_t early_judged_ = 0;
    uint64_t hosts_evicted_ = 0;
    uint64_t hosts_pruned_ = 0;
};

}  // namespace rstscope
