// SPDX-License-Identifier: BSD-3-Clause
// The control protocol and the pure parts of the queries, without a socket or EAL: request
// parsing (path and JSON styles), argument schemas, the recent-events ring and its filters, the
// `top` answers, the Prometheus text and the effective configuration.

#include <arpa/inet.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <set>
#include <sstream>
#include <stdexcept>
#include <string>

#include "resident_memory.h"
#include "rstscope/config/build_facts.h"
#include "rstscope/config/options.h"
#include "rstscope/mgmt/control_protocol.h"
#include "rstscope/mgmt/metrics.h"
#include "rstscope/mgmt/recent_events.h"
#include "rstscope/mgmt/top_queries.h"

namespace rstscope {
namespace {

using nlohmann::json;

// rstscope's own commands; `events` echoes its checked arguments so the tests see the types.
struct RegisteredCommands {
    ControlCommands commands;
    int stats_calls = 0;
    bool ready = false;
    RegisteredCommands() {
        ControlHandlers h;
        h.stats = [this](const ControlArgs&) {
            ++stats_calls;
            return std::string(R"({"stats":true})");
        };
        h.events = [](const ControlArgs& args) {
            json echo = json::object();
            for (const char* name : {"cause", "host", "conn_state", "confidence"})
                if (auto v = args.text(name)) echo[name] = *v;
            if (auto v = args.integer("port")) echo["port"] = *v;
            if (auto v = args.integer("limit")) echo["limit"] = *v;
            if (auto v = args.number("since")) echo["since"] = *v;
            return json{{"args", echo}}.dump();
        };
        register_control_commands(commands, std::move(h), ready);
    }
    std::string answer(std::string_view line) const { return commands.answer(line).json; }
    json parsed(std::string_view line) const { return json::parse(answer(line)); }
};

TEST(ControlProtocol, KnownCommandsAnswerWithOk) {
    RegisteredCommands r;
    EXPECT_EQ(r.answer("stats"), R"({"ok":true,"stats":true})");
    EXPECT_EQ(r.answer("/stats"), R"({"ok":true,"stats":true})");
    EXPECT_EQ(r.answer(R"({"cmd":"stats"})"), R"({"ok":true,"stats":true})");
    EXPECT_EQ(r.stats_calls, 3);
    EXPECT_EQ(r.answer("/ping"), R"({"ok":true,"pong":true,"ready":false})");
    EXPECT_EQ(r.answer("version"),
              "{\"ok\":true,\"version\":\"" + std::string(rstscope_version) + "\"}");
    EXPECT_TRUE(r.commands.answer("ping").known);
}

// `ping` reads the flag management keeps: false until every reader polls, then true.
TEST(ControlProtocol, PingSaysWhetherPacketsFlow) {
    RegisteredCommands r;
    EXPECT_EQ(r.answer("ping"), R"({"ok":true,"pong":true,"ready":false})");
    r.ready = true;
    EXPECT_EQ(r.answer("ping"), R"({"ok":true,"pong":true,"ready":true})");
}

// A command registered without a handler (the tests' and the fuzz target's tables) still answers.
TEST(ControlProtocol, MissingHandlerIsAnErrorNotACrash) {
    RegisteredCommands r;
    EXPECT_EQ(r.answer("top"), R"({"error":"top is not available in this process"})");
}

TEST(ControlProtocol, WhitespaceAndLineEndsAreTrimmed) {
    RegisteredCommands r;
    for (const char* line : {"stats\n", "stats\r\n", "  stats  ", "\tstats\t\r\n", " /stats\r\n",
                             " {\"cmd\" : \"stats\"}\r\n"}) {
        ControlCommands::Answer a = r.commands.answer(line);
        EXPECT_TRUE(a.known) << line;
        EXPECT_EQ(a.json, R"({"ok":true,"stats":true})") << line;
    }
}

TEST(ControlProtocol, EmptyRequests) {
    RegisteredCommands r;
    for (const char* line : {"", "\n", "\r\n", "   \t ", "/", " / \r\n", "/,cause=refused"}) {
        ControlCommands::Answer a = r.commands.answer(line);
        EXPECT_FALSE(a.known) << line;
        EXPECT_EQ(a.json, R"({"error":"empty request; try help"})") << line;
    }
}

TEST(ControlProtocol, UnknownCommandsAreQuotedInTheError) {
    RegisteredCommands r;
    EXPECT_FALSE(r.commands.answer("bogus\n").known);
    EXPECT_EQ(r.answer("bogus\n"), R"({"error":"unknown command \"bogus\"; try help"})");
    EXPECT_EQ(r.answer("STATS"), R"({"error":"unknown command \"STATS\"; try help"})");
    EXPECT_EQ(r.answer("stats now"), R"({"error":"unknown command \"stats now\"; try help"})");
    EXPECT_EQ(r.answer("//stats"), R"({"error":"unknown command \"/stats\"; try help"})");
    EXPECT_EQ(r.answer(R"({"cmd":"bogus"})"), R"({"error":"unknown command \"bogus\"; try help"})");
    EXPECT_EQ(r.stats_calls, 0);
    EXPECT_EQ(r.answer(std::string(100, 'z')),
              R"({"error":"unknown command \")" + std::string(64, 'z') + R"(\"; try help"})");
}

