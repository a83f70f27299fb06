// SPDX-License-Identifier: BSD-3-Clause
// The findings engine without EAL: each kind raised by its pattern and not by its look-alike,
// raised once and cleared, bounded tables, and the distinct counter's error.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "rstscope/mgmt/findings.h"

namespace rstscope {
namespace {

constexpr uint64_t s = 1'000'000'000;
constexpr uint64_t t0 = 1'700'000'000 * s;

IpAddress v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
    uint8_t bytes[4] = {a, b, c, d};
    return IpAddress::from_v4(bytes);
}

struct Feeder {
    explicit Feeder(FindingThresholds t = {}) : engine(t) {}
    FindingsEngine engine;
    std::vector<FindingRecord> records;
    uint64_t next_id = 1;

    void add(ResetEvent e) {
        e.id = next_id++;
        engine.add(e, records);
    }
    // One unrelated reset 5 minutes before t0: the engine is past its first window, so the
    // services seen from then on have a usual rate (none: 0).
    void warm();
    // 8 servers of 203.0.113.0/24 on port 443 reset 20 connections each within 40 s from t0.
    void farm_storm();
    std::vector<nlohmann::json> of(std::string_view kind, std::string_view state = "") const {
        std::vector<nlohmann::json> out;
        for (const FindingRecord& r : records) {
            nlohmann::json j = nlohmann::json::parse(r.line);
            EXPECT_EQ(j["type"], "finding");
            EXPECT_EQ(j["id"], r.id);
            if (j["kind"] == kind && (state.empty() || j["state"] == state)) out.push_back(j);
        }
        return out;
    }
};

ResetEvent event(ResetCause cause, IpAddress orig, uint16_t orig_p, IpAddress resp, uint16_t resp_p,
                 uint64_t ts);

void Feeder::farm_storm() {
    for (uint32_t i = 0; i < 160; ++i)
        add(event(ResetCause::resp_abort, v4(198, 51, 100, i % 50), 50000 + i,
                  v4(203, 0, 113, static_cast<uint8_t>(20 + i % 8)), 443, t0 + i * s / 4));
}

void Feeder::warm() {
    add(event(ResetCause::orig_abort, v4(198, 51, 100, 250), 1, v4(203, 0, 113, 250), 9,
              t0 - 300 * s));
}

ResetEvent event(ResetCause cause, IpAddress orig, uint16_t orig_p, IpAddress resp, uint16_t resp_p,
                 uint64_t ts) {
    ResetEvent e{};
    e.ts_ns = e.first_ts_ns = e.last_ts_ns = ts;
    e.orig_h = orig;
    e.resp_h = resp;
    e.orig_p = orig_p;
    e.resp_p = resp_p;
    e.family = IpFamily::v4;
    e.cause = cause;
    e.conn_state = ConnState::RSTR;
    e.rst_count = 1;
    return e;
}

// ---- DistinctCounter

TEST(DistinctCounter, SmallCountsAreNearlyExact) {
    for (uint64_t n : {0, 1, 2, 5, 10, 19, 20, 30}) {
        DistinctCounter c;
        for (uint64_t i = 0; i < n; ++i) {
            c.add(mix64(i));
            c.add(mix64(i));  // repeats do not count
        }
        EXPECT_NEAR(static_cast<double>(c.estimate()), static_cast<double>(n), n < 20 ? 1.0 : 2.0)
            << n;
    }
}

// Within 3 standard errors (1.04/16 each) over several sizes and seeds.
TEST(DistinctCounter, LargeCountsWithinTheStatedError) {
    for (uint64_t n : {1'000ull, 10'000ull, 100'000ull, 1'000'000ull}) {
        for (uint64_t seed = 1; seed <= 3; ++seed) {
            DistinctCounter c;
            for (uint64_t i = 0; i < n; ++i)
                c.add(mix64(i * 7919 + seed * 1'000'000'007ull));
            double error = std::abs(static_cast<double>(c.estimate()) - static_cast<double>(n)) /
                           static_cast<double>(n);
            EXPECT_LT(error, 3 * 1.04 / 16) << n << " seed " << seed << " -> " << c.estimate();
        }
    }
}

// The estimate kept as registers change is the one a pass over the registers gives, to the bit:
// a reference HyperLogLog here (the registers summed in order, as estimate() did before it kept
// the sum) is fed the same hashes, among them hashes with long runs of zeros, whose registers
// pass DistinctCounter::exact_rank, and clear() starts both again.
TEST(DistinctCounter, KeptSumGivesThePassOverTheRegisters) {
    struct Reference {
        std::array<uint8_t, DistinctCounter::registers> regs{};
        void add(uint64_t hash) {
            size_t index = hash >> (64 - DistinctCounter::precision);
            uint64_t rest = hash << DistinctCounter::precision;
            uint8_t rank = rest == 0 ? 64 - DistinctCounter::precision + 1
                                     : static_cast<uint8_t>(std::countl_zero(rest) + 1);
            regs[index] = std::max(regs[index], rank);
        }
        uint64_t estimate() const {
            constexpr double m = DistinctCounter::registers;
            double sum = 0;
            unsigned zeros = 0;
            for (uint8_t r : regs) {
                sum += std::ldexp(1.0, -r);
                zeros += r == 0;
            }
            double e = 0.7213 / (1.0 + 1.079 / m) * m * m / sum;
            if (e <= 2.5 * m && zeros != 0) e = m * std::log(m / zeros);
            return static_cast<uint64_t>(std::llround(e));
        }
    };
    DistinctCounter c;
    Reference ref;
    uint64_t checked = 0;
    for (int round = 0; round < 2; ++round) {
        for (uint64_t i = 0; i < 200'000; ++i) {
            uint64_t h = mix64(i + round * 7'777'777ull);
            // Every 1000th hash keeps only its register index and a bit far down: rank 45 to 57.
            if (i % 1000 == 999 && round == 1)
                h = (h & (0xFFull << 56)) | (uint64_t{1} << (i / 1000 % 13));
            c.add(h);
            ref.add(h);
            if (i % 97 == 0 || i < 300) {
                ASSERT_EQ(c.estimate(), ref.estimate()) << "round " << round << " hash " << i;
                ++checked;
            }
        }
        EXPECT_EQ(c.estimate(), ref.estimate());
        c.clear();
        ref = Reference{};
        EXPECT_EQ(c.estimate(), 0u);
    }
    EXPECT_GT(checked, 4000u);
}

// ---- rst_storm

TEST(Findings, StormOfOneServerIsRaisedOnceAndCleared) {
    Feeder f;
    f.warm();
    IpAddress server = v4(203, 0, 113, 10);
    // 150 aborts within 10 s: one finding, raised when their window closes (windows are aligned
    // on multiples of 60 s: this one ends at t0 + 40 s).
    for (uint32_t i = 0; i < 150; ++i)
        f.add(event(ResetCause::resp_abort, v4(198, 51, 100, i % 200), 40000 + i, server, 443,
                    t0 + i * 60'000'000));
    EXPECT_TRUE(f.of("rst_storm").empty());
    f.engine.advance(t0 + 41 * s, f.records);
    auto raised = f.of("rst_storm", "raised");
    ASSERT_EQ(raised.size(), 1u);
    EXPECT_EQ(f.records.back().by_event, false);
    EXPECT_EQ(raised[0]["ts"].get<double>(), static_cast<double>((t0 + 40 * s) / s));
    EXPECT_EQ(raised[0]["subject"]["scope"], "server");
    EXPECT_EQ(raised[0]["subject"]["server"], "203.0.113.10");
    EXPECT_EQ(raised[0]["subject"]["port"], 443);
    EXPECT_EQ(raised[0]["evidence"]["resets"], 150);
    EXPECT_EQ(raised[0]["evidence"]["causes"]["resp_abort"], 150);
    // Without a connection source the share is unknown: judged on the rate alone.
    EXPECT_TRUE(raised[0]["evidence"]["connections"].is_null());
    EXPECT_TRUE(raised[0]["evidence"]["share"].is_null());
    EXPECT_EQ(raised[0]["example_events"], nlohmann::json::array({2, 3, 4, 5, 6}));
    EXPECT_EQ(f.engine.open_count(FindingKind::rst_storm), 1u);
    EXPECT_EQ(f.engine.open().size(), 1u);
    // Not a farm: one server holds all of them.
    for (auto& j : f.of("rst_storm"))
        EXPECT_EQ(j["subject"]["scope"], "server");
    // A quiet window later: cleared, with the same id.
    EXPECT_EQ(f.engine.open_count(FindingKind::rst_storm), 1u);
    f.add(event(ResetCause::resp_abort, v4(198, 51, 100, 1), 1, server, 443, t0 + 130 * s));
    auto cleared = f.of("rst_storm", "cleared");
    ASSERT_EQ(cleared.size(), 1u);
    EXPECT_EQ(cleared[0]["id"], raised[0]["id"]);
    EXPECT_EQ(f.engine.open_count(FindingKind::rst_storm), 0u);
    EXPECT_EQ(f.engine.raised_count(FindingKind::rst_storm), 1u);
}

TEST(Findings, SteadyResetsBelowThresholdRaiseNothing) {
    Feeder f;
    // 99 a minute for 10 minutes, spread over 10 servers of one farm and a single one.
    for (uint32_t minute = 0; minute < 10; ++minute)
        for (uint32_t i = 0; i < 99; ++i)
            f.add(event(ResetCause::resp_abort, v4(198, 51, 100, i), 1000 + i,
                        v4(203, 0, 113, static_cast<uint8_t>(i % 10)), 80,
                        t0 + minute * 60 * s + i * 500'000'000ull));
    f.engine.finish(f.records);
    EXPECT_TRUE(f.records.empty()) << f.records.front().line;
}

TEST(Findings, UsualRateRaisesNoStormButARiseDoes) {
    FindingThresholds t;
    t.storm_resets = 50;
    t.storm_rise = 4;
    Feeder f(t);
    IpAddress server = v4(203, 0, 113, 7);
    // A busy server: 80 resets every minute for 10 minutes, from the engine's start. The first
    // window knows no usual rate, so it needs 4 x 50 and raises nothing; 80 a minute is then the
    // server's usual rate.
    uint64_t ts = t0;
    for (uint32_t minute = 0; minute < 10; ++minute)
        for (uint32_t i = 0; i < 80; ++i)
            f.add(event(ResetCause::resp_abort, v4(198, 51, 100, 1), static_cast<uint16_t>(i),
                        server, 25, ts = t0 + minute * 60 * s + i * s / 2));
    size_t raised_before = f.of("rst_storm", "raised").size();
    EXPECT_EQ(raised_before, 0u);
    // Then 400 in a minute: 5 times its usual (the window ends at t0 + 640 s).
    for (uint32_t i = 0; i < 400; ++i)
        f.add(event(ResetCause::resp_abort, v4(198, 51, 100, 1), static_cast<uint16_t>(i), server,
                    25, t0 + 10 * 60 * s + i * s / 10));
    f.engine.finish(f.records);
    EXPECT_EQ(f.of("rst_storm", "raised").size(), raised_before + 1);
}

// In the engine's first window no service's usual rate is known: a storm needs the threshold
// times the rise (400 by default).
TEST(Findings, FirstWindowNeedsThresholdTimesRise) {
    for (uint32_t n : {399u, 400u}) {
        Feeder f;
        for (uint32_t i = 0; i < n; ++i)
            f.add(event(ResetCause::resp_abort, v4(198, 51, 100, 1), static_cast<uint16_t>(i),
                        v4(203, 0, 113, 10), 443, t0 + i * s / 20));
        f.engine.finish(f.records);
        EXPECT_EQ(f.of("rst_storm", "raised").size(), n == 400 ? 1u : 0u) << n;
    }
}

// A service seen busy keeps its usual rate; one never seen (or forgotten) counts as quiet.
TEST(Findings, QuietServiceThatStormsAfterWarmUp) {
    Feeder f;
    f.warm();
    for (uint32_t i = 0; i < 100; ++i)
        f.add(event(ResetCause::resp_abort, v4(198, 51, 100, 1), static_cast<uint16_t>(i),
                    v4(203, 0, 113, 11), 443, t0 + i * s / 20));
    f.engine.finish(f.records);
    EXPECT_EQ(f.of("rst_storm", "raised").size(), 1u);
}

TEST(Findings, FarmWideStormOfSpreadServers) {
    Feeder f;
    f.warm();
    f.farm_storm();  // 20 resets for each of 8 servers: no server storms, the farm does
    f.engine.finish(f.records);
    auto raised = f.of("rst_storm", "raised");
    ASSERT_EQ(raised.size(), 1u);
    EXPECT_EQ(raised[0]["subject"]["scope"], "farm");
    EXPECT_EQ(raised[0]["subject"]["prefix"], "203.0.113.0/24");
    EXPECT_EQ(raised[0]["subject"]["port"], 443);
    EXPECT_EQ(raised[0]["evidence"]["servers"], 8);
    EXPECT_EQ(raised[0]["evidence"]["top_server_resets"], 20);
}

TEST(Findings, RefusalsAreNoStorm) {
    Feeder f;
    for (uint32_t i = 0; i < 500; ++i)
        f.add(event(ResetCause::refused, v4(198, 51, 100, static_cast<uint8_t>(i % 5)), 1000 + i,
                    v4(203, 0, 113, 1), 8080, t0 + i * s / 100));
    EXPECT_TRUE(f.of("rst_storm").empty());
    EXPECT_TRUE(f.of("scan").empty());  // five clients of one closed port scan nothing
}

// ---- rst_storm: the share of the service's connections

// A ConnectionSource with fixed counts per key hash (unknown keys: nullopt).
struct FixedConnections : ConnectionSource {
    std::map<uint64_t, uint64_t> counts;
    mutable std::vector<uint64_t> windows_asked;
    std::optional<uint64_t> connections(uint64_t window, uint64_t key_hash) const override {
        windows_asked.push_back(window);
        auto it = counts.find(key_hash);
        if (it == counts.end()) return std::nullopt;
        return it->second;
    }
};

uint64_t server_hash(IpAddress a, uint16_t port) {
    return connection_key_hash(a, IpFamily::v4, port, 0);
}

// 150 aborts of one server within a window, judged with `connections` started in it.
std::vector<nlohmann::json> storm_with(std::optional<uint64_t> connections, uint32_t share_pct) {
    FindingThresholds t;
    t.storm_share = share_pct / 100.0;
    Feeder f(t);
    FixedConnections source;
    IpAddress server = v4(203, 0, 113, 10);
    if (connections) source.counts[server_hash(server, 443)] = *connections;
    f.engine.set_connections(&source);
    f.warm();
    for (uint32_t i = 0; i < 150; ++i)
        f.add(event(ResetCause::resp_abort, v4(198, 51, 100, i % 200), 40000 + i, server, 443,
                    t0 + i * 60'000'000));
    f.engine.advance(t0 + 41 * s, f.records);
    // The window asked for is the one that closed: [t0 - 20 s, t0 + 40 s).
    EXPECT_FALSE(source.windows_asked.empty());
    for (uint64_t w : source.windows_asked)
        EXPECT_EQ(w, (t0 - 20 * s) / (60 * s));
    return f.of("rst_storm", "raised");
}

TEST(Findings, StormNeedsItsShareOfConnections) {
    // 150 of 300 connections reset (50 %): raised, with the figures.
    auto raised = storm_with(300, 20);
    ASSERT_EQ(raised.size(), 1u);
    EXPECT_EQ(raised[0]["evidence"]["resets"], 150);
    EXPECT_EQ(raised[0]["evidence"]["connections"], 300);
    EXPECT_DOUBLE_EQ(raised[0]["evidence"]["share"].get<double>(), 0.5);
    EXPECT_DOUBLE_EQ(raised[0]["thresholds"]["share"].get<double>(), 0.2);
    // The same rate among 10 000 connections (1.5 %): a busy server, no storm.
    EXPECT_TRUE(storm_with(10'000, 20).empty());
    // At the threshold exactly (150 of 750: 20 %) it is raised; just below it is not.
    EXPECT_EQ(storm_with(750, 20).size(), 1u);
    EXPECT_TRUE(storm_with(751, 20).empty());
    // A lower share setting raises the busy server too.
    EXPECT_EQ(storm_with(10'000, 1).size(), 1u);
    // Fewer connections started in the window than were reset (long connections): share 1.
    auto long_lived = storm_with(20, 20);
    ASSERT_EQ(long_lived.size(), 1u);
    EXPECT_DOUBLE_EQ(long_lived[0]["evidence"]["share"].get<double>(), 1.0);
    // Unknown connections (a window a worker overwrote): judged on the rate, said as null.
    auto unknown = storm_with(std::nullopt, 20);
    ASSERT_EQ(unknown.size(), 1u);
    EXPECT_TRUE(unknown[0]["evidence"]["connections"].is_null());
}

// A storm that holds by rate but whose share falls below half the threshold is cleared.
TEST(Findings, StormClearsWhenItsShareFalls) {
    Feeder f;
    FixedConnections source;
    IpAddress server = v4(203, 0, 113, 10);
    source.counts[server_hash(server, 443)] = 300;
    f.engine.set_connections(&source);
    f.warm();
    auto burst = [&](uint64_t from) {
        for (uint32_t i = 0; i < 150; ++i)
            f.add(event(ResetCause::resp_abort, v4(198, 51, 100, i % 200), 40000 + i, server, 443,
                        from + i * 60'000'000));
    };
    burst(t0);
    f.engine.advance(t0 + 41 * s, f.records);
    ASSERT_EQ(f.of("rst_storm", "raised").size(), 1u);
    burst(t0 + 41 * s);  // the same share: updated
    f.engine.advance(t0 + 101 * s, f.records);
    EXPECT_EQ(f.of("rst_storm", "updated").size(), 1u);
    source.counts[server_hash(server, 443)] = 1'600;  // 150 of 1600: 9.4 % < 10 %
    burst(t0 + 101 * s);
    f.engine.advance(t0 + 161 * s, f.records);
    auto cleared = f.of("rst_storm", "cleared");
    ASSERT_EQ(cleared.size(), 1u);
    EXPECT_EQ(cleared[0]["evidence"]["connections"], 1600);
}

TEST(Findings, FarmStormAsksForItsPrefixConnections) {
    Feeder f;
    FixedConnections source;
    source.counts[connection_key_hash(v4(203, 0, 113, 0), IpFamily::v4, 443, 24)] = 5'000;
    f.engine.set_connections(&source);
    f.warm();
    f.farm_storm();
    f.engine.finish(f.records);
    EXPECT_TRUE(f.of("rst_storm", "raised").empty());  // 160 of 5000 (3.2 %)
    source.counts[connection_key_hash(v4(203, 0, 113, 77), IpFamily::v4, 443, 24)] = 400;
    Feeder g;
    g.engine.set_connections(&source);
    g.warm();
    g.farm_storm();
    g.engine.finish(g.records);
    auto raised = g.of("rst_storm", "raised");
    ASSERT_EQ(raised.size(), 1u);
    EXPECT_EQ(raised[0]["subject"]["scope"], "farm");
    EXPECT_EQ(raised[0]["evidence"]["connections"], 400);
}

// ---- ConnectionWindows: the workers' connections per service and window

IpAddress server_n(uint32_t n) {
    return v4(203, 0, 113, static_cast<uint8_t>(n % 250));
}

uint64_t estimate(const std::vector<const ConnectionWindows*>& workers, uint64_t window,
                  uint64_t hash) {
    SummedConnections sum(workers);
    auto c = sum.connections(window, hash);
    EXPECT_TRUE(c.has_value());
    return c.value_or(0);
}

TEST(ConnectionWindows, CountsPerServiceAndWindow) {
    const uint64_t w = 60 * s;
    ConnectionWindows cw(w, 4);
    EXPECT_EQ(cw.slots(), 4u);
    EXPECT_EQ(cw.memory_bytes(), 4u * (64 + 4 * 2048 * 4));
    const uint64_t start = (t0 / w) * w;
    for (int i = 0; i < 30; ++i)
        cw.count(start + i * s, server_n(1), IpFamily::v4, 443, 24);
    for (int i = 0; i < 7; ++i)
        cw.count(start + i * s, server_n(2), IpFamily::v4, 443, 24);
    for (int i = 0; i < 5; ++i)
        cw.count(start + w + i * s, server_n(1), IpFamily::v4, 443, 24);  // the next window
    std::vector<const ConnectionWindows*> one{&cw};
    const uint64_t window = start / w;
    EXPECT_EQ(estimate(one, window, server_hash(server_n(1), 443)), 30u);
    EXPECT_EQ(estimate(one, window, server_hash(server_n(2), 443)), 7u);
    EXPECT_EQ(estimate(one, window, server_hash(server_n(1), 80)), 0u);
    EXPECT_EQ(estimate(one, window, connection_key_hash(server_n(0), IpFamily::v4, 443, 24)), 37u);
    EXPECT_EQ(estimate(one, window + 1, server_hash(server_n(1), 443)), 5u);
    EXPECT_EQ(estimate(one, window + 2, server_hash(server_n(1), 443)), 0u);  // not reached yet
    EXPECT_EQ(cw.late(), 0u);
}

// Flows spread over two workers give the same estimates as one worker with all of them.
TEST(ConnectionWindows, TwoWorkersSumToOne) {
    const uint64_t w = 10 * s;
    ConnectionWindows all(w, 4), a(w, 4), b(w, 4);
    const uint64_t start = (t0 / w) * w;
    uint64_t truth[50] = {};
    for (uint32_t i = 0; i < 20'000; ++i) {
        uint32_t service = (i * 7919u) % 50;
        uint16_t port = static_cast<uint16_t>(1000 + service);
        uint64_t ts = start + (i % 1000) * (w / 1000);
        all.count(ts, server_n(service), IpFamily::v4, port, 24);
        (mix64(i) & 1 ? a : b).count(ts, server_n(service), IpFamily::v4, port, 24);
        ++truth[service];
    }
    for (uint32_t service = 0; service < 50; ++service) {
        uint64_t h = server_hash(server_n(service), static_cast<uint16_t>(1000 + service));
        uint64_t one = estimate({&all}, start / w, h);
        EXPECT_EQ(one, estimate({&a, &b}, start / w, h)) << service;
        EXPECT_GE(one, truth[service]);  // count-min: never below the truth
        // Above it by at most e / width of the window's counted keys (2 per connection).
        EXPECT_LE(one, truth[service] + 2 * 20'000 * 2.72 / ConnectionWindows::width);
    }
}

// A worker `slots` windows ahead reuses the copy: that window is then unknown, never wrong; a
// connection older than its copy's window is counted as late.
TEST(ConnectionWindows, OverwrittenWindowIsUnknownAndLateIsCounted) {
    const uint64_t w = s;
    ConnectionWindows cw(w, 4);
    const uint64_t start = (t0 / w) * w;
    cw.count(start, server_n(1), IpFamily::v4, 443, 24);
    cw.count(start + 4 * w, server_n(1), IpFamily::v4, 443, 24);  // the same copy
    SummedConnections sum({&cw});
    EXPECT_FALSE(sum.connections(start / w, server_hash(server_n(1), 443)).has_value());
    EXPECT_EQ(sum.unknown(), 1u);
    EXPECT_EQ(sum.connections(start / w + 4, server_hash(server_n(1), 443)), 1u);
    cw.count(start + w / 2, server_n(1), IpFamily::v4, 443, 24);  // its copy holds a later one
    EXPECT_EQ(cw.late(), 1u);
    EXPECT_EQ(sum.late(), 1u);
    // An older window the worker had skipped is not stamped again behind management's back:
    // late too, and the window reads as without connections.
    cw.count(start + 3 * w, server_n(1), IpFamily::v4, 443, 24);
    EXPECT_EQ(cw.late(), 2u);
    EXPECT_EQ(sum.connections(start / w + 3, server_hash(server_n(1), 443)), 0u);
}

TEST(ConnectionWindows, SlotsCoverTheLinger) {
    EXPECT_EQ(ConnectionWindows::slots_for(60 * s, 3 * s), 4u);
    EXPECT_EQ(ConnectionWindows::slots_for(s, 3 * s), 6u);
    EXPECT_EQ(ConnectionWindows(s, ConnectionWindows::slots_for(s, 3 * s)).slots(), 8u);
    EXPECT_EQ(ConnectionWindows::slots_for(s, 3600 * s), ConnectionWindows::max_slots);
}

// ---- scan

TEST(Findings, VerticalScan) {
    Feeder f;
    IpAddress scanner = v4(198, 51, 100, 66);
    for (uint16_t port = 1; port <= 100; ++port)
        f.add(event(ResetCause::refused, scanner, 61000, v4(203, 0, 113, 5), port,
                    t0 + port * s / 50));
    auto raised = f.of("scan", "raised");
    ASSERT_EQ(raised.size(), 1u);
    EXPECT_EQ(raised[0]["subject"]["source"], "198.51.100.66");
    EXPECT_EQ(raised[0]["subject"]["shape"], "vertical");
    EXPECT_GE(raised[0]["evidence"]["ports"].get<int>(), 19);
    EXPECT_LE(raised[0]["evidence"]["ports"].get<int>(), 21);
    EXPECT_EQ(raised[0]["evidence"]["hosts"], 1);
    f.engine.finish(f.records);
    EXPECT_EQ(f.of("scan", "cleared").size(), 1u);
}

TEST(Findings, HorizontalScan) {
    Feeder f;
    IpAddress scanner = v4(198, 51, 100, 77);
    for (uint8_t host = 1; host <= 60; ++host)
        f.add(event(ResetCause::refused, scanner, 61000, v4(203, 0, 113, host), 22,
                    t0 + host * s / 10));
    auto raised = f.of("scan", "raised");
    ASSERT_EQ(raised.size(), 1u);
    EXPECT_EQ(raised[0]["subject"]["shape"], "horizontal");
    EXPECT_EQ(raised[0]["evidence"]["ports"], 1);
}

TEST(Findings, ScanSlowerThanTheWindowIsNotRaised) {
    Feeder f;
    // 100 ports, one every 5 s: 12 per 60 s window, under the 20.
    for (uint16_t port = 1; port <= 100; ++port)
        f.add(event(ResetCause::refused, v4(198, 51, 100, 66), 61000, v4(203, 0, 113, 5), port,
                    t0 + port * 5 * s));
    EXPECT_TRUE(f.of("scan").empty());
}

// ---- backscatter

TEST(Findings, BackscatterTowardOurBlock) {
    Feeder f;
    // A victim answers spoofed SYNs: RSTs to 40 of our addresses, no flow known.
    for (uint8_t i = 0; i < 40; ++i) {
        ResetEvent e = event(ResetCause::unsolicited, v4(203, 0, 113, 100 + i), 1024 + i,
                             v4(198, 51, 100, 9), 80, t0 + i * s / 10);
        e.conn_state = ConnState::OTH;
        e.rst_by_orig = false;  // the victim (responder) sent the RST to our address
        f.add(e);
    }
    auto raised = f.of("backscatter", "raised");
    ASSERT_EQ(raised.size(), 1u);
    EXPECT_EQ(raised[0]["subject"]["prefix"], "203.0.113.0/24");
    EXPECT_EQ(raised[0]["evidence"]["senders"], 1);
    EXPECT_GE(raised[0]["evidence"]["addresses"].get<int>(), 19);
}

TEST(Findings, UnsolicitedToOneAddressIsNoBackscatter) {
    Feeder f;
    // A flow whose start was missed keeps drawing resets: one address only.
    for (uint8_t i = 0; i < 40; ++i) {
        ResetEvent e = event(ResetCause::unsolicited, v4(203, 0, 113, 100), 1024 + i,
                             v4(198, 51, 100, 9), 80, t0 + i * s / 10);
        e.conn_state = ConnState::OTH;
        f.add(e);
    }
    EXPECT_TRUE(f.of("backscatter").empty());
}

// ---- middlebox_timer

ResetEvent idle_reset(uint16_t client_port, uint32_t idle_ms, uint64_t ts) {
    ResetEvent e = event(ResetCause::idle_timeout, v4(198, 51, 100, 20), client_port,
                         v4(203, 0, 113, 30), 5432, ts);
    e.rst_origin = RstOrigin::path;
    e.evidence = evidence_bit(Evidence::idle_before) | evidence_bit(Evidence::ttl_on_path);
    e.idle_before_ms = idle_ms;
    e.hops_from_endpoint = 3;
    e.rst_ttl = 61;
    return e;
}

TEST(Findings, MiddleboxTimerAtAConsistentGap) {
    Feeder f;
    for (uint16_t i = 0; i < 8; ++i)
        f.add(idle_reset(40000 + i, 350'000 + i * 300, t0 + i * 400 * s));
    auto raised = f.of("middlebox_timer", "raised");
    ASSERT_EQ(raised.size(), 1u);
    EXPECT_EQ(raised[0]["subject"]["server"], "203.0.113.30");
    EXPECT_EQ(raised[0]["subject"]["port"], 5432);
    EXPECT_EQ(raised[0]["evidence"]["resets"], 5);
    EXPECT_NEAR(raised[0]["evidence"]["timer_s"].get<double>(), 350.0, 1.0);
    EXPECT_EQ(raised[0]["evidence"]["hops_from_endpoint"], 3);
    EXPECT_EQ(raised[0]["evidence"]["histogram"], nlohmann::json::parse("[[350,4],[351,1]]"));
    // Silence for the hold (600 s) clears it.
    f.engine.advance(t0 + 8 * 400 * s + 700 * s, f.records);
    EXPECT_EQ(f.of("middlebox_timer", "cleared").size(), 1u);
    EXPECT_EQ(f.engine.open_count(FindingKind::middlebox_timer), 0u);
}

TEST(Findings, IdleResetsAtScatteredGapsAreNoTimer) {
    Feeder f;
    for (uint16_t i = 0; i < 20; ++i)
        f.add(idle_reset(40000 + i, 200'000 + i * 37'000, t0 + i * 100 * s));
    EXPECT_TRUE(f.of("middlebox_timer").empty());
}

TEST(Findings, EndpointIdleResetsAreNoTimer) {
    Feeder f;
    for (uint16_t i = 0; i < 20; ++i) {
        ResetEvent e = idle_reset(40000 + i, 350'000, t0 + i * 100 * s);
        e.rst_origin = RstOrigin::endpoint;
        f.add(e);
    }
    EXPECT_TRUE(f.of("middlebox_timer").empty());
}

// ---- injector

ResetEvent injected(uint8_t server, uint64_t ts, uint8_t ttl = 49) {
    ResetEvent e = event(ResetCause::injected, v4(198, 51, 100, 50), 50000 + server,
                         v4(203, 0, 113, server), 443, ts);
    e.rst_origin = RstOrigin::path;
    e.rst_ttl = ttl;
    e.rst_count = 2;
    e.seq_check = SeqCheck::exact;
    e.evidence = evidence_bit(Evidence::ttl_mismatch) | evidence_bit(Evidence::ipid_mismatch);
    return e;
}

// The RSTs' spacing is part of the fingerprint by power-of-two class: 100 and 120 us are one
// device, 100 us and 1 ms two; one RST per flow has no spacing.
TEST(Findings, InjectorSpacingIsPartOfTheFingerprint) {
    Feeder f;
    for (uint8_t i = 0; i < 12; ++i) {
        ResetEvent e = injected(i, t0 + i * 10 * s);
        e.rst_spacing_us = i % 2 ? 100 : 120;
        f.add(e);
        ResetEvent other = injected(static_cast<uint8_t>(100 + i), t0 + i * 10 * s + 1);
        other.rst_spacing_us = 1000;
        f.add(other);
    }
    auto raised = f.of("injector", "raised");
    ASSERT_EQ(raised.size(), 2u);
    EXPECT_EQ(raised[0]["subject"]["rst_spacing"], nlohmann::json::parse("[0.000064,0.000128]"));
    EXPECT_DOUBLE_EQ(raised[0]["evidence"]["rst_spacing_min_s"].get<double>(), 0.0001);
    EXPECT_DOUBLE_EQ(raised[0]["evidence"]["rst_spacing_max_s"].get<double>(), 0.00012);
    EXPECT_EQ(raised[1]["subject"]["rst_spacing"], nlohmann::json::parse("[0.000512,0.001024]"));
    Feeder g;
    for (uint8_t i = 0; i < 12; ++i)
        g.add(injected(i, t0 + i * 10 * s));
    auto single = g.of("injector", "raised");
    ASSERT_EQ(single.size(), 1u);
    EXPECT_TRUE(single[0]["subject"]["rst_spacing"].is_null());
    EXPECT_FALSE(single[0]["evidence"].contains("rst_spacing_min_s"));
}

TEST(Findings, OneInjectorAcrossFlows) {
    Feeder f;
    for (uint8_t i = 0; i < 12; ++i)
        f.add(injected(i, t0 + i * 10 * s));
    auto raised = f.of("injector", "raised");
    ASSERT_EQ(raised.size(), 1u);
    EXPECT_EQ(raised[0]["subject"]["rst_ttl"], 49);
    EXPECT_EQ(raised[0]["subject"]["rst_count"], "2");
    EXPECT_EQ(raised[0]["subject"]["seq_check"], "exact");
    EXPECT_EQ(raised[0]["subject"]["ip_id"], "mismatch");
    EXPECT_EQ(raised[0]["evidence"]["servers"], 5);
    EXPECT_EQ(raised[0]["evidence"]["flows"].size(), 5u);
    EXPECT_EQ(raised[0]["evidence"]["flows"][0]["resp_h"], "203.0.113.0");
}

TEST(Findings, InjectedResetsWithDifferentFingerprintsAreNotOneDevice) {
    Feeder f;
    for (uint8_t i = 0; i < 12; ++i)
        f.add(injected(i, t0 + i * 10 * s, static_cast<uint8_t>(40 + i)));
    EXPECT_TRUE(f.of("injector").empty());
}

TEST(Findings, InjectionsIntoOneFlowAreNotAnInjectorFinding) {
    Feeder f;
    for (uint8_t i = 0; i < 12; ++i)
        f.add(injected(1, t0 + i * 10 * s));
    EXPECT_TRUE(f.of("injector").empty());
}

// ---- the whole engine

TEST(Findings, NothingIsRepeatedPerReset) {
    Feeder f;
    f.warm();
    for (uint32_t i = 0; i < 10'000; ++i)
        f.add(event(ResetCause::resp_abort, v4(198, 51, 100, i % 250), 1000 + i % 60000,
                    v4(203, 0, 113, 10), 443, t0 + i * 10'000'000ull));  // 100 s
    // One raise, one update per closed window (the storm held in the first), never per reset.
    EXPECT_EQ(f.of("rst_storm", "raised").size(), 1u);
    EXPECT_LE(f.records.size(), 3u);
}

TEST(Findings, TablesStayBoundedUnderManyKeys) {
    FindingThresholds t;
    t.max_keys = 256;
    Feeder f(t);
    f.warm();
    size_t memory = f.engine.memory_bytes();
    // 100 000 distinct services (server:port) within one window (it ends at t0 + 40 s), then
    // the same and a storm in the next: still raised (the storming server stays in: it
    // outweighs the others).
    auto crowd = [&f](uint64_t from) {
        for (uint32_t i = 0; i < 100'000; ++i)
            f.add(event(ResetCause::resp_abort, v4(198, 51, 100, 1), 1000,
                        v4(203, 0, 113, static_cast<uint8_t>(i % 250)),
                        static_cast<uint16_t>(1000 + i / 250), from + i * 100'000ull));
    };
    crowd(t0);
    f.engine.advance(t0 + 41 * s, f.records);
    EXPECT_EQ(f.engine.memory_bytes(), memory);
    EXPECT_GT(f.engine.evicted(), 0u);
    auto servers_raised = [&f] {
        size_t n = 0;
        for (auto& j : f.of("rst_storm", "raised"))
            n += j["subject"]["scope"] == "server";
        return n;
    };
    EXPECT_EQ(servers_raised(), 0u);  // (each port's farm of 250 servers does storm)
    crowd(t0 + 45 * s);
    for (uint32_t i = 0; i < 200; ++i)
        f.add(event(ResetCause::resp_abort, v4(198, 51, 100, 1), static_cast<uint16_t>(i),
                    v4(203, 0, 113, 99), 443, t0 + 56 * s + i * 1'000'000ull));
    f.engine.advance(t0 + 101 * s, f.records);
    EXPECT_EQ(servers_raised(), 1u);
    EXPECT_EQ(f.engine.memory_bytes(), memory);
}

// The same events give the same records: no hidden state from time or memory order.
TEST(Findings, SameEventsSameRecords) {
    auto run = [] {
        Feeder f;
        for (uint32_t i = 0; i < 3000; ++i) {
            ResetCause cause = i % 3 == 0 ? ResetCause::refused : ResetCause::resp_abort;
            f.add(event(cause, v4(198, 51, 100, static_cast<uint8_t>(i % 7)), 1000 + i,
                        v4(203, 0, 113, static_cast<uint8_t>(i % 31)),
                        static_cast<uint16_t>(i % 40 + 1), t0 + i * 50'000'000ull));
        }
        f.engine.finish(f.records);
        std::string all;
        for (auto& r : f.records)
            all += r.line + "\n";
        return all;
    };
    std::string a = run();
    EXPECT_FALSE(a.empty());
    EXPECT_EQ(a, run());
}

// Lookups planned ahead (SettleAhead, settle.h) are a hint: add() takes one only for its own key,
// so events added with their own plans, with another event's plan (the ring of plans gone wrong)
// or with none give the same records and the same evictions. Small tables, so entries are evicted
// and made again between an event's plan and its turn.
TEST(Findings, PlannedLookupsChangeNothing) {
    std::vector<ResetEvent> events;
    // A quarter refusals, one in eight of them from a scanning client; one event in three toward
    // a storming server, the rest spread over 1 500 services in a few dozen farms.
    for (uint32_t i = 0; i < 20'000; ++i) {
        ResetCause cause = i % 4 == 0 ? ResetCause::refused : ResetCause::resp_abort;
        uint32_t server = i * 7919 % 1500;
        IpAddress orig = i % 32 == 0 ? v4(198, 51, 100, 1)
                                     : v4(198, 51, static_cast<uint8_t>(i % 13), i % 251 & 0xFF);
        IpAddress resp = i % 3 == 0 ? v4(203, 0, 113, 99)
                                    : v4(203, 0, static_cast<uint8_t>(server / 40),
                                         static_cast<uint8_t>(server % 40));
        events.push_back(event(cause, orig, static_cast<uint16_t>(1000 + i), resp,
                               static_cast<uint16_t>(443 + i % 3 * (server % 50)),
                               t0 + i * 10'000'000ull));
        events.back().id = i + 1;
    }
    FindingThresholds t;
    t.max_keys = 256;
    enum class Plans { none, own, shifted };
    auto run = [&](Plans plans) {
        FindingsEngine engine(t);
        std::vector<FindingRecord> records;
        constexpr size_t ahead = 8;
        std::vector<FindingLookups> planned(events.size());
        for (size_t i = 0; i < events.size(); ++i) {
            if (plans != Plans::none && i + ahead < events.size()) {
                engine.plan_lookups(events[i + ahead], planned[i + ahead]);
                engine.prefetch_lookups(planned[i + ahead]);
            }
            if (i < ahead) engine.plan_lookups(events[i], planned[i]);
            const FindingLookups* hint = plans == Plans::none  ? nullptr
                                         : plans == Plans::own ? &planned[i]
                                                               : &planned[(i + 1) % events.size()];
            engine.add(events[i], records, hint);
        }
        engine.finish(records);
        std::string all;
        for (const FindingRecord& r : records)
            all += r.line + "\n";
        return std::pair{all, engine.evicted()};
    };
    auto plain = run(Plans::none);
    EXPECT_GT(plain.second, 1000u);  // the tables churned
    EXPECT_NE(plain.first.find("\"kind\":\"rst_storm\""), std::string::npos);
    EXPECT_NE(plain.first.find("\"kind\":\"scan\""), std::string::npos);
    EXPECT_EQ(run(Plans::own), plain);
    EXPECT_EQ(run(Plans::shifted), plain);
}

// Management advances the engine as the workers' progress reaches it, which for a capture is a
// matter of timing: the records must be the same whether it advanced every few seconds of packet
// time or only with the events and once at the end (1 and N workers write the same records).
TEST(Findings, RecordsDoNotDependOnHowOftenTheEngineIsAdvanced) {
    auto run = [](uint64_t advance_every) {
        Feeder f;
        f.warm();
        f.farm_storm();                   // a storm raised and cleared over the next windows
        for (uint16_t i = 0; i < 8; ++i)  // a middlebox timer, held 600 s after its last reset
            f.add(idle_reset(40000 + i, 350'000 + i * 300, t0 + 100 * s + i * 40 * s));
        const uint64_t last = t0 + 100 * s + 7 * 40 * s;
        const uint64_t end = last + 3000 * s;  // 50 windows of silence
        if (advance_every != 0)
            for (uint64_t t = last; t < end; t += advance_every)
                f.engine.advance(t, f.records);
        f.engine.advance(end, f.records);
        f.engine.finish(f.records);
        std::string all;
        for (auto& r : f.records)
            all += r.line + "\n";
        return std::pair{all, f.of("middlebox_timer", "cleared")};
    };
    const auto [once, cleared] = run(0);
    EXPECT_EQ(once, run(7 * s).first);
    EXPECT_EQ(once, run(61 * s).first);
    EXPECT_EQ(once, run(150 * s).first);
    // The timer is cleared at the first window's end a hold (600 s) after its last reset, not at
    // the end of the silence: 1700000380 + 600 s falls in the window ending at 1700001000.
    ASSERT_EQ(cleared.size(), 1u);
    EXPECT_EQ(cleared[0]["ts"], 1700001000.0);
}

// Once nothing is kept, a gap of any length is crossed at once: a billion windows of silence
// are not closed one by one, and the engine goes on in the window of its next event.
TEST(Findings, ALongSilenceIsCrossedAtOnce) {
    Feeder f;
    f.farm_storm();
    f.engine.advance(t0 + 1'000'000'000ull * 60 * s, f.records);
    EXPECT_EQ(f.engine.open_count(FindingKind::rst_storm), 0u);
    const size_t records = f.records.size();
    f.add(event(ResetCause::resp_abort, v4(198, 51, 100, 1), 50000, v4(203, 0, 113, 20), 443,
                t0 + 1'000'000'000ull * 60 * s + s));
    EXPECT_EQ(f.records.size(), records);  // one reset, a billion windows on: nothing to say
}

TEST(Findings, AnswerListsOpenFindings) {
    Feeder f;
    for (uint8_t i = 0; i < 12; ++i)
        f.add(injected(i, t0 + i * 10 * s));
    nlohmann::json j = nlohmann::json::parse(findings_answer_json(f.engine));
    ASSERT_EQ(j["findings"].size(), 1u);
    EXPECT_EQ(j["findings"][0]["kind"], "injector");
    EXPECT_EQ(j["open"]["injector"], 1);
    EXPECT_EQ(j["raised"]["injector"], 1);
    EXPECT_EQ(j["open"]["scan"], 0);
    f.engine.finish(f.records);
    j = nlohmann::json::parse(findings_answer_json(f.engine));
    EXPECT_TRUE(j["findings"].empty());
    EXPECT_EQ(j["open"]["injector"], 0);
}

}  // namespace
}  // namespace rstscope
