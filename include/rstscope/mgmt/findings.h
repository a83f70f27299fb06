// SPDX-License-Identifier: BSD-3-Clause
// Findings: patterns across reset events (docs/findings.md). A pure engine, no EAL, no clock: it
// is fed settled ResetEvents in log order and judges on packet time (each event's ts), so the
// same events give the same findings whatever the number of workers, and a fleet collector can
// feed it the events of several appliances. Management thread only (one engine, one thread).
//
// Kinds (FindingKind): rst_storm (a service, or a farm of addresses behind one port), scan
// (vertical: many ports refused to one source; horizontal: many hosts), backscatter (unsolicited
// resets / SYN-ACKs toward an address block), middlebox_timer (idle-timeout resets from the path
// at a consistent idle gap), injector (injected resets sharing one fingerprint across flows).
//
// A finding is raised once, by the event that makes it true (its record follows that event in
// the log), updated at most once per window while it holds, and cleared when a window passes
// without it (rates) or after `hold` of silence (timers, injectors), or at the end of the run.
//
// Memory is fixed by the constructor whatever the traffic: one table of `max_keys` entries per
// kind (KeyedTable: open addressing, entries never allocate); a table that is full evicts the
// smallest of 8 entries without an open finding (counted: evicted()), or ignores the event for
// that kind when all 8 have one (counted: untracked()). Distinct counts use HyperLogLog with 256
// one-byte registers (DistinctCounter: exact to about 1 below 20 items, relative standard
// error 1.04/16 = 6.5 % beyond).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rstscope/analysis/connection_windows.h"
#include "rstscope/analysis/reset_event.h"
#include "rstscope/common/distinct_sketch.h"

namespace rstscope {

#define RSTSCOPE_FINDING_KINDS(X)                                                                \
    X(rst_storm, "a service or a farm of addresses behind one port resets far more than usual")  \
    X(scan, "one source draws refusals from many ports (vertical) or many hosts (horizontal)")   \
    X(backscatter, "unsolicited resets or SYN-ACKs toward an address block nobody there opened") \
    X(middlebox_timer, "idle-timeout resets from the path at a consistent idle gap")             \
    X(injector, "injected resets sharing one fingerprint across many flows")

enum class FindingKind : uint8_t { RSTSCOPE_FINDING_KINDS(RSTSCOPE_ENUM_ENTRY) count };
inline constexpr size_t finding_kind_count = static_cast<size_t>(FindingKind::count);
inline constexpr std::array<std::string_view, finding_kind_count> finding_kind_names{
    RSTSCOPE_FINDING_KINDS(RSTSCOPE_NAME_ENTRY)};
inline constexpr std::array<std::string_view, finding_kind_count> finding_kind_descriptions{
    RSTSCOPE_FINDING_KINDS(RSTSCOPE_DESCRIPTION_ENTRY)};

enum class FindingState : uint8_t { raised, updated, cleared };
inline constexpr std::array<std::string_view, 3> finding_state_names{"raised", "updated",
                                                                     "cleared"};

// A distinct counter for the findings engine: a HyperLogLog of 2^8 registers (DistinctSketch;
// relative standard error 1.04 / sqrt(256) = 6.5 %; below about 20 items the estimate is within
// 1 of the truth) plus the sum its estimate needs.
//
// The estimate's sum of 2^-register is kept as registers change (an integer in units of
// 2^-exact_rank, so it is exact), which makes estimate() O(1) instead of a pass over the 256
// registers: the findings engine asks for it each time a register changes. The result is the
// same double as summing the registers in order, since every partial sum of 2^-r with r <=
// exact_rank fits a double's 53-bit mantissa exactly; a register above exact_rank (one hash in
// 2^44) sends estimate() back to that pass.
class DistinctCounter {
  public:
    using Sketch = DistinctSketch<8>;
    static constexpr unsigned precision = Sketch::precision;
    static constexpr size_t registers = Sketch::register_count;
    static constexpr unsigned exact_rank = 44;
    // `hash` must be well mixed (mix64()). True when a register changed: only then can the
    // estimate have changed.
    bool add(uint64_t hash) noexcept;
    uint64_t estimate() const noexcept;
    void clear() noexcept {
        sketch_.clear();
        sum_ = empty_sum;
        zeros_ = registers;
        beyond_exact_ = false;
    }

