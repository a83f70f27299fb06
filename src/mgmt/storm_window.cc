// SPDX-License-Identifier: BSD-3-Clause
#include "rstscope/mgmt/storm_window.h"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <utility>

#include "rstscope/common/prefetch.h"

namespace rstscope {

StormWindow::StormWindow(uint32_t threshold, uint64_t window_ns, uint32_t max_pending,
                         uint32_t max_hosts, uint32_t judged_in_pool, HostHash hash)
    : threshold_(std::max<uint32_t>(threshold, 1)),
      window_ns_(window_ns),
      past_capacity_(threshold_ - 1),
      max_pending_(std::max<uint32_t>(max_pending, 1)),
      judged_in_pool_(judged_in_pool),
      events_(size_t{max_pending_} + judged_in_pool, "the storm window", Paging::on_use),
      extras_(events_.size(), "the storm window", Paging::on_use),
      slots_(events_.size(), "the storm window", Paging::on_use, Elements::written_before_read),
      in_order_(max_pending_, "the storm window", Paging::on_use),
      stragglers_(max_pending_, "the storm window", Paging::on_use),
      index_(max_hosts, std::move(hash)),
      hosts_(index_.capacity(), "the storm window", Paging::on_use, Elements::written_before_read),
      past_(static_cast<size_t>(index_.capacity()) * past_capacity_, "the storm window",
            Paging::on_use),
      stack_(threshold_ + 2) {}

// Slots and hosts are handed out from their free lists first, then from those never used in
// ascending order: the order a list threaded through all of them at start gave, without writing
// every one at start.
uint32_t StormWindow::take_slot() noexcept {
    if (free_slots_ == nil) return slots_used_++;
    uint32_t s = free_slots_;
    free_slots_ = slots_[s].left;
    return s;
}

void StormWindow::populate(uint64_t events, uint64_t hosts) noexcept {
    events_.populate(events);
    slots_.populate(events);
    in_order_.populate(events);
    hosts_.populate(hosts);
    // Capped before the multiply: an estimate from crafted addresses can be near 2^63.
    past_.populate(std::min<uint64_t>(hosts, hosts_.size()) * past_capacity_);
}

void StormWindow::recycle() noexcept {
    if (retired_first_ == nil) return;
    slots_[retired_last_].left = free_slots_;
    free_slots_ = retired_first_;
    retired_first_ = retired_last_ = nil;
    retired_ = 0;
}

size_t StormWindow::memory_for(uint32_t threshold, uint32_t max_pending, uint32_t max_hosts,
                               uint32_t judged_in_pool) noexcept {
    threshold = std::max<uint32_t>(threshold, 1);
    size_t pending = std::max<uint32_t>(max_pending, 1), hosts = std::max<uint32_t>(max_hosts, 1);
    // Every event's extras counted: pages the events without any leave untouched.
    return pending * (sizeof(ResetEvent) + sizeof(Slot) + sizeof(uint32_t) + sizeof(Due)) +
           size_t{judged_in_pool} * (sizeof(ResetEvent) + sizeof(Slot)) +
           hosts * (sizeof(Host) + sizeof(uint64_t) * (threshold - 1)) +
           HostIndex::memory_for(static_cast<uint32_t>(hosts)) + sizeof(uint32_t) * (threshold + 2);
}

size_t StormWindow::memory_bytes() const noexcept {
    return events_.size() * sizeof(ResetEventCore) + extras_.size() * sizeof(ResetEventExtras) +
           slots_.size() * sizeof(Slot) + in_order_.size() * sizeof(uint32_t) +
           stragglers_.size() * sizeof(Due) + hosts_.size() * sizeof(Host) +
           past_.size() * sizeof(uint64_t) + index_.memory_bytes() +
           stack_.capacity() * sizeof(uint32_t);
}

// Release order is (ts, orig_h bytes, orig_p, resp_h bytes, resp_p, arrival): the connection
// breaks ties of time so one worker or several write the same log.
bool StormWindow::tie_before(uint32_t a, uint32_t b) const noexcept {
    const ResetEventCore& x = events_[a];
    const ResetEventCore& y = events_[b];
    if (int c = std::memcmp(x.orig_h.bytes, y.orig_h.bytes, 16)) return c < 0;
    if (x.orig_p != y.orig_p) return x.orig_p < y.orig_p;
    if (int c = std::memcmp(x.resp_h.bytes, y.resp_h.bytes, 16)) return c < 0;
    if (x.resp_p != y.resp_p) return x.resp_p < y.resp_p;
    return slots_[a].arrival < slots_[b].arrival;
}

// Leftist heap merge: recursion follows right spines only, each at most log2(n + 1) long.
uint32_t StormWindow::merge(uint32_t a, uint32_t b) noexcept {
    if (a == nil) return b;
    if (b == nil) return a;
    if (before(b, a)) std::swap(a, b);
    Slot& root = slots_[a];
    root.right = merge(root.right, b);
    auto rank = [this](uint32_t s) { return s == nil ? 0u : slots_[s].rank; };
    if (rank(root.left) < rank(root.right)) std::swap(root.left, root.right);
    root.rank = static_cast<uint16_t>(rank(root.right) + 1);
    return a;
}

void StormWindow::push_due(uint32_t slot) noexcept {
    ++pending_;
    auto ring = [this](uint32_t i) {
        uint32_t k = in_order_first_ + i;
        return k >= in_order_.size() ? k - static_cast<uint32_t>(in_order_.size()) : k;
    };
    if (in_order_size_ == 0 || !before(slot, in_order_[ring(in_order_size_ - 1)])) {
        in_order_[ring(in_order_size_++)] = slot;
        return;
    }
    auto less = [this](const Due& x, const Due& y) {
        return x.ts != y.ts ? x.ts < y.ts : before(x.slot, y.slot);
    };
    Due entry{slots_[slot].ts, slot};
    uint32_t i = stragglers_size_++;
    while (i > 0 && less(entry, stragglers_[(i - 1) / 2])) {
        stragglers_[i] = stragglers_[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    stragglers_[i] = entry;
}

uint32_t StormWindow::first_due() const noexcept {
    if (stragglers_size_ == 0) return in_order_[in_order_first_];
    uint32_t straggler = stragglers_[0].slot;
    if (in_order_size_ == 0) return straggler;
    uint32_t head = in_order_[in_order_first_];
    return before(straggler, head) ? straggler : head;
}

void StormWindow::pop_due(uint32_t slot) noexcept {
    --pending_;
    if (in_order_size_ > 0 && in_order_[in_order_first_] == slot) {
        in_order_first_ = in_order_first_ + 1 == in_order_.size() ? 0 : in_order_first_ + 1;
        --in_order_size_;
        return;
    }
    assert(stragglers_size_ > 0 && stragglers_[0].slot == slot);
    auto less = [this](const Due& x, const Due& y) {
        return x.ts != y.ts ? x.ts < y.ts : before(x.slot, y.slot);
    };
    Due last = stragglers_[--stragglers_size_];
    uint32_t i = 0;
    for (;;) {
        uint32_t child = 2 * i + 1;
        if (child >= stragglers_size_) break;
        if (child + 1 < stragglers_size_ && less(stragglers_[child + 1], stragglers_[child]))
            ++child;
        if (!less(stragglers_[child], last)) break;
        stragglers_[i] = stragglers_[child];
        i = child;
    }
    stragglers_[i] = last;
}

void StormWindow::unlink_idle(uint32_t h) noexcept {
    Host& host = hosts_[h];
    (host.prev != nil ? hosts_[host.prev].next : idle_first_) = host.next;
    (host.next != nil ? hosts_[host.next].prev : idle_last_) = host.prev;
    host.prev = host.next = nil;
}

void StormWindow::release_host(uint32_t h) noexcept {
    unlink_idle(h);
    index_.erase(h);
    hosts_[h].next = free_hosts_;
    free_hosts_ = h;
    --hosts_in_use_;
}

uint32_t StormWindow::acquire_host(const HostKey& key, uint64_t hash, std::vector<Judged>& out) {
    const bool full = hosts_used_ == hosts_.size();
    if (free_hosts_ == nil && full) {
        // Every slot holds a host with waiting events: judge the oldest until one goes idle.
        while (idle_first_ == nil)
            judge_oldest(out, true);
    }
    if (free_hosts_ == nil && full) {
        const Host& victim = hosts_[idle_first_];
        bool stale = horizon_ > window_ns_ && victim.latest < horizon_ - window_ns_;
        ++(stale ? hosts_pruned_ : hosts_evicted_);
        release_host(idle_first_);
    }
    uint32_t h = free_hosts_;
    if (h == nil)
        h = hosts_used_++;
    else
        free_hosts_ = hosts_[h].next;
    ++hosts_in_use_;
    hosts_[h] = {0, 0, nil, nil, nil, nil, nil, 0, 0, static_cast<uint32_t>(hash), 0};
    index_.insert(key, h, index_.home_of(hash));
    return h;
}

void StormWindow::add(const ResetEvent& event, std::vector<Judged>& out) {
    if (pending_ == max_pending_) judge_oldest(out, true);
    HostKey key = HostKey::resetter_of(event);
    uint64_t hash = index_.hash(key);  // once for the find, the insert and the resetters' sketch
    uint32_t h = index_.find(key, index_.home_of(hash));
    if (h == HostIndex::none)
        h = acquire_host(key, hash, out);
    else if (hosts_[h].first == nil && hosts_[h].heap == nil)
        unlink_idle(h);  // idle no more
    uint32_t s = take_slot();
    events_[s] = event;
    const bool extras = has_extras(event);
    if (extras) extras_[s] = event;
    // The next add() overwrites the next free slot's event, out of the caches since it was last
    // written or never touched: its lines are asked for now, one event's work ahead.
    if (uint32_t next = free_slots_ != nil ? free_slots_ : slots_used_; next < events_.size())
        prefetch_whole<true>(events_[next]);
    slots_[s] = {event.ts_ns, arrivals_++, h, nil, nil, 1, extras};
    Host& host = hosts_[h];
    if (host.first == nil) {
        host.first = host.last = s;
        host.last_ts = event.ts_ns;
        host.in_order = 1;
    } else if (!before(event.ts_ns, s, host.last_ts, host.last)) {
        slots_[host.last].left = s;
        host.last = s;
        host.last_ts = event.ts_ns;
        ++host.in_order;
    } else {
        host.heap = merge(host.heap, s);
    }
    push_due(s);
}

// The host's judged times in [from, to], newest first, up to `limit`.
uint32_t StormWindow::count_past(const Host& host, const uint64_t* past, uint64_t from, uint64_t to,
                                 uint32_t limit) const noexcept {
    if (host.past_size == 0) return 0;
    // The times are kept in order, so when the oldest and the newest are in range all are: a
    // storming host's common case, in O(1) instead of a walk of threshold - 1 times.
    uint32_t newest_at = host.past_first + host.past_size - 1;
    uint64_t oldest = past[host.past_first];
    uint64_t newest = past[newest_at >= past_capacity_ ? newest_at - past_capacity_ : newest_at];
    if (oldest >= from && newest <= to) return std::min(host.past_size, limit);
    uint32_t n = 0;
    for (uint32_t i = host.past_size; i-- > 0 && n < limit;) {
        uint32_t at = host.past_first + i;
        uint64_t t = past[at >= past_capacity_ ? at - past_capacity_ : at];
        if (t < from) break;
        if (t <= to) ++n;
    }
    return n;
}

// The host's waiting events up to `to`, up to `limit`: its in-order list from the head while
// times are in range, then a walk of its stragglers' heap that stops below any later event, so it
// visits at most 2 * limit + 1 of them and holds at most limit + 1 on its stack.
uint32_t StormWindow::count_waiting(const Host& host, uint64_t to, uint32_t limit) noexcept {
    uint32_t n = 0;
    // The list is in time order, so when its newest is in range all of it is: a storming host's
    // common case, no slot read instead of a walk of up to `limit` slots, each a cache miss once
    // the window holds more events than the caches do.
    if (host.first != nil && host.last_ts <= to)
        n = std::min(host.in_order, limit);
    else
        for (uint32_t s = host.first; s != nil && n < limit && slots_[s].ts <= to;
             s = slots_[s].left)
            ++n;
    if (host.heap == nil) return n;
    uint32_t depth = 0;
    stack_[depth++] = host.heap;
    while (depth > 0 && n < limit) {
        const Slot& slot = slots_[stack_[--depth]];
        if (slot.ts > to) continue;
        ++n;
        if (slot.left != nil) stack_[depth++] = slot.left;
        if (slot.right != nil) stack_[depth++] = slot.right;
    }
    return n;
}

// Keeps the host's `past_capacity_` most recent judged times, in order. In order is the rule
// (events are judged in time order); an early-judged straggler is put in its place.
void StormWindow::remember(Host& host, uint64_t* past, uint64_t ts) noexcept {
    if (past_capacity_ == 0) return;
    auto at = [&](uint32_t i) -> uint64_t& {
        uint32_t k = host.past_first + i;
        return past[k >= past_capacity_ ? k - past_capacity_ : k];
    };
    if (host.past_size == past_capacity_) {
        if (ts < at(0)) return;  // older than every time kept: not among the most recent
        host.past_first = host.past_first + 1 == past_capacity_ ? 0 : host.past_first + 1;
        --host.past_size;
    }
    uint32_t i = host.past_size++;
    for (; i > 0 && at(i - 1) > ts; --i)
        at(i) = at(i - 1);
    at(i) = ts;
}

// Judgements mostly follow the in-order ring (events arrive in time order, give or take), and each
// reads three places the caches have lost once a flood fills the window: the event's slot, its
// host, then the host's past times. For the judgements a few places ahead these are asked for
// now, one dependent step each, so the loads are in flight together instead of one after another
// (they were most of judge_oldest's time: docs/performance.md).
void StormWindow::prefetch_judgements_ahead() const noexcept {
    constexpr uint32_t step = 4;  // judgements between the steps for one event
    // Where the ring wraps within reach, or the ring is short, nothing is asked for: rare.
    if (in_order_size_ <= 3 * step || in_order_first_ + 3 * step >= in_order_.size()) return;
    const uint32_t* ahead = &in_order_[in_order_first_];
    __builtin_prefetch(&slots_[ahead[3 * step]]);
    __builtin_prefetch(&hosts_[slots_[ahead[2 * step]].host]);
    const uint32_t h = slots_[ahead[step]].host;
    const Host& host = hosts_[h];
    if (host.past_size != 0) {  // its ring: a few lines, read at both ends and beyond
        const uint64_t* past = past_.data() + static_cast<size_t>(h) * past_capacity_;
        __builtin_prefetch(past);
        __builtin_prefetch(past + past_capacity_ / 2);
        __builtin_prefetch(past + past_capacity_ - 1);
    }
}

void StormWindow::judge_oldest(std::vector<Judged>& out, bool early) {
    prefetch_judgements_ahead();
    uint32_t s = first_due();
    pop_due(s);
    Slot& slot = slots_[s];
    uint32_t h = slot.host;
    Host& host = hosts_[h];
    // The first waiting event overall is its host's first too: all orders are the same order.
    assert(host.first == s || host.heap == s);
    uint64_t ts = slot.ts;
    uint64_t from = ts > window_ns_ ? ts - window_ns_ : 0;
    uint64_t to = ts > UINT64_MAX - window_ns_ ? UINT64_MAX : ts + window_ns_;
    uint64_t* past = past_.data() + static_cast<size_t>(h) * past_capacity_;
    uint32_t earlier = count_past(host, past, from, to, threshold_ - 1);
    uint32_t waiting = count_waiting(host, to, threshold_ - earlier);
    // Built in place (push_back of a braced Judged copied the event twice), in the pool while
    // there is room for it there.
    bool storm = earlier + waiting >= threshold_;
    bool in_pool = retired_ < judged_in_pool_;
    const ResetEventExtras* extras = slot.has_extras ? &extras_[s] : nullptr;
    if (in_pool)
        out.emplace_back(&events_[s], extras, storm, host.hash);
    else
        out.emplace_back(events_[s], extras, storm, host.hash);

    if (host.first == s) {
        host.first = slot.left;
        --host.in_order;
        if (host.first == nil) host.last = nil;
    } else {
        host.heap = merge(slot.left, slot.right);
    }
    remember(host, past, ts);
    host.latest = std::max(host.latest, ts);
    if (in_pool) {  // retired, to the list's tail
        slot.left = nil;
        (retired_last_ != nil ? slots_[retired_last_].left : retired_first_) = s;
        retired_last_ = s;
        ++retired_;
    } else {
        slot.left = free_slots_;
        free_slots_ = s;
    }
    if (host.first == nil && host.heap == nil) {  // idle: to the idle list's tail, oldest first
        host.prev = idle_last_;
        host.next = nil;
        (idle_last_ != nil ? hosts_[idle_last_].next : idle_first_) = h;
        idle_last_ = h;
    }
    if (early) ++early_judged_;
}

void StormWindow::release(uint64_t now_ns, bool everything, std::vector<Judged>& out,
                          size_t max_events) {
    for (size_t n = 0; pending_ > 0 && n < max_events; ++n) {
        uint64_t ts = slots_[first_due()].ts;
        bool window_closed = ts < now_ns && now_ns - ts > window_ns_;  // ts + window < now
        if (!everything && !window_closed) break;
        judge_oldest(out, false);
    }
    // Events still to come are no older than `now_ns`, those waiting no older than the first.
    uint64_t horizon = pending_ > 0 ? std::min(now_ns, slots_[first_due()].ts) : now_ns;
    horizon_ = std::max(horizon_, horizon);
    while (idle_first_ != nil && horizon_ > window_ns_ &&
           hosts_[idle_first_].latest < horizon_ - window_ns_) {
        release_host(idle_first_);
        ++hosts_pruned_;
    }
}

}  // namespace rstscope
