// SPDX-License-Identifier: BSD-3-Clause
// The fleet exporter's pure half: the SP/SC ring from management to the exporter thread, and the
// batcher that numbers lines and groups them into JetStream messages (docs/fleet.md).
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "rstscope/mgmt/event_json.h"
#include "rstscope/mgmt/event_parse.h"
#include "rstscope/mgmt/export_batch.h"
#include "rstscope/mgmt/export_ring.h"

using namespace rstscope;

namespace {

std::string line_of(uint64_t n, size_t pad) {
    return R"({"type":"reset","id":)" + std::to_string(n) + R"(,"pad":")" + std::string(pad, 'x') +
           "\"}";
}

std::vector<std::string> lines_of(const std::string& payload) {
    std::vector<std::string> out;
    size_t start = 0;
    while (start < payload.size()) {
        size_t nl = payload.find('\n', start);
        out.push_back(payload.substr(start, nl - start));
        start = nl + 1;
    }
    return out;
}

}  // namespace

TEST(ExportRing, KeepsOrderTagsAndRefusesWhenFull) {
    ExportRing ring(4096);
    EXPECT_EQ(ring.capacity(), 4096u);
    std::string_view line;
    uint8_t tag = 0;
    EXPECT_FALSE(ring.peek(line, tag));
    size_t pushed = 0;
    while (ring.push(line_of(pushed, 50), static_cast<uint8_t>(pushed % 7)))
        ++pushed;
    // 8 bytes of header and the line (~80 bytes) padded to 8: about 46 fit in 4 KiB.
    EXPECT_GT(pushed, 30u);
    EXPECT_LT(pushed, 60u);
    for (size_t i = 0; i < pushed; ++i) {
        ASSERT_TRUE(ring.peek(line, tag));
        EXPECT_EQ(line, line_of(i, 50));
        EXPECT_EQ(tag, i % 7);
        ring.pop();
    }
    EXPECT_FALSE(ring.peek(line, tag));
    EXPECT_EQ(ring.used(), 0u);
}

TEST(ExportRing, RefusesRecordsLongerThanAQuarter) {
    ExportRing ring(4096);
    EXPECT_FALSE(ring.push(std::string(ring.max_record() + 1, 'a'), 0));
    EXPECT_TRUE(ring.push(std::string(ring.max_record(), 'a'), 0));
}

// Records of every length wrap around the end many times: each comes out whole and in order.
TEST(ExportRing, WrapsWithoutSplittingARecord) {
    ExportRing ring(4096);
    std::mt19937 rng(7);
    uint64_t next_in = 0, next_out = 0;
    for (int round = 0; round < 20000; ++round) {
        if (rng() % 2) {
            if (ring.push(line_of(next_in, rng() % 300), 1)) ++next_in;
        } else {
            std::string_view line;
            uint8_t tag;
            if (ring.peek(line, tag)) {
                auto j = nlohmann::json::parse(line);
                ASSERT_EQ(j["id"].get<uint64_t>(), next_out);
                ++next_out;
                ring.pop();
            }
        }
    }
    EXPECT_GT(next_out, 1000u);
}

// A producer and a consumer thread: every record arrives once, in order, unchanged.
TEST(ExportRing, OneProducerOneConsumerThread) {
    ExportRing ring(8192);
    constexpr uint64_t total = 20000;
    std::atomic<uint64_t> refused{0};
    std::thread producer([&] {
        for (uint64_t i = 0; i < total;) {
            if (ring.push(line_of(i, i % 97), static_cast<uint8_t>(i & 0xff)))
                ++i;
            else {
                refused.fetch_add(1, std::memory_order_relaxed);
                std::this_thread::yield();
            }
        }
    });
    uint64_t got = 0;
    while (got < total) {
        std::string_view line;
        uint8_t tag;
        if (!ring.peek(line, tag)) {
            std::this_thread::yield();
            continue;
        }
        ASSERT_EQ(line, line_of(got, got % 97));
        ASSERT_EQ(tag, got & 0xff);
        ring.pop();
        ++got;
    }
    producer.join();
    EXPECT_EQ(got, total);
}

