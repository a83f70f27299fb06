// SPDX-License-Identifier: BSD-3-Clause
// Unit tests for the Zeek conn_state / history module: real Zeek outputs replayed from the traces
// in /work/shared/traces (segments transcribed with tshark, one line per frame, frame number in
// the comment), then synthetic sequences for every conn_state and each history rule.

#include <gtest/gtest.h>

#include <cstring>
#include <initializer_list>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "rstscope/analysis/zeek_state.h"
#include "rstscope/common/tcp_flags.h"

namespace rstscope {
namespace {

constexpr bool orig = true;
constexpr bool resp = false;
constexpr uint8_t syn = tcp_flag::syn;
constexpr uint8_t ack = tcp_flag::ack;
constexpr uint8_t fin = tcp_flag::fin;
constexpr uint8_t rst = tcp_flag::rst;
constexpr uint8_t psh = tcp_flag::psh;

ZeekTracking replay(std::span<const ZeekSegment> segments, bool flipped = false) {
    ZeekTracking t{};
    t.flipped = flipped;
    for (const ZeekSegment& s : segments)
        zeek_track(t, s);
    return t;
}

std::string history(const ZeekTracking& t) {
    char buffer[zeek_history_max_letters + 2];
    const size_t n = zeek_history(t, buffer, sizeof buffer);
    EXPECT_EQ(buffer[n], '\0');
    return std::string(buffer, n);
}

ZeekSegment segment(bool from_orig, uint8_t flags, uint32_t payload = 0) {
    return ZeekSegment{from_orig, flags, payload, false, false, false};
}

// Swaps every segment's from_orig: the same packets as seen by a caller that chose the other role
// assignment on the first packet.
std::vector<ZeekSegment> with_roles_swapped(std::span<const ZeekSegment> segments) {
    std::vector<ZeekSegment> out(segments.begin(), segments.end());
    for (ZeekSegment& s : out)
        s.from_orig = !s.from_orig;
    return out;
}

// ---- Real traces (Zeek's own btest baselines) ----

// Payloads were cut by the capture's snap length, so Zeek never saw any data: each side's
// uncaptured payload is a content gap, reported when the peer ACKs it (G after the 'a' of frame 5,
// g at frame 16). Frames 32/34/36 resend data already seen: 't' once.
constexpr ZeekSegment retransmit_fast009[] = {
    {orig, syn, 0, false, false, false},         // 1
    {resp, ack | syn, 0, false, false, false},   // 2
    {orig, ack, 0, false, false, false},         // 3
    {orig, ack | psh, 474, false, false, true},  // 4
    {resp, ack, 0, false, false, false},         // 5
    {resp, ack, 1446, false, false, true},       // 6
    {resp, ack, 1446, false, false, true},       // 7
    {resp, ack, 1446, false, false, true},       // 8
    {resp, ack, 1446, false, false, true},       // 9
    {resp, ack, 1446, false, false, true},       // 10
    {resp, ack, 1446, false, false, true},       // 11
    {resp, ack, 1446, false, false, true},       // 12
    {resp, ack, 1446, false, false, true},       // 13
    {resp, ack, 1446, false, false, true},       // 14
    {resp, ack, 1286, false, false, true},       // 15
    {orig, ack, 0, false, false, false},         // 16
    {orig, ack, 0, false, false, false},         // 17
    {resp, ack, 1446, false, false, true},       // 18
    {resp, ack, 1446, false, false, true},       // 19
    {resp, ack, 1446, false, false, true},       // 20
    {resp, ack, 1446, false, false, true},       // 21
    {resp, ack, 1366, false, false, true},       // 22
    {orig, ack, 0, false, false, false},         // 23
    {orig, ack, 0, false, false, false},         // 24
    {resp, ack, 1430, false, false, true},       // 25
    {resp, ack | psh, 903, false, false, true},  // 26
    {orig, ack, 0, false, false, false},         // 27
    {orig, ack, 0, false, false, false},         // 28
    {orig, ack, 0, false, false, false},         // 29
    {orig, ack, 0, false, false, false},         // 30
    {orig, ack, 0, false, false, false},         // 31
    {resp, ack, 1430, true, false, false},       // 32
    {orig, ack, 0, false, false, false},         // 33
    {resp, ack, 1430, true, false, false},       // 34
    {orig, ack, 0, false, false, false},         // 35
    {resp, ack, 1430, true, false, false},       // 36
    {orig, ack, 0, false, false, false},         // 37
    {orig, ack, 0, false, false, false},         // 38
    {orig, ack | rst, 0, false, false, false},   // 39
};

TEST(ZeekStateTrace, RetransmitFast009IsRstoWithGapsAndRetransmission) {
    EXPECT_FALSE(zeek_should_flip(50368, 80, syn));
    const ZeekTracking t = replay(retransmit_fast009);
    EXPECT_EQ(history(t), "ShADaGdgtR");
    EXPECT_EQ(zeek_conn_state(t, 474, 23783), ConnState::RSTO);
}

// Originator FIN (16), originator RST (18), then the responder's FIN (19) turns the originator's
// RESET back into CLOSED: Zeek logs SF.
constexpr ZeekSegment irc_starttls[] = {
    {orig, syn, 0, false, false, false},           // 1
    {resp, ack | syn, 0, false, false, false},     // 2
    {orig, ack, 0, false, false, false},           // 3
    {orig, ack | psh, 10, false, false, false},    // 4
    {resp, ack, 0, false, false, false},           // 5
    {resp, ack | psh, 74, false, false, false},    // 6
    {orig, ack, 0, false, false, false},           // 7
    {orig, ack | psh, 317, false, false, false},   // 8
    {resp, ack, 0, false, false, false},           // 9
    {resp, ack | psh, 1572, false, false, false},  // 10
    {orig, ack, 0, false, false, false},           // 11
    {orig, ack | psh, 586, false, false, false},   // 12
    {resp, ack, 0, false, false, false},           // 13
    {resp, ack | psh, 226, false, false, false},   // 14
    {orig, ack, 0, false, false, false},           // 15
    {orig, ack | fin, 0, false, false, false},     // 16
    {resp, ack | psh, 31, false, false, false},    // 17
    {orig, rst, 0, false, false, false},           // 18
    {resp, ack | fin, 0, false, false, false},     // 19
    {orig, rst, 0, false, false, false},           // 20
};

TEST(ZeekStateTrace, IrcStarttlsRstAfterFinStaysSf) {
    const ZeekTracking t = replay(irc_starttls);
    EXPECT_EQ(history(t), "ShADadFRf");
    EXPECT_EQ(t.orig, ZeekEndpoint::closed);
    EXPECT_EQ(t.resp, ZeekEndpoint::closed);
    EXPECT_EQ(zeek_conn_state(t, 913, 1903), ConnState::SF);
}

TEST(ZeekStateTrace, IrcStarttlsIsRstoBeforeTheResponderFin) {
    const ZeekTracking t = replay(std::span(irc_starttls).first(18));
    EXPECT_EQ(history(t), "ShADadFR");
    EXPECT_EQ(t.orig, ZeekEndpoint::reset);
    EXPECT_EQ(zeek_conn_state(t, 913, 1903), ConnState::RSTO);
}

// Both FINs (29, 32), then two responder RSTs: after a FIN exchange a RST changes nothing.
constexpr ZeekSegment xmpp_starttls[] = {
    {orig, syn, 0, false, false, false},          // 1
    {resp, ack | syn, 0, false, false, false},    // 2
    {orig, ack, 0, false, false, false},          // 3
    {orig, ack | psh, 118, false, false, false},  // 4
    {resp, ack, 0, false, false, false},          // 5
    {resp, ack | psh, 171, false, false, false},  // 6
    {orig, ack, 0, false, false, false},          // 7
    {resp, ack | psh, 304, false, false, false},  // 8
    {orig, ack, 0, false, false, false},          // 9
    {orig, ack | psh, 51, false, false, false},   // 10
    {resp, ack | psh, 50, false, false, false},   // 11
    {orig, ack, 0, false, false, false},          // 12
    {orig, ack | psh, 318, false, false, false},  // 13
    {resp, ack, 1448, false, false, false},       // 14
    {resp, ack, 1448, false, false, false},       // 15
    {orig, ack, 0, false, false, false},          // 16
    {resp, ack | psh, 830, false, false, false},  // 17
    {orig, ack, 0, false, false, false},          // 18
    {orig, ack | psh, 126, false, false, false},  // 19
    {resp, ack | psh, 51, false, false, false},   // 20
    {orig, ack, 0, false, false, false},          // 21
    {orig, ack | psh, 32, false, false, false},   // 22
    {resp, ack | psh, 186, false, false, false},  // 23
    {resp, ack | psh, 145, false, false, false},  // 24
    {resp, ack | psh, 45, false, false, false},   // 25
    {orig, ack, 0, false, false, false},          // 26
    {orig, ack, 0, false, false, false},          // 27
    {orig, ack, 0, false, false, false},          // 28
    {resp, ack | fin, 0, false, false, false},    // 29
    {orig, ack, 0, false, false, false},          // 30
    {orig, ack | psh, 31, false, false, false},   // 31
    {orig, ack | fin, 0, false, false, false},    // 32
    {resp, rst, 0, false, false, false},          // 33
    {resp, rst, 0, false, false, false},          // 34
};

TEST(ZeekStateTrace, XmppStarttlsRstAfterBothFinsIsSf) {
    const ZeekTracking t = replay(xmpp_starttls);
    EXPECT_EQ(history(t), "ShADadfFr");
    EXPECT_EQ(zeek_conn_state(t, 676, 4678), ConnState::SF);
}

// 192.168.0.4:26242 -> 212.227.15.188:110, the first of pop3.pcap's refused connections.
constexpr ZeekSegment pop3_refused[] = {
    {orig, syn, 0, false, false, false},        // 1
    {resp, ack | rst, 0, false, false, false},  // 2
};

TEST(ZeekStateTrace, Pop3RefusedIsRej) {
    const ZeekTracking t = replay(pop3_refused);
    EXPECT_EQ(history(t), "Sr");
    EXPECT_EQ(zeek_conn_state(t, 0, 0), ConnState::REJ);
}

// 192.168.0.4:26272 -> 212.227.15.166:110: the responder's data+FIN (21) records only 'f'.
constexpr ZeekSegment pop3_session[] = {
    {orig, syn, 0, false, false, false},               // 13
    {resp, ack | syn, 0, false, false, false},         // 14
    {orig, ack, 0, false, false, false},               // 15
    {resp, ack | psh, 56, false, false, false},        // 16
    {orig, ack | psh, 6, false, false, false},         // 17
    {orig, ack | psh, 6, false, false, false},         // 18
    {resp, ack, 0, false, false, false},               // 19
    {resp, ack | psh, 91, false, false, false},        // 20
    {resp, ack | psh | fin, 28, false, false, false},  // 21
    {orig, ack, 0, false, false, false},               // 22
    {orig, ack | fin, 0, false, false, false},         // 23
    {resp, ack, 0, false, false, false},               // 24
};

TEST(ZeekStateTrace, Pop3SessionIsSf) {
    const ZeekTracking t = replay(pop3_session);
    EXPECT_EQ(history(t), "ShAdDafF");
    EXPECT_EQ(zeek_conn_state(t, 12, 175), ConnState::SF);
}

// First websocket tunnel (127.0.0.1:42906 -> :8888), closed by the originator's RST.
constexpr ZeekSegment wstunnel_ssh[] = {
    {orig, syn, 0, false, false, false},           // 1
    {resp, ack | syn, 0, false, false, false},     // 2
    {orig, ack, 0, false, false, false},           // 3
    {orig, ack | psh, 408, false, false, false},   // 4
    {resp, ack, 0, false, false, false},           // 5
    {resp, ack | psh, 194, false, false, false},   // 6
    {orig, ack, 0, false, false, false},           // 7
    {orig, ack | psh, 47, false, false, false},    // 8
    {resp, ack, 0, false, false, false},           // 9
    {resp, ack | psh, 43, false, false, false},    // 10
    {orig, ack, 1448, false, false, false},        // 11
    {orig, ack | psh, 96, false, false, false},    // 12
    {resp, ack, 0, false, false, false},           // 13
    {resp, ack, 0, false, false, false},           // 14
    {resp, ack | psh, 1060, false, false, false},  // 15
    {orig, ack | psh, 54, false, false, false},    // 16
    {resp, ack | psh, 440, false, false, false},   // 17
    {orig, ack | psh, 22, false, false, false},    // 18
    {resp, ack, 0, false, false, false},           // 19
    {orig, ack | psh, 50, false, false, false},    // 20
    {resp, ack, 0, false, false, false},           // 21
    {resp, ack | psh, 46, false, false, false},    // 22
    {orig, ack | psh, 74, false, false, false},    // 23
    {resp, ack, 0, false, false, false},           // 24
    {resp, ack | psh, 46, false, false, false},    // 25
    {orig, ack | psh, 380, false, false, false},   // 26
    {resp, ack, 0, false, false, false},           // 27
    {resp, ack | psh, 46, false, false, false},    // 28
    {orig, ack | psh, 636, false, false, false},   // 29
    {resp, ack | psh, 46, false, false, false},    // 30
    {orig, ack | psh, 380, false, false, false},   // 31
    {resp, ack | psh, 46, false, false, false},    // 32
    {orig, ack | psh, 508, false, false, false},   // 33
    {resp, ack | psh, 46, false, false, false},    // 34
    {orig, ack, 0, false, false, false},           // 35
    {orig, ack | psh, 6, false, false, false},     // 36
    {resp, ack, 0, false, false, false},           // 37
    {orig, ack | psh, 8, false, false, false},     // 38
    {resp, ack, 0, false, false, false},           // 39
    {resp, ack | psh, 4, false, false, false},     // 40
    {orig, ack, 0, false, false, false},           // 41
    {orig, ack | rst, 0, false, false, false},     // 42
};

TEST(ZeekStateTrace, WebsocketTunnelOriginatorRstIsRsto) {
    const ZeekTracking t = replay(wstunnel_ssh);
    EXPECT_EQ(history(t), "ShADadR");
    EXPECT_EQ(zeek_conn_state(t, 4117, 2017), ConnState::RSTO);
}

// Picked up at the responder's SYN-ACK (from port 888). The responder's FIN (5) jumps over 13
// bytes that arrive next (7, 8: 'd', then 't' as they lie below the FIN): the hole is filled
// before the originator's ACK, so no 'g'. Zeek's oracle is the history only; SF is what Zeek's
// conn_state function gives for both endpoints CLOSED.
constexpr ZeekSegment ctu_64702_888[] = {
    {resp, ack | syn, 0, false, false, false},  // 1
    {resp, ack | syn, 0, false, false, false},  // 2
    {orig, ack, 0, false, false, false},        // 3
    {orig, ack, 0, false, false, false},        // 4
    {resp, ack | fin, 0, false, false, true},   // 5
    {resp, ack | fin, 0, false, false, false},  // 6
    {resp, ack | psh, 13, true, false, false},  // 7
    {resp, ack | psh, 13, true, false, false},  // 8
    {orig, ack, 0, false, false, false},        // 9
    {orig, ack, 0, false, false, false},        // 10
    {orig, ack, 0, false, false, false},        // 11
    {orig, ack, 0, false, false, false},        // 12
    {orig, ack | fin, 0, false, false, false},  // 13
    {orig, ack | fin, 0, false, false, false},  // 14
    {resp, rst, 0, false, false, false},        // 15
    {resp, rst, 0, false, false, false},        // 16
};

// With a port rule that took 888 for a server (it is not in Zeek's list): the same result.
TEST(ZeekStateTrace, Ctu64702FlippedOnFirstPacket) {
    const ZeekTracking t = replay(ctu_64702_888, /*flipped=*/true);
    EXPECT_EQ(history(t), "^hAfdtFr");
    EXPECT_FALSE(zeek_roles_inverted(t));
    EXPECT_EQ(t.orig, ZeekEndpoint::closed);
    EXPECT_EQ(t.resp, ZeekEndpoint::closed);
    EXPECT_EQ(zeek_conn_state(t, 0, 13), ConnState::SF);
}

TEST(ZeekStateTrace, Ctu64702FlippedWhenTheAckFollowsTheSynAck) {
    // 888 is not a likely server port: Zeek flips only when the originator's ACK follows the
    // SYN-ACK, and rewrites the history.
    ASSERT_FALSE(zeek_should_flip(888, 64702, syn | ack));
    const std::vector<ZeekSegment> unflipped = with_roles_swapped(ctu_64702_888);
    const ZeekTracking t = replay(unflipped, /*flipped=*/false);
    EXPECT_EQ(history(t), "^hAfdtFr");
    EXPECT_TRUE(zeek_roles_inverted(t));
    EXPECT_EQ(t.orig, ZeekEndpoint::closed);
    EXPECT_EQ(t.resp, ZeekEndpoint::closed);
}

// SYN, FIN before the handshake completes, SYN-ACK, FIN-ACK, responder RST. Zeek's oracle prints
// orig state=5 (TCP_CLOSED) and resp state=6 (TCP_RESET); RSTR follows from those states.
constexpr ZeekSegment fin_retransmission[] = {
    {orig, syn, 0, false, false, false},        // 1
    {orig, fin, 0, false, false, false},        // 2
    {resp, ack | syn, 0, false, false, false},  // 3
    {orig, ack | fin, 0, false, false, false},  // 4
    {resp, rst, 0, false, false, false},        // 5
};

TEST(ZeekStateTrace, FinRetransmissionEndsClosedAndReset) {
    const ZeekTracking t = replay(fin_retransmission);
    EXPECT_EQ(static_cast<int>(t.orig), 5);
    EXPECT_EQ(static_cast<int>(t.resp), 6);
    EXPECT_EQ(history(t), "SFhr");
    EXPECT_EQ(zeek_conn_state(t, 0, 0), ConnState::RSTR);
}

// zeek/zeek#5047 (one-sided-2745.pcap, Zeek 8.0): only the server, port 1433, sends: SYN-ACK, ACK,
// FIN-ACK. Zeek logs history "^haf"; SHR is its conn_state for that endpoint pair.
constexpr ZeekSegment one_sided_server[] = {
    {resp, ack | syn, 0, false, false, false},
    {resp, ack, 0, false, false, false},
    {resp, ack | fin, 0, false, false, false},
};

// As if 1433 were a likely server port (it is not in Zeek's list: the next test is Zeek's path).
TEST(ZeekStateTrace, OneSidedServerFlippedByPort) {
    const ZeekTracking t = replay(one_sided_server, /*flipped=*/true);
    EXPECT_EQ(history(t), "^haf");
    EXPECT_EQ(zeek_conn_state(t, 0, 0), ConnState::SHR);
}

TEST(ZeekStateTrace, OneSidedServerFlippedByItsOwnAck) {
    const std::vector<ZeekSegment> unflipped = with_roles_swapped(one_sided_server);
    const ZeekTracking t = replay(unflipped, /*flipped=*/false);
    EXPECT_EQ(history(t), "^haf");
    EXPECT_TRUE(zeek_roles_inverted(t));
    EXPECT_EQ(t.orig, ZeekEndpoint::inactive);
    EXPECT_EQ(t.resp, ZeekEndpoint::closed);
    EXPECT_EQ(zeek_conn_state(t, 0, 0), ConnState::SHR);
}

// ---- Every conn_state from synthetic sequences ----

struct StateCase {
    const char* name;
    bool flipped;
    std::vector<ZeekSegment> segments;
    uint64_t orig_bytes;
    uint64_t resp_bytes;
    ConnState expected;
    const char* expected_history;
};

class ZeekConnState : public testing::TestWithParam<StateCase> {};

TEST_P(ZeekConnState, MatchesZeek) {
    const StateCase& c = GetParam();
    const ZeekTracking t = replay(c.segments, c.flipped);
    EXPECT_EQ(zeek_conn_state(t, c.orig_bytes, c.resp_bytes), c.expected)
        << name_of(zeek_conn_state(t, c.orig_bytes, c.resp_bytes));
    EXPECT_EQ(history(t), c.expected_history);
}

const ZeekSegment handshake[] = {segment(orig, syn), segment(resp, syn | ack), segment(orig, ack)};

std::vector<ZeekSegment> after_handshake(std::initializer_list<ZeekSegment> rest) {
    std::vector<ZeekSegment> v(std::begin(handshake), std::end(handshake));
    v.insert(v.end(), rest);
    return v;
}

INSTANTIATE_TEST_SUITE_P(
    AllStates, ZeekConnState,
    testing::Values(
        StateCase{"S0", false, {segment(orig, syn), segment(orig, syn)}, 0, 0, ConnState::S0, "S"},
        StateCase{"S1", false, after_handshake({segment(orig, ack | psh, 10)}), 10, 0,
                  ConnState::S1, "ShAD"},
        StateCase{"SF", false,
                  after_handshake({segment(orig, ack | fin), segment(resp, ack | fin)}), 0, 0,
                  ConnState::SF, "ShAFf"},
        StateCase{"REJ",
                  false,
                  {segment(orig, syn), segment(resp, rst | ack)},
                  0,
                  0,
                  ConnState::REJ,
                  "Sr"},
        StateCase{
            "REJ_both_reset_no_data",
            false,
            {segment(orig, syn), segment(resp, syn | ack), segment(orig, rst), segment(resp, rst)},
            0,
            0,
            ConnState::REJ,
            "ShRr"},
        StateCase{"S2", false, after_handshake({segment(orig, ack | fin)}), 0, 0, ConnState::S2,
                  "ShAF"},
        StateCase{"S3", false, after_handshake({segment(resp, ack | fin)}), 0, 0, ConnState::S3,
                  "ShAf"},
        StateCase{"RSTO", false, after_handshake({segment(orig, ack | psh, 5), segment(orig, rst)}),
                  5, 0, ConnState::RSTO, "ShADR"},
        StateCase{"RSTR", false, after_handshake({segment(resp, ack | psh, 5), segment(resp, rst)}),
                  0, 5, ConnState::RSTR, "ShAdr"},
        StateCase{
            "RSTR_both_reset_with_data", false,
            after_handshake({segment(resp, ack | psh, 5), segment(orig, rst), segment(resp, rst)}),
            0, 5, ConnState::RSTR, "ShAdRr"},
        StateCase{"RSTOS0",
                  false,
                  {segment(orig, syn), segment(orig, rst)},
                  0,
                  0,
                  ConnState::RSTOS0,
                  "SR"},
        StateCase{"RSTRH",
                  true,
                  {segment(resp, syn | ack), segment(resp, rst)},
                  0,
                  0,
                  ConnState::RSTRH,
                  "^hr"},
        StateCase{"SH", false, {segment(orig, syn), segment(orig, fin)}, 0, 0, ConnState::SH, "SF"},
        StateCase{"SHR",
                  true,
                  {segment(resp, syn | ack), segment(resp, fin | ack)},
                  0,
                  0,
                  ConnState::SHR,
                  "^hf"},
        StateCase{"OTH_midstream",
                  false,
                  {segment(orig, ack | psh, 100), segment(resp, ack | psh, 50)},
                  100,
                  50,
                  ConnState::OTH,
                  "Dd"},
        StateCase{"OTH_midstream_orig_rst",
                  false,
                  {segment(orig, ack | psh, 100), segment(orig, rst)},
                  100,
                  0,
                  ConnState::OTH,
                  "DR"}),
    [](const testing::TestParamInfo<StateCase>& param_info) {
        return std::string(param_info.param.name);
    });

// ---- History rules ----

TEST(ZeekHistory, LettersAreRecordedOncePerDirection) {
    const ZeekTracking t = replay(after_handshake({
        segment(orig, ack | psh, 10),
        segment(orig, ack | psh, 10),
        segment(resp, ack),
        segment(resp, ack),
        segment(orig, ack | fin),
        segment(orig, ack | fin),
    }));
    EXPECT_EQ(history(t), "ShADaF");
}

TEST(ZeekHistory, SynAndSynAckShareOneSlotPerDirection) {
    const ZeekTracking t = replay({{segment(orig, syn), segment(orig, syn | ack)}});
    EXPECT_EQ(history(t), "S");
    EXPECT_EQ(t.orig, ZeekEndpoint::syn_sent);
}

TEST(ZeekHistory, MultiFlagAndInconsistentPackets) {
    const ZeekTracking t = replay({{segment(orig, syn | fin), segment(resp, fin | rst | ack)}});
    EXPECT_EQ(history(t), "Qi");
    // SYN+FIN from inactive: SYN_SENT then CLOSED; FIN+RST from inactive: CLOSED then RESET.
    EXPECT_EQ(t.orig, ZeekEndpoint::closed);
    EXPECT_EQ(t.resp, ZeekEndpoint::reset);
}

TEST(ZeekHistory, ZeroWindowOncePerDirection) {
    ZeekSegment zero = segment(resp, ack);
    zero.zero_window = true;
    const ZeekTracking t = replay(after_handshake({zero, zero}));
    EXPECT_EQ(history(t), "ShAaw");
}

TEST(ZeekHistory, ZeroWindowIgnoredAfterThePeerClosed) {
    ZeekSegment zero = segment(resp, ack);
    zero.zero_window = true;
    const ZeekTracking t = replay(after_handshake({segment(orig, ack | fin), zero}));
    EXPECT_EQ(history(t), "ShAFa");
}

TEST(ZeekHistory, ZeroWindowIgnoredAfterOwnReset) {
    ZeekSegment zero = segment(orig, ack);
    zero.zero_window = true;
    const ZeekTracking t = replay(after_handshake({segment(orig, rst), zero}));
    EXPECT_EQ(history(t), "ShAR");
}

TEST(ZeekHistory, RetransmissionRecordedWithItsDataLetter) {
    ZeekSegment again = segment(resp, ack | psh, 100);
    again.retransmission = true;
    const ZeekTracking t = replay(after_handshake({segment(resp, ack | psh, 100), again, again}));
    EXPECT_EQ(history(t), "ShAdt");
}

TEST(ZeekHistory, RetransmissionIgnoredAfterOwnReset) {
    ZeekSegment again = segment(orig, ack | psh, 100);
    again.retransmission = true;
    const ZeekTracking t = replay(after_handshake({segment(orig, rst), again}));
    EXPECT_EQ(history(t), "ShARD");
}

TEST(ZeekHistory, RetransmissionNeedsPayload) {
    ZeekSegment empty = segment(orig, ack);
    empty.retransmission = true;
    const ZeekTracking t = replay(after_handshake({empty}));
    EXPECT_EQ(history(t), "ShA");
}

TEST(ZeekHistory, GapReportedWhenThePeerAcks) {
    ZeekSegment jump = segment(orig, ack | psh, 100);
    jump.content_gap = true;
    const ZeekTracking before_ack = replay(after_handshake({jump}));
    EXPECT_EQ(history(before_ack), "ShAD");
    const ZeekTracking t = replay(after_handshake({jump, segment(resp, ack)}));
    EXPECT_EQ(history(t), "ShADaG");
}

TEST(ZeekHistory, GapFilledByARetransmissionIsNotReported) {
    ZeekSegment jump = segment(orig, ack | psh, 100);
    jump.content_gap = true;
    ZeekSegment fill = segment(orig, ack | psh, 100);
    fill.retransmission = true;
    const ZeekTracking t = replay(after_handshake({jump, fill, segment(resp, ack)}));
    EXPECT_EQ(history(t), "ShADTa");
}

TEST(ZeekHistory, GapNotReportedOnPartialConnections) {
    ZeekSegment jump = segment(orig, ack | psh, 100);
    jump.content_gap = true;
    const ZeekTracking t = replay({{jump, segment(resp, ack)}});
    EXPECT_EQ(t.orig, ZeekEndpoint::partial);
    EXPECT_EQ(history(t), "Da");
}

TEST(ZeekHistory, GapRevealedByARstIsNotReported) {
    ZeekSegment jump = segment(orig, ack | psh, 100);
    jump.content_gap = true;
    const ZeekTracking t = replay(after_handshake({jump, segment(resp, rst | ack)}));
    EXPECT_EQ(history(t), "ShADr");
}

TEST(ZeekHistory, GapReportedAfterACleanClose) {
    ZeekSegment jump = segment(orig, ack | psh, 100);
    jump.content_gap = true;
    const ZeekTracking t =
        replay(after_handshake({jump, segment(orig, ack | fin), segment(resp, ack | fin)}));
    EXPECT_EQ(history(t), "ShADFfG");
    EXPECT_EQ(zeek_conn_state(t, 100, 0), ConnState::SF);
}

TEST(ZeekHistory, KeepsTheFirstTwelveLetters) {
    ZeekSegment orig_data = segment(orig, ack | psh, 10);
    orig_data.retransmission = true;
    orig_data.zero_window = true;
    ZeekSegment resp_data = segment(resp, ack | psh, 10);
    resp_data.retransmission = true;
    resp_data.zero_window = true;
    // S h A D W T d w t a, then F f R r: only F and f fit.
    const ZeekTracking t =
        replay(after_handshake({orig_data, resp_data, segment(resp, ack), segment(orig, ack | fin),
                                segment(resp, ack | fin), segment(orig, rst), segment(resp, rst)}));
    EXPECT_EQ(t.history_length, 12);
    EXPECT_EQ(history(t), "ShADWTdwtaFf");
    EXPECT_EQ(zeek_conn_state(t, 10, 10), ConnState::SF);
}

TEST(ZeekHistory, WritesOnlyWhatFits) {
    const ZeekTracking t = replay(one_sided_server, /*flipped=*/true);
    char small[3];
    std::memset(small, 'x', sizeof small);
    EXPECT_EQ(zeek_history(t, small, sizeof small), 3u);
    EXPECT_EQ(std::string(small, 3), "^ha");
    char exact[5];
    EXPECT_EQ(zeek_history(t, exact, sizeof exact), 4u);
    EXPECT_STREQ(exact, "^haf");
    EXPECT_EQ(zeek_history(t, nullptr, 0), 0u);
    const ZeekTracking empty{};
    char none[4] = "abc";
    EXPECT_EQ(zeek_history(empty, none, sizeof none), 0u);
    EXPECT_STREQ(none, "");
}

TEST(ZeekHistory, LateFlipRewritesRecordedLetters) {
    // SYN-ACK from the first sender, then data from the other side: flipped on the data.
    const ZeekTracking t =
        replay({{segment(orig, syn | ack), segment(resp, ack | psh, 20), segment(orig, ack)}});
    EXPECT_EQ(history(t), "^hDa");
    EXPECT_TRUE(zeek_roles_inverted(t));
    EXPECT_EQ(t.resp, ZeekEndpoint::syn_ack_sent);
    EXPECT_EQ(t.orig, ZeekEndpoint::partial);
}

TEST(ZeekHistory, SynAckAnsweredByRstIsNotFlipped) {
    // A stealth scan's SYN-ACK probe draws a RST, never an ACK: roles stay as first seen.
    const ZeekTracking t = replay({{segment(orig, syn | ack), segment(resp, rst)}});
    EXPECT_EQ(history(t), "Hr");
    EXPECT_FALSE(zeek_roles_inverted(t));
    EXPECT_EQ(zeek_conn_state(t, 0, 0), ConnState::REJ);
}

// ---- Role heuristics ----

// Zeek's list exactly (issue 11): every port of it, and no other port of the 65536.
TEST(ZeekRoles, LikelyServerPortsAreZeeksListExactly) {
    const std::set<uint16_t> zeek_ports{21,   22,   25,   53,   79,   80,   81,   88,   135,  139,
                                        143,  389,  443,  445,  465,  502,  514,  563,  585,  587,
                                        614,  631,  636,  989,  990,  992,  993,  995,  1080, 1434,
                                        1883, 2811, 3128, 3268, 3306, 3389, 5222, 5223, 5269, 5432,
                                        6379, 6666, 6667, 6668, 6669, 8000, 8080, 8888, 20000};
    for (uint32_t port = 0; port <= UINT16_MAX; ++port)
        EXPECT_EQ(zeek_likely_server_port(static_cast<uint16_t>(port)),
                  zeek_ports.count(static_cast<uint16_t>(port)) == 1)
            << port;
}

// Not "every port below 1024": between two unregistered ports the first packet's sender stays
// the originator, even when it sends from a low port.
TEST(ZeekRoles, LowUnregisteredPortDoesNotFlip) {
    EXPECT_FALSE(zeek_should_flip(888, 64702, syn | ack));
    EXPECT_FALSE(zeek_should_flip(1023, 50000, ack));
    EXPECT_FALSE(zeek_should_flip(8443, 50000, ack));
    EXPECT_TRUE(zeek_should_flip(443, 50000, ack));
}

TEST(ZeekRoles, ShouldFlip) {
    // A bare SYN always names its sender originator.
    EXPECT_FALSE(zeek_should_flip(80, 50000, syn));
    // SYN-ACK or midstream from a server port to a client port: flip.
    EXPECT_TRUE(zeek_should_flip(80, 50000, syn | ack));
    EXPECT_TRUE(zeek_should_flip(80, 50000, ack));
    EXPECT_TRUE(zeek_should_flip(443, 50000, rst));
    // From a client port: keep.
    EXPECT_FALSE(zeek_should_flip(50000, 80, ack));
    EXPECT_FALSE(zeek_should_flip(50000, 80, syn | ack));
    EXPECT_FALSE(zeek_should_flip(40000, 50000, ack));
    // Both plausible: lower port is the server, but never on a SYN-ACK.
    EXPECT_TRUE(zeek_should_flip(80, 443, ack));
    EXPECT_FALSE(zeek_should_flip(443, 80, ack));
    EXPECT_FALSE(zeek_should_flip(80, 443, syn | ack));
}

TEST(ZeekTrackingLayout, FitsTheFlowEntryBudget) {
    EXPECT_LE(sizeof(ZeekTracking), 16u);
    const ZeekTracking fresh{};
    EXPECT_EQ(fresh.orig, ZeekEndpoint::inactive);
    EXPECT_EQ(fresh.history_length, 0);
    EXPECT_EQ(zeek_conn_state(fresh, 0, 0), ConnState::OTH);
}

// ConnectionClosed: which segment closes its sender, and whether the close is complete (ends the
// record 5 s later, flow_tracker.h).
TEST(ZeekClose, FinAndRstCloseTheirSenderOnceAndCompleteAsZeekDoes) {
    ZeekTracking t{};
    EXPECT_EQ(zeek_track(t, segment(orig, syn)), ZeekClose::none);
    EXPECT_EQ(zeek_track(t, segment(resp, syn | ack)), ZeekClose::none);
    EXPECT_EQ(zeek_track(t, segment(orig, ack)), ZeekClose::none);
    // The first FIN with the peer established: closed, not complete.
    EXPECT_EQ(zeek_track(t, segment(orig, fin | ack)), ZeekClose::incomplete);
    EXPECT_TRUE(zeek_did_close(t, true));
    EXPECT_FALSE(zeek_did_close(t, false));
    EXPECT_EQ(zeek_track(t, segment(orig, fin | ack)), ZeekClose::none);  // already closed
    EXPECT_EQ(zeek_track(t, segment(orig, rst)), ZeekClose::none);        // FIN then RST: no close
    // The peer's FIN completes it.
    EXPECT_EQ(zeek_track(t, segment(resp, fin | ack)), ZeekClose::complete);
    EXPECT_TRUE(zeek_did_close(t, false));

    ZeekTracking reset{};
    zeek_track(reset, segment(orig, syn));
    zeek_track(reset, segment(resp, syn | ack));
    zeek_track(reset, segment(orig, ack));
    EXPECT_EQ(zeek_track(reset, segment(resp, rst | ack)), ZeekClose::complete);  // a RST is

    ZeekTracking lone_fin{};  // a FIN whose peer was never seen
    EXPECT_EQ(zeek_track(lone_fin, segment(resp, fin | ack)), ZeekClose::complete);

    ZeekTracking after_both{};  // after both FINs a RST closes nothing
    zeek_track(after_both, segment(orig, ack, 10));
    zeek_track(after_both, segment(resp, ack, 10));
    EXPECT_EQ(zeek_track(after_both, segment(orig, fin | ack)), ZeekClose::incomplete);
    EXPECT_EQ(zeek_track(after_both, segment(resp, fin | ack)), ZeekClose::complete);
    EXPECT_EQ(zeek_track(after_both, segment(resp, rst)), ZeekClose::none);
}

// After Zeek flips the roles (a SYN-ACK then an ACK), did_close speaks of Zeek's roles.
TEST(ZeekClose, DidCloseIsInZeeksRolesAfterAFlip) {
    ZeekTracking t{};
    zeek_track(t, segment(orig, syn | ack));
    zeek_track(t, segment(resp, ack));
    ASSERT_TRUE(zeek_roles_inverted(t));
    // The caller's originator sent the SYN-ACK: Zeek's responder.
    EXPECT_EQ(zeek_track(t, segment(orig, fin | ack)), ZeekClose::incomplete);
    EXPECT_TRUE(zeek_did_close(t, false));
    EXPECT_FALSE(zeek_did_close(t, true));
}

}  // namespace
}  // namespace rstscope