TEST(ControlProtocol, BinaryGarbageIsEscapedNotEchoed) {
    RegisteredCommands r;
    const std::string garbage("\x00\x01\xff\"\\x", 6);
    EXPECT_EQ(r.answer(garbage),
              R"({"error":"unknown command \"\\u0000\\u0001\\u00ff\\\"\\\\x\"; try help"})");
}

TEST(ControlProtocol, ErrorJsonEscapes) {
    EXPECT_EQ(control_error_json("plain"), R"({"error":"plain"})");
    EXPECT_EQ(control_error_json("say \"hi\"\\\n\t"), R"({"error":"say \"hi\"\\\u000a\u0009"})");
    EXPECT_EQ(control_error_json(""), R"({"error":""})");
}

TEST(ControlProtocol, PathStyleArgumentsAreConvertedByTheSchema) {
    RegisteredCommands r;
    json a = r.parsed("/events,cause=refused,port=443,limit=5,host=203.0.113.0/24,since=1.5");
    ASSERT_EQ(a.value("ok", false), true) << a;
    EXPECT_EQ(a["args"], (json{{"cause", "refused"},
                               {"port", 443},
                               {"limit", 5},
                               {"host", "203.0.113.0/24"},
                               {"since", 1.5}}));
}

TEST(ControlProtocol, JsonStyleArgumentsKeepTheirTypes) {
    RegisteredCommands r;
    json a = r.parsed(R"({"cmd":"events","cause":"refused","port":443,"since":1700000000})");
    ASSERT_EQ(a.value("ok", false), true) << a;
    EXPECT_EQ(a["args"], (json{{"cause", "refused"}, {"port", 443}, {"since", 1700000000.0}}));
}

