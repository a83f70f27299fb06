// SPDX-License-Identifier: BSD-3-Clause
// Unit tests for the management side: the RST-storm window (against a brute-force reference),
// the id index of management's tables (colliding homes, runs across the table's end, erase in a
// run), the top resetting hosts (Space-Saving: exact under capacity, bounded error beyond), the
// verdict statistics and their two renderings, settling an event with and without the control
// socket's query tables (stats JSON, summary text) with every loss
// counted, a flood of distinct hosts in bounded memory, and the control protocol's parser.

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <iterator>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include <fmt/format.h>

#include "counting_new.h"
#include "resident_memory.h"
#include "rstscope/mgmt/control_protocol.h"
#include "rstscope/mgmt/id_index.h"
#include "rstscope/mgmt/settle.h"
#include "rstscope/mgmt/stats.h"

namespace rstscope {
namespace {

constexpr uint64_t ms = 1'000'000;
constexpr uint64_t sec = 1'000'000'000;

IpAddress address(const char* text, IpFamily& family) {
    uint8_t bytes[16]{};
    if (inet_pton(AF_INET, text, bytes) == 1) {
        family = IpFamily::v4;
        return IpAddress::from_v4(bytes);
    }
    EXPECT_EQ(inet_pton(AF_INET6, text, bytes), 1) << text;
    family = IpFamily::v6;
    return IpAddress::from_v6(bytes);
}

// A reset by the responder `host` at `ts_ns`; the port tells events apart.
ResetEvent at(uint64_t ts_ns, const char* host = "192.0.2.1", uint16_t orig_port = 40000) {
    ResetEvent e{};
    e.ts_ns = ts_ns;
    e.orig_p = orig_port;
    e.resp_h = address(host, e.family);
    e.rst_by_orig = false;
    return e;
}

std::string resetter(const ResetEventCore& e) {
    return host_text(HostKey::resetter_of(e));
}

// The window as management drives it: what add() judged early goes out with the next release.
struct Storms {
    StormWindow window;
    std::vector<StormWindow::Judged> out;

