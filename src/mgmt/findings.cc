// SPDX-License-Identifier: BSD-3-Clause
#include "rstscope/mgmt/findings.h"

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstring>
#include <iterator>
#include <map>
#include <type_traits>

#include <fmt/format.h>

#include "rstscope/common/fixed_memory.h"
#include "rstscope/mgmt/host_index.h"
#include "rstscope/mgmt/id_index.h"

namespace rstscope {

// ---- DistinctCounter

bool DistinctCounter::add(uint64_t hash) noexcept {
    const Sketch::Raise raise = sketch_.add(hash);
    if (!raise) return false;
    zeros_ -= raise.from == 0;
    if (raise.to > exact_rank) {
        beyond_exact_ = true;
    } else {
        sum_ -= uint64_t{1} << (exact_rank - raise.from);  // from < to <= exact_rank
        sum_ += uint64_t{1} << (exact_rank - raise.to);
    }
    return true;
}

uint64_t DistinctCounter::estimate() const noexcept {
    if (beyond_exact_) return sketch_.estimate();
    // Exact: sum_ < 2^53 (256 << 44 at most), so the conversion and the scaling are too.
    static_assert(exact_rank == 44);
    return Sketch::estimate_from(static_cast<double>(sum_) * 0x1p-44, zeros_);
}

namespace {

constexpr uint32_t none = UINT32_MAX;
constexpr size_t eviction_sample = 8;
constexpr uint64_t ns_per_s = 1'000'000'000;

// Keyed: the keys come from the traffic. The ids, not the table's slots, order the findings
// (for_each, the eviction sample), so the seed changes nothing in the log.
class FindingKeyHash {
  public:
    uint64_t operator()(const FindingKey& key) const noexcept {
        uint64_t w[3];
        static_assert(sizeof(w) == sizeof(FindingKey));
        std::memcpy(w, &key, sizeof(w));
        return hash_(w[0], w[1], w[2]);
    }

  private:
    SeededHash hash_;
};

// The bytes at the start of a Value that add() reads or writes for every event it counts (for the
// tables that plan lookups: the distinct sketches, one line of which an event touches, last).
template <class Value>
constexpr size_t hot_bytes = sizeof(Value);

// A fixed-capacity map from FindingKey to Value: an IdIndex (at most half full) and the values by
// id, with the free ids. Full: the smallest of the next 8 entries (round robin) without an open
// finding makes room.
template <class Value>
class KeyedTable {
  public:
    // The values' pages are taken as ids are first used (fixed_memory.h): a capture sized for
    // its every event rarely fills the tables.
    explicit KeyedTable(uint32_t capacity)
        : index_(capacity),
          values_(index_.capacity(), "the findings tables", Paging::on_use,
                  Elements::written_before_read),
          in_use_(index_.capacity(), false) {
        free_.reserve(index_.capacity());
    }

    // The entry for `key`, made (fresh) when absent; null when there is no room. `planned`: this
    // table's lookup as plan() left it, or null.
    Value* get(const FindingKey& key, const FindingLookups::Lookup* planned = nullptr) {
        size_t home = planned && planned->home != FindingLookups::unplanned && planned->key == key
                          ? planned->home
                          : index_.home(key);
        uint32_t id = index_.find(key, home);
        if (id != Index::none) return &values_[id];
        // Freed ids first, latest first, then the never used ones in ascending order, then the
        // id an eviction frees (taken at once: it would be the latest freed).
        if (!free_.empty()) {
            id = free_.back();
            free_.pop_back();
        } else if (used_ < values_.size()) {
            id = used_++;
        } else if ((id = evict()) == none) {
            ++untracked_;
            return nullptr;
        }
        values_[id] = Value{};
        in_use_[id] = true;
        index_.insert(key, id, home);
        return &values_[id];
    }

    // The first step of a lookup ahead of get(): the key's home slot, asked for.
    void plan(const FindingKey& key, FindingLookups::Lookup& lookup) const noexcept {
        lookup.key = key;
        lookup.home = static_cast<uint32_t>(index_.home(key));
        index_.prefetch(lookup.home);
    }
    // The second, once the slot is in: the key and the value its id names (their lines that
    // add() reads or writes, all but the sketches'). Usually the key's own: the index is at most
    // half full. Nothing for a slot that is empty: the key is new.
    [[gnu::always_inline]] void prefetch(const FindingLookups::Lookup& lookup) const noexcept {
        if (lookup.home == FindingLookups::unplanned) return;
        uint32_t id = index_.id_in(lookup.home);
        if (id == Index::none) return;
        index_.prefetch_key(id);
        const char* value = reinterpret_cast<const char*>(&values_[id]);
        for (size_t at = 0; at < hot_bytes<Value>; at += 64)
            __builtin_prefetch(value + at, 1);
    }

    Value* find(const FindingKey& key) {
        uint32_t id = index_.find(key);
        return id == Index::none ? nullptr : &values_[id];
    }

    void erase(uint32_t id) {
        index_.erase(id);
        in_use_[id] = false;
        free_.push_back(id);
    }

    // f(id, key, value) for every entry in id order; returns false to erase the entry.
    template <class F>
    void for_each(F&& f) {
        for (uint32_t id = 0; id < values_.size(); ++id)
            if (in_use_[id] && !f(index_.key(id), values_[id])) erase(id);
    }
    template <class F>
    void for_each(F&& f) const {
        for (uint32_t id = 0; id < values_.size(); ++id)
            if (in_use_[id]) f(index_.key(id), values_[id]);
    }

    bool empty() const noexcept { return used_ == free_.size(); }
    uint64_t evicted() const noexcept { return evicted_; }
    uint64_t untracked() const noexcept { return untracked_; }
    size_t memory_bytes() const noexcept {
        return index_.memory_bytes() + values_.size() * sizeof(Value) + in_use_.size() / 8 +
               free_.capacity() * sizeof(uint32_t);
    }

  private:
    using Index = IdIndex<FindingKey, FindingKeyHash, 2>;