TEST(ExportBatch, TokensAndPrefixes) {
    EXPECT_TRUE(valid_export_token("box-1_a"));
    EXPECT_FALSE(valid_export_token(""));
    EXPECT_FALSE(valid_export_token("a.b"));
    EXPECT_FALSE(valid_export_token("a*"));
    EXPECT_FALSE(valid_export_token(std::string(65, 'a')));
    EXPECT_TRUE(valid_export_prefix("rstscope.events"));
    EXPECT_FALSE(valid_export_prefix("rstscope..events"));
    EXPECT_FALSE(valid_export_prefix("rstscope.>"));
    EXPECT_FALSE(valid_export_prefix(".a"));
}

TEST(ExportBatch, ExportedLineIsTheLogLineWithIdentityFirst) {
    ExportIdentity id{"p", "s", "box1", 1234};
    std::string out;
    append_exported_line(out, R"({"type":"reset","id":3})", id, 41);
    EXPECT_EQ(out, R"({"appliance":"box1","boot":1234,"seq":41,"type":"reset","id":3})"
                   "\n");
}

// Lines are numbered 0..N-1 in the order given; batches close at batch_lines, per cause, with
// their subject and message id; the linger closes the rest oldest first.
TEST(ExportBatch, NumbersGroupsByCauseAndCloses) {
    ExportBatcher batcher({"rstscope.events", "siteA", "box1", 99}, 3, 1 << 20, 1000);
    std::vector<ExportBatch> closed;
    auto refused = static_cast<uint8_t>(ResetCause::refused);
    auto overload = static_cast<uint8_t>(ResetCause::overload);
    batcher.add(line_of(1, 0), refused, 0, closed);
    batcher.add(line_of(2, 0), overload, 10, closed);
    batcher.add(line_of(3, 0), refused, 20, closed);
    batcher.add(line_of(4, 0), refused, 30, closed);
    ASSERT_EQ(closed.size(), 1u);
    EXPECT_EQ(closed[0].first_seq, 0u);
    EXPECT_EQ(closed[0].lines, 3u);
    EXPECT_EQ(closed[0].subject, "rstscope.events.siteA.box1.refused");
    EXPECT_EQ(closed[0].msg_id, "box1-99-0");
    std::vector<std::string> lines = lines_of(closed[0].payload);
    ASSERT_EQ(lines.size(), 3u);
    std::vector<uint64_t> seqs;
    for (const std::string& l : lines)
        seqs.push_back(nlohmann::json::parse(l)["seq"].get<uint64_t>());
    EXPECT_EQ(seqs, (std::vector<uint64_t>{0, 2, 3}));
    EXPECT_EQ(batcher.open_lines(), 1u);
    batcher.close_due(500, false, closed);  // before the linger: nothing
    EXPECT_EQ(closed.size(), 1u);
    batcher.close_due(1010, false, closed);
    ASSERT_EQ(closed.size(), 2u);
    EXPECT_EQ(closed[1].subject, "rstscope.events.siteA.box1.overload");
    EXPECT_EQ(closed[1].msg_id, "box1-99-1");
    EXPECT_EQ(batcher.open_lines(), 0u);
    EXPECT_EQ(batcher.next_seq(), 4u);
}

TEST(ExportBatch, ClosesBeforeTheByteLimit) {
    ExportBatcher batcher({"p", "s", "a", 1}, 1000, 2000, 1000);
    std::vector<ExportBatch> closed;
    for (int i = 0; i < 30; ++i)
        batcher.add(line_of(i, 200), 0, 0, closed);
    batcher.close_due(0, true, closed);
    uint64_t lines = 0, expected_first = 0;
    for (const ExportBatch& b : closed) {
        EXPECT_LE(b.payload.size(), 2000u);
        EXPECT_EQ(b.first_seq, expected_first);
        expected_first += b.lines;
        lines += b.lines;
    }
    EXPECT_EQ(lines, 30u);
    EXPECT_GT(closed.size(), 3u);
}

