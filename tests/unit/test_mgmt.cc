// Unit tests for the management side: the RST-storm window, the verdict statistics and their two
// renderings (stats JSON, summary text), and the control protocol's parser and error answers.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "rstscope/mgmt/control_protocol.h"
#include "rstscope/mgmt/stats.h"

namespace rstscope {
namespace {

constexpr uint64_t ms = 1'000'000;
constexpr uint64_t sec = 1'000'000'000;

ResetEvent at(uint64_t ts_ns, uint16_t orig_port = 40000) {
    ResetEvent e{};
    e.ts_ns = ts_ns;
    e.orig_p = orig_port;
    return e;
}

struct Released {
    std::vector<uint64_t> ts;
    std::vector<std::string> hosts;
    std::vector<bool> storm;
};

Released summarize(const std::vector<StormWindow::Judged>& judged) {
    Released r;
    for (const auto& j : judged) {
        r.ts.push_back(j.event.ts_ns);
        r.hosts.push_back(j.host);
        r.storm.push_back(j.storm);
    }
    return r;
}

TEST(StormWindow, ThresholdCountsResetsOnBothSidesOfAnEvent) {
    StormWindow window(3, 1 * sec);
    // Host A: 10.0, 10.5, 11.4 s. Only 10.5 has all three within one second on either side.
    window.add(at(10 * sec), "192.0.2.1");
    window.add(at(10 * sec + 500 * ms), "192.0.2.1");
    window.add(at(11 * sec + 400 * ms), "192.0.2.1");
    Released r = summarize(window.release(0, true));
    EXPECT_EQ(r.ts, (std::vector<uint64_t>{10 * sec, 10 * sec + 500 * ms, 11 * sec + 400 * ms}));
    EXPECT_EQ(r.storm, (std::vector<bool>{false, true, false}));
    EXPECT_EQ(r.hosts, (std::vector<std::string>(3, "192.0.2.1")));
    EXPECT_EQ(window.pending(), 0u);
}

TEST(StormWindow, FirstAndLastResetsOfAStormAreStorms) {
    StormWindow window(3, 1 * sec);
    for (uint64_t t : {10 * sec, 10 * sec + 200 * ms, 10 * sec + 400 * ms})
        window.add(at(t), "192.0.2.1");
    EXPECT_EQ(summarize(window.release(0, true)).storm, (std::vector<bool>{true, true, true}));
}

TEST(StormWindow, WindowBoundsAreInclusive) {
    StormWindow window(2, 1 * sec);
    window.add(at(10 * sec), "a");
    window.add(at(11 * sec), "a");  // exactly one window later: together
    window.add(at(20 * sec), "b");
    window.add(at(21 * sec + 1), "b");  // one nanosecond more: apart
    EXPECT_EQ(summarize(window.release(0, true)).storm,
              (std::vector<bool>{true, true, false, false}));
}

TEST(StormWindow, SpreadOutOrOtherHostsAreNoStorm) {
    StormWindow window(2, 1 * sec);
    for (int i = 0; i < 5; ++i)
        window.add(at((10 + 2 * i) * sec), "192.0.2.1");
    window.add(at(30 * sec), "192.0.2.1");
    window.add(at(30 * sec + 1 * ms), "192.0.2.2");  // another host: does not add up
    Released r = summarize(window.release(0, true));
    EXPECT_EQ(r.storm, (std::vector<bool>(7, false)));
}

TEST(StormWindow, ReleasesOnlyClosedWindowsInTimeOrder) {
    StormWindow window(2, 1 * sec);
    window.add(at(10 * sec, 1), "a");
    window.add(at(10 * sec + 100 * ms, 2), "b");
    window.add(at(10 * sec + 50 * ms, 3), "a");  // from a slower worker: arrives late
    window.add(at(12 * sec, 4), "c");
    EXPECT_TRUE(window.release(11 * sec).empty());  // 10 s + 1 s is not yet before now
    auto first = window.release(11 * sec + 1);
    ASSERT_EQ(first.size(), 1u);
    EXPECT_EQ(first[0].event.orig_p, 1);
    EXPECT_TRUE(first[0].storm);  // 10.05 s from the same host is within its window
    EXPECT_TRUE(window.release(11 * sec + 50 * ms).empty());
    auto second = window.release(11 * sec + 50 * ms + 1);
    ASSERT_EQ(second.size(), 1u);
    EXPECT_EQ(second[0].event.orig_p, 3);
    EXPECT_TRUE(second[0].storm);  // 10.0 s still counts: it lies within this event's window
    auto third = window.release(11 * sec + 100 * ms + 1);
    ASSERT_EQ(third.size(), 1u);
    EXPECT_EQ(third[0].event.orig_p, 2);
    EXPECT_EQ(third[0].host, "b");
    EXPECT_FALSE(third[0].storm);
    EXPECT_EQ(window.pending(), 1u);
    auto rest = window.release(11 * sec + 100 * ms + 1, true);
    ASSERT_EQ(rest.size(), 1u);
    EXPECT_EQ(rest[0].event.orig_p, 4);
    EXPECT_EQ(rest[0].host, "c");
    EXPECT_EQ(window.pending(), 0u);
    EXPECT_TRUE(window.release(100 * sec, true).empty());
}

TEST(StormWindow, SameTimeIsOrderedByConnection) {
    StormWindow window(2, 1 * sec);
    window.add(at(10 * sec, 9), "a");
    window.add(at(10 * sec, 5), "b");
    window.add(at(10 * sec, 7), "c");
    auto judged = window.release(0, true);
    ASSERT_EQ(judged.size(), 3u);
    EXPECT_EQ(judged[0].event.orig_p, 5);
    EXPECT_EQ(judged[1].event.orig_p, 7);
    EXPECT_EQ(judged[2].event.orig_p, 9);
}

TEST(StormWindow, MaxPendingJudgesTheOldestEarly) {
    StormWindow window(2, 1 * sec, 2);
    window.add(at(10 * sec, 1), "a");
    window.add(at(10 * sec + 1 * ms, 2), "a");
    EXPECT_TRUE(window.release(0).empty());
    window.add(at(10 * sec + 2 * ms, 3), "a");
    auto early = window.release(0);
    ASSERT_EQ(early.size(), 1u);
    EXPECT_EQ(early[0].event.orig_p, 1);
    EXPECT_TRUE(early[0].storm);
    EXPECT_EQ(window.pending(), 2u);
}

ResetEvent with_verdict(ResetCause cause, ConnState state) {
    ResetEvent e{};
    e.cause = cause;
    e.conn_state = state;
    return e;
}

TEST(ResetStatistics, TalliesAndTopHostsByCountThenName) {
    ResetStatistics stats;
    auto record = [&](const char* host, int n, ResetCause cause = ResetCause::resp_abort) {
        for (int i = 0; i < n; ++i)
            stats.record(with_verdict(cause, ConnState::RSTR), host);
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

    using Top = std::vector<std::pair<std::string, uint64_t>>;
    EXPECT_EQ(
        stats.top_hosts(10),
        (Top{{"10.0.0.4", 7}, {"10.0.0.1", 5}, {"10.0.0.2", 2}, {"10.0.0.3", 2}, {"10.0.0.0", 1}}));
    EXPECT_EQ(stats.top_hosts(3), (Top{{"10.0.0.4", 7}, {"10.0.0.1", 5}, {"10.0.0.2", 2}}));
    EXPECT_EQ(stats.top_hosts(0), Top{});
    EXPECT_EQ(ResetStatistics{}.top_hosts(5), Top{});
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
        resets.record(with_verdict(ResetCause::refused, ConnState::REJ), "198.51.100.7");
        resets.record(with_verdict(ResetCause::refused, ConnState::REJ), "198.51.100.7");
        resets.record(with_verdict(ResetCause::idle_timeout, ConnState::RSTR), "quote\"host");
    }
    CounterTotals totals() const { return sum_counters({&a, &b}, management); }
};

TEST(Stats, SumCountersAddsWorkers) {
    Fixture f;
    CounterTotals t = f.totals();
    EXPECT_EQ(t.workers, 2u);
    EXPECT_EQ(t.get(WorkerCounter::packets), 3000u);
    EXPECT_EQ(t.get(WorkerCounter::tx_dropped), 3000u + 2 * (worker_counter_count - 1));
    EXPECT_EQ(t.get(DropReason::not_ip), 1u);
    EXPECT_EQ(t.get(DropReason::unsupported_link), drop_reason_count);
    EXPECT_EQ(t.get(ManagementCounter::rx_errors), 500u + management_counter_count - 1);
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
    uint64_t dropped = drop_reason_count * (drop_reason_count + 1) / 2;
    std::string drops = ",\"dropped\":" + std::to_string(dropped) + ",\"drops\":{";
    for (size_t i = 0; i < drop_reason_count; ++i) {
        drops += (i ? "," : "") + ("\"" + std::string(drop_reason_names[i]) + "\":") +
                 std::to_string(i + 1);
    }
    EXPECT_NE(json.find(drops + "}"), std::string::npos) << json;
    for (std::string_view cause : reset_cause_names)
        EXPECT_NE(json.find("\"" + std::string(cause) + "\":"), std::string::npos) << cause;
    EXPECT_NE(json.find("\"refused\":2,"), std::string::npos);
    EXPECT_NE(json.find("\"idle_timeout\":1,"), std::string::npos);
    EXPECT_NE(json.find("\"REJ\":2,"), std::string::npos);
    EXPECT_NE(json.find(R"("top_resetting_hosts":[{"host":"198.51.100.7","resets":2},)"
                        R"({"host":"quote\"host","resets":1}]})"),
              std::string::npos)
        << json;
}

