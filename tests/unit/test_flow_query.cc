// SPDX-License-Identifier: BSD-3-Clause
// The `flow` query without EAL: which flows match a host, host:port or 5-tuple, the bounded
// resumable scan a worker runs between bursts, and the answer's JSON.
#include <gtest/gtest.h>

#include <arpa/inet.h>

#include <vector>

#include <nlohmann/json.hpp>

#include "rstscope/common/tcp_flags.h"
#include "rstscope/flow/flow_query.h"
#include "rstscope/flow/flow_table.h"
#include "rstscope/mgmt/flow_answer.h"

namespace rstscope {
namespace {

IpAddress v4(const char* text) {
    uint8_t bytes[4];
    EXPECT_EQ(inet_pton(AF_INET, text, bytes), 1);
    return IpAddress::from_v4(bytes);
}

// The canonical key: the lower (address, port) first, as flow_key_of() builds it.
FlowKey key(const char* a, uint16_t a_port, const char* b, uint16_t b_port) {
    FlowKey k{};
    IpAddress x = v4(a), y = v4(b);
    bool a_lo = std::memcmp(x.bytes, y.bytes, 16) < 0 || (x == y && a_port < b_port);
    k.addr_lo = a_lo ? x : y;
    k.addr_hi = a_lo ? y : x;
    k.port_lo = a_lo ? a_port : b_port;
    k.port_hi = a_lo ? b_port : a_port;
    k.vlan_outer = vlan_none;
    k.vlan_inner = vlan_none;
    k.family = IpFamily::v4;
    return k;
}

FlowFilter host(const char* address, uint16_t port = 0) {
    FlowFilter f;
    f.host = v4(address);
    f.port = port;
    return f;
}

TEST(FlowQuery, MatchesHostOnEitherSideAndItsPort) {
    FlowKey k = key("192.0.2.10", 40000, "203.0.113.7", 443);
    EXPECT_TRUE(flow_matches(k, host("203.0.113.7")));
    EXPECT_TRUE(flow_matches(k, host("192.0.2.10")));
    EXPECT_TRUE(flow_matches(k, host("203.0.113.7", 443)));
    EXPECT_TRUE(flow_matches(k, host("192.0.2.10", 40000)));
    EXPECT_FALSE(flow_matches(k, host("203.0.113.7", 80)));
    EXPECT_FALSE(flow_matches(k, host("192.0.2.10", 443)));  // the port is the other side's
    EXPECT_FALSE(flow_matches(k, host("203.0.113.8")));
    FlowFilter v6 = host("203.0.113.7");
    v6.family = IpFamily::v6;
    EXPECT_FALSE(flow_matches(k, v6));
}

TEST(FlowQuery, MatchesAFiveTupleInEitherOrder) {
    FlowKey k = key("192.0.2.10", 40000, "203.0.113.7", 443);
    FlowFilter f = host("203.0.113.7", 443);
    f.has_peer = true;
    f.peer = v4("192.0.2.10");
    f.peer_port = 40000;
    EXPECT_TRUE(flow_matches(k, f));
    f.peer_port = 40001;
    EXPECT_FALSE(flow_matches(k, f));
    FlowFilter reversed = host("192.0.2.10", 40000);
    reversed.has_peer = true;
    reversed.peer = v4("203.0.113.7");
    reversed.peer_port = 443;
    EXPECT_TRUE(flow_matches(k, reversed));
}

FlowEntry& add(FlowTable& table, const FlowKey& k) {
    uint64_t hash = FlowTable::hash(k);
    uint32_t slot = table.free_slot(hash);
    EXPECT_NE(slot, FlowTable::no_slot);
    return table.occupy(slot, k, hash);
}

TEST(FlowQuery, ScanVisitsABoundedSliceAndResumes) {
    FlowTable table(64);
    for (uint16_t p = 0; p < 5; ++p)
        add(table, key("192.0.2.10", static_cast<uint16_t>(40000 + p), "203.0.113.7", 443));
    add(table, key("192.0.2.11", 40000, "198.51.100.1", 80));  // another host
    FlowScan scan;
    scan.start(host("203.0.113.7", 443));
    std::vector<FlowSnapshot> out(flow_query_max_flows);
    uint32_t count = 0, calls = 0;
    bool cut = false;
    const uint32_t slice = 8;
    while (!scan.step(table, slice, out.data(), count, flow_query_max_flows, cut))
        ++calls;
    ++calls;
    EXPECT_EQ(count, 5u);
    EXPECT_FALSE(cut);
    EXPECT_EQ(calls, table.capacity() / slice);  // one slice per call, never more
    EXPECT_FALSE(scan.active());
}

TEST(FlowQuery, ScanIsCutAtItsLimitAndSaysSo) {
    FlowTable table(64);
    for (uint16_t p = 0; p < 5; ++p)
        add(table, key("192.0.2.10", static_cast<uint16_t>(40000 + p), "203.0.113.7", 443));
    FlowScan scan;
    scan.start(host("203.0.113.7"));
    std::vector<FlowSnapshot> out(3);
    uint32_t count = 0;
    bool cut = false;
    EXPECT_TRUE(scan.step(table, table.capacity(), out.data(), count, 3, cut));
    EXPECT_EQ(count, 3u);
    EXPECT_TRUE(cut);
}

TEST(FlowQuery, AnswerCarriesTheFlowsLiveState) {
    FlowTable table(16);
    // The client 192.0.2.10:40000 is the key's lo side and the originator.
    FlowEntry& e = add(table, key("192.0.2.10", 40000, "203.0.113.7", 443));
    e.first_ts_ns = 1'000'000'000;
    e.last_ts_ns = 3'500'000'000;
    e.lifecycle = Lifecycle::established;
    e.side[0].pkts = 3;
    e.side[0].payload_bytes = 100;
    e.side[0].ttl_usual = 64;
    e.side[1].pkts = 2;
    e.side[1].payload_bytes = 2000;
    e.side[1].ttl_usual = 57;
    e.side[1].bits = direction_bit::ttl_varied;
    // {from_orig, flags, payload, seq, ack, zero_window, content_gap}
    zeek_track(e.zeek, {true, tcp_flag::syn, 0, 1000, 0, false, false});
    zeek_track(e.zeek, {false, tcp_flag::syn | tcp_flag::ack, 0, 5000, 1001, false, false});
    zeek_track(e.zeek, {true, tcp_flag::ack, 0, 1001, 5001, false, false});

    FlowSnapshot flow = snapshot_of(e);
    WorkerFlows parts[2];
    parts[0] = {1, true, false, std::span<const FlowSnapshot>(&flow, 1)};
    parts[1] = {2, false, false, {}};
    auto answer = nlohmann::json::parse(flow_answer_json(parts, 4'000'000'000));
    ASSERT_EQ(answer["flows"].size(), 1u);
    const auto& f = answer["flows"][0];
    EXPECT_EQ(f["worker"], 1);
    EXPECT_EQ(f["orig_h"], "192.0.2.10");
    EXPECT_EQ(f["orig_p"], 40000);
    EXPECT_EQ(f["resp_h"], "203.0.113.7");
    EXPECT_EQ(f["resp_p"], 443);
    EXPECT_EQ(f["orig_pkts"], 3);
    EXPECT_EQ(f["orig_bytes"], 100);
    EXPECT_EQ(f["resp_pkts"], 2);
    EXPECT_EQ(f["resp_bytes"], 2000);
    EXPECT_EQ(f["orig_ttl"], 64);
    EXPECT_EQ(f["resp_ttl"], 57);
    EXPECT_EQ(f["orig_ttl_varied"], false);
    EXPECT_EQ(f["resp_ttl_varied"], true);
    EXPECT_TRUE(f["vlan"].is_null());
    EXPECT_EQ(f["conn_state"], "S1");
    EXPECT_EQ(f["history"], "ShA");
    EXPECT_EQ(f["lifecycle"], "established");
    EXPECT_DOUBLE_EQ(f["age_s"].get<double>(), 3.0);
    EXPECT_DOUBLE_EQ(f["idle_s"].get<double>(), 0.5);
    EXPECT_EQ(answer["cut"], false);
    EXPECT_EQ(answer["unanswered_workers"], nlohmann::json::array({2}));
}

TEST(FlowQuery, OriginatorOnTheKeysHiSideIsReportedAsOrig) {
    FlowTable table(16);
    FlowEntry& e = add(table, key("203.0.113.7", 50000, "192.0.2.10", 22));
    e.flags |= flow_bit::orig_is_hi;  // 203.0.113.7 > 192.0.2.10: the client is hi
    e.side[1].pkts = 7;
    FlowSnapshot flow = snapshot_of(e);
    EXPECT_EQ(flow.orig.port, 50000);
    EXPECT_EQ(flow.orig.packets, 7u);
    EXPECT_EQ(flow.resp.port, 22);
}

}  // namespace
}  // namespace rstscope
