// SPDX-License-Identifier: BSD-3-Clause
// Unit tests for the flow tracker: decoded segments in, reset events and counters out. Segments are
// built field by field (no frames, no decoder), times are packet times in nanoseconds.

#include <gtest/gtest.h>

#include <array>
#include <cstring>

#include <arpa/inet.h>

#include <initializer_list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "print_enums.h"
#include "rstscope/analysis/flow_tracker.h"
#include "rstscope/common/tcp_flags.h"
#include "rstscope/mgmt/event_json.h"

namespace rstscope {
namespace {

using namespace tcp_flag;

constexpr uint64_t ms = 1'000'000;
constexpr uint64_t sec = ns_per_second;

EvidenceSet bits(std::initializer_list<Evidence> list) {
    EvidenceSet set = 0;
    for (Evidence e : list)
        set |= evidence_bit(e);
    return set;
}

IpAddress address(const std::string& text, IpFamily family) {
    uint8_t bytes[16] = {};
    if (family == IpFamily::v4) {
        EXPECT_EQ(inet_pton(AF_INET, text.c_str(), bytes), 1) << text;
        return IpAddress::from_v4(bytes);
    }
    EXPECT_EQ(inet_pton(AF_INET6, text.c_str(), bytes), 1) << text;
    return IpAddress::from_v6(bytes);
}

// Everything the tracker reads from a decoded segment.
struct Segment {
    std::string src;
    uint16_t src_port;
    std::string dst;
    uint16_t dst_port;
    uint8_t flags;
    uint32_t seq = 0;
    uint32_t ack = 0;
    uint64_t ts_ns = 0;
    uint32_t payload_length = 0;
    uint16_t window = 65535;
    uint8_t ttl = 64;
    int ip_id = -1;  // -1: no IP-ID (IPv6)
    uint8_t window_scale = tcp_wscale_absent;
    IpFamily family = IpFamily::v4;
};

DecodedPacket packet(const Segment& s) {
    DecodedPacket p;
    p.ts_ns = s.ts_ns;
    p.family = s.family;
    p.src = address(s.src, s.family);
    p.dst = address(s.dst, s.family);
    p.src_port = s.src_port;
    p.dst_port = s.dst_port;
    p.tcp_flags = s.flags;
    p.seq = s.seq;
    p.ack = s.ack;
    p.window = s.window;
    p.ttl = s.ttl;
    p.has_ip_id = s.ip_id >= 0;
    p.ip_id = static_cast<uint16_t>(s.ip_id >= 0 ? s.ip_id : 0);
    p.payload_length = s.payload_length;
    p.payload_captured = static_cast<uint16_t>(s.payload_length);
    p.options.window_scale = s.window_scale;
    return p;
}

// A client and a server; the client (10.0.0.1) is the key's lo endpoint unless changed.
struct Conn {
    std::string client = "10.0.0.1";
    std::string server = "10.0.0.2";
    uint16_t client_port = 40000;
    uint16_t server_port = 80;
    uint8_t client_ttl = 64;
    uint8_t server_ttl = 60;

    DecodedPacket c(uint8_t flags, uint32_t seq, uint32_t ack, uint64_t ts,
                    uint32_t payload = 0) const {
        return packet({.src = client,
                       .src_port = client_port,
                       .dst = server,
                       .dst_port = server_port,
                       .flags = flags,
                       .seq = seq,
                       .ack = ack,
                       .ts_ns = ts,
                       .payload_length = payload,
                       .ttl = client_ttl});
    }
    DecodedPacket s(uint8_t flags, uint32_t seq, uint32_t ack, uint64_t ts,
                    uint32_t payload = 0) const {
        return packet({.src = server,
                       .src_port = server_port,
                       .dst = client,
                       .dst_port = client_port,
                       .flags = flags,
                       .seq = seq,
                       .ack = ack,
                       .ts_ns = ts,
                       .payload_length = payload,
                       .ttl = server_ttl});
    }
};

// After handshake(): client ISN 1000, 100 bytes sent and acknowledged (client next 1101), server
// ISN 5000 (server next 5001); the last packet is at t0 + 4 ms.
constexpr uint32_t client_next = 1101;
constexpr uint32_t server_next = 5001;

class Tracker : public ::testing::Test {
  protected:
    TrackerConfig config;
    WorkerCounters counters;
    std::unique_ptr<FlowTracker> tracker;