  private:
    // sum_ counts 2^-r in units of 2^-exact_rank: 2^(exact_rank - r) per register.
    static constexpr uint64_t empty_sum = uint64_t{registers} << exact_rank;
    Sketch sketch_;
    uint64_t sum_ = empty_sum;
    uint16_t zeros_ = registers;
    bool beyond_exact_ = false;  // a register holds more than exact_rank: sum_ is not kept
};

// What a finding is about, compared byte for byte.
struct FindingKey {
    IpAddress address;   // a host, or a prefix's first address; zero for a fingerprint
    uint32_t extra = 0;  // a fingerprint's packed fields
    uint16_t port = 0;
    IpFamily family = IpFamily::v4;
    uint8_t prefix_length = 0;  // 0: a host
    friend bool operator==(const FindingKey&, const FindingKey&) = default;
};
static_assert(sizeof(FindingKey) == 24);

// The table lookups FindingsEngine::add() will make for one event, worked out before its turn:
// plan_lookups() hashes the keys and asks for their index slots, prefetch_lookups(), a few events
// later once those slots are in, asks for the entries they name, so that add() finds its lines
// in the cache instead of waiting for each in turn (a reset-heavy run's tables outgrow the L2
// cache). A hint only: add() takes a planned slot only for the very key it looks up.
struct FindingLookups {
    static constexpr uint32_t unplanned = UINT32_MAX;
    struct Lookup {
        FindingKey key;
        uint32_t home = unplanned;  // the key's home slot in its table's index
    };
    Lookup storm, farm, scan;  // the tables most events reach
};

struct FindingThresholds {
    uint64_t window_ns = 60'000'000'000;  // --findings-window: the rates' window
    uint64_t hold_ns = 600'000'000'000;   // --findings-hold: timers and injectors clear after it
    uint32_t max_keys = 4096;             // --findings-max-keys: entries per kind's table
    uint32_t storm_resets = 100;          // --findings-storm-resets: in one window
    uint32_t storm_rise = 4;              // --findings-storm-rise: times the usual window
    double storm_share = 0.2;             // --findings-storm-share: of the window's connections
    uint32_t farm_hosts = 4;              // --findings-farm-hosts: distinct servers of a farm
    uint32_t scan_ports = 20;             // --findings-scan-ports
    uint32_t scan_hosts = 20;             // --findings-scan-hosts
    uint32_t backscatter_resets = 20;     // --findings-backscatter-resets
    uint32_t timer_resets = 5;            // --findings-timer-resets
    uint64_t timer_spread_ns = 5'000'000'000;  // --findings-timer-spread
    uint32_t injector_resets = 5;              // --findings-injector-resets
};

// Constants of the rules (docs/findings.md says each).
inline constexpr uint8_t farm_prefix_v4 = 24;
inline constexpr uint8_t farm_prefix_v6 = 64;
inline constexpr uint32_t backscatter_min_addresses = 4;
inline constexpr uint32_t injector_min_servers = 2;
inline constexpr size_t finding_examples = 5;     // example event ids a finding names
inline constexpr size_t timer_gaps_kept = 64;     // idle gaps a middlebox_timer entry keeps
inline constexpr size_t injector_flows_kept = 8;  // flows an injector finding names

// One record for the log: `line` is the whole JSON object, without newline.
struct FindingRecord {
    uint64_t id;  // the finding's number in this run, from 1; the same in its raised, updated
                  // and cleared records
    FindingKind kind;
    FindingState state;
    uint64_t ts_ns;
    std::string line;
    // Raised by the event just added (its record follows that event in the log); false for the
    // records of a window that closed, which follow the events before it.
    bool by_event = false;
};

// Where the engine learns how many connections a service started in a window (the rst_storm
// share): management sums the workers' ConnectionWindows; without a source the share is unknown
// and a storm is judged on its rate alone (a fleet collector).
class ConnectionSource {
  public:
    virtual ~ConnectionSource() = default;
    // Connections that started in window number `window` (its start / window_ns) toward the
    // service whose connection_key_hash() is `key_hash`; nullopt when unknown.
    virtual std::optional<uint64_t> connections(uint64_t window, uint64_t key_hash) const = 0;
};

// The workers' ConnectionWindows summed cell by cell, then the count-min estimate: the same
// whatever the number of workers. A window some worker's copy no longer holds is unknown
// (counted: unknown()).
class SummedConnections final : public ConnectionSource {
  public:
    explicit SummedConnections(std::vector<const ConnectionWindows*> workers)
        : workers_(std::move(workers)) {}
    std::optional<uint64_t> connections(uint64_t window, uint64_t key_hash) const override;
    uint64_t unknown() const noexcept { return unknown_; }
    // Connections the workers could not count: older than the window their copy held.
    uint64_t late() const noexcept;

