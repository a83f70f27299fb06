// SPDX-License-Identifier: BSD-3-Clause
// Unit tests for the HTML report's pure part: the timeline's buckets against a histogram computed
// afresh (any order of times, any span), the page's numbers against the events fed in, the cap of
// the events table, findings, escaping of what records carry, and no allocation while following
// the log.

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "counting_new.h"
#include "rstscope/mgmt/event_json.h"
#include "rstscope/mgmt/html_report.h"

namespace rstscope {
namespace {

constexpr uint64_t sec = 1'000'000'000;
constexpr size_t cause_count = enum_count<ResetCause>;

// The timeline's buckets must equal a histogram of the same times made afresh with the final
// start and width, every time inside the buckets in use.
void expect_histogram(const ResetTimeline& t,
                      const std::vector<std::pair<uint64_t, ResetCause>>& in) {
    std::vector<ResetTimeline::Bucket> expected(ResetTimeline::bucket_count);
    for (const auto& [ts, cause] : in) {
        int64_t offset = static_cast<int64_t>(ts) - t.start_ns();
        ASSERT_GE(offset, 0) << ts;
        size_t i = static_cast<size_t>(offset) / t.width_ns();
        ASSERT_LT(i, t.used()) << ts;
        ++expected[i][static_cast<size_t>(cause)];
    }
    for (size_t i = 0; i < ResetTimeline::bucket_count; ++i)
        for (size_t c = 0; c < cause_count; ++c)
            ASSERT_EQ(t.bucket(i)[c], expected[i][c]) << "bucket " << i << " cause " << c;
    EXPECT_EQ(t.total(), in.size());
}

TEST(ResetTimeline, FirstEventsStayAtMillisecondWidth) {
    ResetTimeline t;
    std::vector<std::pair<uint64_t, ResetCause>> in;
    for (uint64_t ms = 0; ms < 100; ms += 7)
        in.push_back({1'700'000'000 * sec + ms * 1'000'000, ResetCause::refused});
    for (const auto& [ts, c] : in)
        t.add(ts, c);
    EXPECT_EQ(t.width_ns(), 1'000'000u);  // 100 ms fit in 120 buckets of 1 ms
    EXPECT_EQ(t.start_ns(), static_cast<int64_t>(1'700'000'000 * sec));
    expect_histogram(t, in);
}

TEST(ResetTimeline, RandomTimesInAnyOrderAndSpan) {
    std::mt19937_64 random(15);
    for (int round = 0; round < 200; ++round) {
        ResetTimeline t;
        std::vector<std::pair<uint64_t, ResetCause>> in;
        uint64_t base = round % 3 == 0 ? random() % (5 * sec) : 1'700'000'000 * sec;
        uint64_t span = uint64_t{1} << (random() % 50);  // 1 ns to 13 days
        size_t n = 1 + random() % 500;
        for (size_t i = 0; i < n; ++i) {
            uint64_t ts = base + random() % span;
            if (round % 2 && i % 5 == 0 && ts > span) ts -= random() % span;  // older, out of order
            in.push_back({ts, static_cast<ResetCause>(random() % cause_count)});
            t.add(in.back().first, in.back().second);
        }
        expect_histogram(t, in);
        // The width is no larger than needed: half of it would not have held the span.
        uint64_t lo = UINT64_MAX, hi = 0;
        for (const auto& [ts, c] : in) {
            lo = std::min(lo, ts);
            hi = std::max(hi, ts);
        }
        if (t.width_ns() > 1'000'000) {
            EXPECT_GT(hi - lo, (t.width_ns() / 2) * (ResetTimeline::bucket_count / 2 - 1))
                << "round " << round;
        }
    }
}

IpAddress v4(const char* text) {
    uint8_t bytes[4];
    EXPECT_EQ(inet_pton(AF_INET, text, bytes), 1) << text;
    return IpAddress::from_v4(bytes);
}

ResetEvent event(uint64_t id, uint64_t ts_ns, const char* client, const char* server, uint16_t port,
                 ResetCause cause) {
    ResetEvent e{};
    e.id = id;
    e.ts_ns = ts_ns;
    e.first_ts_ns = ts_ns - 1000;
    e.last_ts_ns = ts_ns;
    e.family = IpFamily::v4;
    e.orig_h = v4(client);
    e.resp_h = v4(server);
    e.orig_p = static_cast<uint16_t>(40000 + id % 1000);
    e.resp_p = port;
    e.vlan_outer = e.vlan_inner = vlan_none;
    e.cause = cause;
    e.conn_state = ConnState::REJ;
    e.confidence = Confidence::high;
    std::snprintf(e.history, sizeof e.history, "Sr");
    return e;
}

// The number after `marker` in the page (marker ends just before it).
long number_after(const std::string& page, const std::string& marker) {
    size_t at = page.find(marker);
    if (at == std::string::npos) return -1;
    return std::strtol(page.c_str() + at + marker.size(), nullptr, 10);
}

size_t count_of(const std::string& page, const std::string& text) {
    size_t n = 0;
    for (size_t at = page.find(text); at != std::string::npos; at = page.find(text, at + 1))
        ++n;
    return n;
}

struct Fed {
    std::map<ResetCause, long> causes;
    std::map<uint16_t, long> ports;
};

Fed feed(HtmlReport& report, size_t n, uint64_t seed) {
    std::mt19937_64 random(seed);
    Fed fed;
    const char* servers[] = {"203.0.113.1", "203.0.113.2", "203.0.113.3"};
    const uint16_t ports[] = {443, 8080, 25, 22};
    for (size_t i = 1; i <= n; ++i) {
        auto cause = static_cast<ResetCause>(random() % 4);  // a few causes only
        uint16_t port = ports[random() % 4];
        ResetEvent e = event(i, 1'700'000'000 * sec + i * 3'000'000, "198.51.100.9",
                             servers[random() % 3], port, cause);
        report.record_written(event_json(e), &e);
        ++fed.causes[cause];
        ++fed.ports[port];
    }
    return fed;
}

TEST(HtmlReport, NumbersOnThePageAreThoseFedIn) {
    HtmlReportLimits limits;
    limits.max_events = 1000;
    HtmlReport report("demo <run>", limits);
    Fed fed = feed(report, 300, 1);
    std::string page = report.render();
    EXPECT_EQ(number_after(page, "<span id=\"total\" data-value=\""), 300);
    for (const auto& [cause, n] : fed.causes) {
        std::string row = "<tr data-cause=\"" + std::string(name_of(cause)) + "\">";
        size_t at = page.find(row);
        ASSERT_NE(at, std::string::npos) << name_of(cause);
        EXPECT_EQ(number_after(page.substr(at), "<td class=\"n\">"), n) << name_of(cause);
    }
    // Every event is a row, linked by its id; the timeline's rectangles hold every event.
    EXPECT_EQ(count_of(page, "<tr id=\"ev-"), 300u);
    EXPECT_NE(page.find("<tr id=\"ev-300\""), std::string::npos);
    long in_timeline = 0;
    for (size_t at = page.find("data-count=\""); at != std::string::npos;
         at = page.find("data-count=\"", at + 1))
        in_timeline += std::strtol(page.c_str() + at + 12, nullptr, 10);
    EXPECT_EQ(in_timeline, 300);
    // The ports table: the busiest port first with its exact count.
    auto busiest = std::max_element(fed.ports.begin(), fed.ports.end(),
                                    [](auto& a, auto& b) { return a.second < b.second; });
    size_t ports_at = page.find("<table id=\"top-ports\">");
    ASSERT_NE(ports_at, std::string::npos);
    EXPECT_EQ(number_after(page.substr(ports_at),
                           "<td>" + std::to_string(busiest->first) + "</td><td class=\"n\">"),
              busiest->second);
    EXPECT_EQ(page.find("id=\"left-out\""), std::string::npos);
    // The title is escaped, the page fetches nothing.
    EXPECT_NE(page.find("<title>demo &lt;run&gt;</title>"), std::string::npos);
    EXPECT_EQ(page.find("src="), std::string::npos);
    EXPECT_EQ(page.find("http://", page.find("</svg>")), std::string::npos);
}

TEST(HtmlReport, EventsTableIsCappedAndSaysHowManyWereLeftOut) {
    HtmlReportLimits limits;
    limits.max_events = 50;
    HtmlReport report("capped", limits);
    feed(report, 120, 2);
    EXPECT_EQ(report.events(), 120u);
    EXPECT_EQ(report.events_left_out(), 70u);
    std::string page = report.render();
    EXPECT_EQ(count_of(page, "<tr id=\"ev-"), 50u);
    EXPECT_NE(page.find("<tr id=\"ev-50\""), std::string::npos);
    EXPECT_EQ(page.find("<tr id=\"ev-51\""), std::string::npos);
    EXPECT_EQ(number_after(page, "id=\"left-out\" data-value=\""), 70);
    EXPECT_EQ(number_after(page, "<span id=\"total\" data-value=\""), 120);
}

TEST(HtmlReport, ZeroRowsStillCountsEverything) {
    HtmlReportLimits limits;
    limits.max_events = 0;
    HtmlReport report("none kept", limits);
    feed(report, 10, 3);
    std::string page = report.render();
    EXPECT_EQ(count_of(page, "<tr id=\"ev-"), 0u);
    EXPECT_EQ(number_after(page, "id=\"left-out\" data-value=\""), 10);
    EXPECT_EQ(number_after(page, "<span id=\"total\" data-value=\""), 10);
}

TEST(HtmlReport, FindingsAreListedAndOtherRecordsIgnored) {
    HtmlReport report("findings", HtmlReportLimits{});
    feed(report, 5, 4);
    report.record_written(
        R"({"type":"finding","id":1,"kind":"rst_storm","state":"raised","ts":1700000000.5,"host":"203.0.113.1","note":"<b>x</b>","example_events":[2,3]})",
        nullptr);
    report.record_written(R"({"type":"something_else","id":9})", nullptr);
    EXPECT_EQ(report.findings(), 1u);
    std::string page = report.render();
    EXPECT_EQ(number_after(page, "id=\"findings-count\" data-value=\""), 1);
    EXPECT_NE(page.find("<td>rst_storm</td><td>raised</td>"), std::string::npos);
    EXPECT_NE(page.find("<a href=\"#ev-2\">2</a> <a href=\"#ev-3\">3</a>"), std::string::npos);
    EXPECT_NE(page.find("note=&lt;b&gt;x&lt;/b&gt;"), std::string::npos);
    EXPECT_EQ(page.find("<b>x</b>"), std::string::npos);
    EXPECT_EQ(page.find("something_else"), std::string::npos);
}

TEST(HtmlReport, PcapCellsLinkTheRecordersFileNeverAScript) {
    HtmlReport report("pcap", HtmlReportLimits{}, HtmlReportLinks{.recorder_dir = "flight"});
    ResetEvent e =
        event(1, 1'700'000'000 * sec, "198.51.100.1", "203.0.113.1", 80, ResetCause::refused);
    e.pcap = {.offset = 1234, .file = 42, .packets = 7, .bytes = 0};  // as the recorder sets it
    report.record_written(event_json(e), &e);
    std::string line = event_json(e);
    line.pop_back();  // a line from elsewhere whose file name is a script
    line = line.substr(0, line.find(",\"pcap\""));
    e.id = 2;
    report.record_written(
        line + R"x(,"pcap":{"file":"javascript:alert(1)","offset":0,"packets":1}})x", &e);
    std::string page = report.render();
    EXPECT_NE(page.find("<a href=\"flight/flight-000042.pcapng\" title=\"7 packets at offset 1234; "
                        "rstscopectl pcap 1 -o FILE\">flight-000042.pcapng</a>"),
              std::string::npos)
        << page;
    EXPECT_NE(page.find("<a href=\"flight/javascript:alert(1)\""), std::string::npos);
    EXPECT_EQ(page.find("href=\"javascript:"), std::string::npos);
}

TEST(HtmlReport, PcapFilesAreNamedWhenThePageDoesNotKnowTheirFolder) {
    HtmlReport report("pcap", HtmlReportLimits{});
    ResetEvent e =
        event(1, 1'700'000'000 * sec, "198.51.100.1", "203.0.113.1", 80, ResetCause::refused);
    e.pcap = {.offset = 0, .file = 3, .packets = 5, .bytes = 0};
    report.record_written(event_json(e), &e);
    std::string page = report.render();
    EXPECT_NE(page.find(">flight-000003.pcapng</span>"), std::string::npos);
    EXPECT_EQ(page.find("flight-000003.pcapng\">"), std::string::npos);  // no link
}

TEST(HtmlReport, FollowingTheLogAllocatesNothing) {
    HtmlReportLimits limits;
    limits.max_events = 100;
    limits.max_findings = 10;
    HtmlReport report("alloc", limits);
    std::vector<std::pair<ResetEvent, std::string>> events;
    for (uint64_t i = 1; i <= 300; ++i) {
        ResetEvent e = event(i, 1'700'000'000 * sec + i * i * 1'000'000'000, "198.51.100.2",
                             i % 2 ? "203.0.113.4" : "203.0.113.5", static_cast<uint16_t>(i),
                             ResetCause::overload);
        events.emplace_back(e, event_json(e));
    }
    std::string finding = R"({"type":"finding","id":1,"kind":"scan","state":"raised"})";
    uint64_t before = allocations_so_far();
    for (const auto& [e, line] : events)
        report.record_written(line, &e);
    for (int i = 0; i < 20; ++i)
        report.record_written(finding, nullptr);
    EXPECT_EQ(allocations_so_far(), before);
    EXPECT_EQ(report.events_left_out(), 200u);
    EXPECT_EQ(report.findings_left_out(), 10u);
}

TEST(HtmlReport, EscapesEveryMarkupCharacter) {
    EXPECT_EQ(html_escape(R"(<a href="x">'&'</a>)"),
              "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
}

}  // namespace
}  // namespace rstscope