TEST(Stats, JsonWithNothingRecorded) {
    CounterTotals empty{};
    std::string json = stats_json(empty, ResetStatistics{});
    EXPECT_NE(json.find(R"("dropped":0,"drops":{"not_ip":0,)"), std::string::npos) << json;
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

TEST(ControlProtocol, KnownCommands) {
    EXPECT_EQ(parse_control_request("stats").command, ControlCommand::stats);
    EXPECT_EQ(parse_control_request("/stats").command, ControlCommand::stats);
    EXPECT_EQ(parse_control_request("help").command, ControlCommand::help);
    EXPECT_EQ(parse_control_request("version").command, ControlCommand::version);
    EXPECT_EQ(parse_control_request("/ping").command, ControlCommand::ping);
    EXPECT_TRUE(parse_control_request("stats").error.empty());
}

TEST(ControlProtocol, WhitespaceAndLineEndsAreTrimmed) {
    for (const char* line : {"stats\n", "stats\r\n", "  stats  ", "\tstats\t\r\n", " /stats\r\n"}) {
        ControlRequest r = parse_control_request(line);
        EXPECT_EQ(r.command, ControlCommand::stats) << line;
        EXPECT_TRUE(r.error.empty()) << line;
    }
}

TEST(ControlProtocol, EmptyRequests) {
    for (const char* line : {"", "\n", "\r\n", "   \t ", "/", " / \r\n"}) {
        ControlRequest r = parse_control_request(line);
        EXPECT_EQ(r.command, ControlCommand::invalid) << line;
        EXPECT_EQ(r.error, "empty request; try help") << line;
    }
}

TEST(ControlProtocol, UnknownCommandsAreQuotedInTheError) {
    ControlRequest r = parse_control_request("bogus\n");
    EXPECT_EQ(r.command, ControlCommand::invalid);
    EXPECT_EQ(r.error, "unknown command \"bogus\"; try help");
    EXPECT_EQ(parse_control_request("STATS").command, ControlCommand::invalid);
    EXPECT_EQ(parse_control_request("stats now").error, "unknown command \"stats now\"; try help");
    EXPECT_EQ(parse_control_request("//stats").error, "unknown command \"/stats\"; try help");
    // Long requests are shown cut to 64 bytes.
    ControlRequest longer = parse_control_request(std::string(100, 'z'));
    EXPECT_EQ(longer.error, "unknown command \"" + std::string(64, 'z') + "\"; try help");
}

TEST(ControlProtocol, BinaryGarbageIsEscapedNotEchoed) {
    const std::string garbage("\x00\x01\xff\"\\x", 6);
    ControlRequest r = parse_control_request(garbage);
    EXPECT_EQ(r.command, ControlCommand::invalid);
    EXPECT_EQ(r.error, R"(unknown command "\u0000\u0001\u00ff\"\\x"; try help)");
    EXPECT_EQ(control_error_json(r.error),
              R"({"error":"unknown command \"\\u0000\\u0001\\u00ff\\\"\\\\x\"; try help"})");
}

TEST(ControlProtocol, ErrorJsonEscapes) {
    EXPECT_EQ(control_error_json("plain"), R"({"error":"plain"})");
    EXPECT_EQ(control_error_json("say \"hi\"\\\n\t"), R"({"error":"say \"hi\"\\\u000a\u0009"})");
    EXPECT_EQ(control_error_json(""), R"({"error":""})");
}

TEST(ControlProtocol, HelpListsEveryCommand) {
    std::string help = control_help_json();
    EXPECT_EQ(help.rfind(R"({"commands":{"stats":")", 0), 0u) << help;
    for (const char* name : {"stats", "help", "version", "ping"})
        EXPECT_NE(help.find("\"" + std::string(name) + "\":\""), std::string::npos) << name;
    EXPECT_EQ(help.substr(help.size() - 2), "}}");
}

}  // namespace
}  // namespace rstscope