    Storms(uint32_t threshold, uint64_t window_ns, uint32_t max_pending = 1024,
           uint32_t max_hosts = 1024)
        : window(threshold, window_ns, max_pending, max_hosts) {}
    void add(const ResetEvent& e) { window.add(e, out); }
    std::vector<StormWindow::Judged> release(uint64_t now_ns, bool everything = false) {
        window.release(now_ns, everything, out);
        std::vector<StormWindow::Judged> judged;
        judged.swap(out);
        return judged;
    }
};

struct Released {
    std::vector<uint64_t> ts;
    std::vector<std::string> hosts;
    std::vector<bool> storm;
};

Released summarize(const std::vector<StormWindow::Judged>& judged) {
    Released r;
    for (const auto& j : judged) {
        r.ts.push_back(j.event().ts_ns);
        r.hosts.push_back(resetter(j.event()));
        r.storm.push_back(j.storm);
    }
    return r;
}

const char* const host_a = "192.0.2.10";
const char* const host_b = "192.0.2.11";
const char* const host_c = "192.0.2.12";

// A capture's expected events take their pool slots (event core, slot, order ring) at setup: as
// much as they need, not the whole pool, and not the extras most events never have.
TEST(StormWindow, PopulateFaultsInWhatTheExpectedEventsTake) {
    StormWindow window(20, 1'000'000'000, 1u << 16, 1024);
    // Enough that extras faulted in too (248 bytes each) would exceed the bound below.
    constexpr size_t events = 60'000;
    const size_t before = resident_bytes();
    window.populate(events, 0);
    const size_t grown = resident_bytes() - before;
    EXPECT_GE(grown, events * sizeof(ResetEventCore));
    // The pool of 65 536 events' cores alone is 13 MiB; a slot and its place in the order ring
    // are smaller than 64 bytes.
    EXPECT_LE(grown, events * (sizeof(ResetEventCore) + 64) + 3 * huge_page_bytes);
}

// The hosts that sent a capture's resets take their records and past times at setup too: judging
// the capture's events at its end then faults nothing in for them.
TEST(StormWindow, PopulateFaultsInTheExpectedHostsRecordsAndPastTimes) {
    constexpr uint32_t hosts = 20'000;
    constexpr uint32_t threshold = 20;  // 19 past times a host: 152 bytes
    StormWindow window(threshold, 1'000'000'000, hosts, 1u << 16);
    std::vector<ResetEvent> events(hosts);
    for (uint32_t i = 0; i < hosts; ++i) {
        events[i] = at(uint64_t{i} * 1000);
        const uint8_t v4[4] = {198, 51, static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)};
        events[i].resp_h = IpAddress::from_v4(v4);
    }
    // The judged events' records are written once before, so that only the window's own pages
    // are measured.
    std::vector<StormWindow::Judged> out(hosts, StormWindow::Judged(ResetEvent{}, false));
    out.clear();
    window.populate(hosts, hosts);
    const size_t before = resident_bytes();
    for (const ResetEvent& e : events)
        window.add(e, out);
    window.release(0, true, out);
    ASSERT_EQ(out.size(), hosts);
    EXPECT_EQ(window.hosts(), hosts);
    // Unpopulated, the past times alone would take 3 MB here.
    EXPECT_LT(resident_bytes() - before, size_t{hosts} * (threshold - 1) * sizeof(uint64_t) / 8);
}

TEST(StormWindow, ThresholdCountsResetsOnBothSidesOfAnEvent) {
    Storms window(3, 1 * sec);
    // Host A: 10.0, 10.5, 11.4 s. Only 10.5 has all three within one second on either side.
    window.add(at(10 * sec, "192.0.2.1"));
    window.add(at(10 * sec + 500 * ms, "192.0.2.1"));
    window.add(at(11 * sec + 400 * ms, "192.0.2.1"));
    Released r = summarize(window.release(0, true));
    EXPECT_EQ(r.ts, (std::vector<uint64_t>{10 * sec, 10 * sec + 500 * ms, 11 * sec + 400 * ms}));
    EXPECT_EQ(r.storm, (std::vector<bool>{false, true, false}));
    EXPECT_EQ(r.hosts, (std::vector<std::string>(3, "192.0.2.1")));
    EXPECT_EQ(window.window.pending(), 0u);
}

TEST(StormWindow, FirstAndLastResetsOfAStormAreStorms) {
    Storms window(3, 1 * sec);
    for (uint64_t t : {10 * sec, 10 * sec + 200 * ms, 10 * sec + 400 * ms})
        window.add(at(t, "192.0.2.1"));
    EXPECT_EQ(summarize(window.release(0, true)).storm, (std::vector<bool>{true, true, true}));
}

TEST(StormWindow, WindowBoundsAreInclusive) {
    Storms window(2, 1 * sec);
    window.add(at(10 * sec, host_a));
    window.add(at(11 * sec, host_a));  // exactly one window later: together
    window.add(at(20 * sec, host_b));
    window.add(at(21 * sec + 1, host_b));  // one nanosecond more: apart
    EXPECT_EQ(summarize(window.release(0, true)).storm,
              (std::vector<bool>{true, true, false, false}));
}

TEST(StormWindow, SpreadOutOrOtherHostsAreNoStorm) {
    Storms window(2, 1 * sec);
    for (int i = 0; i < 5; ++i)
        window.add(at((10 + 2 * i) * sec, "192.0.2.1"));
    window.add(at(30 * sec, "192.0.2.1"));
    window.add(at(30 * sec + 1 * ms, "192.0.2.2"));  // another host: does not add up
    Released r = summarize(window.release(0, true));
    EXPECT_EQ(r.storm, (std::vector<bool>(7, false)));
}

TEST(StormWindow, ReleasesOnlyClosedWindowsInTimeOrder) {
    Storms window(2, 1 * sec);
    window.add(at(10 * sec, host_a, 1));
    window.add(at(10 * sec + 100 * ms, host_b, 2));
    window.add(at(10 * sec + 50 * ms, host_a, 3));  // from a slower worker: arrives late
    window.add(at(12 * sec, host_c, 4));
    EXPECT_TRUE(window.release(11 * sec).empty());  // 10 s + 1 s is not yet before now
    auto first = window.release(11 * sec + 1);
    ASSERT_EQ(first.size(), 1u);
    EXPECT_EQ(first[0].event().orig_p, 1);
    EXPECT_TRUE(first[0].storm);  // 10.05 s from the same host is within its window
    EXPECT_TRUE(window.release(11 * sec + 50 * ms).empty());
    auto second = window.release(11 * sec + 50 * ms + 1);
    ASSERT_EQ(second.size(), 1u);
    EXPECT_EQ(second[0].event().orig_p, 3);
    EXPECT_TRUE(second[0].storm);  // 10.0 s still counts: it lies within this event's window
    auto third = window.release(11 * sec + 100 * ms + 1);
    ASSERT_EQ(third.size(), 1u);
    EXPECT_EQ(third[0].event().orig_p, 2);
    EXPECT_EQ(resetter(third[0].event()), host_b);
    EXPECT_FALSE(third[0].storm);
    EXPECT_EQ(window.window.pending(), 1u);
    auto rest = window.release(11 * sec + 100 * ms + 1, true);
    ASSERT_EQ(rest.size(), 1u);
    EXPECT_EQ(rest[0].event().orig_p, 4);
    EXPECT_EQ(resetter(rest[0].event()), host_c);
    EXPECT_EQ(window.window.pending(), 0u);
    EXPECT_TRUE(window.release(100 * sec, true).empty());
}

TEST(StormWindow, ReleaseHandsOutAtMostMaxEventsPerCall) {
    StormWindow window(2, 1 * sec, 16, 16);
    std::vector<StormWindow::Judged> out;
    for (uint16_t port = 1; port <= 5; ++port)
        window.add(at(10 * sec + port, host_a, port), out);
    window.release(20 * sec, false, out, 2);
    ASSERT_EQ(out.size(), 2u);
    window.release(20 * sec, false, out, 2);
    window.release(20 * sec, false, out, 2);
    ASSERT_EQ(out.size(), 5u);
    for (uint16_t i = 0; i < 5; ++i) {
        EXPECT_EQ(out[i].event().orig_p, i + 1);
        EXPECT_TRUE(out[i].storm);
    }
    EXPECT_EQ(window.pending(), 0u);
}

TEST(StormWindow, SameTimeIsOrderedByConnection) {
    Storms window(2, 1 * sec);
    window.add(at(10 * sec, host_a, 9));
    window.add(at(10 * sec, host_b, 5));
    window.add(at(10 * sec, host_c, 7));
    auto judged = window.release(0, true);
    ASSERT_EQ(judged.size(), 3u);
    EXPECT_EQ(judged[0].event().orig_p, 5);
    EXPECT_EQ(judged[1].event().orig_p, 7);
    EXPECT_EQ(judged[2].event().orig_p, 9);
}

TEST(StormWindow, MaxPendingJudgesTheOldestEarly) {
    Storms window(2, 1 * sec, 2);
    window.add(at(10 * sec, host_a, 1));
    window.add(at(10 * sec + 1 * ms, host_a, 2));
    EXPECT_TRUE(window.release(0).empty());
    window.add(at(10 * sec + 2 * ms, host_a, 3));
    auto early = window.release(0);
    ASSERT_EQ(early.size(), 1u);
    EXPECT_EQ(early[0].event().orig_p, 1);
    EXPECT_TRUE(early[0].storm);
    EXPECT_EQ(window.window.pending(), 2u);
    EXPECT_EQ(window.window.early_judged(), 1u);
}

// Judged events stay in the pool, in retired slots, until recycle(); beyond `judged_in_pool` of
// them they are copied out. Verdicts and order are the same either way.
TEST(StormWindow, JudgedEventsWaitInThePoolUntilRecycled) {
    StormWindow window(2, 1 * sec, 2, 16, 2);  // two waiting, two judged in the pool
    std::vector<StormWindow::Judged> out;
    for (uint16_t port = 1; port <= 4; ++port)
        window.add(at(10 * sec + port * ms, host_a, port), out);  // 1 and 2 judged early
    ASSERT_EQ(out.size(), 2u);
    EXPECT_NE(out[0].pooled, nullptr);
    EXPECT_NE(out[1].pooled, nullptr);
    window.release(0, true, out);  // the pool's judged slots are taken: 3 and 4 are copied
    ASSERT_EQ(out.size(), 4u);
    EXPECT_EQ(out[2].pooled, nullptr);
    EXPECT_EQ(out[3].pooled, nullptr);
    for (uint16_t i = 0; i < 4; ++i) {
        EXPECT_EQ(out[i].event().orig_p, i + 1);
        EXPECT_TRUE(out[i].storm);
    }
    out[0].event().id = 7;  // settled in place
    EXPECT_EQ(out[0].event().id, 7u);
    out.clear();
    window.recycle();
    // Recycled slots are taken again, and judged events are kept in the pool again.
    for (uint16_t port = 5; port <= 8; ++port)
        window.add(at(20 * sec + port * ms, host_b, port), out);
    window.release(0, true, out);
    ASSERT_EQ(out.size(), 4u);
    EXPECT_NE(out[0].pooled, nullptr);
    EXPECT_NE(out[1].pooled, nullptr);
    for (uint16_t i = 0; i < 4; ++i)
        EXPECT_EQ(out[i].event().orig_p, i + 5);
    EXPECT_EQ(window.pending(), 0u);
    EXPECT_EQ(window.memory_bytes(), StormWindow::memory_for(2, 2, 16, 2));
}

// The pool keeps an event's extras beside its core only when they say something; what comes out,
// in the pool or copied out, reads as the event that went in, and a slot taken again after
// recycle() never shows the extras of the event it held before. Every third event has a RST
// payload, every third a tunnel, the rest none; rounds of five fill the same slots, so each slot
// holds each kind in turn.
TEST(StormWindow, EventsComeOutWithTheirOwnExtrasOrNone) {
    StormWindow window(2, 1 * sec, 4, 16, 3);  // four waiting, three judged in the pool
    std::vector<StormWindow::Judged> out;
    std::vector<ResetEvent> sent;
    size_t pooled = 0, copied = 0;
    for (uint16_t round = 0; round < 6; ++round) {
        for (uint16_t k = 0; k < 5; ++k) {
            const uint16_t port = static_cast<uint16_t>(round * 5 + k + 1);
            ResetEvent e = at(10 * sec + port * ms, host_a, port);
            if (port % 3 == 0) {
                const std::string text = "full " + std::to_string(port);
                e.rst_payload_length = static_cast<uint8_t>(text.size());
                std::memcpy(e.rst_payload, text.data(), text.size());
            } else if (port % 3 == 1) {
                e.tunnel.types = static_cast<uint8_t>(TunnelType::vxlan);
                e.tunnel.id = port;
            }
            EXPECT_EQ(has_extras(e), port % 3 != 2);
            sent.push_back(e);
            window.add(e, out);
        }
        window.release(0, true, out);
        ASSERT_EQ(out.size(), 5u);
        for (uint16_t k = 0; k < 5; ++k) {
            const ResetEvent& e = sent[round * 5 + k];
            ASSERT_EQ(out[k].event().orig_p, e.orig_p);
            EXPECT_EQ(event_json(out[k].event(), out[k].extras()), event_json(e)) << e.orig_p;
            (out[k].pooled ? pooled : copied) += 1;
        }
        out.clear();
        window.recycle();
    }
    EXPECT_GT(pooled, 0u);
    EXPECT_GT(copied, 0u);
}

// A window and the resetters' sketch built with one HostHash: the window's hash of each resetter
// counts it in the sketch (debug builds check it against the sketch's own), as Management does.
TEST(StormWindow, ResetterHashCountsInTheSketchSharingItsSeeds) {
    HostHash hash;
    StormWindow window(2, 1 * sec, 4, 16, 8, hash);
    ResetStatistics stats(16, hash);
    std::vector<StormWindow::Judged> out;
    const char* hosts[] = {host_a, host_b, host_a, host_c, host_a, host_b};
    uint16_t port = 1;
    for (const char* host : hosts) {
        window.add(at(10 * sec + port * ms, host, port), out);
        ++port;  // not in the call: its arguments are evaluated in no given order
    }
    window.release(0, true, out);
    ASSERT_EQ(out.size(), 6u);
    for (StormWindow::Judged& j : out) {
        EXPECT_TRUE(j.resetter_hashed);
        stats.settle(j);
    }
    EXPECT_EQ(stats.top_hosts(3),
              (std::vector<TopHost>{{host_a, 3, 0}, {host_b, 2, 0}, {host_c, 1, 0}}));
}

ResetEvent with_verdict(ResetCause cause, ConnState state, const char* host = "192.0.2.1") {
    ResetEvent e = at(0, host);
    e.cause = cause;
    e.conn_state = state;
    return e;
}

TEST(ResetStatistics, TalliesAndTopHostsByCountThenName) {
    ResetStatistics stats;
    auto record = [&](const char* host, int n, ResetCause cause = ResetCause::resp_abort) {
        for (int i = 0; i < n; ++i)
            stats.record(with_verdict(cause, ConnState::RSTR, host));
    };
    record("10.0.0.3", 2);
    record("10.0.0.1", 5);
    record("10.0.0.2", 2, ResetCause::refused);
    record("10.0.0.4", 7);
    record("10.0.0.0", 1);
    EXPECT_EQ(stats.total(), 17u);
    EXPECT_EQ(stats.by_cause(ResetCause::resp_abort), 15u);
    EXPECT_EQ(stats.by_cause(ResetCause::refused), 2u);
    EXPECT_EQ(stats.by_cause(ResetCause::injected), 0u);
    EXPECT_EQ(stats.by_state(ConnState::RSTR), 17u);

    using Top = std::vector<TopHost>;
    EXPECT_EQ(stats.top_hosts(10), (Top{{"10.0.0.4", 7, 0},
                                        {"10.0.0.1", 5, 0},
                                        {"10.0.0.2", 2, 0},
                                        {"10.0.0.3", 2, 0},
                                        {"10.0.0.0", 1, 0}}));
    EXPECT_EQ(stats.top_hosts(3),
              (Top{{"10.0.0.4", 7, 0}, {"10.0.0.1", 5, 0}, {"10.0.0.2", 2, 0}}));
    EXPECT_EQ(stats.top_hosts(0), Top{});
    EXPECT_EQ(ResetStatistics{}.top_hosts(5), Top{});
}

// Without a control socket (--control none) management settles events without the recent-events
// ring and the servers' and clients' sketches, which only its queries read: the ids, the verdicts,
// the tallies and the findings are those of a run that keeps them.
TEST(SettleEvent, WithoutTheQueryTablesEverythingElseIsTheSame) {
    struct Targets {
        ResetStatistics resets;
        RecentEvents recent{64};
        TopTables tops{16};
        FindingsEngine findings{FindingThresholds{}};
        std::vector<StormWindow::Judged> judged;
        std::vector<FindingRecord> records;
        std::vector<bool> upgraded;
    } kept, shed;
    const char* const hosts[] = {"10.0.0.1", "10.0.0.2", "2001:db8::9"};
    for (Targets* t : {&kept, &shed}) {
        for (uint32_t i = 0; i < 150; ++i) {
            // One in five refused, each at another port: the originator draws a scan finding.
            bool refused = i % 5 == 0;
            ResetEvent e = with_verdict(refused ? ResetCause::refused : ResetCause::resp_abort,
                                        refused ? ConnState::REJ : ConnState::RSTR, hosts[i % 3]);
            e.ts_ns = 1 * sec + i * 10 * ms;
            e.orig_p = static_cast<uint16_t>(40000 + i);
            e.resp_p = static_cast<uint16_t>(refused ? 1000 + i : 443);
            t->judged.emplace_back(e, i % 3 == 0);
        }
        const SettleTargets to{t->resets,
                               t == &kept ? &t->recent : nullptr,
                               t == &kept ? &t->tops : nullptr,
                               t->findings,
                               {}};
        uint64_t id = 0;
        for (StormWindow::Judged& j : t->judged)
            t->upgraded.push_back(settle_event(j, ++id, to, t->records));
        t->findings.finish(t->records);
    }
    ASSERT_EQ(kept.judged.size(), shed.judged.size());
    for (size_t i = 0; i < kept.judged.size(); ++i) {
        EXPECT_EQ(event_json(kept.judged[i].event(), kept.judged[i].extras()),
                  event_json(shed.judged[i].event(), shed.judged[i].extras()))
            << i;
        EXPECT_EQ(shed.judged[i].event().id, i + 1);
    }
    EXPECT_EQ(kept.upgraded, shed.upgraded);
    EXPECT_EQ(std::count(shed.upgraded.begin(), shed.upgraded.end(), true), 40);  // storms' aborts
    EXPECT_EQ(shed.resets.total(), 150u);
    EXPECT_EQ(kept.resets.top_hosts(5), shed.resets.top_hosts(5));
    for (size_t c = 0; c < enum_count<ResetCause>; ++c)
        EXPECT_EQ(kept.resets.by_cause(static_cast<ResetCause>(c)),
                  shed.resets.by_cause(static_cast<ResetCause>(c)));
    ASSERT_EQ(kept.records.size(), shed.records.size());
    ASSERT_FALSE(shed.records.empty());
    for (size_t i = 0; i < kept.records.size(); ++i)
        EXPECT_EQ(kept.records[i].line, shed.records[i].line);
    // What was kept for the queries, and only there.
    EXPECT_EQ(kept.recent.pushed(), 150u);
    EXPECT_EQ(kept.tops.servers().tracked(), 16u);  // 3 hosts x (443 and refused ports): full
    EXPECT_EQ(shed.recent.pushed(), 0u);
    EXPECT_EQ(shed.tops.servers().tracked(), 0u);
    EXPECT_EQ(shed.tops.clients().tracked(), 0u);
}

// Counters with distinct values so a swapped field shows.
struct Fixture {
    WorkerCounters a, b;
    std::array<uint64_t, management_counter_count> management{};
    ResetStatistics resets;

    Fixture() {
        for (size_t i = 0; i < worker_counter_count; ++i) {
            a.bump(static_cast<WorkerCounter>(i), 1000 + i);
            b.bump(static_cast<WorkerCounter>(i), 2000 + i);
        }
        for (size_t i = 0; i < drop_reason_count; ++i)
            for (size_t k = 0; k <= i; ++k)
                a.drop(static_cast<DropReason>(i));
        for (size_t i = 0; i < management_counter_count; ++i)
            management[i] = 500 + i;
        resets.record(with_verdict(ResetCause::refused, ConnState::REJ, "198.51.100.7"));
        resets.record(with_verdict(ResetCause::refused, ConnState::REJ, "198.51.100.7"));
        resets.record(with_verdict(ResetCause::idle_timeout, ConnState::RSTR, "2001:db8::7"));
    }
    CounterTotals totals() const { return sum_counters({&a, &b}, management); }
};

// Management's per-event step: a storm verdict marks the event and turns a responder's abort
// into overload (counted by management as an upgrade); every settled event is tallied as settled.
TEST(ResetStatistics, SettleAppliesTheStormVerdictThenTallies) {
    ResetStatistics stats;
    StormWindow::Judged abort_in_storm{
        with_verdict(ResetCause::resp_abort, ConnState::RSTR, "10.0.0.1"), true};
    abort_in_storm.event().confidence = Confidence::high;
    EXPECT_TRUE(stats.settle(abort_in_storm));
    EXPECT_EQ(abort_in_storm.event().cause, ResetCause::overload);
    EXPECT_EQ(abort_in_storm.event().confidence, Confidence::medium);
    EXPECT_TRUE(abort_in_storm.event().has(Evidence::rst_storm));

    StormWindow::Judged refusal_in_storm{
        with_verdict(ResetCause::refused, ConnState::REJ, "10.0.0.1"), true};
    EXPECT_FALSE(stats.settle(refusal_in_storm));  // marked, not reclassified
    EXPECT_EQ(refusal_in_storm.event().cause, ResetCause::refused);
    EXPECT_TRUE(refusal_in_storm.event().has(Evidence::rst_storm));

    StormWindow::Judged abort_alone{
        with_verdict(ResetCause::resp_abort, ConnState::RSTR, "10.0.0.2"), false};
    EXPECT_FALSE(stats.settle(abort_alone));
    EXPECT_EQ(abort_alone.event().cause, ResetCause::resp_abort);
    EXPECT_FALSE(abort_alone.event().has(Evidence::rst_storm));

    EXPECT_EQ(stats.total(), 3u);
    EXPECT_EQ(stats.by_cause(ResetCause::overload), 1u);
    EXPECT_EQ(stats.by_cause(ResetCause::resp_abort), 1u);
    EXPECT_EQ(stats.by_cause(ResetCause::refused), 1u);
}

TEST(Stats, SumCountersAddsWorkers) {
    Fixture f;
    CounterTotals t = f.totals();
    EXPECT_EQ(t.workers, 2u);
    EXPECT_EQ(t.get(WorkerCounter::packets), 3000u);
    EXPECT_EQ(t.get(WorkerCounter::tx_dropped),
              3000u + 2 * static_cast<size_t>(WorkerCounter::tx_dropped));
    EXPECT_EQ(t.get(DropReason::not_ip), 1u);
    EXPECT_EQ(t.get(DropReason::unsupported_link),
              static_cast<size_t>(DropReason::unsupported_link) + 1);
    EXPECT_EQ(t.get(ManagementCounter::rx_errors),
              500u + static_cast<size_t>(ManagementCounter::rx_errors));
}

TEST(Stats, JsonHasEveryCounterAndDropReason) {
    Fixture f;
    std::string json = stats_json(f.totals(), f.resets);
    EXPECT_EQ(json.rfind("{\"workers\":2,", 0), 0u) << json;
    for (size_t i = 0; i < worker_counter_count; ++i) {
        std::string field = "\"" + std::string(worker_counter_names[i]) +
                            "\":" + std::to_string(3000 + 2 * i) + ",";
        EXPECT_NE(json.find(field), std::string::npos) << field;
    }
    for (size_t i = 0; i < management_counter_count; ++i) {
        std::string field =
            "\"" + std::string(management_counter_names[i]) + "\":" + std::to_string(500 + i);
        EXPECT_NE(json.find(field), std::string::npos) << field;
    }
    // `dropped` is every drop reason and every loss counter, named here one by one.
    auto worker = [](WorkerCounter c) { return 3000 + 2 * static_cast<uint64_t>(c); };
    auto management = [](ManagementCounter c) { return 500 + static_cast<uint64_t>(c); };
    uint64_t lost = worker(WorkerCounter::events_ring_full) +
                    worker(WorkerCounter::events_outbox_full) +
                    worker(WorkerCounter::events_lost_shutdown) +
                    management(ManagementCounter::log_lines_dropped);
    uint64_t dropped =
        drop_reason_count * (drop_reason_count + 1) / 2 + lost +
        worker(WorkerCounter::dispatch_ring_full) + worker(WorkerCounter::tx_dropped) +
        worker(WorkerCounter::capture_records_unread) +
        worker(WorkerCounter::fragments_table_full) + worker(WorkerCounter::fragments_timed_out) +
        worker(WorkerCounter::fragments_invalid) + worker(WorkerCounter::fragments_too_large) +
        management(ManagementCounter::log_write_errors) + management(ManagementCounter::rx_missed) +
        management(ManagementCounter::rx_errors) +
        management(ManagementCounter::recorder_evidence_lost) +
        management(ManagementCounter::recorder_rotated_out) +
        management(ManagementCounter::recorder_write_errors) +
        management(ManagementCounter::export_ring_full) +
        management(ManagementCounter::export_dropped);
    std::string drops = ",\"events_lost\":" + std::to_string(lost) +
                        ",\"dropped\":" + std::to_string(dropped) + ",\"drops\":{";
    for (size_t i = 0; i < drop_reason_count; ++i)
        drops += fmt::format("{}\"{}\":{}", i ? "," : "", drop_reason_names[i], i + 1);
    EXPECT_NE(json.find(drops + "}"), std::string::npos) << json;
    for (std::string_view cause : reset_cause_names)
        EXPECT_NE(json.find("\"" + std::string(cause) + "\":"), std::string::npos) << cause;
    EXPECT_NE(json.find("\"refused\":2,"), std::string::npos);
    EXPECT_NE(json.find("\"idle_timeout\":1,"), std::string::npos);
    EXPECT_NE(json.find("\"REJ\":2,"), std::string::npos);
    EXPECT_NE(json.find(R"("top_resetting_hosts":[{"host":"198.51.100.7","resets":2,"error":0},)"
                        R"({"host":"2001:db8::7","resets":1,"error":0}]})"),
              std::string::npos)
        << json;
}

TEST(Stats, JsonWithNothingRecorded) {
    CounterTotals empty{};
    std::string json = stats_json(empty, ResetStatistics{});
    EXPECT_NE(json.find(R"("events_lost":0,"dropped":0,"drops":{"not_ip":0,)"), std::string::npos)
        << json;
    EXPECT_NE(json.find(R"("top_resetting_hosts":[]})"), std::string::npos) << json;
}

TEST(Stats, SummaryListsEveryDropReason) {
    Fixture f;
    std::string text = summary_text(f.totals(), f.resets);
    for (size_t i = 0; i < drop_reason_count; ++i) {
        std::string name(drop_reason_names[i]);
        size_t at = text.find("  " + name + " ");
        ASSERT_NE(at, std::string::npos) << name;
        std::string line = text.substr(at, text.find('\n', at) - at);
        EXPECT_EQ(line.substr(line.find_last_of(' ') + 1), std::to_string(i + 1)) << line;
    }
    // Tallies are "  name" left-aligned in 16, a space, the count right-aligned in 12.
    auto tally = [](std::string name, uint64_t n) {
        name.resize(16, ' ');
        std::string count = std::to_string(n);
        return "  " + name + " " + std::string(12 - count.size(), ' ') + count + "\n";
    };
    EXPECT_NE(text.find("  tcp segments     " + std::string(8, ' ') + "3004\n"), std::string::npos)
        << text;
    EXPECT_NE(text.find("resets by cause\n" + tally("refused", 2) + tally("idle_timeout", 1)),
              std::string::npos)
        << text;
    EXPECT_NE(text.find(tally("REJ", 2)), std::string::npos) << text;
    EXPECT_EQ(text.find("  injected "), std::string::npos);  // zero tallies are left out
    EXPECT_NE(text.find("top resetting hosts\n  198.51.100.7"), std::string::npos) << text;
    EXPECT_NE(text.find("  rx_missed"), std::string::npos);
}

// Every loss counter, named here independently of the lists in stats.h.
constexpr WorkerCounter worker_losses[] = {
    WorkerCounter::events_ring_full,     WorkerCounter::events_outbox_full,
    WorkerCounter::dispatch_ring_full,   WorkerCounter::tx_dropped,
    WorkerCounter::events_lost_shutdown, WorkerCounter::fragments_table_full,
    WorkerCounter::fragments_timed_out,  WorkerCounter::fragments_invalid,
    WorkerCounter::fragments_too_large,  WorkerCounter::capture_records_unread};
constexpr ManagementCounter management_losses[] = {ManagementCounter::log_lines_dropped,
                                                   ManagementCounter::log_write_errors,
                                                   ManagementCounter::rx_missed,
                                                   ManagementCounter::rx_errors,
                                                   ManagementCounter::recorder_evidence_lost,
                                                   ManagementCounter::recorder_rotated_out,
                                                   ManagementCounter::recorder_write_errors,
                                                   ManagementCounter::export_ring_full,
                                                   ManagementCounter::export_dropped};

TEST(Stats, DroppedIsTheSumOfEveryLoss) {
    CounterTotals t{};
    // Distinct powers of two: a loss left out or counted twice changes the sum.
    uint64_t bit = 1, expected = 0;
    auto next = [&] {
        expected += bit;
        uint64_t value = bit;
        bit <<= 1;
        return value;
    };
    for (size_t i = 0; i < drop_reason_count; ++i)
        t.drops[i] = next();
    for (WorkerCounter c : worker_losses)
        t.worker[static_cast<size_t>(c)] = next();
    for (ManagementCounter c : management_losses)
        t.management[static_cast<size_t>(c)] = next();
    // Volumes, anomalies and approximations are not losses.
    t.worker[static_cast<size_t>(WorkerCounter::packets)] = 1ull << 50;
    t.worker[static_cast<size_t>(WorkerCounter::payload_truncated)] = 1ull << 51;
    t.management[static_cast<size_t>(ManagementCounter::storm_early_judged)] = 1ull << 52;
    t.management[static_cast<size_t>(ManagementCounter::events_logged)] = 1ull << 53;
    t.worker[static_cast<size_t>(WorkerCounter::linger_queue_full)] = 1ull << 54;
    EXPECT_EQ(total_losses(t), expected);
    EXPECT_EQ(events_lost(t), t.get(WorkerCounter::events_ring_full) +
                                  t.get(WorkerCounter::events_outbox_full) +
                                  t.get(WorkerCounter::events_lost_shutdown) +
                                  t.get(ManagementCounter::log_lines_dropped));
    std::string json = stats_json(t, ResetStatistics{});
    EXPECT_NE(json.find(",\"events_lost\":" + std::to_string(events_lost(t)) +
                        ",\"dropped\":" + std::to_string(expected) + ","),
              std::string::npos)
        << json;
}

TEST(Stats, EveryCounterNamedAsALossIsInTheLossList) {
    auto named_as_loss = [](std::string_view name) {
        // A failed publish is retried with the identical batch: export_dropped counts the loss.
        if (name == "export_errors") return false;
        // A full linger queue writes its oldest reset early: a verdict approximated, no event lost.
        if (name == "linger_queue_full") return false;
        return name.ends_with("_full") || name.find("dropped") != std::string_view::npos ||
               name.find("lost") != std::string_view::npos || name.ends_with("_missed") ||
               name.ends_with("_errors");
    };
    auto listed = [](CounterRef c) {
        return std::find(loss_counters.begin(), loss_counters.end(), c) != loss_counters.end();
    };
    for (size_t i = 0; i < worker_counter_count; ++i) {
        if (named_as_loss(worker_counter_names[i])) {
            EXPECT_TRUE(listed(static_cast<WorkerCounter>(i))) << worker_counter_names[i];
        }
    }
    for (size_t i = 0; i < management_counter_count; ++i) {
        if (named_as_loss(management_counter_names[i])) {
            EXPECT_TRUE(listed(static_cast<ManagementCounter>(i))) << management_counter_names[i];
        }
    }
    EXPECT_EQ(loss_counters.size(), std::size(worker_losses) + std::size(management_losses));
}

// The summary line for `name` after the line `section`; empty when there is none.
std::string summary_line(const std::string& text, const std::string& section,
                         const std::string& name) {
    size_t from = text.find(section + "\n");
    if (from == std::string::npos) return {};
    size_t at = text.find("\n  " + name + " ", from);
    if (at == std::string::npos) return {};
    return text.substr(at + 1, text.find('\n', at + 1) - at - 1);
}

TEST(Stats, SummaryListsEveryLossCounterAndTheEventsLost) {
    Fixture f;
    CounterTotals t = f.totals();
    std::string text = summary_text(t, f.resets);
    const std::string section = "drops and losses (every counter)";
    auto value_of = [](const std::string& line) { return line.substr(line.find_last_of(' ') + 1); };
    for (WorkerCounter c : worker_losses) {
        std::string name(worker_counter_names[static_cast<size_t>(c)]);
        std::string line = summary_line(text, section, name);
        ASSERT_FALSE(line.empty()) << name << "\n" << text;
        EXPECT_EQ(value_of(line), std::to_string(t.get(c))) << line;
    }
    for (ManagementCounter c : management_losses) {
        std::string name(management_counter_names[static_cast<size_t>(c)]);
        std::string line = summary_line(text, section, name);
        ASSERT_FALSE(line.empty()) << name << "\n" << text;
        EXPECT_EQ(value_of(line), std::to_string(t.get(c))) << line;
    }
    EXPECT_EQ(value_of(summary_line(text, section, "total")), std::to_string(total_losses(t)));
    EXPECT_NE(text.find("  tx_dropped "), std::string::npos) << text;
    std::string lost = "  EVENTS LOST      " +
                       std::string(12 - std::to_string(events_lost(t)).size(), ' ') +
                       std::to_string(events_lost(t)) + "   (";
    EXPECT_NE(text.find(lost), std::string::npos) << text;

    CounterTotals quiet{};
    EXPECT_EQ(summary_text(quiet, ResetStatistics{}).find("EVENTS LOST"), std::string::npos);
    quiet.management[static_cast<size_t>(ManagementCounter::log_lines_dropped)] = 3;
    std::string one = summary_text(quiet, ResetStatistics{});
    EXPECT_NE(one.find("EVENTS LOST                 3   ("), std::string::npos) << one;
    EXPECT_NE(one.find("log_lines_dropped 3)"), std::string::npos) << one;
}

// The counters' sections (drops and losses, anomalies, bounded tables) line their values up in
// one column, the longest name's ("recorder_events_without_packets") included.
TEST(Stats, SummaryCountersLineUp) {
    Fixture f;
    const std::string text = summary_text(f.totals(), f.resets);
    const size_t from = text.find("drops and losses (every counter)\n");
    ASSERT_NE(from, std::string::npos) << text;
    std::istringstream lines(text.substr(from));
    std::string line;
    size_t width = 0, counted = 0;
    bool longest_seen = false;
    while (std::getline(lines, line)) {
        if (line.rfind("  ", 0) != 0) continue;  // a section's title
        longest_seen |= line.find("recorder_events_without_packets ") != std::string::npos;
        if (width == 0) width = line.size();
        EXPECT_EQ(line.size(), width) << "'" << line << "'";
        ++counted;
    }
    EXPECT_TRUE(longest_seen) << text;
    EXPECT_GT(counted, 30u);
}

// IdIndex with the home slot chosen by the test: the key carries it.
struct PlacedKey {
    uint32_t value = 0;
    uint32_t home = 0;
    friend bool operator==(const PlacedKey&, const PlacedKey&) = default;
};
struct PlacedHash {
    uint64_t operator()(const PlacedKey& key) const noexcept { return key.home; }
};
using PlacedIndex = IdIndex<PlacedKey, PlacedHash, 2>;

// Every bound key is found under its id, every other key is not.
void expect_exactly(const PlacedIndex& index, const std::map<uint32_t, PlacedKey>& bound,
                    const std::vector<PlacedKey>& unbound) {
    for (const auto& [id, key] : bound) {
        EXPECT_EQ(index.find(key), id) << key.value << " home " << key.home;
        EXPECT_EQ(index.key(id), key);
    }
    for (const PlacedKey& key : unbound)
        EXPECT_EQ(index.find(key), PlacedIndex::none) << key.value << " home " << key.home;
}

TEST(IdIndex, TableIsPowerOfTwoAtLeastSpreadTimesCapacity) {
    EXPECT_EQ(PlacedIndex(8).table_size(), 16u);
    EXPECT_EQ(PlacedIndex(9).table_size(), 32u);
    EXPECT_EQ(PlacedIndex(0).capacity(), 1u);
    using QuarterFull = IdIndex<PlacedKey, PlacedHash, 4>;
    EXPECT_EQ(QuarterFull(8).table_size(), 32u);
    PlacedIndex index(100);
    EXPECT_EQ(index.memory_bytes(), PlacedIndex::memory_for(100));
}

TEST(IdIndex, CollidingHomesAreAllFoundAndSurviveEachOthersErase) {
    PlacedIndex index(8);  // 16 slots
    std::map<uint32_t, PlacedKey> bound;
    for (uint32_t id = 0; id < 5; ++id) {
        PlacedKey key{100 + id, 3};  // one run: slots 3..7
        EXPECT_EQ(index.find(key), PlacedIndex::none);
        index.insert(key, id);
        bound[id] = key;
    }
    expect_exactly(index, bound, {{99, 3}, {100, 4}});
    for (uint32_t id : {0u, 2u, 4u}) {  // the run's head, its middle, its tail
        index.erase(id);
        PlacedKey gone = bound[id];
        bound.erase(id);
        expect_exactly(index, bound, {gone});
    }
    index.insert({200, 3}, 0);  // an erased id bound again, to a new key
    bound[0] = {200, 3};
    expect_exactly(index, bound, {{100, 3}, {102, 3}, {104, 3}});
}

TEST(IdIndex, RunsWrapAroundTheTableEnd) {
    PlacedIndex index(8);  // slots 0..15
    std::map<uint32_t, PlacedKey> bound = {{0, {1, 14}}, {1, {2, 15}}, {2, {3, 14}},
                                           {3, {4, 15}}, {4, {5, 0}},  {5, {6, 1}}};
    for (const auto& [id, key] : bound)
        index.insert(key, id);  // the run: 14 15 | 0 1 2 3 across the end
    expect_exactly(index, bound, {{7, 14}, {8, 0}, {9, 2}});
    // Erasing a key before the end pulls the keys that wrapped back across the end.
    for (uint32_t id : {1u, 0u, 4u, 2u}) {
        index.erase(id);
        PlacedKey gone = bound[id];
        bound.erase(id);
        expect_exactly(index, bound, {gone});
    }
    index.insert({10, 15}, 1);
    bound[1] = {10, 15};
    expect_exactly(index, bound, {{2, 15}, {1, 14}});
}

TEST(IdIndex, EraseInTheMiddleOfARunMovesOnlyKeysWhoseHomeAllows) {
    PlacedIndex index(8);
    // Slots 4 5 6 7 8 hold homes 4 4 5 7 5: erasing slot 5's key may pull home-5 keys back to 5,
    // never the home-7 key to before 7.
    std::map<uint32_t, PlacedKey> bound = {
        {0, {1, 4}}, {1, {2, 4}}, {2, {3, 5}}, {3, {4, 7}}, {4, {5, 5}}};
    for (const auto& [id, key] : bound)
        index.insert(key, id);
    index.erase(1);
    bound.erase(1);
    expect_exactly(index, bound, {{2, 4}});
    index.erase(2);
    bound.erase(2);
    expect_exactly(index, bound, {{3, 5}});
}

TEST(IdIndex, RandomChurnAgreesWithAMap) {
    // Homes drawn from a few slots near the end: long runs that collide and wrap.
    PlacedIndex index(16);  // 32 slots
    std::mt19937 random(9);
    std::map<uint32_t, PlacedKey> bound;
    std::vector<uint32_t> free_ids;
    for (uint32_t id = 0; id < 16; ++id)
        free_ids.push_back(id);
    uint32_t next_value = 0;
    for (int step = 0; step < 20000; ++step) {
        bool add = !free_ids.empty() && (bound.empty() || random() % 2 == 0);
        if (add) {
            PlacedKey key{next_value++, static_cast<uint32_t>(26 + random() % 10) % 32};
            ASSERT_EQ(index.find(key), PlacedIndex::none);
            uint32_t id = free_ids.back();
            free_ids.pop_back();
            index.insert(key, id);
            bound[id] = key;
        } else {
            auto it = std::next(bound.begin(), static_cast<long>(random() % bound.size()));
            PlacedKey gone = it->second;
            index.erase(it->first);
            free_ids.push_back(it->first);
            bound.erase(it);
            ASSERT_EQ(index.find(gone), PlacedIndex::none);
        }
        for (const auto& [id, key] : bound)
            ASSERT_EQ(index.find(key), id) << "step " << step;
    }
}

HostKey v4_host(uint32_t n) {
    HostKey key{};
    key.family = IpFamily::v4;
    uint8_t bytes[4] = {static_cast<uint8_t>(n >> 24), static_cast<uint8_t>(n >> 16),
                        static_cast<uint8_t>(n >> 8), static_cast<uint8_t>(n)};
    std::memcpy(key.address.bytes, bytes, 4);
    return key;
}

TEST(TopHosts, ExactWhileTheHostsFitTheCapacity) {
    TopHostCounter top(64);
    std::mt19937 random(7);
    std::map<std::string, uint64_t> truth;
    for (int i = 0; i < 20000; ++i) {
        uint32_t n = 0x0a000000 + random() % 8 * (random() % 8);  // skewed: small numbers often
        top.add(v4_host(n));
        ++truth[host_text(v4_host(n))];
    }
    std::vector<TopHost> all = top.top(1000);
    ASSERT_EQ(all.size(), truth.size());
    for (const TopHost& host : all) {
        EXPECT_EQ(host.resets, truth[host.host]) << host.host;
        EXPECT_EQ(host.error, 0u) << host.host;
    }
    for (size_t i = 1; i < all.size(); ++i) {
        EXPECT_TRUE(all[i - 1].resets > all[i].resets ||
                    (all[i - 1].resets == all[i].resets && all[i - 1].host < all[i].host))
            << i;
    }
    EXPECT_EQ(top.evicted(), 0u);
    EXPECT_EQ(top.tracked(), truth.size());
}

TEST(TopHosts, FamilyIsPartOfTheHost) {
    TopHostCounter top(8);
    HostKey v4 = v4_host(0x01020304), v6 = v4;
    v6.family = IpFamily::v6;  // the same 16 bytes as ::, another host
    top.add(v4);
    top.add(v6);
    top.add(v6);
    EXPECT_EQ(top.top(5), (std::vector<TopHost>{{"102:304::", 2, 0}, {"1.2.3.4", 1, 0}}));
}

TEST(TopHosts, BeyondCapacityCountsOverestimateByAtMostTheirErrorAndNOverM) {
    constexpr uint32_t m = 50;
    TopHostCounter top(m);
    std::mt19937 random(11);
    std::map<std::string, uint64_t> truth;
    uint64_t n = 0;
    for (int i = 0; i < 100000; ++i, ++n) {
        // Ten heavy hitters with about 3 % of the stream each, among 5000 rare hosts.
        uint32_t host = random() % 100 < 30 ? random() % 10 : 1000 + random() % 5000;
        top.add(v4_host(host));
        ++truth[host_text(v4_host(host))];
    }
    std::vector<TopHost> all = top.top(m);
    ASSERT_EQ(all.size(), m);
    uint64_t sum = 0;
    for (const TopHost& host : all) {
        uint64_t real = truth.count(host.host) ? truth[host.host] : 0;
        EXPECT_LE(host.resets - host.error, real) << host.host;
        EXPECT_GE(host.resets, real) << host.host;
        EXPECT_LE(host.error, n / m) << host.host;
        sum += host.resets;
    }
    EXPECT_EQ(sum, n);  // Space-Saving's counters always add up to the stream's length
    for (const auto& [heavy, count] : truth) {
        if (count <= n / m) continue;
        // A plain name for the lambda: clang before 16 cannot capture a structured binding.
        const std::string& host = heavy;
        bool reported =
            std::any_of(all.begin(), all.end(), [&](const TopHost& t) { return t.host == host; });
        EXPECT_TRUE(reported) << host << " with " << count << " > N/m";
    }
    for (const TopHost& host : top.top(10))
        EXPECT_EQ(host.host.rfind("0.0.0.", 0), 0u) << host.host;  // the ten heavy hitters
    EXPECT_GT(top.evicted(), 0u);
}

TEST(TopHosts, ANewcomerTakesASmallestCounterAndItsCountAsError) {
    TopHostCounter top(2);
    top.add(v4_host(1));
    top.add(v4_host(1));
    top.add(v4_host(2));
    top.add(v4_host(3));  // evicts 0.0.0.2 (1 reset): 0.0.0.3 starts at 2 with error 1
    EXPECT_EQ(top.top(5), (std::vector<TopHost>{{"0.0.0.1", 2, 0}, {"0.0.0.3", 2, 1}}));
    EXPECT_EQ(top.evicted(), 1u);
    top.add(v4_host(4));  // a smallest counter has 2: the newcomer has 3, error 2
    EXPECT_EQ(top.evicted(), 2u);
    EXPECT_EQ(top.top(1), (std::vector<TopHost>{{"0.0.0.4", 3, 2}}));
    for (uint32_t n = 10; n < 20; ++n)
        top.add(v4_host(n));
    EXPECT_EQ(top.evicted(), 12u);
    EXPECT_EQ(top.tracked(), 2u);

    ResetStatistics stats(4);
    for (int n = 0; n < 10; ++n) {
        std::string host = "10.0.0." + std::to_string(n);
        stats.record(with_verdict(ResetCause::refused, ConnState::REJ, host.c_str()));
    }
    EXPECT_EQ(stats.top_hosts_evicted(), 6u);
    EXPECT_EQ(stats.total(), 10u);
    StormWindow storms(2, 1 * sec, 4, 4);
    std::array<uint64_t, management_counter_count> management{};
    copy_table_counters(storms, stats, management);
    EXPECT_EQ(management[static_cast<size_t>(ManagementCounter::top_hosts_evicted)], 6u);
}

// The storm verdict by brute force: every event kept, each counted against all the others.
struct ReferenceWindow {
    uint32_t threshold;
    uint64_t window;
    std::vector<ResetEvent> all, waiting;

    static auto order(const ResetEvent& e) {
        return std::tuple(e.ts_ns, std::to_array(e.orig_h.bytes), e.orig_p,
                          std::to_array(e.resp_h.bytes), e.resp_p, e.rst_seq);
    }
    void add(const ResetEvent& e) {
        all.push_back(e);
        waiting.push_back(e);
    }
    bool storm(const ResetEvent& e) const {
        HostKey host = HostKey::resetter_of(e);
        uint64_t from = e.ts_ns > window ? e.ts_ns - window : 0, to = e.ts_ns + window;
        uint32_t n = 0;
        for (const ResetEvent& other : all)
            n += HostKey::resetter_of(other) == host && other.ts_ns >= from && other.ts_ns <= to;
        return n >= threshold;
    }
    void release(uint64_t now, bool everything, std::vector<std::pair<uint32_t, bool>>& out) {
        std::sort(waiting.begin(), waiting.end(),
                  [](const ResetEvent& x, const ResetEvent& y) { return order(x) < order(y); });
        size_t n = 0;
        while (n < waiting.size() && (everything || waiting[n].ts_ns + window < now))
            ++n;
        for (size_t i = 0; i < n; ++i)
            out.emplace_back(waiting[i].rst_seq, storm(waiting[i]));
        waiting.erase(waiting.begin(), waiting.begin() + static_cast<std::ptrdiff_t>(n));
    }
};

// A random event among three addresses of either family, ports 1-2, at or after `from`.
ResetEvent random_event(std::mt19937& random, uint64_t from, uint32_t seq) {
    static const uint8_t pool[3][4] = {{10, 0, 0, 1}, {10, 0, 0, 2}, {10, 0, 0, 3}};
    ResetEvent e{};
    e.ts_ns = from + random() % 50;
    e.family = random() % 4 == 0 ? IpFamily::v6 : IpFamily::v4;
    e.orig_h = IpAddress::from_v4(pool[random() % 3]);
    e.resp_h = IpAddress::from_v4(pool[random() % 3]);
    e.orig_p = static_cast<uint16_t>(1 + random() % 2);
    e.resp_p = 80;
    e.rst_by_orig = random() % 2;
    e.rst_seq = seq;
    return e;
}

TEST(StormWindow, SameVerdictsAndOrderAsBruteForceWithinBounds) {
    for (uint32_t trial = 0; trial < 500; ++trial) {
        std::mt19937 random(trial);
        uint32_t threshold = 1 + random() % 4;
        uint64_t window_ns = random() % 40;
        Storms mine(threshold, window_ns, 4096, 4096);
        ReferenceWindow reference{threshold, window_ns, {}, {}};
        std::vector<std::pair<uint32_t, bool>> expected, got;
        auto take = [&](const std::vector<StormWindow::Judged>& judged) {
            for (const auto& j : judged)
                got.emplace_back(j.event().rst_seq, j.storm);
        };
        uint64_t now = 0;
        uint32_t seq = 0;
        for (int step = 0, steps = 1 + random() % 80; step < steps; ++step) {
            if (random() % 10 < 7) {
                ResetEvent e = random_event(random, now, seq++);  // never before `now`
                mine.add(e);
                reference.add(e);
            } else {
                now += random() % 30;
                reference.release(now, false, expected);
                take(mine.release(now));
            }
        }
        reference.release(now, true, expected);
        take(mine.release(now, true));
        ASSERT_EQ(got, expected) << "trial " << trial << ", threshold " << threshold << ", window "
                                 << window_ns;
        EXPECT_EQ(mine.window.early_judged(), 0u);
        EXPECT_EQ(mine.window.hosts_evicted(), 0u);
    }
}

TEST(StormWindow, BeyondBoundsEveryEventLeavesOnceAndNoStormIsInvented) {
    for (uint32_t trial = 0; trial < 300; ++trial) {
        std::mt19937 random(1000 + trial);
        uint32_t threshold = 1 + random() % 4, max_pending = 1 + random() % 4,
                 max_hosts = 1 + random() % 3;
        uint64_t window_ns = random() % 40;
        Storms mine(threshold, window_ns, max_pending, max_hosts);
        ReferenceWindow reference{threshold, window_ns, {}, {}};
        std::vector<std::pair<uint32_t, bool>> got;
        auto take = [&](const std::vector<StormWindow::Judged>& judged) {
            for (const auto& j : judged)
                got.emplace_back(j.event().rst_seq, j.storm);
        };
        uint64_t now = 100;
        uint32_t seq = 0;
        for (int step = 0; step < 120; ++step) {
            if (random() % 10 < 8) {
                // Stragglers too: up to 40 ns before `now`.
                ResetEvent e = random_event(random, now - random() % 40, seq++);
                mine.add(e);
                reference.all.push_back(e);
            } else {
                now += random() % 30;
                take(mine.release(now));
            }
            ASSERT_LE(mine.window.pending(), max_pending);
            ASSERT_LE(mine.window.hosts(), max_hosts);
        }
        take(mine.release(now, true));
        std::vector<uint32_t> seen;
        for (const auto& [id, storm] : got) {
            seen.push_back(id);
            // The window counts a subset of what happened: it may miss a storm, never invent one.
            if (storm) {
                EXPECT_TRUE(reference.storm(reference.all[id])) << "trial " << trial;
            }
        }
        std::sort(seen.begin(), seen.end());
        std::vector<uint32_t> every(seq);
        for (uint32_t i = 0; i < seq; ++i)
            every[i] = i;
        ASSERT_EQ(seen, every) << "trial " << trial;
        EXPECT_EQ(mine.window.pending(), 0u);
    }
}

TEST(StormWindow, HostsWhoseTimesLeftTheWindowArePruned) {
    Storms storms(3, 1 * sec, 16, 16);
    storms.add(at(10 * sec, host_a));
    storms.add(at(10 * sec + 500 * ms, host_b));
    EXPECT_EQ(storms.window.hosts(), 2u);
    ASSERT_EQ(storms.release(11 * sec + 1).size(), 1u);
    // host_a's reset at 10 s still lies within the window of host_b's waiting one: kept.
    EXPECT_EQ(storms.window.hosts(), 2u);
    EXPECT_EQ(storms.window.hosts_pruned(), 0u);
    ASSERT_EQ(storms.release(11 * sec + 500 * ms + 1).size(), 1u);
    // Nothing to come is earlier than 11.5 s: both hosts' times are out of every future window.
    EXPECT_EQ(storms.window.hosts(), 0u);
    EXPECT_EQ(storms.window.hosts_pruned(), 2u);
    EXPECT_EQ(storms.window.hosts_evicted(), 0u);
    storms.add(at(12 * sec, host_a));
    EXPECT_EQ(storms.window.hosts(), 1u);
}

TEST(StormWindow, ANewHostBeyondMaxHostsEvictsTheOldestIdleHost) {
    Storms storms(2, 1 * sec, 16, 2);
    storms.add(at(10 * sec, host_a, 1));
    storms.add(at(10 * sec + 100 * ms, host_b, 2));
    // Both hosts have a waiting event: the oldest is judged early so that host_a goes idle, then
    // host_a makes room for host_c.
    storms.add(at(10 * sec + 200 * ms, host_c, 3));
    EXPECT_EQ(storms.window.early_judged(), 1u);
    EXPECT_EQ(storms.window.hosts_evicted(), 1u);
    EXPECT_EQ(storms.window.hosts(), 2u);
    auto judged = storms.release(0, true);
    ASSERT_EQ(judged.size(), 3u);
    EXPECT_EQ(judged[0].event().orig_p, 1);
    EXPECT_EQ(judged[1].event().orig_p, 2);
    EXPECT_EQ(judged[2].event().orig_p, 3);

    // An idle host that still matters is evicted too when a new one needs its place.
    Storms idle(2, 1 * sec, 16, 2);
    idle.add(at(10 * sec, host_a, 1));
    idle.add(at(10 * sec + 500 * ms, host_b, 2));
    ASSERT_EQ(idle.release(11 * sec + 1).size(), 1u);  // host_a idle, inside host_b's window
    idle.add(at(11 * sec + 10 * ms, host_c, 3));
    EXPECT_EQ(idle.window.hosts_evicted(), 1u);
    EXPECT_EQ(idle.window.early_judged(), 0u);
    EXPECT_EQ(idle.window.hosts(), 2u);
}

TEST(StormWindow, MemoryIsTheStatedFormula) {
    for (uint32_t threshold : {1u, 2u, 20u})
        for (uint32_t bound : {1u, 100u, 4096u}) {
            StormWindow storms(threshold, 1 * sec, bound, bound / 2 + 1);
            EXPECT_EQ(storms.memory_bytes(),
                      StormWindow::memory_for(threshold, bound, bound / 2 + 1));
        }
    // The header's formula, with its constants.
    EXPECT_EQ(StormWindow::memory_for(20, 1u << 18, 1u << 16),
              (1u << 18) * (sizeof(ResetEvent) + 52) + (1u << 16) * (8 * 19 + 80) + 4 * (1u << 18) +
                  4 * 22);
}

// A flood of resets from a million distinct addresses, as a scan's backscatter or a spoofed
// flood brings: memory stays what the constructors allocated, and nothing is allocated per event.
TEST(Flood, MillionDistinctHostsInBoundedMemoryWithoutAllocating) {
    constexpr uint32_t max_pending = 1u << 14, max_hosts = 1u << 14, capacity = 1024;
    constexpr uint32_t events = 1'000'000;
    StormWindow storms(20, 10 * ms, max_pending, max_hosts);
    ResetStatistics stats(capacity);
    const size_t storm_bytes = storms.memory_bytes(), top_bytes = stats.hosts().memory_bytes();
    EXPECT_EQ(storm_bytes, StormWindow::memory_for(20, max_pending, max_hosts));
    EXPECT_EQ(top_bytes, TopHostCounter::memory_for(capacity));
    std::vector<StormWindow::Judged> out;
    out.reserve(max_pending + 1024);

    uint64_t released = 0, storms_seen = 0, allocated = 0;
    uint32_t most_pending = 0, most_hosts = 0;
    auto write = [&] {
        for (const auto& j : out) {
            stats.record(j.event());
            storms_seen += j.storm;
        }
        released += out.size();
        out.clear();
    };
    uint64_t before = allocations_so_far();
    for (uint32_t i = 0; i < events; ++i) {
        ResetEvent e{};
        e.ts_ns = 100 * sec + uint64_t{i} * 4000;  // 250 K resets per second of packet time
        e.family = IpFamily::v4;
        uint32_t address = i * 2654435761u;  // an odd multiplier: a million distinct addresses
        std::memcpy(e.resp_h.bytes, &address, 4);
        e.orig_p = static_cast<uint16_t>(i);
        storms.add(e, out);
        if (i % 256 == 255) {
            // First half: management lags 2 s (a slow worker): the window fills and judges early,
            // and hosts that may still matter are evicted. Second half: 5 ms behind, within the
            // bounds: events leave as their window closes, hosts are pruned as they go stale.
            uint64_t lag = i < events / 2 ? 2 * sec : 5 * ms;
            storms.release(e.ts_ns - lag, false, out);
            most_pending = std::max(most_pending, storms.pending());
            most_hosts = std::max(most_hosts, storms.hosts());
            write();
        }
    }
    storms.release(0, true, out);
    write();
    allocated = allocations_so_far() - before;

    EXPECT_EQ(allocated, 0u);
    EXPECT_EQ(released, events);
    EXPECT_EQ(storms_seen, 0u);  // one reset per host
    EXPECT_LE(most_pending, max_pending);
    EXPECT_LE(most_hosts, max_hosts);
    EXPECT_GT(storms.early_judged(), 0u);
    EXPECT_GT(storms.hosts_evicted(), 0u);
    EXPECT_GT(storms.hosts_pruned(), 0u);
    EXPECT_EQ(storms.memory_bytes(), storm_bytes);
    EXPECT_EQ(stats.hosts().memory_bytes(), top_bytes);
    EXPECT_EQ(stats.total(), events);
    EXPECT_EQ(stats.top_hosts_evicted(), events - capacity);
    EXPECT_EQ(stats.hosts().tracked(), capacity);

    CounterTotals totals{};
    copy_table_counters(storms, stats, totals.management);
    EXPECT_EQ(totals.get(ManagementCounter::top_hosts_evicted), events - capacity);
    EXPECT_EQ(totals.get(ManagementCounter::storm_early_judged), storms.early_judged());
    EXPECT_EQ(totals.get(ManagementCounter::storm_hosts_evicted), storms.hosts_evicted());
    std::string json = stats_json(totals, stats);
    EXPECT_LT(json.size(), 4096u) << json;  // ten hosts, whatever the number seen
    size_t hosts = 0;
    for (size_t at = json.find("{\"host\":"); at != std::string::npos;
         at = json.find("{\"host\":", at + 1))
        ++hosts;
    EXPECT_EQ(hosts, 10u);
    for (const TopHost& host : stats.top_hosts(10)) {
        EXPECT_LE(host.resets - host.error, 1u) << host.host;  // each really reset once
        EXPECT_LE(host.error, events / capacity) << host.host;
    }
}

}  // namespace
}  // namespace rstscope