  private:
    std::vector<const ConnectionWindows*> workers_;
    mutable uint64_t unknown_ = 0;
};

// The open findings, for `rstscopectl findings` and metrics.
struct OpenFinding {
    uint64_t id;
    FindingKind kind;
    uint64_t raised_ts_ns;
    std::string line;  // its latest record (raised or updated)
};

class FindingsEngine {
  public:
    explicit FindingsEngine(const FindingThresholds& thresholds);
    ~FindingsEngine();
    FindingsEngine(const FindingsEngine&) = delete;
    FindingsEngine& operator=(const FindingsEngine&) = delete;

    // One settled event (its id given), in log order. Records it causes are appended to `out`:
    // first those of the windows its time closes, then the one it raises. `planned`: the event's
    // lookups as plan_lookups() (and prefetch_lookups()) left them, or null.
    void add(const ResetEventCore& event, std::vector<FindingRecord>& out,
             const FindingLookups* planned = nullptr);
    // See FindingLookups. Neither changes what the engine holds.
    void plan_lookups(const ResetEventCore& event, FindingLookups& lookups) const noexcept;
    void prefetch_lookups(const FindingLookups& lookups) const noexcept;
    // Packet time `ts_ns` has passed: every event before it has been added. Closes the windows
    // that end by then, each in turn (a live capture without events still clears its findings):
    // the records are the same however many calls brought the engine to `ts_ns`.
    void advance(uint64_t ts_ns, std::vector<FindingRecord>& out) {
        // Inline: add() asks for every event, and a window ends for few of them.
        if (started_ && ts_ns >= window_start_ns_ + t_.window_ns) close_windows_by(ts_ns, out);
    }
    // The end of the run: clears every open finding, at the last event's time or at the end of
    // the last window closed, whichever is later.
    void finish(std::vector<FindingRecord>& out);
    // The connections behind the rst_storm share; null (the default): the share is unknown. It
    // must outlive the engine's use of it.
    void set_connections(const ConnectionSource* source) noexcept { connections_ = source; }

    std::vector<OpenFinding> open() const;
    uint64_t open_count(FindingKind kind) const noexcept {
        return open_[static_cast<size_t>(kind)];
    }
    uint64_t raised_count(FindingKind kind) const noexcept {
        return raised_[static_cast<size_t>(kind)];
    }
    uint64_t evicted() const noexcept;
    uint64_t untracked() const noexcept;
    // Bytes the tables hold (all allocated by the constructor).
    size_t memory_bytes() const noexcept;
    const FindingThresholds& thresholds() const noexcept { return t_; }

    struct Tables;  // defined in findings.cc

  private:
    void close_window(std::vector<FindingRecord>& out);
    void close_windows_by(uint64_t ts_ns, std::vector<FindingRecord>& out);
    // No table holds an entry: closing a window would write nothing and keep nothing.
    bool tables_empty() const noexcept;
    // rst_storm: judged when a window closes, once the window's connections are all counted.
    void judge_storms(uint64_t end_ns, bool closing, std::vector<FindingRecord>& out);

    FindingThresholds t_;
    const ConnectionSource* connections_ = nullptr;
    std::unique_ptr<Tables> tables_;
    uint64_t window_start_ns_ = 0;
    bool started_ = false;
    bool warm_ = false;  // a window has closed: services' usual rates are known
    uint64_t last_ts_ns_ = 0;
    uint64_t next_id_ = 1;
    std::array<uint64_t, finding_kind_count> open_{};
    std::array<uint64_t, finding_kind_count> raised_{};
};

// The findings' JSON for the control socket's `findings` answer: {"findings":[...],"open":{..}}.
std::string findings_answer_json(const FindingsEngine& engine);

}  // namespace rstscope