    // The sample: the eviction_sample ids from the cursor on, round the end (a table holds at
    // least 16). An open entry weighs more than any other can (weights are below 2^34), so one
    // comparison an id picks the first lightest entry without an open finding. Returns its id,
    // unbound for get() to take, or none when every entry sampled has an open finding.
    uint32_t evict() {
        static_assert(eviction_sample < 16);
        const uint32_t n = static_cast<uint32_t>(values_.size());
        const uint32_t end = cursor_ + static_cast<uint32_t>(eviction_sample);
        uint32_t victim = none;
        uint64_t least = UINT64_MAX;
        for (uint32_t k = cursor_; k < end; ++k) {
            uint32_t id = k < n ? k : k - n;
            const Value& v = values_[id];
            uint64_t weight = v.open() ? UINT64_MAX : v.weight();
            if (weight < least) victim = id, least = weight;
        }
        cursor_ = end < n ? end : end - n;
        // The next eviction samples the entries from the new cursor on: a table of traffic that
        // evicts (more keys than entries) evicts again soon, and its sample is cold by then.
        // What open() and weight() read is at the start of each value.
        if (cursor_ + eviction_sample <= n) {  // else the sample wraps: rare, left cold
            const Value* next = &values_[cursor_];
            for (size_t k = 0; k < eviction_sample; ++k)
                __builtin_prefetch(next + k);
        }
        if (victim != none) {
            index_.erase(victim);
            ++evicted_;
        }
        return victim;
    }