// The fleet consumer reads other appliances' lines back into events for the findings engine:
// every field the engine judges on survives the line, v4 and v6; other records are refused.
TEST(EventParse, RoundTripsWhatTheFindingsJudge) {
    for (bool v6 : {false, true}) {
        ResetEvent e{};
        e.id = 42;
        e.ts_ns = 1'700'000'000'123'456'000ull;
        e.first_ts_ns = e.last_ts_ns = e.ts_ns;
        e.family = v6 ? IpFamily::v6 : IpFamily::v4;
        uint8_t a[16] = {198, 51, 100, 7}, b[16] = {203, 0, 113, 9};
        if (v6) {
            a[0] = b[0] = 0x20;
            a[1] = b[1] = 0x01;
            a[2] = b[2] = 0x0d;
            a[3] = b[3] = 0xb8;
            a[15] = 7;
            b[15] = 9;
        }
        e.orig_h = v6 ? IpAddress::from_v6(a) : IpAddress::from_v4(a);
        e.resp_h = v6 ? IpAddress::from_v6(b) : IpAddress::from_v4(b);
        e.orig_p = 40000;
        e.resp_p = 443;
        e.vlan_outer = e.vlan_inner = vlan_none;
        e.rst_by_orig = true;
        e.conn_state = ConnState::RSTO;
        e.cause = ResetCause::idle_timeout;
        e.confidence = Confidence::medium;
        e.seq_check = SeqCheck::in_window;
        e.rst_ttl = 61;
        e.rst_origin = RstOrigin::path;
        e.hops_from_endpoint = 3;
        e.rst_count = 2;
        e.rst_spacing_us = v6 ? 0 : 4100;  // absent from the line when 0
        e.idle_before_ms = 301250;
        e.evidence = evidence_bit(Evidence::seq_in_window) | evidence_bit(Evidence::idle_before);
        std::strcpy(e.history, "ShADR");
        fmt::memory_buffer buf;
        append_event_json(buf, e);
        std::string line(buf.data(), buf.size());
        ExportIdentity id{"p", "s", "box1", 7};
        std::string exported;
        append_exported_line(exported, line, id, 5);
        exported.pop_back();
        for (const std::string& text : {line, exported}) {
            ResetEvent got;
            ASSERT_TRUE(parse_event_line(text, got)) << text;
            EXPECT_EQ(got.id, e.id);
            EXPECT_EQ(got.ts_ns, e.ts_ns);
            EXPECT_EQ(got.family, e.family);
            EXPECT_EQ(0, std::memcmp(got.orig_h.bytes, e.orig_h.bytes, 16));
            EXPECT_EQ(0, std::memcmp(got.resp_h.bytes, e.resp_h.bytes, 16));
            EXPECT_EQ(got.orig_p, e.orig_p);
            EXPECT_EQ(got.resp_p, e.resp_p);
            EXPECT_EQ(got.rst_by_orig, e.rst_by_orig);
            EXPECT_EQ(got.conn_state, e.conn_state);
            EXPECT_EQ(got.cause, e.cause);
            EXPECT_EQ(got.confidence, e.confidence);
            EXPECT_EQ(got.seq_check, e.seq_check);
            EXPECT_EQ(got.rst_ttl, e.rst_ttl);
            EXPECT_EQ(got.rst_origin, e.rst_origin);
            EXPECT_EQ(got.hops_from_endpoint, e.hops_from_endpoint);
            EXPECT_EQ(got.rst_count, e.rst_count);
            EXPECT_EQ(got.rst_spacing_us, e.rst_spacing_us);
            EXPECT_EQ(got.idle_before_ms, e.idle_before_ms);
            EXPECT_EQ(got.evidence, e.evidence);
        }
    }
    ResetEvent got;
    EXPECT_FALSE(parse_event_line(R"({"type":"finding","id":1})", got));
    EXPECT_FALSE(parse_event_line("not json", got));
    EXPECT_FALSE(parse_event_line(R"({"type":"reset","id":1})", got));
}