    Tracker() {
        config.flow_capacity = 64;
        config.linger_capacity = 16;
        config.worker_id = 3;
        config.sweep_period_ns = 0;  // the whole table on every advance(): exact expiry times
    }
    FlowTracker& t() {
        if (!tracker) tracker = std::make_unique<FlowTracker>(config, counters);
        return *tracker;
    }
    void feed(const DecodedPacket& p) { t().process(p); }
    void handshake(const Conn& conn, uint64_t t0) {
        feed(conn.c(syn, 1000, 0, t0));
        feed(conn.s(syn | ack, 5000, 1001, t0 + 1 * ms));
        feed(conn.c(ack, 1001, 5001, t0 + 2 * ms));
        feed(conn.c(psh | ack, 1001, 5001, t0 + 3 * ms, 100));
        feed(conn.s(ack, 5001, 1101, t0 + 4 * ms));
    }
    // The SYN-ACK seen before the SYN it answers (same numbers), the handshake's ACK, the server's
    // RST at t0 + 3 ms, then the linger after it.
    void synack_before_its_syn_then_reset(const Conn& conn, uint64_t t0) {
        feed(conn.s(syn | ack, 5000, 1001, t0));
        feed(conn.c(syn, 1000, 0, t0 + 1 * ms));
        feed(conn.c(ack, 1001, 5001, t0 + 2 * ms));
        feed(conn.s(rst | ack, 5001, 1001, t0 + 3 * ms));
        t().advance(t0 + 3 * ms + config.linger_ns);
    }
    uint32_t events() { return t().event_count(); }
    const ResetEvent& event(uint32_t i) { return t().events()[i]; }
    uint64_t count(WorkerCounter c) const { return counters.get(c); }
    uint64_t count(DropReason r) const { return counters.get(r); }
    std::string history(const ResetEvent& e) { return e.history; }
};

TEST_F(Tracker, ResponderAbortIsOneEventWrittenAfterTheLinger) {
    Conn conn;
    handshake(conn, 1 * sec);
    const uint64_t rst_ts = 1 * sec + 100 * ms;
    feed(conn.s(rst | ack, server_next, client_next, rst_ts));
    EXPECT_EQ(events(), 0u);
    t().advance(rst_ts + config.linger_ns - 1);
    EXPECT_EQ(events(), 0u);
    t().advance(rst_ts + config.linger_ns);
    ASSERT_EQ(events(), 1u);

    const ResetEvent& e = event(0);
    EXPECT_EQ(e.ts_ns, rst_ts);
    EXPECT_EQ(e.first_ts_ns, 1 * sec);
    EXPECT_EQ(e.last_ts_ns, rst_ts);
    EXPECT_EQ(ip_text(e.orig_h, e.family), "10.0.0.1");
    EXPECT_EQ(ip_text(e.resp_h, e.family), "10.0.0.2");
    EXPECT_EQ(e.orig_p, 40000);
    EXPECT_EQ(e.resp_p, 80);
    EXPECT_EQ(e.family, IpFamily::v4);
    EXPECT_EQ(e.vlan_outer, vlan_none);
    EXPECT_EQ(e.vlan_inner, vlan_none);
    EXPECT_FALSE(e.orig_guessed);
    EXPECT_FALSE(e.rst_by_orig);
    EXPECT_EQ(e.conn_state, ConnState::RSTR);
    EXPECT_EQ(history(e), "ShADar");
    EXPECT_EQ(e.cause, ResetCause::resp_abort);
    EXPECT_EQ(e.confidence, Confidence::high);
    EXPECT_EQ(e.seq_check, SeqCheck::exact);
    EXPECT_EQ(e.evidence, bits({Evidence::seq_exact, Evidence::ttl_match}));
    EXPECT_EQ(e.rst_ttl, 60);
    EXPECT_EQ(e.usual_ttl, 60);
    EXPECT_EQ(e.rst_count, 1u);
    EXPECT_EQ(e.rst_spacing_us, 0u);  // one RST: no spacing
    EXPECT_EQ(e.orig_pkts, 3u);
    EXPECT_EQ(e.resp_pkts, 3u);
    EXPECT_EQ(e.orig_bytes, 100u);
    EXPECT_EQ(e.resp_bytes, 0u);
    EXPECT_EQ(e.rst_seq, server_next);
    EXPECT_EQ(e.rst_ack, client_next);
    EXPECT_EQ(e.idle_before_ms, 96u);  // since the server's ACK at t0 + 4 ms
    EXPECT_EQ(e.rst_payload_length, 0);
    EXPECT_EQ(e.worker, 3);

    EXPECT_EQ(count(WorkerCounter::reset_connections), 1u);
    EXPECT_EQ(count(WorkerCounter::rst_packets), 1u);
    EXPECT_EQ(count(WorkerCounter::tcp_packets), 6u);
    EXPECT_EQ(count(WorkerCounter::flows_created), 1u);
}

TEST_F(Tracker, LaterRstsRaiseTheCountNotTheEvents) {
    Conn conn;
    handshake(conn, 1 * sec);
    feed(conn.s(rst | ack, server_next, client_next, 1 * sec + 100 * ms));
    feed(conn.s(rst | ack, server_next, client_next, 1 * sec + 200 * ms));
    feed(conn.c(rst, client_next, 0, 1 * sec + 300 * ms));  // the other side resets too
    ASSERT_TRUE(t().flush_pending(100));
    ASSERT_EQ(events(), 1u);
    EXPECT_EQ(event(0).rst_count, 3u);
    // From the first RST to the next of the same sender (the other side's does not count).
    EXPECT_EQ(event(0).rst_spacing_us, 100'000u);
    EXPECT_EQ(event(0).resp_pkts, 4u);
    EXPECT_EQ(event(0).orig_pkts, 4u);
    EXPECT_TRUE(event(0).has(Evidence::rst_retransmitted));
    EXPECT_FALSE(event(0).has(Evidence::rst_seq_change));
    EXPECT_EQ(event(0).cause, ResetCause::resp_abort);
    EXPECT_EQ(event(0).last_ts_ns, 1 * sec + 300 * ms);

    // After the event was written, more RSTs on the same connection make no new one.
    feed(conn.s(rst | ack, server_next, client_next, 5 * sec));
    t().advance(20 * sec);
    EXPECT_TRUE(t().flush_pending(100));
    EXPECT_EQ(events(), 1u);
    EXPECT_EQ(count(WorkerCounter::reset_connections), 1u);
    EXPECT_EQ(count(WorkerCounter::rst_packets), 4u);
}

TEST_F(Tracker, FlushPendingWritesWithinItsLimit) {
    Conn a, b;
    b.client_port = 40001;
    handshake(a, 1 * sec);
    handshake(b, 1 * sec);
    feed(a.s(rst | ack, server_next, client_next, 2 * sec));
    feed(b.c(rst | ack, client_next, server_next, 2 * sec + 1 * ms));
    EXPECT_EQ(events(), 0u);
    EXPECT_FALSE(t().flush_pending(1));
    ASSERT_EQ(events(), 1u);
    EXPECT_EQ(event(0).orig_p, 40000);
    EXPECT_TRUE(t().flush_pending(1));
    ASSERT_EQ(events(), 2u);
    EXPECT_EQ(event(1).orig_p, 40001);
    EXPECT_TRUE(event(1).rst_by_orig);
    EXPECT_EQ(event(1).cause, ResetCause::orig_abort);
    EXPECT_EQ(event(1).conn_state, ConnState::RSTO);
    EXPECT_TRUE(t().flush_pending(1));
    // Nothing is written twice once the linger has passed.
    t().advance(60 * sec);
    EXPECT_EQ(events(), 2u);
    t().clear_events();
    EXPECT_EQ(events(), 0u);
}

TEST_F(Tracker, DataFromTheRstSenderAfterItsRstIsTheInjectionRace) {
    Conn conn;
    handshake(conn, 1 * sec);
    feed(conn.s(rst | ack, server_next, client_next, 1 * sec + 100 * ms));
    feed(conn.s(psh | ack, server_next, client_next, 1 * sec + 120 * ms, 50));
    t().advance(10 * sec);
    ASSERT_EQ(events(), 1u);
    const ResetEvent& e = event(0);
    EXPECT_EQ(e.evidence,
              bits({Evidence::seq_exact, Evidence::data_after_rst, Evidence::ttl_match}));
    EXPECT_EQ(e.cause, ResetCause::injected);
    EXPECT_EQ(e.confidence, Confidence::medium);
    EXPECT_EQ(e.resp_bytes, 50u);
}

TEST_F(Tracker, DataAfterTheLingerIsNotEvidence) {
    Conn conn;
    handshake(conn, 1 * sec);
    feed(conn.s(rst | ack, server_next, client_next, 1 * sec + 100 * ms));
    t().advance(5 * sec);
    feed(conn.s(psh | ack, server_next, client_next, 5 * sec + 1 * ms, 50));
    t().advance(10 * sec);
    ASSERT_EQ(events(), 1u);
    EXPECT_EQ(event(0).evidence, bits({Evidence::seq_exact, Evidence::ttl_match}));
    EXPECT_EQ(event(0).cause, ResetCause::resp_abort);
}

TEST_F(Tracker, InWindowRstAnsweredWithChallengeAckDidNotReset) {
    Conn conn;
    handshake(conn, 1 * sec);
    feed(conn.s(rst | ack, server_next + 1000, client_next, 1 * sec + 100 * ms));
    feed(conn.c(ack, client_next, server_next, 1 * sec + 101 * ms));  // RFC 5961 challenge ACK
    t().advance(5 * sec);
    ASSERT_EQ(events(), 1u);
    EXPECT_EQ(event(0).seq_check, SeqCheck::in_window);
    EXPECT_EQ(event(0).evidence,
              bits({Evidence::seq_in_window, Evidence::challenge_ack, Evidence::ttl_match}));
    EXPECT_EQ(event(0).cause, ResetCause::out_of_window);
    EXPECT_EQ(event(0).confidence, Confidence::medium);

    // The connection lives on: a later genuine RST is a reset of its own.
    feed(conn.s(rst | ack, server_next, client_next, 6 * sec));
    t().advance(10 * sec);
    ASSERT_EQ(events(), 2u);
    EXPECT_EQ(event(1).seq_check, SeqCheck::exact);
    EXPECT_EQ(event(1).cause, ResetCause::resp_abort);
    EXPECT_EQ(event(1).confidence, Confidence::high);
    EXPECT_EQ(event(1).rst_count, 2u);
    EXPECT_EQ(count(WorkerCounter::reset_connections), 2u);
}

// RFC 5961 3.2 in full: an in-window RST draws a challenge ACK, the peer answers it with an exact
// RST, and that one does reset the connection. The reset must not be reported as one the receiver
// ignored.
TEST_F(Tracker, ExactRstAnsweringTheChallengeIsTheReset) {
    Conn conn;
    handshake(conn, 1 * sec);
    feed(conn.s(rst | ack, server_next + 1000, client_next, 1 * sec + 100 * ms));
    feed(conn.c(ack, client_next, server_next, 1 * sec + 101 * ms));
    feed(conn.s(rst | ack, server_next, client_next, 1 * sec + 102 * ms));
    t().advance(10 * sec);
    EXPECT_TRUE(t().flush_pending(10));
    std::string all;
    for (uint32_t i = 0; i < events(); ++i)
        all += event_json(event(i)) + "\n";
    SCOPED_TRACE(all);
    // Two events, each pinned: the ignored RST, then the reset.
    ASSERT_EQ(events(), 2u);

    const ResetEvent& ignored = event(0);
    EXPECT_EQ(ignored.ts_ns, 1 * sec + 100 * ms);
    EXPECT_FALSE(ignored.rst_by_orig);
    EXPECT_EQ(ignored.rst_seq, server_next + 1000);
    EXPECT_EQ(ignored.seq_check, SeqCheck::in_window);
    EXPECT_EQ(ignored.evidence,
              bits({Evidence::seq_in_window, Evidence::challenge_ack, Evidence::ttl_match}));
    EXPECT_EQ(ignored.cause, ResetCause::out_of_window);
    EXPECT_EQ(ignored.confidence, Confidence::medium);
    EXPECT_EQ(ignored.rst_count, 1u);

    const ResetEvent& reset = event(1);
    EXPECT_EQ(reset.ts_ns, 1 * sec + 102 * ms);
    EXPECT_FALSE(reset.rst_by_orig);
    EXPECT_EQ(reset.rst_seq, server_next);
    EXPECT_EQ(reset.seq_check, SeqCheck::exact);
    EXPECT_EQ(reset.evidence, bits({Evidence::seq_exact, Evidence::ttl_match}));
    EXPECT_EQ(reset.cause, ResetCause::resp_abort);
    EXPECT_EQ(reset.confidence, Confidence::high);
    EXPECT_EQ(reset.conn_state, ConnState::RSTR);
    EXPECT_EQ(reset.rst_count, 2u);

    EXPECT_EQ(count(WorkerCounter::reset_connections), 2u);
    EXPECT_EQ(count(WorkerCounter::rst_packets), 2u);
}

TEST_F(Tracker, AckAfterAnExactRstIsNoChallenge) {
    Conn conn;
    handshake(conn, 1 * sec);
    feed(conn.s(rst | ack, server_next, client_next, 1 * sec + 100 * ms));
    feed(conn.c(ack, client_next, server_next, 1 * sec + 101 * ms));
    t().advance(5 * sec);
    ASSERT_EQ(events(), 1u);
    EXPECT_FALSE(event(0).has(Evidence::challenge_ack));
    EXPECT_EQ(event(0).cause, ResetCause::resp_abort);
}

TEST_F(Tracker, OutOfWindowRstWithAndWithoutChallenge) {
    Conn quiet, answered;
    answered.client_port = 40001;
    handshake(quiet, 1 * sec);
    handshake(answered, 1 * sec);
    feed(quiet.s(rst, server_next + 100000, 0, 1 * sec + 100 * ms));
    feed(answered.s(rst, server_next + 100000, 0, 1 * sec + 100 * ms));
    feed(answered.c(ack, client_next, server_next, 1 * sec + 101 * ms));
    t().advance(5 * sec);
    ASSERT_EQ(events(), 2u);
    EXPECT_EQ(event(0).seq_check, SeqCheck::out_of_window);
    EXPECT_EQ(event(0).evidence, bits({Evidence::seq_out_of_window, Evidence::ttl_match}));
    EXPECT_EQ(event(0).cause, ResetCause::out_of_window);
    EXPECT_EQ(event(0).confidence, Confidence::medium);
    EXPECT_EQ(event(0).rst_ack, 0u);  // no ACK flag: no acknowledgment reported
    EXPECT_EQ(event(1).evidence,
              bits({Evidence::seq_out_of_window, Evidence::challenge_ack, Evidence::ttl_match}));
    EXPECT_EQ(event(1).cause, ResetCause::out_of_window);
    EXPECT_EQ(event(1).confidence, Confidence::high);
}

TEST_F(Tracker, RepeatedRstWithAnotherSequenceNumberIsASeqChange) {
    Conn conn;
    handshake(conn, 1 * sec);
    feed(conn.s(rst | ack, server_next, client_next, 1 * sec + 100 * ms));
    feed(conn.s(rst | ack, server_next + 7, client_next, 1 * sec + 110 * ms));
    t().flush_pending(10);
    ASSERT_EQ(events(), 1u);
    EXPECT_EQ(event(0).evidence,
              bits({Evidence::seq_exact, Evidence::rst_seq_change, Evidence::ttl_match}));
    EXPECT_EQ(event(0).rst_seq, server_next);  // the first RST's
    EXPECT_EQ(event(0).rst_count, 2u);
    EXPECT_EQ(event(0).rst_spacing_us, 10'000u);
    // One weak signal alone never convicts.
    EXPECT_EQ(event(0).cause, ResetCause::resp_abort);
}

TEST_F(Tracker, SeqAndAckChangeTogetherAreInjected) {
    Conn conn;
    handshake(conn, 1 * sec);
    feed(conn.s(rst | ack, server_next, client_next, 1 * sec + 100 * ms));
    feed(conn.s(rst | ack, server_next + 7, client_next + 9, 1 * sec + 110 * ms));
    t().flush_pending(10);
    ASSERT_EQ(events(), 1u);
    EXPECT_EQ(event(0).evidence, bits({Evidence::seq_exact, Evidence::rst_seq_change,
                                       Evidence::rst_ack_change, Evidence::ttl_match}));
    EXPECT_EQ(event(0).cause, ResetCause::injected);
    EXPECT_EQ(event(0).confidence, Confidence::medium);
}

TEST_F(Tracker, AckChangeAfterNewPeerDataIsNotSuspicious) {
    Conn conn;
    handshake(conn, 1 * sec);
    feed(conn.s(rst | ack, server_next, client_next, 1 * sec + 100 * ms));
    feed(conn.c(psh | ack, client_next, server_next, 1 * sec + 105 * ms, 20));
    feed(conn.s(rst | ack, server_next, client_next + 20, 1 * sec + 110 * ms));
    t().flush_pending(10);
    ASSERT_EQ(events(), 1u);
    EXPECT_EQ(event(0).evidence,
              bits({Evidence::seq_exact, Evidence::rst_retransmitted, Evidence::ttl_match}));
}

TEST_F(Tracker, TtlMismatchAloneIsNotInjectionButWithIpIdItIs) {
    Conn ttl_only;
    handshake(ttl_only, 1 * sec);
    DecodedPacket odd_ttl = ttl_only.s(rst | ack, server_next, client_next, 1 * sec + 100 * ms);
    odd_ttl.ttl = 250;
    feed(odd_ttl);

    // The server's IP-ID counts up by one per packet (4 packets: 3 steps): a trusted counter.
    Conn both;
    both.client_port = 40001;
    uint64_t t0 = 1 * sec;
    auto with_id = [](DecodedPacket p, uint16_t id) {
        p.has_ip_id = true;
        p.ip_id = id;
        return p;
    };
    feed(both.c(syn, 1000, 0, t0));
    feed(with_id(both.s(syn | ack, 5000, 1001, t0 + 1 * ms), 100));
    feed(both.c(ack, 1001, 5001, t0 + 2 * ms));
    feed(with_id(both.s(psh | ack, 5001, 1001, t0 + 3 * ms, 10), 101));
    feed(with_id(both.s(psh | ack, 5011, 1001, t0 + 4 * ms, 10), 102));
    feed(with_id(both.s(psh | ack, 5021, 1001, t0 + 5 * ms, 10), 103));
    feed(both.c(ack, 1001, 5031, t0 + 6 * ms));
    DecodedPacket forged = with_id(both.s(rst | ack, 5031, 1001, t0 + 100 * ms), 40000);
    forged.ttl = 250;
    feed(forged);

    t().flush_pending(10);
    ASSERT_EQ(events(), 2u);
    EXPECT_EQ(event(0).evidence, bits({Evidence::seq_exact, Evidence::ttl_mismatch}));
    EXPECT_EQ(event(0).rst_ttl, 250);
    EXPECT_EQ(event(0).usual_ttl, 60);
    EXPECT_EQ(event(0).cause, ResetCause::resp_abort);
    EXPECT_EQ(event(1).evidence,
              bits({Evidence::seq_exact, Evidence::ttl_mismatch, Evidence::ipid_mismatch}));
    EXPECT_EQ(event(1).cause, ResetCause::injected);
    EXPECT_EQ(event(1).confidence, Confidence::low);
}

TEST_F(Tracker, IdleGapBeforeTheAnsweredPacketIsAnIdleTimeout) {
    Conn conn;
    handshake(conn, 1 * sec);
    const uint64_t wake = 1 * sec + 4 * ms + 200 * sec;
    feed(conn.c(psh | ack, client_next, server_next, wake, 10));
    feed(conn.s(rst, server_next, 0, wake + 10 * ms));
    t().flush_pending(10);
    ASSERT_EQ(events(), 1u);
    EXPECT_EQ(event(0).idle_before_ms, 200'000u);
    EXPECT_EQ(event(0).evidence,
              bits({Evidence::seq_exact, Evidence::idle_before, Evidence::ttl_match}));
    // The endpoint's own TTL: its own idle timer, not a middlebox's (seq_exact corroborates
    // nothing: every RST a stack accepts is exact).
    EXPECT_EQ(event(0).cause, ResetCause::idle_timeout);
    EXPECT_EQ(event(0).confidence, Confidence::medium);
    EXPECT_EQ(event(0).rst_origin, RstOrigin::endpoint);
}

TEST_F(Tracker, SynSenderIsTheOriginatorWhicheverKeySideItIs) {
    Conn conn;
    conn.client = "10.0.0.9";  // the key's hi endpoint
    handshake(conn, 1 * sec);
    feed(conn.s(rst | ack, server_next, client_next, 2 * sec));
    t().flush_pending(10);
    ASSERT_EQ(events(), 1u);
    EXPECT_EQ(ip_text(event(0).orig_h, IpFamily::v4), "10.0.0.9");
    EXPECT_EQ(event(0).orig_p, 40000);
    EXPECT_EQ(ip_text(event(0).resp_h, IpFamily::v4), "10.0.0.2");
    EXPECT_FALSE(event(0).orig_guessed);
    EXPECT_FALSE(event(0).rst_by_orig);
    EXPECT_EQ(event(0).orig_pkts, 3u);
    EXPECT_EQ(event(0).orig_bytes, 100u);
}

TEST_F(Tracker, SynAckSenderIsTheResponder) {
    Conn conn;
    conn.server_port = 40000;  // the ports do not decide when a SYN-ACK is seen
    conn.client_port = 80;
    feed(conn.s(syn | ack, 5000, 1001, 1 * sec));
    feed(conn.s(rst | ack, 5001, 1001, 1 * sec + 10 * ms));
    t().flush_pending(10);
    ASSERT_EQ(events(), 1u);
    const ResetEvent& e = event(0);
    EXPECT_EQ(ip_text(e.orig_h, IpFamily::v4), "10.0.0.1");
    EXPECT_EQ(e.orig_p, 80);
    EXPECT_EQ(e.resp_p, 40000);
    EXPECT_FALSE(e.orig_guessed);
    EXPECT_FALSE(e.rst_by_orig);
    EXPECT_EQ(e.seq_check, SeqCheck::exact);
    EXPECT_EQ(e.cause, ResetCause::handshake_abort);
    EXPECT_EQ(e.confidence, Confidence::high);
    EXPECT_EQ(e.conn_state, ConnState::RSTRH);
    EXPECT_EQ(e.orig_pkts, 0u);
    EXPECT_EQ(e.resp_pkts, 2u);
}

TEST_F(Tracker, MidstreamRolesFollowZeeksPortHeuristicAndAreMarkedGuessed) {
    struct Case {
        uint16_t first_sender_port, peer_port;
        bool first_sender_is_orig;
    };
    // Server port 80 talks first: flipped. Client port talks first: kept. Neither port a server
    // port: the first sender. Both server ports: the lower one serves.
    const Case cases[] = {{80, 40000, false},
                          {40000, 80, true},
                          {50000, 50001, true},
                          {80, 443, false},
                          {443, 80, true}};
    uint64_t ts = 1 * sec;
    for (const Case& c : cases) {
        Conn conn;  // the first sender plays "client" here
        conn.client_port = c.first_sender_port;
        conn.server_port = c.peer_port;
        conn.client = "10.1.0." + std::to_string(c.first_sender_port % 200);
        feed(conn.c(ack, 7000, 9000, ts));
        feed(conn.c(rst | ack, 7000, 9000, ts + 1 * ms));
        ts += 10 * ms;
    }
    t().flush_pending(100);
    ASSERT_EQ(events(), 5u);
    for (uint32_t i = 0; i < 5; ++i) {
        const ResetEvent& e = event(i);
        SCOPED_TRACE(i);
        EXPECT_TRUE(e.orig_guessed);
        EXPECT_EQ(e.rst_by_orig, cases[i].first_sender_is_orig);
        EXPECT_EQ(e.orig_p,
                  cases[i].first_sender_is_orig ? cases[i].first_sender_port : cases[i].peer_port);
        EXPECT_EQ(e.resp_p,
                  cases[i].first_sender_is_orig ? cases[i].peer_port : cases[i].first_sender_port);
        // Not the first packet, not established (one side only), no handshake: an abort.
        EXPECT_EQ(e.cause,
                  cases[i].first_sender_is_orig ? ResetCause::orig_abort : ResetCause::resp_abort);
        EXPECT_EQ(e.seq_check, SeqCheck::exact);
    }
}

TEST_F(Tracker, RstAsFirstPacketIsUnsolicited) {
    Conn conn;
    feed(conn.s(rst, 5000, 0, 1 * sec));
    t().flush_pending(10);
    ASSERT_EQ(events(), 1u);
    EXPECT_EQ(event(0).cause, ResetCause::unsolicited);
    EXPECT_EQ(event(0).confidence, Confidence::medium);
    EXPECT_EQ(event(0).seq_check, SeqCheck::unknown);
    EXPECT_EQ(event(0).usual_ttl, 0);
    EXPECT_TRUE(event(0).orig_guessed);
    // Port 80 sent it: taken as the responder.
    EXPECT_FALSE(event(0).rst_by_orig);
    EXPECT_EQ(event(0).orig_p, 40000);
}

TEST_F(Tracker, RefusedSynWithAndWithoutMatchingAck) {
    Conn acked, bare, wrong;
    bare.client_port = 40001;
    wrong.client_port = 40002;
    for (const Conn* c : {&acked, &bare, &wrong})
        feed(c->c(syn, 1000, 0, 1 * sec));
    feed(acked.s(rst | ack, 0, 1001, 1 * sec + 1 * ms));
    feed(bare.s(rst, 0, 0, 1 * sec + 1 * ms));
    feed(wrong.s(rst | ack, 0, 4242, 1 * sec + 1 * ms));
    t().flush_pending(10);
    ASSERT_EQ(events(), 3u);
    EXPECT_EQ(event(0).cause, ResetCause::refused);
    EXPECT_EQ(event(0).confidence, Confidence::high);
    EXPECT_EQ(event(0).seq_check, SeqCheck::exact);
    EXPECT_EQ(event(0).conn_state, ConnState::REJ);
    EXPECT_EQ(event(1).cause, ResetCause::refused);
    EXPECT_EQ(event(1).confidence, Confidence::medium);
    EXPECT_EQ(event(1).seq_check, SeqCheck::unknown);
    // RFC 9293 3.10.7.3: a RST in SYN-SENT that does not acknowledge the SYN is ignored.
    EXPECT_EQ(event(2).seq_check, SeqCheck::out_of_window);
    EXPECT_EQ(event(2).cause, ResetCause::out_of_window);
}

TEST_F(Tracker, SynAfterAResetConnectionStartsANewOne) {
    Conn conn;
    handshake(conn, 1 * sec);
    feed(conn.s(rst | ack, server_next, client_next, 1 * sec + 100 * ms));
    EXPECT_EQ(events(), 0u);
    // The client retries within the linger: the first connection's event is written at once.
    feed(conn.c(syn, 1000, 0, 1 * sec + 500 * ms));
    ASSERT_EQ(events(), 1u);
    EXPECT_EQ(event(0).rst_count, 1u);
    EXPECT_EQ(event(0).orig_pkts, 3u);
    EXPECT_EQ(event(0).cause, ResetCause::resp_abort);
    feed(conn.s(rst | ack, 0, 1001, 1 * sec + 501 * ms));
    t().advance(1 * sec + 501 * ms + config.linger_ns);
    ASSERT_EQ(events(), 2u);
    EXPECT_EQ(event(1).first_ts_ns, 1 * sec + 500 * ms);
    EXPECT_EQ(event(1).rst_count, 1u);
    EXPECT_EQ(event(1).orig_pkts, 1u);
    EXPECT_EQ(event(1).cause, ResetCause::refused);
    EXPECT_EQ(event(1).conn_state, ConnState::REJ);
    EXPECT_EQ(count(WorkerCounter::flows_created), 2u);
    EXPECT_EQ(count(WorkerCounter::reset_connections), 2u);
    EXPECT_EQ(t().table().size(), 1u);
}

// The overload that sends no RST (a full accept queue with tcp_abort_on_overflow 0): the server
// drops the handshake's last ACK and sends its SYN-ACK again, and new clients' SYNs go unanswered.
TEST_F(Tracker, HandshakeRetransmissionsAreCounted) {
    Conn dropped_ack, unanswered, refused_retry, ordinary;
    unanswered.client_port = 40001;
    refused_retry.client_port = 40002;
    ordinary.client_port = 40003;

    feed(dropped_ack.c(syn, 1000, 0, 1 * sec));
    feed(dropped_ack.s(syn | ack, 5000, 1001, 1 * sec + 1 * ms));
    feed(dropped_ack.c(ack, 1001, 5001, 1 * sec + 2 * ms));
    feed(dropped_ack.c(psh | ack, 1001, 5001, 1 * sec + 3 * ms, 10));
    feed(dropped_ack.s(syn | ack, 5000, 1001, 2 * sec + 1 * ms));  // the server never took the ACK
    feed(dropped_ack.c(ack, 1011, 5001, 2 * sec + 2 * ms));
    EXPECT_EQ(count(WorkerCounter::synack_after_handshake_ack), 1u);

    feed(unanswered.c(syn, 7000, 0, 1 * sec));
    feed(unanswered.c(syn, 7000, 0, 2 * sec));
    feed(unanswered.c(syn, 7000, 0, 4 * sec));
    EXPECT_EQ(count(WorkerCounter::syn_retransmitted), 2u);

    // Not retransmissions: a SYN-ACK lost before the client (resent before any ACK), a connect()
    // retried after a refusal (a new connection), an ordinary handshake.
    feed(ordinary.c(syn, 100, 0, 1 * sec));
    feed(ordinary.s(syn | ack, 900, 101, 1 * sec + 1 * ms));
    feed(ordinary.s(syn | ack, 900, 101, 2 * sec + 1 * ms));
    feed(ordinary.c(ack, 101, 901, 2 * sec + 2 * ms));
    feed(ordinary.s(ack, 901, 101, 2 * sec + 3 * ms));
    feed(refused_retry.c(syn, 3000, 0, 1 * sec));
    feed(refused_retry.s(rst | ack, 0, 3001, 1 * sec + 1 * ms));
    feed(refused_retry.c(syn, 3000, 0, 2 * sec));
    EXPECT_EQ(count(WorkerCounter::synack_after_handshake_ack), 1u);
    EXPECT_EQ(count(WorkerCounter::syn_retransmitted), 2u);
}

TEST_F(Tracker, IdleFlowsExpirePerLifecycle) {
    config.half_open_timeout_ns = 10 * sec;
    config.closed_timeout_ns = 20 * sec;
    config.established_timeout_ns = 30 * sec;
    Conn half_open, established, closed;
    half_open.client_port = 40001;
    established.client_port = 40002;
    closed.client_port = 40003;
    feed(half_open.c(syn, 1000, 0, 1 * sec));  // last packet at 1 s
    handshake(established, 1 * sec);           // last packet at 1.004 s
    handshake(closed, 1 * sec);
    feed(closed.c(fin | ack, client_next, server_next, 1 * sec + 5 * ms));
    feed(closed.s(fin | ack, server_next, client_next + 1, 1 * sec + 6 * ms));
    feed(closed.c(ack, client_next + 1, server_next + 1, 1 * sec + 7 * ms));  // last at 1.007 s
    ASSERT_EQ(t().table().size(), 3u);

    t().advance(11 * sec);  // exactly the half-open timeout: kept
    EXPECT_EQ(count(WorkerCounter::flows_expired), 0u);
    t().advance(11 * sec + 1);
    EXPECT_EQ(count(WorkerCounter::flows_expired), 1u);
    EXPECT_EQ(t().table().size(), 2u);
    t().advance(21 * sec + 7 * ms);
    EXPECT_EQ(count(WorkerCounter::flows_expired), 1u);
    t().advance(21 * sec + 7 * ms + 1);
    EXPECT_EQ(count(WorkerCounter::flows_expired), 2u);
    t().advance(31 * sec + 4 * ms);
    EXPECT_EQ(count(WorkerCounter::flows_expired), 2u);
    t().advance(31 * sec + 4 * ms + 1);
    EXPECT_EQ(count(WorkerCounter::flows_expired), 3u);
    EXPECT_EQ(t().table().size(), 0u);
    EXPECT_EQ(events(), 0u);
    EXPECT_EQ(count(WorkerCounter::flows_evicted), 0u);

    // An expired flow's next packet opens a new entry.
    feed(established.c(ack, client_next, server_next, 40 * sec));
    EXPECT_EQ(count(WorkerCounter::flows_created), 4u);
}

TEST_F(Tracker, ExpiryWritesThePendingEvent) {
    config.linger_ns = 100 * sec;
    config.closed_timeout_ns = 20 * sec;
    Conn conn;
    handshake(conn, 1 * sec);
    const uint64_t rst_ts = 1 * sec + 100 * ms;
    feed(conn.s(rst | ack, server_next, client_next, rst_ts));
    t().advance(rst_ts + 20 * sec);
    EXPECT_EQ(events(), 0u);
    t().advance(rst_ts + 20 * sec + 1);
    ASSERT_EQ(events(), 1u);
    EXPECT_EQ(count(WorkerCounter::flows_expired), 1u);
    EXPECT_EQ(event(0).rst_count, 1u);
    EXPECT_EQ(event(0).orig_pkts, 3u);
    EXPECT_EQ(event(0).conn_state, ConnState::RSTR);
    EXPECT_EQ(event(0).cause, ResetCause::resp_abort);
    // The linger's end does not write it a second time.
    t().advance(rst_ts + 200 * sec);
    EXPECT_TRUE(t().flush_pending(10));
    EXPECT_EQ(events(), 1u);
}

TEST_F(Tracker, FullTableEvictsAndWritesTheVictimsPendingEvent) {
    config.flow_capacity = 16;  // two buckets of 8: every flow competes for the same 16 slots
    for (uint16_t i = 0; i < 15; ++i) {
        Conn c;
        c.client_port = static_cast<uint16_t>(41000 + i);
        feed(c.c(syn, 1000, 0, 1 * sec + i * ms));
    }
    Conn refused;
    refused.client_port = 40000;
    feed(refused.c(syn, 1000, 0, 2 * sec));
    feed(refused.s(rst | ack, 0, 1001, 2 * sec + 1 * ms));
    ASSERT_EQ(t().table().size(), 16u);
    EXPECT_EQ(events(), 0u);

    Conn newcomer;
    newcomer.client_port = 42000;
    feed(newcomer.c(syn, 1000, 0, 3 * sec));
    EXPECT_EQ(count(WorkerCounter::flows_evicted), 1u);
    EXPECT_EQ(count(WorkerCounter::flows_created), 17u);
    EXPECT_EQ(t().table().size(), 16u);
    // The closed (refused) flow was the victim, not an older half-open one.
    ASSERT_EQ(events(), 1u);
    EXPECT_EQ(event(0).orig_p, 40000);
    EXPECT_EQ(event(0).cause, ResetCause::refused);
    EXPECT_EQ(event(0).confidence, Confidence::high);
    EXPECT_EQ(event(0).orig_pkts, 1u);
    EXPECT_EQ(event(0).resp_pkts, 1u);
    EXPECT_EQ(event(0).conn_state, ConnState::REJ);
    t().advance(100 * sec);
    EXPECT_TRUE(t().flush_pending(10));
    EXPECT_EQ(events(), 1u);
}

// A mirror of both sides of a router: the client's packets on VLAN 10, the server's on VLAN 20.
// By default (Zeek's key) that is one connection, and the event carries the RST's own tags; with
// --vlan-in-key each side is a flow of its own, and the RST's flow never saw the client speak.
TEST_F(Tracker, VlansJoinTheKeyOnlyWhenAsked) {
    for (bool vlan_in_key : {false, true}) {
        SCOPED_TRACE(vlan_in_key ? "--vlan-in-key" : "default");
        config.vlan_in_key = vlan_in_key;
        tracker.reset();
        const uint64_t created_before = count(WorkerCounter::flows_created);
        Conn conn;
        auto tag = [](DecodedPacket p, uint16_t vlan) {
            p.vlan_outer = vlan;
            p.encapsulation = encapsulation_vlan;
            return p;
        };
        feed(tag(conn.c(syn, 1000, 0, 1 * sec), 10));
        feed(tag(conn.s(syn | ack, 5000, 1001, 1 * sec + 1 * ms), 20));
        feed(tag(conn.c(ack, 1001, 5001, 1 * sec + 2 * ms), 10));
        feed(tag(conn.c(psh | ack, 1001, 5001, 1 * sec + 3 * ms, 100), 10));
        feed(tag(conn.s(rst | ack, 5001, 1101, 1 * sec + 4 * ms), 20));
        t().advance(100 * sec);
        ASSERT_TRUE(t().flush_pending(10));
        EXPECT_EQ(count(WorkerCounter::flows_created) - created_before, vlan_in_key ? 2u : 1u);
        ASSERT_EQ(events(), 1u);
        const ResetEvent& e = event(0);
        EXPECT_EQ(e.vlan_outer, 20);
        EXPECT_EQ(e.vlan_inner, vlan_none);
        if (!vlan_in_key) {
            EXPECT_EQ(history(e), "ShADr");
            EXPECT_EQ(e.orig_pkts, 3u);
            EXPECT_EQ(e.resp_pkts, 2u);
            EXPECT_EQ(e.cause, ResetCause::resp_abort);
        } else {
            EXPECT_EQ(e.orig_pkts + e.resp_pkts, 2u);  // the server's half alone
        }
    }
}

// Zeek runs SYN+RST segments through its state machine and writes `Q`; so does rstscope, and
// the segment is the connection's RST.
TEST_F(Tracker, SynWithRstIsAnalysedAsARst) {
    Conn conn;
    feed(conn.c(syn | rst, 1000, 0, 1 * sec));
    feed(conn.c(syn | rst | ack, 1000, 5, 1 * sec));
    EXPECT_EQ(count(WorkerCounter::tcp_packets), 2u);
    EXPECT_EQ(count(WorkerCounter::rst_packets), 2u);
    EXPECT_EQ(counters.total_drops(), 0u);
    EXPECT_EQ(count(WorkerCounter::flows_created), 1u);
    EXPECT_EQ(count(WorkerCounter::reset_connections), 1u);
    t().advance(100 * sec);
    ASSERT_TRUE(t().flush_pending(10));
    ASSERT_EQ(events(), 1u);
    EXPECT_EQ(std::string(event(0).history), "Q");
}

TEST_F(Tracker, CountersCountWhatTheTrackerSaw) {
    config.vlan_in_key = true;  // the VLAN-tagged copy below is a flow of its own
    Conn conn;
    handshake(conn, 1 * sec);  // 5 plain IPv4 segments

    DecodedPacket v6 = packet({.src = "2001:db8::1",
                               .src_port = 40000,
                               .dst = "2001:db8::2",
                               .dst_port = 443,
                               .flags = syn,
                               .seq = 1,
                               .ts_ns = 2 * sec,
                               .family = IpFamily::v6});
    feed(v6);
    DecodedPacket tagged = conn.c(ack, client_next, server_next, 2 * sec);
    tagged.vlan_outer = 5;
    tagged.encapsulation = encapsulation_vlan | encapsulation_mpls;
    feed(tagged);
    DecodedPacket tunnelled = conn.c(ack, client_next, server_next, 2 * sec);
    tunnelled.encapsulation = encapsulation_tunnel;
    tunnelled.options_malformed = true;
    feed(tunnelled);
    DecodedPacket cut = conn.c(psh | ack, client_next, server_next, 2 * sec, 1400);
    cut.payload_captured = 200;
    feed(cut);
    feed(conn.s(rst, server_next, 0, 3 * sec));

    EXPECT_EQ(count(WorkerCounter::tcp_packets), 10u);
    EXPECT_EQ(count(WorkerCounter::ipv6_packets), 1u);
    EXPECT_EQ(count(WorkerCounter::vlan_packets), 1u);
    EXPECT_EQ(count(WorkerCounter::mpls_packets), 1u);
    EXPECT_EQ(count(WorkerCounter::tunnel_packets), 1u);
    EXPECT_EQ(count(WorkerCounter::tcp_option_malformed), 1u);
    EXPECT_EQ(count(WorkerCounter::payload_truncated), 1u);
    EXPECT_EQ(count(WorkerCounter::rst_packets), 1u);
    EXPECT_EQ(count(WorkerCounter::flows_created), 3u);  // v4, v6, and the VLAN-tagged copy
    EXPECT_EQ(count(WorkerCounter::reset_connections), 1u);
    EXPECT_EQ(count(WorkerCounter::events_emitted), 0u);  // the worker counts those at the ring
    EXPECT_EQ(count(WorkerCounter::packets), 0u);         // and frames, before decoding
    EXPECT_EQ(counters.total_drops(), 0u);
    EXPECT_EQ(t().table().size(), 3u);
}

// With no linger every event is written at its RST; none is "written early" for lack of room.
TEST_F(Tracker, ZeroLingerNeverCountsTheLingerQueueFull) {
    config.linger_ns = 0;
    config.linger_capacity = 16;
    for (uint16_t i = 0; i < 20; ++i) {
        Conn c;
        c.client_port = static_cast<uint16_t>(41000 + i);
        feed(c.c(syn, 1000, 0, 1 * sec));
        feed(c.s(rst | ack, 0, 1001, 1 * sec + 1 * ms));
    }
    EXPECT_EQ(events(), 20u);
    EXPECT_EQ(count(WorkerCounter::reset_connections), 20u);
    EXPECT_EQ(count(WorkerCounter::linger_queue_full), 0u);
}

// Events already written early (here by the client's retry SYN) leave their linger slots behind;
// popping such a slot to make room writes nothing early, so it must not count either.
TEST_F(Tracker, WrittenSlotsMakingRoomDoNotCountTheLingerQueueFull) {
    config.linger_capacity = 16;
    for (uint16_t i = 0; i < 16; ++i) {
        Conn c;
        c.client_port = static_cast<uint16_t>(41000 + i);
        feed(c.c(syn, 1000, 0, 1 * sec));
        feed(c.s(rst | ack, 0, 1001, 1 * sec + 1 * ms));
        feed(c.c(syn, 1000, 0, 1 * sec + 2 * ms));  // the retry writes the refusal at once
    }
    ASSERT_EQ(events(), 16u);
    Conn last;
    last.client_port = 42000;
    feed(last.c(syn, 1000, 0, 1 * sec + 3 * ms));
    feed(last.s(rst | ack, 0, 1001, 1 * sec + 4 * ms));
    EXPECT_EQ(events(), 16u);
    EXPECT_EQ(count(WorkerCounter::linger_queue_full), 0u);
}

// The linger queue keeps a reset's extras (here its RST payload) apart, at the reset's index, and
// only for the resets that have some: a slot reused by a reset without any must not hand on the
// extras of the one before it. Every third reset carries a payload; with 16 slots each slot sees
// resets with and without one.
TEST_F(Tracker, ExtrasOfAResetNeverPassToTheNextInItsLingerSlot) {
    config.linger_capacity = 16;
    const ResetEventExtras none{};
    for (uint16_t i = 0; i < 48; ++i) {
        Conn c;
        c.client_port = static_cast<uint16_t>(41000 + i);
        const uint64_t t0 = 1 * sec + i * 10 * ms;
        feed(c.c(syn, 1000, 0, t0));
        const std::string text = "busy " + std::to_string(i);
        DecodedPacket refusal = c.s(rst | ack, 0, 1001, t0 + 1 * ms,
                                    i % 3 == 0 ? static_cast<uint32_t>(text.size()) : 0);
        refusal.payload = reinterpret_cast<const uint8_t*>(text.data());
        feed(refusal);
        t().advance(t0 + 1 * ms + config.linger_ns);
    }
    ASSERT_EQ(events(), 48u);
    EXPECT_EQ(count(WorkerCounter::linger_queue_full), 0u);
    for (uint16_t i = 0; i < 48; ++i) {
        const ResetEvent& e = event(i);
        ASSERT_EQ(e.orig_p, 41000 + i);
        const ResetEventExtras& extras = e;
        if (i % 3 == 0) {
            const std::string text = "busy " + std::to_string(i);
            ASSERT_EQ(e.rst_payload_length, text.size()) << i;
            EXPECT_EQ(std::string(reinterpret_cast<const char*>(extras.rst_payload),
                                  e.rst_payload_length),
                      text);
        } else {
            EXPECT_EQ(e.rst_payload_length, 0) << i;
            EXPECT_EQ(std::memcmp(&extras, &none, sizeof none), 0) << i;
        }
    }
}

TEST_F(Tracker, FullLingerQueueWritesTheOldestEarly) {
    config.linger_capacity = 16;
    for (uint16_t i = 0; i < 17; ++i) {
        Conn c;
        c.client_port = static_cast<uint16_t>(41000 + i);
        feed(c.c(syn, 1000, 0, 1 * sec));
        feed(c.s(rst | ack, 0, 1001, 1 * sec + 1 * ms));
    }
    ASSERT_EQ(events(), 1u);
    EXPECT_EQ(event(0).orig_p, 41000);
    EXPECT_EQ(event(0).cause, ResetCause::refused);
    EXPECT_EQ(count(WorkerCounter::linger_queue_full), 1u);
    EXPECT_TRUE(t().flush_pending(100));
    EXPECT_EQ(events(), 17u);
}

// ---- check_rst_sequence: what a passive observer can say about a RST's sequence number ----

DirectionState side(uint32_t seq_next, uint32_t ack_last, uint16_t window, uint8_t scale,
                    uint8_t known_bits) {
    DirectionState s{};
    s.seq_next = seq_next;
    s.ack_last = ack_last;
    s.window = window;
    s.window_scale = scale;
    s.bits = known_bits;
    return s;
}

constexpr uint8_t all_known =
    direction_bit::seq_known | direction_bit::ack_known | direction_bit::window_known;

TEST(CheckRstSequence, ExactAnywhereBetweenTheLastAckAndTheSendersNext) {
    // The sender sent up to 2000; the receiver acknowledged 1500 so far (ACKs in flight).
    DirectionState sender = side(2000, 0, 1000, tcp_wscale_absent, all_known);
    DirectionState receiver = side(0, 1500, 1000, tcp_wscale_absent, all_known);
    EXPECT_EQ(check_rst_sequence(1500, sender, receiver), SeqCheck::exact);
    EXPECT_EQ(check_rst_sequence(1750, sender, receiver), SeqCheck::exact);
    EXPECT_EQ(check_rst_sequence(2000, sender, receiver), SeqCheck::exact);
    EXPECT_EQ(check_rst_sequence(2001, sender, receiver), SeqCheck::in_window);
    EXPECT_EQ(check_rst_sequence(2499, sender, receiver), SeqCheck::in_window);
    EXPECT_EQ(check_rst_sequence(2500, sender, receiver), SeqCheck::out_of_window);
    EXPECT_EQ(check_rst_sequence(1499, sender, receiver), SeqCheck::out_of_window);
}

TEST(CheckRstSequence, CaptureLossOnTheSendersSideSwapsTheRange) {
    DirectionState sender = side(1500, 0, 0, tcp_wscale_absent, all_known);
    DirectionState receiver = side(0, 2000, 100, tcp_wscale_absent, all_known);
    EXPECT_EQ(check_rst_sequence(1500, sender, receiver), SeqCheck::exact);
    EXPECT_EQ(check_rst_sequence(2000, sender, receiver), SeqCheck::exact);
    EXPECT_EQ(check_rst_sequence(1499, sender, receiver), SeqCheck::out_of_window);
}

TEST(CheckRstSequence, RangeWrapsAroundTheSequenceSpace) {
    DirectionState sender = side(0x10, 0, 100, tcp_wscale_absent, all_known);
    DirectionState receiver = side(0, 0xFFFFFFF0u, 100, tcp_wscale_absent, all_known);
    EXPECT_EQ(check_rst_sequence(0xFFFFFFF0u, sender, receiver), SeqCheck::exact);
    EXPECT_EQ(check_rst_sequence(0, sender, receiver), SeqCheck::exact);
    EXPECT_EQ(check_rst_sequence(0x10, sender, receiver), SeqCheck::exact);
    EXPECT_EQ(check_rst_sequence(0x11, sender, receiver), SeqCheck::in_window);
    EXPECT_EQ(check_rst_sequence(0xFFFFFFEFu, sender, receiver), SeqCheck::out_of_window);
}

TEST(CheckRstSequence, WindowScalingNeedsBothSyns) {
    // Receiver window 1000 with shift 2 = 4000 bytes, but only if the sender's SYN had the option.
    DirectionState receiver = side(0, 1000, 1000, 2, all_known);
    DirectionState scaled_sender = side(1000, 0, 0, 0, all_known);
    DirectionState unscaled_sender = side(1000, 0, 0, tcp_wscale_absent, all_known);
    EXPECT_EQ(check_rst_sequence(1000 + 3999, scaled_sender, receiver), SeqCheck::in_window);
    EXPECT_EQ(check_rst_sequence(1000 + 4000, scaled_sender, receiver), SeqCheck::out_of_window);
    EXPECT_EQ(check_rst_sequence(1000 + 999, unscaled_sender, receiver), SeqCheck::in_window);
    EXPECT_EQ(check_rst_sequence(1000 + 1000, unscaled_sender, receiver), SeqCheck::out_of_window);
    EXPECT_EQ(check_rst_sequence(1000 + 3999, unscaled_sender, receiver), SeqCheck::out_of_window);
}

TEST(CheckRstSequence, ZeroWindowAcceptsOnlyTheExactRange) {
    DirectionState sender = side(1000, 0, 0, tcp_wscale_absent, all_known);
    DirectionState receiver = side(0, 1000, 0, tcp_wscale_absent, all_known);
    EXPECT_EQ(check_rst_sequence(1000, sender, receiver), SeqCheck::exact);
    EXPECT_EQ(check_rst_sequence(1001, sender, receiver), SeqCheck::out_of_window);
}

TEST(CheckRstSequence, UnknownWithoutState) {
    DirectionState nothing{};
    EXPECT_EQ(check_rst_sequence(1234, nothing, nothing), SeqCheck::unknown);
    // Only one bound known: exact there, unknown elsewhere without the receiver's window.
    DirectionState sender = side(2000, 0, 0, tcp_wscale_absent, direction_bit::seq_known);
    EXPECT_EQ(check_rst_sequence(2000, sender, nothing), SeqCheck::exact);
    EXPECT_EQ(check_rst_sequence(2001, sender, nothing), SeqCheck::unknown);
    DirectionState receiver = side(0, 3000, 0, tcp_wscale_absent, direction_bit::ack_known);
    EXPECT_EQ(check_rst_sequence(3000, nothing, receiver), SeqCheck::exact);
    EXPECT_EQ(check_rst_sequence(2999, nothing, receiver), SeqCheck::unknown);
    receiver.bits |= direction_bit::window_known;
    receiver.window = 10;
    EXPECT_EQ(check_rst_sequence(3009, nothing, receiver), SeqCheck::in_window);
    EXPECT_EQ(check_rst_sequence(3010, nothing, receiver), SeqCheck::out_of_window);
}

TEST_F(Tracker, WindowScaleFromBothSynsWidensTheWindow) {
    // Client SYN and server SYN-ACK both carry wscale: the client's shift 4 scales its window.
    for (bool server_scales : {true, false}) {
        Conn conn;
        conn.client_port = server_scales ? 40000 : 40001;
        DecodedPacket s = conn.c(syn, 1000, 0, 1 * sec);
        s.options.window_scale = 4;
        feed(s);
        DecodedPacket sa = conn.s(syn | ack, 5000, 1001, 1 * sec + 1 * ms);
        if (server_scales) sa.options.window_scale = 0;
        feed(sa);
        DecodedPacket a = conn.c(ack, 1001, 5001, 1 * sec + 2 * ms);
        a.window = 1000;  // 16000 bytes if scaled
        feed(a);
        feed(conn.s(rst, 5001 + 5000, 0, 1 * sec + 3 * ms));
    }
    t().flush_pending(10);
    ASSERT_EQ(events(), 2u);
    EXPECT_EQ(event(0).seq_check, SeqCheck::in_window);
    EXPECT_EQ(event(1).seq_check, SeqCheck::out_of_window);
}

// The default sweep visits the table a slice at a time: an idle flow expires within one sweep
// period after its timeout, whatever the packet rate.
TEST(TrackerSweep, TimeSlicedSweepExpiresWithinOnePeriod) {
    TrackerConfig config;
    config.flow_capacity = 1 << 14;
    config.half_open_timeout_ns = 10 * sec;
    config.sweep_period_ns = 4 * sec;
    WorkerCounters counters;
    FlowTracker tracker(config, counters);
    DecodedPacket p{};
    p.src = IpAddress::from_v4(std::array<uint8_t, 4>{198, 51, 100, 1}.data());
    p.dst = IpAddress::from_v4(std::array<uint8_t, 4>{203, 0, 113, 1}.data());
    p.src_port = 40000;
    p.dst_port = 80;
    p.tcp_flags = tcp_flag::syn;
    p.ttl = 64;
    p.ts_ns = 1 * sec;
    tracker.process(p);
    for (uint64_t now = 1 * sec; now <= 11 * sec; now += 100 * ms)
        tracker.advance(now);
    EXPECT_EQ(counters.get(WorkerCounter::flows_expired), 0u);  // not before its timeout
    for (uint64_t now = 11 * sec; now <= 15 * sec + 100 * ms; now += 100 * ms)
        tracker.advance(now);
    EXPECT_EQ(counters.get(WorkerCounter::flows_expired), 1u);  // within one period after it
}

}  // namespace
}  // namespace rstscope

namespace rstscope {
namespace {

DecodedPacket with_ip_id(DecodedPacket p, uint16_t id) {
    p.has_ip_id = true;
    p.ip_id = id;
    return p;
}

// A server with IP_TTL 255 (GTSM) closes; the client's late data is answered by the kernel from
// no socket: IP-ID 0 and the default TTL 64 less one hop. One fact, so neither mismatch.
TEST_F(Tracker, SocketlessRstOfAServerWithIpTtl255IsTheEndpointAfterClose) {
    Conn conn;
    conn.server_ttl = 254;
    uint64_t t0 = 1 * sec;
    feed(conn.c(syn, 1000, 0, t0));
    feed(with_ip_id(conn.s(syn | ack, 5000, 1001, t0 + 1 * ms), 0));
    feed(conn.c(ack, 1001, 5001, t0 + 2 * ms));
    feed(conn.c(psh | ack, 1001, 5001, t0 + 3 * ms, 100));
    feed(with_ip_id(conn.s(ack, 5001, 1101, t0 + 4 * ms), 700));
    feed(with_ip_id(conn.s(psh | ack, 5001, 1101, t0 + 5 * ms, 10), 701));
    feed(with_ip_id(conn.s(fin | ack, 5011, 1101, t0 + 6 * ms), 702));
    feed(with_ip_id(conn.s(ack, 5012, 1101, t0 + 7 * ms), 703));
    feed(conn.c(psh | ack, 1101, 5012, t0 + 8 * ms, 20));
    DecodedPacket rst_packet = with_ip_id(conn.s(rst, 5012, 0, t0 + 9 * ms), 0);
    rst_packet.ttl = 63;
    feed(rst_packet);
    t().flush_pending(10);
    ASSERT_EQ(events(), 1u);
    EXPECT_EQ(event(0).evidence,
              bits({Evidence::seq_exact, Evidence::fin_before, Evidence::socketless_rst}));
    EXPECT_EQ(event(0).cause, ResetCause::after_close);
    EXPECT_EQ(event(0).rst_origin, RstOrigin::endpoint);
}

// A firewall refuses a SYN for a server that never spoke on this connection: the server's TTL,
// learnt from an earlier connection, places the RST one hop nearer.
TEST_F(Tracker, HostFingerprintPlacesARefusalOnThePath) {
    Conn earlier;
    earlier.server_ttl = 63;
    handshake(earlier, 1 * sec);
    Conn refused = earlier;
    refused.client_port = 40002;
    refused.server_port = 81;
    feed(refused.c(syn, 7000, 0, 2 * sec));
    DecodedPacket firewall = with_ip_id(refused.s(rst | ack, 0, 7001, 2 * sec + 1 * ms), 0);
    firewall.ttl = 64;
    feed(firewall);
    Conn closed = refused;
    closed.client_port = 40003;
    feed(closed.c(syn, 9000, 0, 3 * sec));
    feed(with_ip_id(closed.s(rst | ack, 0, 9001, 3 * sec + 1 * ms), 0));  // TTL 63: the server's
    t().flush_pending(10);
    ASSERT_EQ(events(), 2u);
    EXPECT_EQ(event(0).cause, ResetCause::refused);
    EXPECT_EQ(event(0).rst_origin, RstOrigin::path);
    EXPECT_EQ(event(0).hops_from_endpoint, 1);
    EXPECT_EQ(event(0).evidence,
              bits({Evidence::seq_exact, Evidence::ttl_on_path, Evidence::host_fingerprint}));
    EXPECT_EQ(event(1).cause, ResetCause::refused);
    EXPECT_EQ(event(1).rst_origin, RstOrigin::endpoint);
    EXPECT_EQ(event(1).hops_from_endpoint, 0);
    EXPECT_EQ(event(1).evidence, bits({Evidence::seq_exact, Evidence::ttl_match,
                                       Evidence::socketless_rst, Evidence::host_fingerprint}));
}

// tcp_abort_on_overflow: the handshake's last ACK is answered by a bare RST at ISN + 1.
TEST_F(Tracker, BareRstAtTheSynAckPlusOneAfterTheHandshakeIsAListenOverflow) {
    Conn conn;
    uint64_t t0 = 1 * sec;
    feed(conn.c(syn, 1000, 0, t0));
    feed(with_ip_id(conn.s(syn | ack, 5000, 1001, t0 + 1 * ms), 0));
    feed(conn.c(ack, 1001, 5001, t0 + 2 * ms));
    feed(with_ip_id(conn.s(rst, 5001, 0, t0 + 2 * ms + 20'000), 0));
    t().flush_pending(10);
    ASSERT_EQ(events(), 1u);
    EXPECT_EQ(history(event(0)), "ShAr");
    EXPECT_EQ(event(0).cause, ResetCause::overload);
    EXPECT_EQ(event(0).confidence, Confidence::high);
    EXPECT_EQ(event(0).rst_origin, RstOrigin::endpoint);
    EXPECT_TRUE(event(0).has(Evidence::listen_overflow));
}

// A device on the path resets mid-connection: fewer hops than the server, not a forger.
TEST_F(Tracker, PathTtlMidConnectionIsAPolicyReset) {
    Conn conn;
    handshake(conn, 1 * sec);  // server TTL 60: 4 hops
    DecodedPacket ips = conn.s(rst | ack, server_next, client_next, 1 * sec + 100 * ms);
    ips.ttl = 62;
    feed(ips);
    t().flush_pending(10);
    ASSERT_EQ(events(), 1u);
    EXPECT_EQ(event(0).cause, ResetCause::policy_reset);
    EXPECT_EQ(event(0).rst_origin, RstOrigin::path);
    EXPECT_EQ(event(0).hops_from_endpoint, 2);
}

// Zeek records inside a flow (flow_tracker.h): one test per rule that ends a record.

// A complete close (here the originator's RST) ends the record tcp_close_delay (5 s) later: data
// and a responder RST 15 s on are a new record (Zeek: RSTRH "Dr", as in its modbus btest trace),
// while the same packets 4 s on belong to the first record.
TEST_F(Tracker, CompleteCloseEndsTheRecordFiveSecondsLater) {
    Conn conn;
    conn.server_port = 502;
    feed(conn.c(syn, 1000, 0, 1 * sec));
    feed(conn.s(syn | ack, 5000, 1001, 1 * sec + 1 * ms));
    feed(conn.c(rst, 1001, 0, 1 * sec + 100 * ms));
    t().advance(1 * sec + 100 * ms + config.linger_ns);
    ASSERT_EQ(events(), 1u);
    EXPECT_EQ(event(0).conn_state, ConnState::RSTO);
    EXPECT_EQ(history(event(0)), "ShR");
    t().clear_events();

    feed(conn.c(ack, 1001, 5001, 5 * sec + 900 * ms, 109));  // 4.8 s after the RST: same record
    feed(conn.s(rst, 5001, 0, 6 * sec + 99 * ms));
    t().advance(7 * sec + config.linger_ns);
    EXPECT_EQ(events(), 0u);
    EXPECT_EQ(count(WorkerCounter::zeek_records_split), 0u);

    feed(conn.c(ack, 1110, 5001, 16 * sec, 109));  // 5 s after the last complete close
    feed(conn.s(rst, 5001, 0, 16 * sec + 1 * ms));
    t().advance(16 * sec + 1 * ms + config.linger_ns);
    ASSERT_EQ(events(), 1u);
    EXPECT_EQ(event(0).conn_state, ConnState::RSTRH);
    EXPECT_EQ(history(event(0)), "Dr");
    EXPECT_TRUE(event(0).orig_guessed);
    EXPECT_EQ(ip_text(event(0).orig_h, event(0).family), "10.0.0.1");
    EXPECT_EQ(count(WorkerCounter::zeek_records_split), 1u);
    EXPECT_EQ(count(WorkerCounter::reset_connections), 2u);
    EXPECT_EQ(count(WorkerCounter::flows_created), 1u);
}

// A record ended while its reset still lingers writes that reset at once, with the record's state:
// a FIN from a peer never seen is a complete close, and a reuse SYN ends the record at once.
TEST_F(Tracker, RecordEndWritesTheLingeringResetWithTheRecordsState) {
    Conn conn;
    handshake(conn, 1 * sec);
    feed(conn.s(rst | ack, server_next, client_next, 1 * sec + 100 * ms));
    // A new SYN with another ISN while the client has not closed: reuse, a new record.
    feed(conn.c(fin | ack, client_next, server_next, 1 * sec + 200 * ms));
    EXPECT_EQ(events(), 0u);
    feed(conn.c(syn, 9000, 0, 1 * sec + 300 * ms));
    ASSERT_EQ(events(), 1u);
    EXPECT_EQ(event(0).conn_state, ConnState::RSTR);
    EXPECT_EQ(history(event(0)), "ShADarF");
    feed(conn.s(rst | ack, 0, 9001, 1 * sec + 301 * ms));
    t().advance(1 * sec + 301 * ms + config.linger_ns);
    ASSERT_EQ(events(), 2u);
    EXPECT_EQ(event(1).conn_state, ConnState::REJ);
    EXPECT_EQ(history(event(1)), "Sr");
}

// Zeek's SYN/SYN-ACK reversal: the server's SYN-ACK seen before the client's SYN it answers, on
// ports the port rule leaves alone, is one record whose roles flip ("Hs^"); a SYN with another
// number is Zeek's reuse: a new record.
TEST_F(Tracker, SynAckThenTheSynItAnswersIsOneFlippedRecord) {
    Conn conn;
    conn.server_port = 9000;  // not a likely server port: Zeek keeps the SYN-ACK's sender first
    synack_before_its_syn_then_reset(conn, 1 * sec);
    ASSERT_EQ(events(), 1u);
    EXPECT_EQ(history(event(0)), "Hs^Ar");
    EXPECT_EQ(event(0).conn_state, ConnState::RSTR);
    EXPECT_EQ(event(0).orig_p, 40000);
    EXPECT_EQ(event(0).resp_p, 9000);
    EXPECT_EQ(count(WorkerCounter::zeek_records_split), 0u);

    Conn other;
    other.client_port = 40001;
    other.server_port = 9000;
    t().clear_events();
    feed(other.s(syn | ack, 5000, 1001, 2 * sec));
    feed(other.c(syn, 7000, 0, 2 * sec + 1 * ms));  // not the SYN the SYN-ACK answered
    feed(other.s(rst | ack, 5001, 7001, 2 * sec + 2 * ms));
    t().advance(2 * sec + 2 * ms + config.linger_ns);
    EXPECT_EQ(count(WorkerCounter::zeek_records_split), 1u);
    ASSERT_EQ(events(), 1u);
    EXPECT_EQ(history(event(0)), "Sr");
}

// The port rule flipped the SYN-ACK on the first packet (server port 80: Zeek "^h" at once): the
// client's SYN that follows has the number the SYN-ACK acknowledged, so Zeek keeps it in the same
// record (IsReuse compares it with the start the SYN-ACK's ACK gave the client): "^hS...".
TEST_F(Tracker, SynAfterAPortFlippedSynAckStaysInTheRecord) {
    Conn conn;  // server port 80
    synack_before_its_syn_then_reset(conn, 1 * sec);
    ASSERT_EQ(events(), 1u);
    EXPECT_EQ(history(event(0)), "^hSAr");
    EXPECT_EQ(event(0).conn_state, ConnState::REJ);
    EXPECT_EQ(count(WorkerCounter::zeek_records_split), 0u);
}

// tcp_attempt_delay: a RST 6 s after an unanswered SYN is a new record whose first packet is the
// RST (Zeek: RSTRH "^r"); 4 s after, it refuses the SYN in the same record (REJ "Sr").
TEST_F(Tracker, AttemptDelayEndsAnUnansweredSynsRecord) {
    Conn conn;
    feed(conn.c(syn, 1000, 0, 1 * sec));
    feed(conn.s(rst | ack, 0, 1001, 5 * sec));
    t().advance(5 * sec + config.linger_ns);
    ASSERT_EQ(events(), 1u);
    EXPECT_EQ(event(0).conn_state, ConnState::REJ);
    EXPECT_EQ(history(event(0)), "Sr");

    Conn other;
    other.client_port = 40001;
    t().clear_events();
    feed(other.c(syn, 1000, 0, 10 * sec));
    feed(other.c(syn, 1000, 0, 13 * sec));  // a retry within the delay: same record
    EXPECT_EQ(count(WorkerCounter::zeek_records_split), 0u);
    feed(other.s(rst | ack, 0, 1001, 16 * sec));
    t().advance(16 * sec + config.linger_ns);
    ASSERT_EQ(events(), 1u);
    EXPECT_EQ(event(0).conn_state, ConnState::RSTRH);
    EXPECT_EQ(history(event(0)), "^r");
    EXPECT_EQ(count(WorkerCounter::zeek_records_split), 1u);
}

// Inactivity: 300 s after the handshake (Zeek's tcp_inactivity_timeout), 3600 s on ports 21, 22,
// 23 and 513.
TEST_F(Tracker, InactivityEndsTheRecord) {
    Conn web;
    handshake(web, 1 * sec);
    feed(web.s(rst | ack, server_next, client_next, 1 * sec + 4 * ms + 300 * sec));
    Conn ssh;
    ssh.server_port = 22;
    handshake(ssh, 1 * sec);
    feed(ssh.s(rst | ack, server_next, client_next, 1 * sec + 4 * ms + 3599 * sec));
    Conn early;
    early.client_port = 40002;
    handshake(early, 1 * sec);
    feed(early.s(rst | ack, server_next, client_next, 1 * sec + 4 * ms + 299 * sec));
    t().advance(3700 * sec);
    ASSERT_EQ(events(), 3u);  // in the order of their RSTs' arrival
    EXPECT_EQ(event(0).orig_p, 40000);
    EXPECT_EQ(event(0).resp_p, 80);
    EXPECT_EQ(history(event(0)), "^r");
    EXPECT_EQ(event(0).conn_state, ConnState::RSTRH);
    EXPECT_EQ(event(1).resp_p, 22);
    EXPECT_EQ(history(event(1)), "ShADar");
    EXPECT_EQ(event(2).orig_p, 40002);
    EXPECT_EQ(history(event(2)), "ShADar");
    EXPECT_EQ(count(WorkerCounter::zeek_records_split), 1u);
}

// A FIN then a RST from the same side is no complete close: Zeek's expire check ends the record at
// its first run more than 5 s after the last packet (checks at 5 s + k x 6 s from the start and
// 6 s + k x 6 s from the FIN).
TEST_F(Tracker, ExpireCheckEndsARecordAfterFinThenRstFromOneSide) {
    Conn conn;
    handshake(conn, 0);                                          // starts at 0
    feed(conn.c(fin | ack, client_next, server_next, 1 * sec));  // half close at 1 s
    feed(conn.c(rst, client_next + 1, 0, 1 * sec + 100 * ms));   // last packet 1.1 s
    t().advance(1 * sec + 100 * ms + config.linger_ns);
    ASSERT_EQ(events(), 1u);
    EXPECT_EQ(history(event(0)), "ShADaFR");
    t().clear_events();
    // Checks at 5, 11, ... and 7, 13, ...: the first after 6.1 s is at 7 s.
    feed(conn.s(ack, server_next, client_next + 1, 6 * sec + 900 * ms));
    EXPECT_EQ(count(WorkerCounter::zeek_records_split), 0u);
    // The ACK moved the last packet to 6.9 s: the next check more than 5 s later is at 13 s.
    feed(conn.s(rst, server_next, 0, 12 * sec + 900 * ms));
    t().advance(13 * sec + config.linger_ns);
    EXPECT_EQ(events(), 0u);
    EXPECT_EQ(count(WorkerCounter::zeek_records_split), 0u);
    feed(conn.s(rst, server_next, 0, 19 * sec));  // 12.9 + 5 < 19: the check at 19 s ended it
    t().advance(19 * sec + config.linger_ns);
    ASSERT_EQ(events(), 1u);
    EXPECT_EQ(history(event(0)), "^r");
    EXPECT_EQ(count(WorkerCounter::zeek_records_split), 1u);
}

// Reuse (Zeek's IsReuse): a SYN retransmitted with the same ISN stays in the record; a SYN with
// another ISN on a live record, or any bare SYN once a side closed, starts a new one; a SYN-ACK
// only when the originator never spoke.
TEST_F(Tracker, ReuseRules) {
    Conn same;
    feed(same.c(syn, 1000, 0, 1 * sec));
    feed(same.c(syn, 1000, 0, 2 * sec));
    EXPECT_EQ(count(WorkerCounter::zeek_records_split), 0u);
    feed(same.c(syn, 7000, 0, 3 * sec));
    EXPECT_EQ(count(WorkerCounter::zeek_records_split), 1u);

    Conn half;
    half.client_port = 40001;
    handshake(half, 1 * sec);
    feed(half.s(fin | ack, server_next, client_next, 2 * sec));
    feed(half.c(syn, 1000, 0, 2 * sec + 1 * ms));  // same ISN, but the server closed
    EXPECT_EQ(count(WorkerCounter::zeek_records_split), 2u);

    Conn synack;
    synack.client_port = 40002;
    feed(synack.s(syn | ack, 5000, 1001, 1 * sec));
    feed(synack.s(syn | ack, 5000, 1001, 1 * sec + 1 * ms));
    EXPECT_EQ(count(WorkerCounter::zeek_records_split), 2u);
    feed(synack.s(syn | ack, 8000, 1001, 1 * sec + 2 * ms));
    EXPECT_EQ(count(WorkerCounter::zeek_records_split), 3u);
    feed(synack.c(ack, 1001, 8001, 1 * sec + 3 * ms));
    feed(synack.s(syn | ack, 9000, 1001, 1 * sec + 4 * ms));  // the originator spoke
    EXPECT_EQ(count(WorkerCounter::zeek_records_split), 3u);
}

// The record timers are options: with a 1 s close delay, 2 s after the RST is a new record.
TEST_F(Tracker, CloseDelayIsConfigurable) {
    config.zeek_close_delay_ns = 1 * sec;
    Conn conn;
    handshake(conn, 1 * sec);
    feed(conn.c(rst, client_next, 0, 1 * sec + 10 * ms));
    feed(conn.s(rst, server_next, 0, 3 * sec));
    t().advance(10 * sec);
    ASSERT_EQ(events(), 2u);
    EXPECT_EQ(history(event(1)), "^r");
}

// Prefetching a few packets ahead (tables up to TrackerConfig::rolling_prefetch_max_table_bytes)
// or the whole burst ahead (beyond) changes when memory is asked for, never what the tracker
// does: the same bursts give the same events and counters either way. The traffic has what the
// burst's stages meet: new flows, hits, flows of both families, evictions from a table smaller
// than the live connections, resets from either side and refusals, the app table's prefetches.
TEST(TrackerPrefetch, RollingAndWholeBurstPrefetchGiveTheSameResult) {
    auto make_config = [](size_t rolling_limit) {
        TrackerConfig c;
        c.flow_capacity = 256;
        c.linger_capacity = 64;
        c.sweep_period_ns = 0;
        c.app_capacity = 64;
        c.rolling_prefetch_max_table_bytes = rolling_limit;
        return c;
    };
    WorkerCounters rolling_counters, whole_counters;
    // The default limit: a table this small is rolling.
    FlowTracker rolling(make_config(TrackerConfig{}.rolling_prefetch_max_table_bytes),
                        rolling_counters);
    FlowTracker whole(make_config(0), whole_counters);
    ASSERT_EQ(rolling.prefetch_ahead(), 8u);
    ASSERT_EQ(whole.prefetch_ahead(), FlowTracker::max_burst);

    // 600 connections, 40 open at a time, each sending its next segment in turn: a handshake,
    // data both ways, then a RST (from the server, the client, or a refusal of the SYN) or FINs.
    std::vector<DecodedPacket> packets;
    const std::string request =
        "GET / HTTP/1.1\r\nHost: example.test\r\n\r\n" + std::string(100, 'x');
    const std::string response = "HTTP/1.1 503 Service Unavailable\r\n\r\n" + std::string(200, 'y');
    constexpr uint32_t connections = 600, open_at_once = 40;
    uint64_t now = 1 * sec;
    for (uint32_t first = 0; first < connections; first += open_at_once) {
        for (uint32_t step = 0; step < 7; ++step) {
            for (uint32_t n = first; n < first + open_at_once; ++n) {
                const bool v6 = n % 4 == 1;
                Segment base{
                    .src = v6 ? "2001:db8::" + std::to_string(n % 500 + 1)
                              : "10.1." + std::to_string(n / 250) + "." + std::to_string(n % 250),
                    .src_port = static_cast<uint16_t>(20000 + n),
                    .dst = v6 ? "2001:db8:1::5" : "10.2.0." + std::to_string(n % 7 + 1),
                    .dst_port = 80,
                    .flags = 0,
                    .family = v6 ? IpFamily::v6 : IpFamily::v4};
                Segment reply = base;
                std::swap(reply.src, reply.dst);
                std::swap(reply.src_port, reply.dst_port);
                reply.ttl = 57;
                const uint32_t ending = n % 5;  // 0 refused, 1 server RST, 2 client RST, else FIN
                Segment seg = base;
                if (step == 0) {
                    seg.flags = syn, seg.seq = 1000;
                } else if (step == 1) {
                    seg = reply;
                    seg.flags = ending == 0 ? rst | ack : syn | ack;
                    seg.seq = ending == 0 ? 0 : 5000, seg.ack = 1001;
                } else if (ending == 0) {
                    continue;
                } else if (step == 2) {
                    seg.flags = ack, seg.seq = 1001, seg.ack = 5001;
                } else if (step == 3) {
                    seg.flags = psh | ack, seg.seq = 1001, seg.ack = 5001, seg.payload_length = 100;
                } else if (step == 4) {
                    seg = reply;
                    seg.flags = psh | ack, seg.seq = 5001, seg.ack = 1101, seg.payload_length = 200;
                } else if (step == 5) {
                    if (ending == 1) seg = reply;
                    seg.flags = ending == 1 || ending == 2 ? rst | ack : fin | ack;
                    seg.seq = ending == 1 ? 5201 : 1101, seg.ack = ending == 1 ? 1101 : 5201;
                } else {
                    if (ending != 3 && ending != 4) continue;
                    seg = reply;
                    seg.flags = fin | ack, seg.seq = 5201, seg.ack = 1102;
                }
                seg.ts_ns = now += 1 * ms;
                packets.push_back(packet(seg));
                // Payload the app parsers read: a request, then a reply.
                if (seg.payload_length > 0)
                    packets.back().payload = reinterpret_cast<const uint8_t*>(
                        step == 3 ? request.data() : response.data());
            }
        }
    }

    std::vector<std::string> rolling_events, whole_events;
    auto take = [](FlowTracker& tracker, std::vector<std::string>& out) {
        for (uint32_t i = 0; i < tracker.event_count(); ++i)
            out.push_back(event_json(tracker.events()[i]));
        tracker.clear_events();
    };
    for (size_t at = 0; at < packets.size(); at += FlowTracker::max_burst) {
        const uint32_t n =
            static_cast<uint32_t>(std::min<size_t>(FlowTracker::max_burst, packets.size() - at));
        for (auto [tracker, out] :
             {std::pair{&rolling, &rolling_events}, {&whole, &whole_events}}) {
            tracker->process_burst(&packets[at], n);
            tracker->advance(packets[at + n - 1].ts_ns);
            take(*tracker, *out);
        }
    }
    for (auto [tracker, out] : {std::pair{&rolling, &rolling_events}, {&whole, &whole_events}}) {
        while (!tracker->flush_pending(FlowTracker::outbox_capacity))
            take(*tracker, *out);
        take(*tracker, *out);
    }

    EXPECT_EQ(rolling_events, whole_events);
    // Resets of 360 connections (refused, server and client RSTs): all written, none lost.
    EXPECT_EQ(rolling_events.size(), 360u);
    EXPECT_GT(rolling_counters.get(WorkerCounter::flows_evicted), 0u);
    for (size_t c = 0; c < worker_counter_count; ++c)
        EXPECT_EQ(rolling_counters.get(static_cast<WorkerCounter>(c)),
                  whole_counters.get(static_cast<WorkerCounter>(c)))
            << worker_counter_names[c];
}

}  // namespace
}  // namespace rstscope