    Index index_;
    FixedArray<Value> values_;  // written by get() before anything reads them
    std::vector<bool> in_use_;
    std::vector<uint32_t> free_;  // ids erased, not yet reused
    uint32_t used_ = 0;           // ids [0, used_) were ever handed out
    uint32_t cursor_ = 0;
    uint64_t evicted_ = 0;
    uint64_t untracked_ = 0;
};

struct Examples {
    std::array<uint64_t, finding_examples> ids{};
    uint8_t n = 0;
    void add(uint64_t id) noexcept {
        if (n < ids.size()) ids[n++] = id;
    }
};

struct StormValue {
    uint32_t count = 0;           // this window
    uint32_t max_server = 0;      // farms: the largest one server's count this window
    uint32_t hosts_estimate = 0;  // farms: hosts.estimate() as of its last change
    float usual = 0;              // moving average of past windows (1/4 weight to the latest)
    bool seasoned = false;        // a window has closed on it: `usual` is its own
    uint64_t finding = 0;
    uint64_t total = 0;  // while open
    // The window's connections toward the service (judge_storms(): known when a source had them).
    uint64_t connections = 0;
    bool connections_known = false;
    std::array<uint32_t, enum_count<ResetCause>> causes{};
    Examples examples;
    bool open() const noexcept { return finding != 0; }
    // `usual` averages 32-bit counts, so it is in [0, 2^32]: truncated through int64_t, exactly as
    // to uint64_t, in one instruction instead of the unsigned conversion's range test.
    uint64_t weight() const noexcept {
        return count + static_cast<uint64_t>(static_cast<int64_t>(usual));
    }
};

// A farm's: a service's, and the distinct server addresses behind its prefix this window. Apart
// from a server's, whose table churns on a reset-heavy capture (most events make an entry), so that
// a fresh server entry does not write a sketch nothing reads.
struct FarmValue : StormValue {
    DistinctCounter hosts;
};

struct ScanValue {
    uint32_t count = 0;                               // refused this window
    uint32_t ports_estimate = 0, hosts_estimate = 0;  // as of their sketches' last change
    uint64_t vertical = 0, horizontal = 0;
    Examples examples;
    DistinctCounter ports, hosts;
    bool open() const noexcept { return vertical != 0 || horizontal != 0; }
    uint64_t weight() const noexcept { return count; }
};

template <>  // the base's bytes, then the sketch
constexpr size_t hot_bytes<FarmValue> = sizeof(StormValue);
// offsetof is not for a derived class: that the sketch follows the base's bytes is checked so.
static_assert(sizeof(FarmValue) == sizeof(StormValue) + sizeof(DistinctCounter));
template <>
constexpr size_t hot_bytes<ScanValue> = offsetof(ScanValue, ports);

struct BackscatterValue {
    uint32_t count = 0;
    uint32_t targets_estimate = 0;
    uint32_t rsts = 0, syn_acks = 0;
    uint64_t finding = 0;
    DistinctCounter targets, senders;
    Examples examples;
    bool open() const noexcept { return finding != 0; }
    uint64_t weight() const noexcept { return count; }
};

struct TimerValue {
    uint32_t count = 0;         // since the entry was made
    uint32_t since_report = 0;  // since the last record
    uint32_t next_gap = 0;
    uint8_t last_ttl = 0;
    uint64_t finding = 0;
    uint64_t last_ts = 0;
    std::array<uint32_t, timer_gaps_kept> gaps_ms{};
    std::array<uint16_t, 33> hops{};  // [32]: 32 or more
    Examples examples;
    bool open() const noexcept { return finding != 0; }
    uint64_t weight() const noexcept { return count; }
};

struct FlowRef {
    IpAddress orig, resp;
    uint16_t orig_p, resp_p;
    IpFamily family;
    uint64_t event;
};

struct InjectorValue {
    uint32_t count = 0;
    uint32_t spacing_min_us = UINT32_MAX, spacing_max_us = 0;  // of the resets with a spacing
    uint32_t since_report = 0;
    uint64_t finding = 0;
    uint64_t last_ts = 0;
    uint32_t servers_estimate = 0;
    DistinctCounter servers;
    std::array<FlowRef, injector_flows_kept> flows{};
    uint8_t n_flows = 0;
    Examples examples;
    bool open() const noexcept { return finding != 0; }
    uint64_t weight() const noexcept { return count; }
};

FindingKey prefix_key(const IpAddress& address, IpFamily family, uint16_t port) {
    FindingKey k{};
    static_assert(farm_prefix_v4 % 8 == 0 && farm_prefix_v6 % 8 == 0);
    if (family == IpFamily::v4)  // constant lengths: a move or two, not a call
        std::memcpy(k.address.bytes, address.bytes, farm_prefix_v4 / 8);
    else
        std::memcpy(k.address.bytes, address.bytes, farm_prefix_v6 / 8);
    k.family = family;
    k.port = port;
    k.prefix_length = family == IpFamily::v4 ? farm_prefix_v4 : farm_prefix_v6;
    return k;
}

FindingKey host_key(const IpAddress& address, IpFamily family, uint16_t port = 0) {
    FindingKey k{};
    k.address = address;
    k.family = family;
    k.port = port;
    return k;
}

// The injector's fingerprint: RST TTL, RSTs sent (1, 2, 3 or more), sequence choice, IP-ID
// behaviour and the spacing of its RSTs (0: one RST; else 1 + floor(log2(microseconds)), the
// spacing within [2^(c-1), 2^c) us), packed in `extra`.
constexpr uint32_t ipid_mismatch_bit = 1, ipid_continues_bit = 2, socketless_bit = 4;
constexpr unsigned spacing_shift = 16;

uint32_t spacing_class(uint32_t spacing_us) noexcept {
    return spacing_us == 0 ? 0 : static_cast<uint32_t>(std::bit_width(spacing_us));
}

FindingKey fingerprint_key(const ResetEventCore& e) {
    FindingKey k{};
    uint32_t ipid = (e.has(Evidence::ipid_mismatch) ? ipid_mismatch_bit : 0) |
                    (e.has(Evidence::ipid_continues) ? ipid_continues_bit : 0) |
                    (e.has(Evidence::socketless_rst) ? socketless_bit : 0);
    k.extra = uint32_t{e.rst_ttl} | std::min<uint32_t>(e.rst_count, 3) << 8 |
              static_cast<uint32_t>(e.seq_check) << 10 | ipid << 12 |
              spacing_class(e.rst_spacing_us) << spacing_shift;
    k.family = e.family;
    return k;
}

using Buffer = fmt::memory_buffer;

void put_address(Buffer& out, const IpAddress& a, IpFamily f) {
    char text[ip_text_max_length + ip_text_slack + 1];
    char* end = write_ip(a, f, text);
    out.append(text, end);
}

void put_seconds(Buffer& out, uint64_t ns) {
    fmt::format_to(std::back_inserter(out), "{}.{:06}", ns / ns_per_s, ns % ns_per_s / 1000);
}

void put_flow(Buffer& out, const FlowRef& f) {
    auto it = std::back_inserter(out);
    fmt::format_to(it, "{{\"event\":{},\"orig_h\":\"", f.event);
    put_address(out, f.orig, f.family);
    fmt::format_to(it, "\",\"orig_p\":{},\"resp_h\":\"", f.orig_p);
    put_address(out, f.resp, f.family);
    fmt::format_to(it, "\",\"resp_p\":{}}}", f.resp_p);
}

void put_causes(Buffer& out, const std::array<uint32_t, enum_count<ResetCause>>& causes) {
    auto it = std::back_inserter(out);
    out.push_back('{');
    bool first = true;
    for (size_t i = 0; i < causes.size(); ++i) {
        if (causes[i] == 0) continue;
        fmt::format_to(it, "{}\"{}\":{}", first ? "" : ",", reset_cause_names[i], causes[i]);
        first = false;
    }
    out.push_back('}');
}

std::string_view ipid_text(uint32_t bits) {
    if (bits & socketless_bit) return "socketless";
    if (bits & ipid_mismatch_bit) return "mismatch";
    if (bits & ipid_continues_bit) return "continues";
    return "unknown";
}

}  // namespace

struct FindingsEngine::Tables {
    explicit Tables(uint32_t n)
        : storms(n), farms(n), scans(n), backscatter(n), timers(n), injectors(n) {}
    KeyedTable<StormValue> storms;
    KeyedTable<FarmValue> farms;
    KeyedTable<ScanValue> scans;
    KeyedTable<BackscatterValue> backscatter;
    KeyedTable<TimerValue> timers;
    KeyedTable<InjectorValue> injectors;
    // The latest record of each open finding, by id (written only with a record: rare).
    std::map<uint64_t, OpenFinding> open_lines;
};

namespace {

// Writes one record; `body` appends the kind's fields after "state" (subject, evidence...).
template <class Body>
FindingRecord make_record(uint64_t id, FindingKind kind, FindingState state, uint64_t ts_ns,
                          uint64_t window_ns, const Examples& examples, Body&& body) {
    Buffer out;
    auto it = std::back_inserter(out);
    fmt::format_to(it,
                   "{{\"type\":\"finding\",\"id\":{},\"kind\":\"{}\",\"state\":\"{}\",\"ts\":", id,
                   finding_kind_names[static_cast<size_t>(kind)],
                   finding_state_names[static_cast<size_t>(state)]);
    put_seconds(out, ts_ns);
    fmt::format_to(it, ",\"window_s\":");
    put_seconds(out, window_ns);
    body(out);
    fmt::format_to(it, ",\"example_events\":[");
    for (uint8_t i = 0; i < examples.n; ++i)
        fmt::format_to(it, "{}{}", i ? "," : "", examples.ids[i]);
    fmt::format_to(it, "]}}");
    return {id, kind, state, ts_ns, fmt::to_string(out)};
}

}  // namespace

FindingsEngine::FindingsEngine(const FindingThresholds& thresholds)
    : t_(thresholds),
      tables_(std::make_unique<Tables>(std::max<uint32_t>(thresholds.max_keys, 16))) {
    if (t_.window_ns == 0) t_.window_ns = 1;
}

FindingsEngine::~FindingsEngine() = default;

uint64_t FindingsEngine::evicted() const noexcept {
    const Tables& t = *tables_;
    return t.storms.evicted() + t.farms.evicted() + t.scans.evicted() + t.backscatter.evicted() +
           t.timers.evicted() + t.injectors.evicted();
}

uint64_t FindingsEngine::untracked() const noexcept {
    const Tables& t = *tables_;
    return t.storms.untracked() + t.farms.untracked() + t.scans.untracked() +
           t.backscatter.untracked() + t.timers.untracked() + t.injectors.untracked();
}

size_t FindingsEngine::memory_bytes() const noexcept {
    const Tables& t = *tables_;
    return t.storms.memory_bytes() + t.farms.memory_bytes() + t.scans.memory_bytes() +
           t.backscatter.memory_bytes() + t.timers.memory_bytes() + t.injectors.memory_bytes();
}

std::vector<OpenFinding> FindingsEngine::open() const {
    std::vector<OpenFinding> out;
    for (const auto& [id, f] : tables_->open_lines)
        out.push_back(f);
    return out;
}

namespace {

// Bodies of each kind's record.

// The share of a window's connections that were reset: 1 when fewer connections started in the
// window than were reset (long connections started before it).
double storm_share(const StormValue& v) {
    if (v.connections <= v.count) return 1.0;
    return static_cast<double>(v.count) / static_cast<double>(v.connections);
}

// `Value`: StormValue (a server's) or FarmValue.
template <class Value>
auto storm_body(const FindingKey& key, const Value& v, const FindingThresholds& t) {
    constexpr bool farm = std::is_same_v<Value, FarmValue>;
    return [&key, &v, &t](Buffer& out) {
        auto it = std::back_inserter(out);
        if (farm) {
            fmt::format_to(it, ",\"subject\":{{\"scope\":\"farm\",\"prefix\":\"");
            put_address(out, key.address, key.family);
            fmt::format_to(it, "/{}\",\"port\":{}}}", key.prefix_length, key.port);
        } else {
            fmt::format_to(it, ",\"subject\":{{\"scope\":\"server\",\"server\":\"");
            put_address(out, key.address, key.family);
            fmt::format_to(it, "\",\"port\":{}}}", key.port);
        }
        double window_s = static_cast<double>(t.window_ns) / 1e9;
        fmt::format_to(
            it, ",\"evidence\":{{\"resets\":{},\"rate_per_s\":{:.3f},\"usual_resets\":{:.1f}",
            v.count, v.count / window_s, v.usual);
        if (v.connections_known)
            fmt::format_to(it, ",\"connections\":{},\"share\":{:.3f}", v.connections,
                           storm_share(v));
        else
            fmt::format_to(it, ",\"connections\":null,\"share\":null");
        if constexpr (farm)
            fmt::format_to(it, ",\"servers\":{},\"top_server_resets\":{}", v.hosts.estimate(),
                           v.max_server);
        fmt::format_to(it, ",\"causes\":");
        put_causes(out, v.causes);
        fmt::format_to(it, "}},\"thresholds\":{{\"resets\":{},\"rise\":{},\"share\":{:.3f}",
                       t.storm_resets, t.storm_rise, t.storm_share);
        if (farm) fmt::format_to(it, ",\"servers\":{}", t.farm_hosts);
        out.push_back('}');
    };
}

auto scan_body(const FindingKey& key, const ScanValue& v, const FindingThresholds& t,
               bool vertical) {
    return [&key, &v, &t, vertical](Buffer& out) {
        auto it = std::back_inserter(out);
        fmt::format_to(it, ",\"subject\":{{\"source\":\"");
        put_address(out, key.address, key.family);
        fmt::format_to(it, "\",\"shape\":\"{}\"}}", vertical ? "vertical" : "horizontal");
        fmt::format_to(it, ",\"evidence\":{{\"refused\":{},\"ports\":{},\"hosts\":{}}}", v.count,
                       v.ports.estimate(), v.hosts.estimate());
        if (vertical)
            fmt::format_to(it, ",\"thresholds\":{{\"ports\":{}}}", t.scan_ports);
        else
            fmt::format_to(it, ",\"thresholds\":{{\"hosts\":{}}}", t.scan_hosts);
    };
}

auto backscatter_body(const FindingKey& key, const BackscatterValue& v,
                      const FindingThresholds& t) {
    return [&key, &v, &t](Buffer& out) {
        auto it = std::back_inserter(out);
        fmt::format_to(it, ",\"subject\":{{\"prefix\":\"");
        put_address(out, key.address, key.family);
        fmt::format_to(it, "/{}\"}}", key.prefix_length);
        fmt::format_to(it,
                       ",\"evidence\":{{\"resets\":{},\"unsolicited_rsts\":{},\"syn_acks\":{},"
                       "\"addresses\":{},\"senders\":{}}}",
                       v.count, v.rsts, v.syn_acks, v.targets.estimate(), v.senders.estimate());
        fmt::format_to(it, ",\"thresholds\":{{\"resets\":{},\"addresses\":{}}}",
                       t.backscatter_resets, backscatter_min_addresses);
    };
}

struct TimerFigures {
    uint32_t n = 0;
    uint32_t min_ms = 0, p10_ms = 0, median_ms = 0, p90_ms = 0, max_ms = 0;
    std::array<uint32_t, timer_gaps_kept> sorted{};
};

TimerFigures timer_figures(const TimerValue& v) {
    TimerFigures f;
    f.n = std::min<uint32_t>(v.count, timer_gaps_kept);
    std::copy_n(v.gaps_ms.begin(), f.n, f.sorted.begin());
    std::sort(f.sorted.begin(), f.sorted.begin() + f.n);
    if (f.n == 0) return f;
    f.min_ms = f.sorted[0];
    f.max_ms = f.sorted[f.n - 1];
    f.p10_ms = f.sorted[(f.n - 1) / 10];
    f.median_ms = f.sorted[(f.n - 1) / 2];
    f.p90_ms = f.sorted[(f.n - 1) - (f.n - 1) / 10];
    return f;
}

auto timer_body(const FindingKey& key, const TimerValue& v, const FindingThresholds& t) {
    return [&key, &v, &t](Buffer& out) {
        auto it = std::back_inserter(out);
        TimerFigures f = timer_figures(v);
        fmt::format_to(it, ",\"subject\":{{\"server\":\"");
        put_address(out, key.address, key.family);
        fmt::format_to(it, "\",\"port\":{}}}", key.port);
        size_t hop_mode = 0;
        for (size_t h = 1; h < v.hops.size(); ++h)
            if (v.hops[h] > v.hops[hop_mode]) hop_mode = h;
        fmt::format_to(it,
                       ",\"evidence\":{{\"resets\":{},\"timer_s\":{:.3f},\"median_s\":{:.3f},"
                       "\"spread_s\":{:.3f},\"min_s\":{:.3f},\"max_s\":{:.3f}",
                       v.count, f.p10_ms / 1e3, f.median_ms / 1e3, (f.p90_ms - f.p10_ms) / 1e3,
                       f.min_ms / 1e3, f.max_ms / 1e3);
        if (hop_mode == 0)
            fmt::format_to(it, ",\"hops_from_endpoint\":null");
        else
            fmt::format_to(it, ",\"hops_from_endpoint\":{}", hop_mode);
        fmt::format_to(it, ",\"rst_ttl\":{},\"histogram\":[", v.last_ttl);
        // Whole seconds of the kept gaps, [second, count] in order.
        bool first = true;
        for (uint32_t i = 0; i < f.n;) {
            uint32_t s = f.sorted[i] / 1000, n = 0;
            while (i < f.n && f.sorted[i] / 1000 == s) {
                ++i;
                ++n;
            }
            fmt::format_to(it, "{}[{},{}]", first ? "" : ",", s, n);
            first = false;
        }
        fmt::format_to(it, "]}},\"thresholds\":{{\"resets\":{},\"spread_s\":", t.timer_resets);
        put_seconds(out, t.timer_spread_ns);
        out.push_back('}');
    };
}

auto injector_body(const FindingKey& key, const InjectorValue& v, const FindingThresholds& t) {
    return [&key, &v, &t](Buffer& out) {
        auto it = std::back_inserter(out);
        fmt::format_to(
            it,
            ",\"subject\":{{\"family\":\"ipv{}\",\"rst_ttl\":{},\"rst_count\":\"{}\","
            "\"seq_check\":\"{}\",\"ip_id\":\"{}\"",
            static_cast<unsigned>(key.family), key.extra & 0xFF,
            (key.extra >> 8 & 3) == 3 ? std::string("3+") : std::to_string(key.extra >> 8 & 3),
            seq_check_names[key.extra >> 10 & 3], ipid_text(key.extra >> 12 & 7));
        // The spacing class as its bounds in seconds, [from, to); null: one RST per flow.
        uint32_t spacing = key.extra >> spacing_shift & 0x3F;
        if (spacing == 0) {
            fmt::format_to(it, ",\"rst_spacing\":null}}");
        } else {
            fmt::format_to(it, ",\"rst_spacing\":[");
            put_seconds(out, (uint64_t{1} << (spacing - 1)) * 1000);
            out.push_back(',');
            put_seconds(out, (uint64_t{1} << spacing) * 1000);
            fmt::format_to(it, "]}}");
        }
        fmt::format_to(it, ",\"evidence\":{{\"resets\":{},\"servers\":{}", v.count,
                       v.servers.estimate());
        if (v.spacing_max_us != 0) {
            fmt::format_to(it, ",\"rst_spacing_min_s\":");
            put_seconds(out, uint64_t{v.spacing_min_us} * 1000);
            fmt::format_to(it, ",\"rst_spacing_max_s\":");
            put_seconds(out, uint64_t{v.spacing_max_us} * 1000);
        }
        fmt::format_to(it, ",\"flows\":[");
        for (uint8_t i = 0; i < v.n_flows; ++i) {
            if (i) out.push_back(',');
            put_flow(out, v.flows[i]);
        }
        fmt::format_to(it, "]}},\"thresholds\":{{\"resets\":{},\"servers\":{}}}", t.injector_resets,
                       injector_min_servers);
    };
}

}  // namespace

namespace {

// Which of the planned tables an event reaches (add() below).
bool reaches_storms(const ResetEventCore& e) noexcept {
    return e.cause != ResetCause::refused && e.cause != ResetCause::unsolicited;
}
bool reaches_scans(const ResetEventCore& e) noexcept {
    return e.cause == ResetCause::refused;
}

}  // namespace

void FindingsEngine::plan_lookups(const ResetEventCore& e, FindingLookups& l) const noexcept {
    const Tables& tb = *tables_;
    l.storm.home = l.farm.home = l.scan.home = FindingLookups::unplanned;
    if (reaches_storms(e)) {
        tb.storms.plan(host_key(e.resp_h, e.family, e.resp_p), l.storm);
        tb.farms.plan(prefix_key(e.resp_h, e.family, e.resp_p), l.farm);
    }
    if (reaches_scans(e)) tb.scans.plan(host_key(e.orig_h, e.family), l.scan);
}

// noipa: a function whose only effects are prefetches counts as pure to GCC, which then deletes
// every call whose result goes unused, that is all of them.
[[gnu::noipa]] void FindingsEngine::prefetch_lookups(const FindingLookups& l) const noexcept {
    const Tables& tb = *tables_;
    tb.storms.prefetch(l.storm);
    tb.farms.prefetch(l.farm);
    tb.scans.prefetch(l.scan);
}

void FindingsEngine::add(const ResetEventCore& e, std::vector<FindingRecord>& out,
                         const FindingLookups* planned) {
    advance(e.ts_ns, out);
    if (!started_) {
        started_ = true;
        window_start_ns_ = e.ts_ns - e.ts_ns % t_.window_ns;
    }
    last_ts_ns_ = std::max(last_ts_ns_, e.ts_ns);
    Tables& tb = *tables_;
    auto raise = [&](FindingKind kind, FindingRecord record) {
        ++open_[static_cast<size_t>(kind)];
        ++raised_[static_cast<size_t>(kind)];
        tb.open_lines[record.id] = {record.id, kind, record.ts_ns, record.line};
        record.by_event = true;
        out.push_back(std::move(record));
    };

    // rst_storm: resets of a service's connections (not refusals, not unsolicited: scans and
    // backscatter have their own findings), per server:port and per farm prefix:port.
    if (reaches_storms(e)) {
        uint32_t server_count = 0;
        FindingKey sk = host_key(e.resp_h, e.family, e.resp_p);
        if (StormValue* v = tb.storms.get(sk, planned ? &planned->storm : nullptr)) {
            ++v->count;
            ++v->causes[static_cast<size_t>(e.cause)];
            v->examples.add(e.id);
            if (v->open()) ++v->total;
            server_count = v->count;
        }
        FindingKey fk = prefix_key(e.resp_h, e.family, e.resp_p);
        if (FarmValue* v = tb.farms.get(fk, planned ? &planned->farm : nullptr)) {
            ++v->count;
            ++v->causes[static_cast<size_t>(e.cause)];
            v->examples.add(e.id);
            v->max_server = std::max(v->max_server, server_count);
            if (v->hosts.add(address_hash(e.resp_h)))
                v->hosts_estimate = static_cast<uint32_t>(v->hosts.estimate());
            if (v->open()) ++v->total;
        }
    }

    // scan: the originator drew a refusal.
    if (reaches_scans(e)) {
        FindingKey k = host_key(e.orig_h, e.family);
        if (ScanValue* v = tb.scans.get(k, planned ? &planned->scan : nullptr)) {
            ++v->count;
            v->examples.add(e.id);
            if (v->ports.add(mix64(e.resp_p)))
                v->ports_estimate = static_cast<uint32_t>(v->ports.estimate());
            if (v->hosts.add(address_hash(e.resp_h)))
                v->hosts_estimate = static_cast<uint32_t>(v->hosts.estimate());
            if (v->vertical == 0 && v->ports_estimate >= t_.scan_ports) {
                v->vertical = next_id_++;
                raise(FindingKind::scan,
                      make_record(v->vertical, FindingKind::scan, FindingState::raised, e.ts_ns,
                                  t_.window_ns, v->examples, scan_body(k, *v, t_, true)));
            }
            if (v->horizontal == 0 && v->hosts_estimate >= t_.scan_hosts) {
                v->horizontal = next_id_++;
                raise(FindingKind::scan,
                      make_record(v->horizontal, FindingKind::scan, FindingState::raised, e.ts_ns,
                                  t_.window_ns, v->examples, scan_body(k, *v, t_, false)));
            }
        }
    }

    // backscatter: a RST on no known flow, or a SYN-ACK nobody asked for, toward our addresses.
    bool syn_ack_unasked = e.conn_state == ConnState::RSTRH || e.conn_state == ConnState::SHR;
    if (e.cause == ResetCause::unsolicited || syn_ack_unasked) {
        // The address that never opened anything: the SYN-ACK's receiver (Zeek's originator),
        // or the RST's receiver.
        bool target_is_orig = syn_ack_unasked || !e.rst_by_orig;
        const IpAddress& target = target_is_orig ? e.orig_h : e.resp_h;
        const IpAddress& sender = target_is_orig ? e.resp_h : e.orig_h;
        FindingKey k = prefix_key(target, e.family, 0);
        if (BackscatterValue* v = tb.backscatter.get(k)) {
            ++v->count;
            if (std::strpbrk(e.history, "Hh") != nullptr)  // a SYN-ACK came
                ++v->syn_acks;
            else
                ++v->rsts;
            v->examples.add(e.id);
            if (v->targets.add(address_hash(target)))
                v->targets_estimate = static_cast<uint32_t>(v->targets.estimate());
            v->senders.add(address_hash(sender));
            if (!v->open() && v->count >= t_.backscatter_resets &&
                v->targets_estimate >= backscatter_min_addresses) {
                v->finding = next_id_++;
                raise(FindingKind::backscatter,
                      make_record(v->finding, FindingKind::backscatter, FindingState::raised,
                                  e.ts_ns, t_.window_ns, v->examples, backscatter_body(k, *v, t_)));
            }
        }
    }

    // middlebox_timer: an idle-timeout reset sent from the path.
    if (e.cause == ResetCause::idle_timeout && e.rst_origin == RstOrigin::path &&
        e.has(Evidence::idle_before)) {
        FindingKey k = host_key(e.resp_h, e.family, e.resp_p);
        if (TimerValue* v = tb.timers.get(k)) {
            v->gaps_ms[v->next_gap] = e.idle_before_ms;
            v->next_gap = (v->next_gap + 1) % timer_gaps_kept;
            ++v->count;
            ++v->since_report;
            ++v->hops[std::min<size_t>(e.hops_from_endpoint, v->hops.size() - 1)];
            v->last_ttl = e.rst_ttl;
            v->last_ts = e.ts_ns;
            v->examples.add(e.id);
            if (!v->open() && v->count >= t_.timer_resets) {
                TimerFigures f = timer_figures(*v);
                if (uint64_t{f.p90_ms - f.p10_ms} * 1'000'000 <= t_.timer_spread_ns) {
                    v->finding = next_id_++;
                    v->since_report = 0;
                    raise(
                        FindingKind::middlebox_timer,
                        make_record(v->finding, FindingKind::middlebox_timer, FindingState::raised,
                                    e.ts_ns, t_.window_ns, v->examples, timer_body(k, *v, t_)));
                }
            }
        }
    }

    // injector: injected resets that share a fingerprint.
    if (e.cause == ResetCause::injected) {
        FindingKey k = fingerprint_key(e);
        if (InjectorValue* v = tb.injectors.get(k)) {
            ++v->count;
            ++v->since_report;
            v->last_ts = e.ts_ns;
            v->examples.add(e.id);
            if (e.rst_spacing_us != 0) {
                v->spacing_min_us = std::min(v->spacing_min_us, e.rst_spacing_us);
                v->spacing_max_us = std::max(v->spacing_max_us, e.rst_spacing_us);
            }
            if (v->servers.add(mix64(address_hash(e.resp_h) ^ e.resp_p)))
                v->servers_estimate = static_cast<uint32_t>(v->servers.estimate());
            if (v->n_flows < v->flows.size())
                v->flows[v->n_flows++] = {e.orig_h, e.resp_h, e.orig_p, e.resp_p, e.family, e.id};
            if (!v->open() && v->count >= t_.injector_resets &&
                v->servers_estimate >= injector_min_servers) {
                v->finding = next_id_++;
                v->since_report = 0;
                raise(FindingKind::injector,
                      make_record(v->finding, FindingKind::injector, FindingState::raised, e.ts_ns,
                                  t_.window_ns, v->examples, injector_body(k, *v, t_)));
            }
        }
    }
}

void FindingsEngine::close_windows_by(uint64_t ts_ns, std::vector<FindingRecord>& out) {
    // Every window that ends by `ts_ns` is closed, one at a time and in order, so the records
    // cannot depend on how often the caller advances: management advances as the workers'
    // progress reaches it, which for a capture is a matter of timing, not of packet time. Once
    // the tables hold nothing, closing an empty window changes nothing but `warm_`, and the rest
    // of a gap is skipped; before that, each close empties them further (an idle storm's usual
    // rate decays, a quiet hold ends), so a long gap costs a bounded number of closes.
    while (ts_ns >= window_start_ns_ + t_.window_ns) {
        if (tables_empty()) {
            warm_ = true;
            window_start_ns_ = ts_ns - ts_ns % t_.window_ns;
            break;
        }
        close_window(out);
        window_start_ns_ += t_.window_ns;
    }
}

bool FindingsEngine::tables_empty() const noexcept {
    const Tables& t = *tables_;
    return t.storms.empty() && t.farms.empty() && t.scans.empty() && t.backscatter.empty() &&
           t.timers.empty() && t.injectors.empty();
}

void FindingsEngine::close_window(std::vector<FindingRecord>& out) {
    Tables& tb = *tables_;
    const uint64_t end = window_start_ns_ + t_.window_ns;
    size_t first = out.size();
    auto record = [&](FindingKind kind, FindingState state, FindingRecord r) {
        if (state == FindingState::cleared) {
            --open_[static_cast<size_t>(kind)];
            tb.open_lines.erase(r.id);
        } else {
            tb.open_lines[r.id] = {r.id, kind, tb.open_lines[r.id].raised_ts_ns, r.line};
        }
        out.push_back(std::move(r));
    };
    judge_storms(end, true, out);
    tb.scans.for_each([&](const FindingKey& key, ScanValue& v) {
        if (v.vertical) {
            bool holds = uint64_t{v.ports_estimate} * 2 >= t_.scan_ports;
            FindingState state = holds ? FindingState::updated : FindingState::cleared;
            record(FindingKind::scan, state,
                   make_record(v.vertical, FindingKind::scan, state, end, t_.window_ns, v.examples,
                               scan_body(key, v, t_, true)));
            if (!holds) v.vertical = 0;
        }
        if (v.horizontal) {
            bool holds = uint64_t{v.hosts_estimate} * 2 >= t_.scan_hosts;
            FindingState state = holds ? FindingState::updated : FindingState::cleared;
            record(FindingKind::scan, state,
                   make_record(v.horizontal, FindingKind::scan, state, end, t_.window_ns,
                               v.examples, scan_body(key, v, t_, false)));
            if (!holds) v.horizontal = 0;
        }
        uint64_t vertical = v.vertical, horizontal = v.horizontal;
        v = ScanValue{};
        v.vertical = vertical;
        v.horizontal = horizontal;
        return v.open();
    });
    tb.backscatter.for_each([&](const FindingKey& key, BackscatterValue& v) {
        if (v.open()) {
            bool holds = uint64_t{v.count} * 2 >= t_.backscatter_resets;
            FindingState state = holds ? FindingState::updated : FindingState::cleared;
            record(FindingKind::backscatter, state,
                   make_record(v.finding, FindingKind::backscatter, state, end, t_.window_ns,
                               v.examples, backscatter_body(key, v, t_)));
            if (!holds) v.finding = 0;
        }
        uint64_t finding = v.finding;
        v = BackscatterValue{};
        v.finding = finding;
        return v.open();
    });
    // Held findings: updated while their evidence still comes, cleared once quiet for the hold.
    auto report_held = [&](auto& table, FindingKind kind, auto body) {
        table.for_each([&](const FindingKey& key, auto& v) {
            bool quiet = v.last_ts + t_.hold_ns <= end;
            if (v.open() && (quiet || v.since_report > 0)) {
                FindingState state = quiet ? FindingState::cleared : FindingState::updated;
                record(kind, state,
                       make_record(v.finding, kind, state, end, t_.window_ns, v.examples,
                                   body(key, v, t_)));
                v.since_report = 0;
                if (quiet) v.finding = 0;
            }
            return !quiet;
        });
    };
    report_held(tb.timers, FindingKind::middlebox_timer, timer_body);
    report_held(tb.injectors, FindingKind::injector, injector_body);
    warm_ = true;
    // The window's records in finding order, whatever the tables' order.
    std::stable_sort(out.begin() + static_cast<std::ptrdiff_t>(first), out.end(),
                     [](const FindingRecord& a, const FindingRecord& b) { return a.id < b.id; });
}

// rst_storm, per service and per farm, once the window's connections are all counted: raised
// when its resets reach the threshold and `rise` times its usual window (in the engine's first
// window: the threshold times the rise) and, when the connections are known, `share` of them;
// an open storm holds at the threshold, twice the usual rate and half the share. `closing`:
// the window ends (usual rates move on, the counts start again); false at the end of the run,
// which only raises what the last window makes true (finish() then clears everything).
void FindingsEngine::judge_storms(uint64_t end_ns, bool closing, std::vector<FindingRecord>& out) {
    Tables& tb = *tables_;
    const uint64_t window = window_start_ns_ / t_.window_ns;
    auto judge = [&]<class Value>(KeyedTable<Value>& table) {
        constexpr bool farm = std::is_same_v<Value, FarmValue>;
        table.for_each([&](const FindingKey& key, Value& v) {
            float count = static_cast<float>(v.count);
            bool rises = v.count >= t_.storm_resets &&
                         (warm_ ? count >= static_cast<float>(t_.storm_rise) * v.usual
                                : uint64_t{v.count} >= uint64_t{t_.storm_resets} * t_.storm_rise);
            if constexpr (farm)
                rises = rises && uint64_t{v.max_server} * 2 <= v.count &&
                        v.hosts_estimate >= t_.farm_hosts;
            bool holds = v.open() && v.count >= t_.storm_resets && count >= 2.0f * v.usual;
            v.connections_known = false;
            if ((rises || holds) && connections_ != nullptr) {
                uint64_t hash =
                    connection_key_hash(key.address, key.family, key.port, key.prefix_length);
                if (std::optional<uint64_t> c = connections_->connections(window, hash)) {
                    v.connections = *c;
                    v.connections_known = true;
                }
            }
            double share = v.connections_known ? storm_share(v) : 1.0;
            if (v.open() && closing) {
                holds = holds && share >= t_.storm_share / 2;
                FindingState state = holds ? FindingState::updated : FindingState::cleared;
                FindingRecord r = make_record(v.finding, FindingKind::rst_storm, state, end_ns,
                                              t_.window_ns, v.examples, storm_body(key, v, t_));
                if (holds) {
                    tb.open_lines[r.id] = {r.id, FindingKind::rst_storm,
                                           tb.open_lines[r.id].raised_ts_ns, r.line};
                } else {
                    --open_[static_cast<size_t>(FindingKind::rst_storm)];
                    tb.open_lines.erase(r.id);
                    v.finding = 0;
                }
                out.push_back(std::move(r));
            } else if (!v.open() && rises && share >= t_.storm_share) {
                v.finding = next_id_++;
                v.total = v.count;
                FindingRecord r =
                    make_record(v.finding, FindingKind::rst_storm, FindingState::raised, end_ns,
                                t_.window_ns, v.examples, storm_body(key, v, t_));
                ++open_[static_cast<size_t>(FindingKind::rst_storm)];
                ++raised_[static_cast<size_t>(FindingKind::rst_storm)];
                tb.open_lines[r.id] = {r.id, FindingKind::rst_storm, r.ts_ns, r.line};
                out.push_back(std::move(r));
            }
            if (!closing) return true;
            // Usual rates: a storm that lasts slowly becomes the usual rate (1/8 a window).
            if (v.open())
                v.usual += (count - v.usual) / 8.0f;
            else if (!v.seasoned)
                v.usual = count;  // its first window: its own rate from now on
            else
                v.usual += (count - v.usual) / 4.0f;
            bool keep = v.open() || v.usual >= 0.5f;
            float usual = v.usual;
            uint64_t finding = v.finding;
            v = Value{};
            v.usual = usual;
            v.finding = finding;
            v.seasoned = true;
            return keep;
        });
    };
    judge(tb.storms);
    judge(tb.farms);
}

void FindingsEngine::finish(std::vector<FindingRecord>& out) {
    if (!started_) return;
    Tables& tb = *tables_;
    size_t first = out.size();
    // After the last event, or after the last window closed when the run was advanced past it.
    const uint64_t ts = std::max(last_ts_ns_, window_start_ns_);
    // The last window's storms are judged (its connections are all counted at the end of the
    // run), then everything open is cleared.
    judge_storms(ts, false, out);
    auto clear = [&](FindingKind kind, uint64_t& finding, const Examples& examples, auto body) {
        if (finding == 0) return;
        out.push_back(
            make_record(finding, kind, FindingState::cleared, ts, t_.window_ns, examples, body));
        --open_[static_cast<size_t>(kind)];
        tb.open_lines.erase(finding);
        finding = 0;
    };
    tb.storms.for_each([&](const FindingKey& k, StormValue& v) {
        clear(FindingKind::rst_storm, v.finding, v.examples, storm_body(k, v, t_));
        return true;
    });
    tb.farms.for_each([&](const FindingKey& k, FarmValue& v) {
        clear(FindingKind::rst_storm, v.finding, v.examples, storm_body(k, v, t_));
        return true;
    });
    tb.scans.for_each([&](const FindingKey& k, ScanValue& v) {
        clear(FindingKind::scan, v.vertical, v.examples, scan_body(k, v, t_, true));
        clear(FindingKind::scan, v.horizontal, v.examples, scan_body(k, v, t_, false));
        return true;
    });
    tb.backscatter.for_each([&](const FindingKey& k, BackscatterValue& v) {
        clear(FindingKind::backscatter, v.finding, v.examples, backscatter_body(k, v, t_));
        return true;
    });
    tb.timers.for_each([&](const FindingKey& k, TimerValue& v) {
        clear(FindingKind::middlebox_timer, v.finding, v.examples, timer_body(k, v, t_));
        return true;
    });
    tb.injectors.for_each([&](const FindingKey& k, InjectorValue& v) {
        clear(FindingKind::injector, v.finding, v.examples, injector_body(k, v, t_));
        return true;
    });
    std::stable_sort(out.begin() + static_cast<std::ptrdiff_t>(first), out.end(),
                     [](const FindingRecord& a, const FindingRecord& b) { return a.id < b.id; });
}

std::optional<uint64_t> SummedConnections::connections(uint64_t window, uint64_t key_hash) const {
    uint64_t cells[ConnectionWindows::depth] = {};
    for (const ConnectionWindows* w : workers_) {
        if (!w->add_cells(window, key_hash, cells)) {
            ++unknown_;
            return std::nullopt;
        }
    }
    return *std::min_element(std::begin(cells), std::end(cells));
}

uint64_t SummedConnections::late() const noexcept {
    uint64_t sum = 0;
    for (const ConnectionWindows* w : workers_)
        sum += w->late();
    return sum;
}

std::string findings_answer_json(const FindingsEngine& engine) {
    Buffer out;
    auto it = std::back_inserter(out);
    fmt::format_to(it, "{{\"findings\":[");
    bool first = true;
    for (const OpenFinding& f : engine.open()) {
        if (!first) out.push_back(',');
        first = false;
        out.append(f.line);
    }
    fmt::format_to(it, "],\"open\":{{");
    for (size_t k = 0; k < finding_kind_count; ++k)
        fmt::format_to(it, "{}\"{}\":{}", k ? "," : "", finding_kind_names[k],
                       engine.open_count(static_cast<FindingKind>(k)));
    fmt::format_to(it, "}},\"raised\":{{");
    for (size_t k = 0; k < finding_kind_count; ++k)
        fmt::format_to(it, "{}\"{}\":{}", k ? "," : "", finding_kind_names[k],
                       engine.raised_count(static_cast<FindingKind>(k)));
    fmt::format_to(it, "}},\"evicted\":{},\"untracked\":{}}}", engine.evicted(),
                   engine.untracked());
    return fmt::to_string(out);
}

}  // namespace rstscope