// Each wrong request gets one clear error naming what is wrong; none reaches the handler.
TEST(ControlProtocol, WrongArgumentsGetClearErrors) {
    RegisteredCommands r;
    const std::pair<std::string, const char*> cases[] = {
        {"/events,colour=red", R"(unknown argument \"colour\" for events; try help)"},
        {"/stats,x=1", R"(unknown argument \"x\" for stats; try help)"},
        {"/events,cause=sunspots", "invalid value for cause of events: expected one of refused"},
        {"/events,port=70000",
         "invalid value for port of events: expected an integer from 0 to 65535"},
        {"/events,port=4x", "invalid value for port of events"},
        {"/events,port=-1", "invalid value for port of events"},
        {"/events,limit=0", "invalid value for limit of events"},
        {"/events,limit=201", "invalid value for limit of events"},
        {"/events,since=nan", "invalid value for since of events"},
        {"/events,since=inf", "invalid value for since of events"},
        {"/events,port", R"(argument \"port\" of events needs a value: name=value)"},
        {"/events,port=1,port=2", "argument port given twice"},
        {R"({"cmd":"events","port":"443"})", "invalid value for port of events"},
        {R"({"cmd":"events","port":44.5})", "invalid value for port of events"},
        {R"({"cmd":"events","port":18446744073709551615})", "invalid value for port of events"},
        {R"({"cmd":"events","cause":7})", "invalid value for cause of events"},
        {R"({"cmd":"events","host":["a"]})", "invalid value for host of events"},
        {R"({"cmd":"events","limit":null})", "invalid value for limit of events"},
        {R"({"cmd":"events","bogus":1})", R"(unknown argument \"bogus\" for events)"},
        {R"({"cmd":"events","host":")" + std::string(65, 'a') + "\"}",
         "invalid value for host of events: expected a string of at most 64 bytes"},
    };
    for (const auto& [request, error] : cases) {
        ControlCommands::Answer a = r.commands.answer(request);
        EXPECT_FALSE(a.known) << request;
        EXPECT_EQ(a.json.rfind(std::string(R"({"error":")") + error, 0), 0u)
            << request << " -> " << a.json;
    }
}

TEST(ControlProtocol, InvalidJsonRequests) {
    RegisteredCommands r;
    for (const char* line : {"{", R"({"cmd":)", R"({"cmd":"stats",})", "{}", R"({"cmd":1})",
                             R"({"cmd":null})", "{\"cmd\":\"stats\"} trailing"}) {
        ControlCommands::Answer a = r.commands.answer(line);
        EXPECT_FALSE(a.known) << line;
        json j = json::parse(a.json);
        EXPECT_TRUE(j.contains("error")) << line;
    }
    // Deep nesting within the request size limit is parsed or refused, never a crash.
    std::string deep =
        R"({"cmd":"stats","x":)" + std::string(480, '[') + std::string(480, ']') + "}";
    EXPECT_FALSE(r.commands.answer(deep).known);
}

// `help` is made from the table that dispatches: every command, in order, with its help line and
// its arguments' schema.
TEST(ControlProtocol, HelpListsEveryCommandWithItsSchema) {
    RegisteredCommands r;
    json help = r.parsed("help");
    ASSERT_EQ(help.value("ok", false), true);
    std::vector<std::string> listed;
    for (const auto& [name, entry] : help["commands"].items())
        listed.push_back(name);
    std::vector<std::string> registered;
    for (const ControlCommands::Command& c : r.commands.commands()) {
        registered.push_back(c.name);
        EXPECT_EQ(help["commands"][c.name]["help"], c.help);
        EXPECT_EQ(help["commands"][c.name]["args"].size(), c.args.size());
    }
    EXPECT_EQ(std::set<std::string>(listed.begin(), listed.end()),
              std::set<std::string>(registered.begin(), registered.end()));
    const json& port = help["commands"]["events"]["args"][4];
    EXPECT_EQ(port["name"], "port");
    EXPECT_EQ(port["type"], "integer");
    EXPECT_EQ(port["expects"], "an integer from 0 to 65535");
}

TEST(ControlProtocol, ACommandIsRegisteredOnce) {
    ControlCommands commands;
    auto h = [](const ControlArgs&) { return std::string("{}"); };
    commands.add({"ping", "liveness check", {}, h});
    EXPECT_THROW(commands.add({"ping", "again", {}, h}), std::logic_error);
    EXPECT_EQ(commands.commands().size(), 1u);
    EXPECT_EQ(commands.answer("ping").json, R"({"ok":true})");
}

// ---- The recent-events ring and its filters

IpAddress v4(const char* text) {
    uint8_t b[4];
    EXPECT_EQ(inet_pton(AF_INET, text, b), 1);
    return IpAddress::from_v4(b);
}
IpAddress v6(const char* text) {
    uint8_t b[16];
    EXPECT_EQ(inet_pton(AF_INET6, text, b), 1);
    return IpAddress::from_v6(b);
}

ResetEvent event(uint64_t ts_s, const char* orig, const char* resp, uint16_t resp_p,
                 ResetCause cause = ResetCause::refused, bool v6_family = false) {
    ResetEvent e{};
    e.ts_ns = e.first_ts_ns = e.last_ts_ns = ts_s * 1'000'000'000ull;
    e.family = v6_family ? IpFamily::v6 : IpFamily::v4;
    e.orig_h = v6_family ? v6(orig) : v4(orig);
    e.resp_h = v6_family ? v6(resp) : v4(resp);
    e.orig_p = 40000;
    e.resp_p = resp_p;
    e.cause = cause;
    e.conn_state = cause == ResetCause::refused ? ConnState::REJ : ConnState::RSTR;
    e.confidence = Confidence::high;
    return e;
}

TEST(HostPrefix, ParsesAddressesAndPrefixes) {
    auto p = HostPrefix::parse("203.0.113.0/24");
    ASSERT_TRUE(p);
    EXPECT_TRUE(p->contains(v4("203.0.113.77"), IpFamily::v4));
    EXPECT_FALSE(p->contains(v4("203.0.114.1"), IpFamily::v4));
    EXPECT_FALSE(p->contains(v6("::cb00:7101"), IpFamily::v6));  // the same bytes, other family
    auto odd = HostPrefix::parse("10.0.0.128/25");
    ASSERT_TRUE(odd);
    EXPECT_TRUE(odd->contains(v4("10.0.0.200"), IpFamily::v4));
    EXPECT_FALSE(odd->contains(v4("10.0.0.127"), IpFamily::v4));
    auto six = HostPrefix::parse("2001:db8::/32");
    ASSERT_TRUE(six);
    EXPECT_TRUE(six->contains(v6("2001:db8:1::5"), IpFamily::v6));
    EXPECT_FALSE(six->contains(v6("2001:db9::5"), IpFamily::v6));
    auto one = HostPrefix::parse("192.0.2.1");
    ASSERT_TRUE(one);
    EXPECT_EQ(one->length, 32);
    EXPECT_FALSE(one->contains(v4("192.0.2.2"), IpFamily::v4));
    EXPECT_TRUE(HostPrefix::parse("0.0.0.0/0")->contains(v4("8.8.8.8"), IpFamily::v4));
    for (const char* bad :
         {"", "host", "1.2.3.4/33", "1.2.3.4/", "1.2.3.4/x", "::/129", "1.2.3.4/24/1", "1.2.3"})
        EXPECT_FALSE(HostPrefix::parse(bad)) << bad;
}

TEST(RecentEvents, KeepsTheLastNNewestFirst) {
    RecentEvents ring(3);
    for (uint64_t t = 1; t <= 5; ++t)
        ring.push(event(t, "198.51.100.1", "203.0.113.1", static_cast<uint16_t>(t)));
    EXPECT_EQ(ring.size(), 3u);
    EXPECT_EQ(ring.pushed(), 5u);
    std::vector<uint16_t> ports;
    ring.visit_newest_first([&](const ResetEvent& e) {
        ports.push_back(e.resp_p);
        return true;
    });
    EXPECT_EQ(ports, (std::vector<uint16_t>{5, 4, 3}));
    RecentEvents none(0);
    none.push(event(1, "198.51.100.1", "203.0.113.1", 1));
    EXPECT_EQ(none.size(), 0u);
    EXPECT_EQ(RecentEvents::memory_for(10000), 10000 * sizeof(ResetEvent));
}

TEST(RecentEvents, PopulateFaultsInTheSlotsTheExpectedEventsTake) {
    RecentEvents ring(1u << 16);
    constexpr size_t events = 10'000;
    const size_t before = resident_bytes();
    ring.populate(events);
    const size_t grown = resident_bytes() - before;
    EXPECT_GE(grown, events * sizeof(ResetEvent));
    EXPECT_LE(grown, events * sizeof(ResetEvent) + huge_page_bytes);  // the ring: 30 MiB
    EXPECT_EQ(ring.size(), 0u);                                       // nothing pushed
}

TEST(RecentEvents, FiltersAndLimit) {
    RecentEvents ring(100);
    ring.push(event(10, "198.51.100.1", "203.0.113.7", 443));
    ring.push(event(20, "198.51.100.2", "203.0.113.7", 80, ResetCause::resp_abort));
    ring.push(event(30, "198.51.100.3", "192.0.2.9", 443, ResetCause::orig_abort));
    ring.push(event(40, "2001:db8::1", "2001:db8::2", 22, ResetCause::refused, true));
    auto ports_of = [&](const EventFilter& f, size_t limit = 20) {
        json j = json::parse(recent_events_json(ring, f, limit));
        std::vector<int> ports;
        for (const json& e : j["events"])
            ports.push_back(e["resp_p"].get<int>());
        return std::make_pair(ports, j["matched"].get<int>());
    };
    EventFilter all;
    EXPECT_EQ(ports_of(all).first, (std::vector<int>{22, 443, 80, 443}));
    EXPECT_EQ(ports_of(all, 2), (std::make_pair(std::vector<int>{22, 443}, 4)));
    EventFilter refused;
    refused.cause = ResetCause::refused;
    EXPECT_EQ(ports_of(refused).first, (std::vector<int>{22, 443}));
    EventFilter host;
    host.host = HostPrefix::parse("203.0.113.7");
    EXPECT_EQ(ports_of(host).first, (std::vector<int>{80, 443}));
    EventFilter client;
    client.host = HostPrefix::parse("198.51.100.0/30");
    EXPECT_EQ(ports_of(client).first, (std::vector<int>{443, 80, 443}));
    EventFilter six;
    six.host = HostPrefix::parse("2001:db8::/32");
    EXPECT_EQ(ports_of(six).first, (std::vector<int>{22}));
    EventFilter port;
    port.port = 443;
    EXPECT_EQ(ports_of(port).first, (std::vector<int>{443, 443}));
    EventFilter state;
    state.conn_state = ConnState::RSTR;
    EXPECT_EQ(ports_of(state).first, (std::vector<int>{443, 80}));
    EventFilter time;
    time.since_ns = 20'000'000'000ull;
    time.until_ns = 40'000'000'000ull;
    EXPECT_EQ(ports_of(time).first, (std::vector<int>{443, 80}));
    EventFilter low;
    low.confidence = Confidence::low;
    EXPECT_EQ(ports_of(low).second, 0);
}

// ---- top

TEST(TopQueries, SketchSinceStartAndExactWindows) {
    TopHostCounter resetters(16);
    TopTables tables(16);
    RecentEvents ring(100);
    auto add = [&](const ResetEvent& e) {
        resetters.add(HostKey::resetter_of(e));
        tables.record(e);
        ring.push(e);
    };
    // t = 0: three refusals by 203.0.113.7:443; t = 600 s: two aborts by 192.0.2.9:80.
    for (int i = 0; i < 3; ++i)
        add(event(0, "198.51.100.1", "203.0.113.7", 443));
    add(event(600, "198.51.100.2", "192.0.2.9", 80, ResetCause::resp_abort));
    add(event(600, "198.51.100.2", "192.0.2.9", 80, ResetCause::resp_abort));
    auto rows = [](const json& j) {
        std::vector<std::pair<std::string, int>> out;
        for (const json& r : j["top"])
            out.emplace_back(r["host"], r["resets"]);
        return out;
    };
    TopQuery q;
    q.by = TopBy::servers;
    json servers = json::parse(top_json(q, resetters, tables, ring));
    EXPECT_EQ(servers["source"], "sketch");
    EXPECT_EQ(rows(servers), (std::vector<std::pair<std::string, int>>{{"203.0.113.7:443", 3},
                                                                       {"192.0.2.9:80", 2}}));
    q.by = TopBy::clients;
    EXPECT_EQ(rows(json::parse(top_json(q, resetters, tables, ring))),
              (std::vector<std::pair<std::string, int>>{{"198.51.100.1", 3}, {"198.51.100.2", 2}}));
    q.by = TopBy::resetters;
    q.window_ns = 60'000'000'000ull;  // the last minute before the newest event: t = 600 only
    json window = json::parse(top_json(q, resetters, tables, ring));
    EXPECT_EQ(window["source"], "recent_events");
    EXPECT_EQ(window["complete"], true);
    EXPECT_EQ(rows(window), (std::vector<std::pair<std::string, int>>{{"192.0.2.9", 2}}));
    q.window_ns = 0;
    q.cause = ResetCause::refused;
    EXPECT_EQ(rows(json::parse(top_json(q, resetters, tables, ring))),
              (std::vector<std::pair<std::string, int>>{{"203.0.113.7", 3}}));
    // A ring that forgot the run's start says its counts are incomplete.
    RecentEvents small(2);
    small.push(event(0, "198.51.100.1", "203.0.113.7", 443));
    small.push(event(1, "198.51.100.1", "203.0.113.7", 443));
    small.push(event(2, "198.51.100.1", "203.0.113.7", 443));
    EXPECT_EQ(json::parse(top_json(q, resetters, tables, small))["complete"], false);
    q.limit = 1;
    q.cause.reset();
    q.by = TopBy::servers;
    EXPECT_EQ(json::parse(top_json(q, resetters, tables, ring))["top"].size(), 1u);
}

TEST(TopQueries, ServerKeysCarryThePort) {
    ResetEvent e = event(0, "2001:db8::1", "2001:db8::2", 443, ResetCause::refused, true);
    EXPECT_EQ(host_text(HostKey::server_of(e)), "[2001:db8::2]:443");
    EXPECT_EQ(host_text(HostKey::client_of(e)), "2001:db8::1");
    EXPECT_FALSE(HostKey::server_of(e) == HostKey::resetter_of(e));
}

// ---- metrics and config

TEST(Metrics, EveryFamilyHasHelpAndTypeAndEverySampleAValue) {
    CounterTotals totals;
    totals.workers = 2;
    totals.worker[static_cast<size_t>(WorkerCounter::packets)] = 414;
    ResetStatistics resets(16);
    StormWindow::Judged judged{event(0, "198.51.100.1", "203.0.113.7", 443), false};
    resets.settle(judged);
    std::string text = metrics_text(totals, resets);
    EXPECT_NE(text.find("# TYPE rstscope_packets_total counter\nrstscope_packets_total 414\n"),
              std::string::npos);
    EXPECT_NE(text.find("rstscope_resets_total{cause=\"refused\"} 1\n"), std::string::npos);
    EXPECT_NE(text.find("rstscope_resets_by_conn_state_total{conn_state=\"REJ\"} 1\n"),
              std::string::npos);
    EXPECT_NE(text.find("rstscope_drops_total{reason=\"not_ip\"} 0\n"), std::string::npos);
    EXPECT_NE(text.find("rstscope_workers 2\n"), std::string::npos);
    size_t samples = 0, helps = 0, types = 0;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
        if (line.rfind("# HELP ", 0) == 0)
            ++helps;
        else if (line.rfind("# TYPE ", 0) == 0)
            ++types;
        else
            ++samples;
    }
    EXPECT_EQ(helps, types);
    EXPECT_EQ(helps, 1 + worker_counter_count + management_counter_count + 3 + 2);
    EXPECT_EQ(samples, 1 + worker_counter_count + management_counter_count + drop_reason_count +
                           enum_count<ResetCause> + enum_count<ConnState> + 2);
}

TEST(Config, EffectiveConfigurationListsEverySettingTyped) {
    const char* argv[] = {"rstscope", "--workers", "2", "--control", "/tmp/x.sock", "--quiet"};
    ParseOutcome parsed = parse_options(6, argv, "/nonexistent");
    ASSERT_EQ(parsed.status, ParseOutcome::Status::run) << parsed.message;
    json config = json::parse(options_json(parsed.options));
    EXPECT_EQ(config["workers"], 2);
    EXPECT_EQ(config["control"], "/tmp/x.sock");
    EXPECT_EQ(config["quiet"], true);
    EXPECT_EQ(config["mode"], "monitor");
    EXPECT_EQ(config["memory"], 512);
    EXPECT_EQ(config["recent-events"], 10000);
    EXPECT_EQ(config["linger"], 3.0);
}

}  // namespace
}  // namespace rstscope
