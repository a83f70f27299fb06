// SPDX-License-Identifier: BSD-3-Clause
// Unit tests for the live view's screen (tools/live_view.h), made from control-socket answers
// without a socket: rates by cause from two `stats` answers, the top tables side by side, open
// findings only, non-zero drops and losses, ring occupancy, and the cut to the terminal's size.
// Also rstscopectl's parsing of `top --watch/--once/--interval`.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "live_view.h"
#include "rstscope/config/ctl_options.h"

namespace rstscope {
namespace {

using nlohmann::json;

json stats(uint64_t packets, uint64_t refused, uint64_t overload) {
    return json{
        {"ok", true},
        {"packets", packets},
        {"events_logged", refused + overload},
        {"dropped", 7},
        {"events_lost", 0},
        {"events_ring_full", 5},
        {"drops", {{"not_ip", 2}, {"not_tcp", 0}}},
        {"causes", {{"refused", refused}, {"overload", overload}, {"injected", 0}}},
        {"per_worker",
         json::array({{{"worker", 0}, {"event_ring_used", 12}, {"event_ring_capacity", 1024}},
                      {{"worker", 1}, {"event_ring_used", 0}, {"event_ring_capacity", 1024}}})}};
}

std::string joined(const std::vector<std::string>& lines) {
    std::string text;
    for (const std::string& line : lines)
        text += line + "\n";
    return text;
}

const std::string* line_starting(const std::vector<std::string>& lines, const std::string& start) {
    for (const std::string& line : lines)
        if (line.rfind(start, 0) == 0) return &line;
    return nullptr;
}

LiveSample sample(double at, json s) {
    LiveSample x;
    x.at_s = at;
    x.stats = std::move(s);
    x.servers =
        json{{"ok", true},
             {"top", json::array({{{"host", "203.0.113.60:8080"}, {"resets", 26}, {"error", 0}},
                                  {{"host", "203.0.113.7:443"}, {"resets", 4}, {"error", 0}}})}};
    x.clients =
        json{{"ok", true},
             {"top", json::array({{{"host", "198.51.100.60"}, {"resets", 30}, {"error", 0}}})}};
    x.findings = json{
        {"ok", true},
        {"findings",
         json::array(
             {{{"id", 1}, {"kind", "rst_storm"}, {"state", "raised"}, {"host", "203.0.113.60"}},
              {{"id", 2}, {"kind", "scan"}, {"state", "cleared"}}})}};
    return x;
}

TEST(LiveView, RatesByCauseAreTheDifferenceOverTheInterval) {
    LiveHeading heading{"./control.sock", "2026-12-04 12:00:00 UTC", 2, "1m", true};
    auto lines = live_view_lines(heading, sample(10, stats(1000, 4, 10)),
                                 sample(12, stats(3000, 10, 11)), 0, 0);
    const std::string* refused = line_starting(lines, "  refused");
    ASSERT_NE(refused, nullptr) << joined(lines);
    EXPECT_EQ(*refused, "  refused                      3.0          10");  // (10-4)/2 s
    const std::string* overload = line_starting(lines, "  overload");
    ASSERT_NE(overload, nullptr);
    EXPECT_EQ(*overload, "  overload                     0.5          11");
    EXPECT_EQ(line_starting(lines, "  injected"), nullptr);  // zero: not listed
    const std::string* totals = line_starting(lines, "packets ");
    ASSERT_NE(totals, nullptr);
    EXPECT_EQ(*totals,
              "packets 3000 (1000.0/s)  resets 21 (3.5/s)  logged 21  dropped 7  events lost 0");
    EXPECT_NE(lines.front().find("q or Ctrl-C quits"), std::string::npos);
}

TEST(LiveView, FirstSampleHasNoRatesYet) {
    LiveHeading heading{"s", "t", 1, "1m", false};
    auto lines = live_view_lines(heading, LiveSample{}, sample(1, stats(5, 1, 0)), 0, 0);
    const std::string* refused = line_starting(lines, "  refused");
    ASSERT_NE(refused, nullptr);
    EXPECT_EQ(*refused, "  refused                        -           1");
    EXPECT_EQ(lines.front().find("quits"), std::string::npos);  // --once: nothing to quit
}

TEST(LiveView, TopsFindingsDropsAndRings) {
    LiveHeading heading{"s", "t", 1, "10m", true};
    auto lines =
        live_view_lines(heading, sample(0, stats(1, 1, 1)), sample(1, stats(2, 2, 2)), 0, 0);
    std::string text = joined(lines);
    const std::string* top = line_starting(lines, "TOP SERVERS (10m)");
    ASSERT_NE(top, nullptr) << text;
    EXPECT_NE(top->find("TOP CLIENTS (10m)"), std::string::npos);
    const std::string* first = line_starting(lines, "203.0.113.60:8080");
    ASSERT_NE(first, nullptr) << text;
    EXPECT_NE(first->find("26   198.51.100.60"), std::string::npos) << *first;
    EXPECT_NE(text.find("OPEN FINDINGS (1)\n  #1 rst_storm raised host=203.0.113.60\n"),
              std::string::npos)
        << text;
    EXPECT_EQ(text.find("scan"), std::string::npos);  // cleared: not open
    EXPECT_NE(text.find("DROPS AND LOSSES  dropped 7\n  not_ip 2  events_ring_full 5\n"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("  0: 12/1024 (1.2 %)  1: 0/1024 (0.0 %)"), std::string::npos) << text;
}

TEST(LiveView, MissingAnswersAndOutagesAreSaid) {
    LiveHeading heading{"s", "t", 1, "1m", true};
    LiveSample down;
    down.error = "cannot connect to s: No such file or directory";
    std::string text = joined(live_view_lines(heading, LiveSample{}, down, 0, 0));
    EXPECT_NE(text.find("NOT ANSWERING: cannot connect to s"), std::string::npos) << text;
    LiveSample old = sample(1, stats(1, 1, 1));
    old.findings = json{{"error", "unknown command \"findings\"; try help"}};
    text = joined(live_view_lines(heading, LiveSample{}, old, 0, 0));
    EXPECT_NE(text.find("(not available: unknown command \"findings\"; try help)"),
              std::string::npos)
        << text;
}

TEST(LiveView, CutToTheTerminal) {
    LiveHeading heading{"s", "t", 1, "1m", true};
    auto lines = live_view_lines(heading, LiveSample{}, sample(1, stats(1, 1, 1)), 30, 8);
    EXPECT_EQ(lines.size(), 8u);
    for (const std::string& line : lines)
        EXPECT_LE(line.size(), 30u) << line;
}

CtlParseOutcome parse(std::vector<const char*> args) {
    args.insert(args.begin(), "rstscopectl");
    return parse_ctl_options(static_cast<int>(args.size()), args.data(), 1e9);
}

TEST(LiveViewOptions, WatchOnceAndInterval) {
    auto watch =
        parse({"--socket", "x.sock", "top", "--watch", "--interval", "0.5", "--window", "10m"});
    ASSERT_EQ(watch.status, CtlParseOutcome::Status::run) << watch.message;
    EXPECT_EQ(watch.options.live, CtlOptions::Live::watch);
    EXPECT_DOUBLE_EQ(watch.options.interval_s, 0.5);
    ASSERT_EQ(watch.options.args.size(), 1u);
    EXPECT_EQ(watch.options.args[0].first, "window");
    auto once = parse({"top", "--once"});
    ASSERT_EQ(once.status, CtlParseOutcome::Status::run) << once.message;
    EXPECT_EQ(once.options.live, CtlOptions::Live::once);
    EXPECT_DOUBLE_EQ(once.options.interval_s, 1.0);
    EXPECT_EQ(parse({"top", "--by", "servers"}).options.live, CtlOptions::Live::none);

    auto error_of = [](std::vector<const char*> args) {
        auto out = parse(std::move(args));
        EXPECT_EQ(out.status, CtlParseOutcome::Status::error);
        return out.message;
    };
    EXPECT_NE(error_of({"top", "--watch", "--interval", "0.1"}).find("0.2 to 60"),
              std::string::npos);
    EXPECT_NE(error_of({"top", "--watch", "--interval", "61"}).find("--interval"),
              std::string::npos);
    EXPECT_NE(error_of({"top", "--watch", "--once"}).find("not both"), std::string::npos);
    EXPECT_NE(error_of({"top", "--interval", "2"}).find("--watch or top --once"),
              std::string::npos);
    EXPECT_NE(error_of({"top", "--watch", "--by", "servers"}).find("not --by"), std::string::npos);
    // --watch belongs to top only.
    EXPECT_EQ(parse({"events", "--watch"}).status, CtlParseOutcome::Status::error);
}

}  // namespace
}  // namespace rstscope
