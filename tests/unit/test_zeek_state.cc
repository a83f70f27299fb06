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

#include "rstscope/analysis/zeek_reversal.h"
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

// A segment as the tests write it: the sender's numbers are filled in by Wire, as a TCP stack
// would send them, from what the segment is (new data, a retransmission, data after a hole).
struct Seg {
    bool from_orig;
    uint8_t flags;
    uint32_t payload_length;
    bool retransmission;  // resends the end of what its sender already sent
    bool zero_window;
    bool content_gap;  // starts 1000 numbers past what its sender sent
};

// Numbers the segments of one connection as two TCP stacks would: initial sequence numbers 1000
// (caller's originator) and 500000, a SYN or FIN sent again keeps its number, each ACK
// acknowledges everything the peer sent.
class Wire {
  public:
    ZeekSegment number(const Seg& s) {
        Side& me = sides_[s.from_orig ? 0 : 1];
        const Side& peer = sides_[s.from_orig ? 1 : 0];
        uint32_t seq = me.next;
        if ((s.flags & syn) && me.syn_sent) {
            seq = me.isn;
        } else if ((s.flags & fin) && me.fin_sent) {
            seq = me.fin_seq;
        } else if (s.retransmission) {
            seq = me.next - s.payload_length;
        } else if (s.content_gap) {
            seq = me.next + 1000;
        }
        uint32_t length = (s.flags & rst) ? 0 : s.payload_length;
        if (s.flags & syn) {
            me.syn_sent = true;
            ++length;
        }
        if (s.flags & fin) {
            if (!me.fin_sent) me.fin_seq = seq + length;
            me.fin_sent = true;
            ++length;
        }
        if (static_cast<int32_t>(seq + length - me.next) > 0) me.next = seq + length;
        return ZeekSegment{
            s.from_orig,   s.flags,      s.payload_length, seq, (s.flags & ack) ? peer.next : 0,
            s.zero_window, s.content_gap};
    }

  private:
    struct Side {
        uint32_t isn;
        uint32_t next;
        uint32_t fin_seq = 0;
        bool syn_sent = false;
        bool fin_sent = false;
    };
    Side sides_[2] = {{1000, 1000}, {500000, 500000}};
};

// A tracked connection fed through a Wire.
struct Fed {
    ZeekTracking t{};
    Wire wire;
    ZeekClose operator()(const Seg& s) { return zeek_track(t, wire.number(s)); }
};

ZeekTracking replay(std::span<const Seg> segments, bool flipped = false) {
    Fed fed;
    fed.t.flipped = flipped;
    for (const Seg& s : segments)
        fed(s);
    return fed.t;
}

std::string history(const ZeekTracking& t) {
    char buffer[zeek_history_max_letters + 2];
    const size_t n = zeek_history(t, buffer, sizeof buffer);
    EXPECT_EQ(buffer[n], '\0');
    return std::string(buffer, n);
}

Seg segment(bool from_orig, uint8_t flags, uint32_t payload = 0) {
    return Seg{from_orig, flags, payload, false, false, false};
}

// Swaps every segment's from_orig: the same packets as seen by a caller that chose the other role
// assignment on the first packet.
std::vector<Seg> with_roles_swapped(std::span<const Seg> segments) {
    std::vector<Seg> out(segments.begin(), segments.end());
    for (Seg& s : out)
        s.from_orig = !s.from_orig;
    return out;
}

// ---- Real traces (Zeek's own btest baselines) ----

// Payloads were cut by the capture's snap length, so Zeek never saw any data: each side's
// uncaptured payload is a content gap, reported when the peer ACKs it (G after the 'a' of frame 5,
// g at frame 16). Frames 32/34/36 resend data already seen: 't' once.
constexpr Seg retransmit_fast009[] = {
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
    EXPECT_EQ(zeek_conn_state(t), ConnState::RSTO);
}

// Originator FIN (16), originator RST (18), then the responder's FIN (19) turns the originator's
// RESET back into CLOSED: Zeek logs SF.
constexpr Seg irc_starttls[] = {
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
    EXPECT_EQ(zeek_conn_state(t), ConnState::SF);
}

TEST(ZeekStateTrace, IrcStarttlsIsRstoBeforeTheResponderFin) {
    const ZeekTracking t = replay(std::span(irc_starttls).first(18));
    EXPECT_EQ(history(t), "ShADadFR");
    EXPECT_EQ(t.orig, ZeekEndpoint::reset);
    EXPECT_EQ(zeek_conn_state(t), ConnState::RSTO);
}

// Both FINs (29, 32), then two responder RSTs: after a FIN exchange a RST changes nothing.
constexpr Seg xmpp_starttls[] = {
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
    EXPECT_EQ(zeek_conn_state(t), ConnState::SF);
}

// 192.168.0.4:26242 -> 212.227.15.188:110, the first of pop3.pcap's refused connections.
constexpr Seg pop3_refused[] = {
    {orig, syn, 0, false, false, false},        // 1
    {resp, ack | rst, 0, false, false, false},  // 2
};

TEST(ZeekStateTrace, Pop3RefusedIsRej) {
    const ZeekTracking t = replay(pop3_refused);
    EXPECT_EQ(history(t), "Sr");
    EXPECT_EQ(zeek_conn_state(t), ConnState::REJ);
}

// 192.168.0.4:26272 -> 212.227.15.166:110: the responder's data+FIN (21) records only 'f'.
constexpr Seg pop3_session[] = {
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
    EXPECT_EQ(zeek_conn_state(t), ConnState::SF);
}

// First websocket tunnel (127.0.0.1:42906 -> :8888), closed by the originator's RST.
constexpr Seg wstunnel_ssh[] = {
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
    EXPECT_EQ(zeek_conn_state(t), ConnState::RSTO);
}

// Picked up at the responder's SYN-ACK (from port 888). The responder's FIN (5) jumps over 13
// bytes that arrive next (7, 8: 'd', then 't' as they lie below the FIN): the hole is filled
// before the originator's ACK, so no 'g'. Zeek's oracle is the history only; SF is what Zeek's
// conn_state function gives for both endpoints CLOSED.
constexpr Seg ctu_64702_888[] = {
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
    EXPECT_EQ(zeek_conn_state(t), ConnState::SF);
}

TEST(ZeekStateTrace, Ctu64702FlippedWhenTheAckFollowsTheSynAck) {
    // 888 is not a likely server port: Zeek flips only when the originator's ACK follows the
    // SYN-ACK, and rewrites the history.
    ASSERT_FALSE(zeek_should_flip(888, 64702, syn | ack));
    const std::vector<Seg> unflipped = with_roles_swapped(ctu_64702_888);
    const ZeekTracking t = replay(unflipped, /*flipped=*/false);
    EXPECT_EQ(history(t), "^hAfdtFr");
    EXPECT_TRUE(zeek_roles_inverted(t));
    EXPECT_EQ(t.orig, ZeekEndpoint::closed);
    EXPECT_EQ(t.resp, ZeekEndpoint::closed);
}

// SYN, FIN before the handshake completes, SYN-ACK, FIN-ACK, responder RST. Zeek's oracle prints
// orig state=5 (TCP_CLOSED) and resp state=6 (TCP_RESET); RSTR follows from those states.
constexpr Seg fin_retransmission[] = {
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
    EXPECT_EQ(zeek_conn_state(t), ConnState::RSTR);
}

// zeek/zeek#5047 (one-sided-2745.pcap, Zeek 8.0): only the server, port 1433, sends: SYN-ACK, ACK,
// FIN-ACK. Zeek logs history "^haf"; SHR is its conn_state for that endpoint pair.
constexpr Seg one_sided_server[] = {
    {resp, ack | syn, 0, false, false, false},
    {resp, ack, 0, false, false, false},
    {resp, ack | fin, 0, false, false, false},
};

// As if 1433 were a likely server port (it is not in Zeek's list: the next test is Zeek's path).
TEST(ZeekStateTrace, OneSidedServerFlippedByPort) {
    const ZeekTracking t = replay(one_sided_server, /*flipped=*/true);
    EXPECT_EQ(history(t), "^haf");
    EXPECT_EQ(zeek_conn_state(t), ConnState::SHR);
}

TEST(ZeekStateTrace, OneSidedServerFlippedByItsOwnAck) {
    const std::vector<Seg> unflipped = with_roles_swapped(one_sided_server);
    const ZeekTracking t = replay(unflipped, /*flipped=*/false);
    EXPECT_EQ(history(t), "^haf");
    EXPECT_TRUE(zeek_roles_inverted(t));
    EXPECT_EQ(t.orig, ZeekEndpoint::inactive);
    EXPECT_EQ(t.resp, ZeekEndpoint::closed);
    EXPECT_EQ(zeek_conn_state(t), ConnState::SHR);
}

// ---- Every conn_state from synthetic sequences ----

struct StateCase {
    const char* name;
    bool flipped;
    std::vector<Seg> segments;
    uint64_t orig_bytes;
    uint64_t resp_bytes;
    ConnState expected;
    const char* expected_history;
};

class ZeekConnState : public testing::TestWithParam<StateCase> {};

TEST_P(ZeekConnState, MatchesZeek) {
    const StateCase& c = GetParam();
    const ZeekTracking t = replay(c.segments, c.flipped);
    EXPECT_EQ(zeek_conn_state(t), c.expected) << name_of(zeek_conn_state(t));
    EXPECT_EQ(history(t), c.expected_history);
    EXPECT_EQ(zeek_size(t, true), c.orig_bytes);
    EXPECT_EQ(zeek_size(t, false), c.resp_bytes);
}

const Seg handshake[] = {segment(orig, syn), segment(resp, syn | ack), segment(orig, ack)};

std::vector<Seg> after_handshake(std::initializer_list<Seg> rest) {
    std::vector<Seg> v(std::begin(handshake), std::end(handshake));
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
    Seg zero = segment(resp, ack);
    zero.zero_window = true;
    const ZeekTracking t = replay(after_handshake({zero, zero}));
    EXPECT_EQ(history(t), "ShAaw");
}

TEST(ZeekHistory, ZeroWindowIgnoredAfterThePeerClosed) {
    Seg zero = segment(resp, ack);
    zero.zero_window = true;
    const ZeekTracking t = replay(after_handshake({segment(orig, ack | fin), zero}));
    EXPECT_EQ(history(t), "ShAFa");
}

TEST(ZeekHistory, ZeroWindowIgnoredAfterOwnReset) {
    Seg zero = segment(orig, ack);
    zero.zero_window = true;
    const ZeekTracking t = replay(after_handshake({segment(orig, rst), zero}));
    EXPECT_EQ(history(t), "ShAR");
}

TEST(ZeekHistory, RetransmissionRecordedWithItsDataLetter) {
    Seg again = segment(resp, ack | psh, 100);
    again.retransmission = true;
    const ZeekTracking t = replay(after_handshake({segment(resp, ack | psh, 100), again, again}));
    EXPECT_EQ(history(t), "ShAdt");
}

TEST(ZeekHistory, RetransmissionIgnoredAfterOwnReset) {
    Seg again = segment(orig, ack | psh, 100);
    again.retransmission = true;
    const ZeekTracking t = replay(after_handshake({segment(orig, rst), again}));
    EXPECT_EQ(history(t), "ShARD");
}

TEST(ZeekHistory, RetransmissionNeedsPayload) {
    Seg empty = segment(orig, ack);
    empty.retransmission = true;
    const ZeekTracking t = replay(after_handshake({empty}));
    EXPECT_EQ(history(t), "ShA");
}

TEST(ZeekHistory, GapReportedWhenThePeerAcks) {
    Seg jump = segment(orig, ack | psh, 100);
    jump.content_gap = true;
    const ZeekTracking before_ack = replay(after_handshake({jump}));
    EXPECT_EQ(history(before_ack), "ShAD");
    const ZeekTracking t = replay(after_handshake({jump, segment(resp, ack)}));
    EXPECT_EQ(history(t), "ShADaG");
}

TEST(ZeekHistory, GapFilledByARetransmissionIsNotReported) {
    Seg jump = segment(orig, ack | psh, 100);
    jump.content_gap = true;
    Seg fill = segment(orig, ack | psh, 100);
    fill.retransmission = true;
    const ZeekTracking t = replay(after_handshake({jump, fill, segment(resp, ack)}));
    EXPECT_EQ(history(t), "ShADTa");
}

TEST(ZeekHistory, GapNotReportedOnPartialConnections) {
    Seg jump = segment(orig, ack | psh, 100);
    jump.content_gap = true;
    const ZeekTracking t = replay({{jump, segment(resp, ack)}});
    EXPECT_EQ(t.orig, ZeekEndpoint::partial);
    EXPECT_EQ(history(t), "Da");
}

TEST(ZeekHistory, GapRevealedByARstIsNotReported) {
    Seg jump = segment(orig, ack | psh, 100);
    jump.content_gap = true;
    const ZeekTracking t = replay(after_handshake({jump, segment(resp, rst | ack)}));
    EXPECT_EQ(history(t), "ShADr");
}

TEST(ZeekHistory, GapReportedAfterACleanClose) {
    Seg jump = segment(orig, ack | psh, 100);
    jump.content_gap = true;
    const ZeekTracking t =
        replay(after_handshake({jump, segment(orig, ack | fin), segment(resp, ack | fin)}));
    EXPECT_EQ(history(t), "ShADFfG");
    EXPECT_EQ(zeek_conn_state(t), ConnState::SF);
}

TEST(ZeekHistory, LettersAfterBothFinsAreStillRecorded) {
    Seg orig_data = segment(orig, ack | psh, 10);
    orig_data.retransmission = true;
    orig_data.zero_window = true;
    Seg resp_data = segment(resp, ack | psh, 10);
    resp_data.retransmission = true;
    resp_data.zero_window = true;
    // S h A D W T d w t a F f, then the RSTs after both FINs: letters, but still SF.
    const ZeekTracking t =
        replay(after_handshake({orig_data, resp_data, segment(resp, ack), segment(orig, ack | fin),
                                segment(resp, ack | fin), segment(orig, rst), segment(resp, rst)}));
    EXPECT_EQ(history(t), "ShADWTdwtaFfRr");
    EXPECT_EQ(zeek_conn_state(t), ConnState::SF);
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
    EXPECT_EQ(zeek_conn_state(t), ConnState::REJ);
}

// ---- SYN/SYN-ACK reversal (Zeek's UpdateInactiveState and Connection::FlipRoles) ----

// The server's SYN-ACK seen before the client's SYN it answers (two capture interfaces, interrupt
// coalescing): numbers as real stacks send them, the SYN-ACK acknowledging the SYN's number + 1.
// The caller's originator is the SYN-ACK's sender (the first packet's).
struct Reversal {
    ZeekTracking t{};
    ZeekClose send(bool from_orig, uint8_t flags, uint32_t seq, uint32_t ack_number,
                   uint32_t payload = 0) {
        return zeek_track(t, ZeekSegment{from_orig, flags, payload, seq, ack_number, false, false});
    }
    void synack_then_syn() {
        send(orig, syn | ack, 5000, 1001);  // server → client
        send(resp, syn, 1000, 0);           // client → server
    }
};

TEST(ZeekReversal, ResponderSynAfterTheSynAckFlipsAndEstablishesBothSides) {
    Reversal r;
    r.send(orig, syn | ack, 5000, 1001);
    EXPECT_EQ(r.t.orig, ZeekEndpoint::syn_ack_sent);
    EXPECT_FALSE(zeek_roles_inverted(r.t));
    r.send(resp, syn, 1000, 0);
    EXPECT_TRUE(zeek_roles_inverted(r.t));
    EXPECT_EQ(r.t.orig, ZeekEndpoint::established);  // the client, Zeek's originator now
    EXPECT_EQ(r.t.resp, ZeekEndpoint::established);
    EXPECT_EQ(zeek_conn_state(r.t), ConnState::S1);
}

TEST(ZeekReversal, LettersBeforeTheFlipKeepTheirCaseAndCaretFollowsThem) {
    // Zeek: "H" (the SYN-ACK as originator), "s" (the SYN as responder), then FlipRoles appends
    // '^'; later letters are in the new roles, so the client's ACK and data are A and D.
    Reversal r;
    r.synack_then_syn();
    EXPECT_EQ(history(r.t), "Hs^");
    r.send(resp, ack, 1001, 5001);            // client ACK: Zeek's originator
    r.send(resp, ack | psh, 1001, 5001, 10);  // client data
    r.send(orig, ack | psh, 5001, 1011, 20);  // server data
    r.send(orig, rst | ack, 5021, 1011);      // server RST
    EXPECT_EQ(history(r.t), "Hs^ADdr");
    EXPECT_EQ(zeek_conn_state(r.t), ConnState::RSTR);
}

TEST(ZeekReversal, NumbersAndCloseFollowTheEndpoints) {
    Reversal r;
    r.synack_then_syn();
    r.send(resp, ack | psh, 1001, 5001, 10);  // the client sends 10 bytes
    r.send(orig, ack | psh, 5001, 1011, 20);  // the server 20
    EXPECT_EQ(zeek_size(r.t, true), 10u);     // Zeek's originator: the client
    EXPECT_EQ(zeek_size(r.t, false), 20u);
    EXPECT_EQ(r.send(orig, fin | ack, 5021, 1011), ZeekClose::incomplete);
    EXPECT_TRUE(zeek_did_close(r.t, false));  // the server: Zeek's responder
    EXPECT_FALSE(zeek_did_close(r.t, true));
}

TEST(ZeekReversal, SynAckFromTheResponderIsNoReversal) {
    // Both sides sent a SYN-ACK: no bare SYN, so no flip (Zeek only checks the SYN's ACK).
    Reversal r;
    r.send(orig, syn | ack, 5000, 1001);
    r.send(resp, syn | ack, 1000, 5001);
    EXPECT_FALSE(zeek_roles_inverted(r.t));
    EXPECT_EQ(history(r.t), "Hh");
}

TEST(ZeekReversal, SynAnsweringASynIsASimultaneousOpenNotAReversal) {
    Reversal r;
    r.send(orig, syn, 1000, 0);
    r.send(resp, syn, 5000, 0);
    EXPECT_FALSE(zeek_roles_inverted(r.t));
    EXPECT_EQ(history(r.t), "Ss");
    EXPECT_EQ(r.t.orig, ZeekEndpoint::established);
    EXPECT_EQ(r.t.resp, ZeekEndpoint::established);
}

TEST(ZeekReversal, NoLateFlipAfterAReversal) {
    // The SYN-ACK-first flip (history exactly "H", then an ACK or data) must not undo it.
    Reversal r;
    r.synack_then_syn();
    r.send(orig, ack, 5001, 1001);  // the server's ACK, now Zeek's responder
    EXPECT_TRUE(zeek_roles_inverted(r.t));
    EXPECT_EQ(history(r.t), "Hs^a");
}

// The same reversal as the flow tracker feeds it: it takes the SYN-ACK's sender as responder at
// once ("^h", caller's roles), having said that Zeek would not have flipped yet.
struct EarlyFlip {
    ZeekTracking t{};
    EarlyFlip() {
        t.flipped = true;
        zeek_synack_sender_was_originator(t);
        send(resp, syn | ack, 5000, 1001);  // the server: the caller's responder
    }
    ZeekClose send(bool from_orig, uint8_t flags, uint32_t seq, uint32_t ack_number,
                   uint32_t payload = 0) {
        return zeek_track(t, ZeekSegment{from_orig, flags, payload, seq, ack_number, false, false});
    }
};

TEST(ZeekReversal, EarlyFlipThenTheAnsweredSynIsZeeksReversal) {
    EarlyFlip r;
    EXPECT_EQ(history(r.t), "^h");
    EXPECT_TRUE(zeek_is_reversal(r.t, orig, syn, 1000));
    EXPECT_FALSE(zeek_is_reversal(r.t, orig, syn, 999));  // another number: Zeek's reuse
    EXPECT_FALSE(zeek_is_reversal(r.t, orig, syn | ack, 1000));
    EXPECT_FALSE(zeek_is_reversal(r.t, resp, syn, 1000));
    EXPECT_EQ(r.send(orig, syn, 1000, 0), ZeekClose::none);
    EXPECT_EQ(history(r.t), "Hs^");
    EXPECT_FALSE(zeek_roles_inverted(r.t));
    EXPECT_EQ(r.t.orig, ZeekEndpoint::established);
    EXPECT_EQ(r.t.resp, ZeekEndpoint::established);
    r.send(orig, ack, 1001, 5001);
    r.send(orig, ack | psh, 1001, 5001, 10);
    r.send(resp, rst | ack, 5001, 1011);
    EXPECT_EQ(history(r.t), "Hs^ADr");
    EXPECT_EQ(zeek_conn_state(r.t), ConnState::RSTR);
    EXPECT_EQ(zeek_size(r.t, true), 10u);
}

TEST(ZeekReversal, EarlyFlipConfirmedByAnAckIsNoReversal) {
    // Zeek flips on the ACK ("^h" then the ACK's letter): a SYN after it is no reversal.
    EarlyFlip r;
    r.send(orig, ack, 1001, 5001);
    EXPECT_EQ(history(r.t), "^hA");
    EXPECT_FALSE(zeek_is_reversal(r.t, orig, syn, 1000));
}

TEST(ZeekReversal, WithoutTheEarlyFlipNoteASynAfterTheSynAckIsNoReversal) {
    // The port rule flipped the first packet (Zeek "^h" at once): the SYN is the originator's.
    ZeekTracking t{};
    t.flipped = true;
    zeek_track(t, ZeekSegment{resp, syn | ack, 0, 5000, 1001, false, false});
    EXPECT_FALSE(zeek_is_reversal(t, orig, syn, 1000));
    zeek_track(t, ZeekSegment{orig, syn, 0, 1000, 0, false, false});
    EXPECT_EQ(history(t), "^hS");
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

// ---- Sizes from sequence numbers (issue 11, item 3) ----

ZeekSegment numbered(bool from_orig, uint8_t flags, uint32_t seq, uint32_t ack_number = 0,
                     uint32_t payload = 0) {
    return ZeekSegment{from_orig, flags, payload, seq, ack_number, false, false};
}

ZeekTracking feed(std::initializer_list<ZeekSegment> segments) {
    ZeekTracking t{};
    for (const ZeekSegment& s : segments)
        zeek_track(t, s);
    return t;
}

// Handshake with ISNs 1000 and 5000.
constexpr uint8_t syn_ack = syn | ack;

TEST(ZeekSizes, BothResetWithDataOnlyAcknowledgedIsRstr) {
    // The originator's 100 bytes were not captured, but the responder acknowledged them: Zeek's
    // size is 100, so two RSTs make RSTR, not REJ (payload counts would say 0).
    const ZeekTracking t = feed({numbered(orig, syn, 1000), numbered(resp, syn_ack, 5000, 1001),
                                 numbered(orig, ack, 1001, 5001), numbered(resp, ack, 5001, 1101),
                                 numbered(orig, rst, 1101), numbered(resp, rst, 5001)});
    EXPECT_EQ(zeek_size(t, true), 100u);
    EXPECT_EQ(zeek_size(t, false), 0u);
    EXPECT_EQ(zeek_conn_state(t), ConnState::RSTR);
    EXPECT_EQ(history(t), "ShAaRr");
}

TEST(ZeekSizes, RstSequenceAdvancesTheEndWithinOneMebibyte) {
    const auto both_reset = [](uint32_t orig_rst_seq) {
        return feed({numbered(orig, syn, 1000), numbered(resp, syn_ack, 5000, 1001),
                     numbered(orig, ack, 1001, 5001), numbered(orig, rst, orig_rst_seq),
                     numbered(resp, rst, 5001)});
    };
    const ZeekTracking near = both_reset(1001 + 50);
    EXPECT_EQ(zeek_size(near, true), 50u);
    EXPECT_EQ(zeek_conn_state(near), ConnState::RSTR);
    const ZeekTracking edge = both_reset(1001 + (1u << 20));  // exactly 1 MiB: still trusted
    EXPECT_EQ(zeek_size(edge, true), uint64_t{1} << 20);
    const ZeekTracking far = both_reset(1001 + (1u << 20) + 1);
    EXPECT_EQ(zeek_size(far, true), 0u);
    EXPECT_EQ(zeek_conn_state(far), ConnState::REJ);
    const ZeekTracking behind = both_reset(1001 - 5);  // below: the end stays
    EXPECT_EQ(zeek_size(behind, true), 0u);
    EXPECT_EQ(zeek_conn_state(behind), ConnState::REJ);
}

TEST(ZeekSizes, AcksOnRstsAreIgnored) {
    // The responder's RST acknowledges 500 bytes the originator never sent: not a size.
    const ZeekTracking t = feed({numbered(orig, syn, 1000), numbered(resp, syn_ack, 5000, 1001),
                                 numbered(orig, ack, 1001, 5001),
                                 numbered(resp, rst | ack, 5001, 1501), numbered(orig, rst, 1001)});
    EXPECT_EQ(zeek_size(t, true), 0u);
    EXPECT_EQ(zeek_conn_state(t), ConnState::REJ);
    // The same ACK on a plain segment counts.
    const ZeekTracking acked =
        feed({numbered(orig, syn, 1000), numbered(resp, syn_ack, 5000, 1001),
              numbered(orig, ack, 1001, 5001), numbered(resp, ack, 5001, 1501),
              numbered(resp, rst, 5001), numbered(orig, rst, 1001)});
    EXPECT_EQ(zeek_size(acked, true), 500u);
    EXPECT_EQ(zeek_conn_state(acked), ConnState::RSTR);
}

TEST(ZeekSizes, RejWithoutSynWhenBothResetWithZeroSizes) {
    const ZeekTracking t = feed({numbered(orig, rst, 7000), numbered(resp, rst, 9000)});
    EXPECT_EQ(zeek_size(t, true), 0u);
    EXPECT_EQ(zeek_size(t, false), 0u);
    EXPECT_EQ(zeek_conn_state(t), ConnState::REJ);
    EXPECT_EQ(history(t), "Rr");
    // With data before the RSTs: RSTR.
    const ZeekTracking data = feed({numbered(orig, ack, 7000, 9000, 10), numbered(orig, rst, 7010),
                                    numbered(resp, rst, 9000)});
    EXPECT_EQ(zeek_size(data, true), 10u);
    EXPECT_EQ(zeek_conn_state(data), ConnState::RSTR);
}

TEST(ZeekSizes, FinAndSynTakeNoSize) {
    const ZeekTracking t =
        feed({numbered(orig, syn, 1000), numbered(resp, syn_ack, 5000, 1001),
              numbered(orig, ack, 1001, 5001, 30), numbered(orig, fin | ack, 1031, 5001),
              numbered(resp, fin | ack, 5001, 1032)});
    EXPECT_EQ(zeek_size(t, true), 30u);
    EXPECT_EQ(zeek_size(t, false), 0u);
    EXPECT_EQ(zeek_conn_state(t), ConnState::SF);
}

// ---- Letter repetition (issue 11, item 4) ----

TEST(ZeekRepeats, RstRepeatsWhenItsNumberDiffers) {
    const ZeekTracking t = feed({numbered(orig, syn, 1000), numbered(resp, rst | ack, 0, 1001),
                                 numbered(resp, rst | ack, 0, 1001), numbered(resp, rst, 40),
                                 numbered(resp, rst, 40), numbered(resp, rst, 0)});
    EXPECT_EQ(history(t), "Srrr");
}

TEST(ZeekRepeats, FinRepeatsWhenItsEndDiffers) {
    // The same FIN again adds nothing; a FIN carrying new data ends elsewhere: F again.
    const ZeekTracking t =
        feed({numbered(orig, syn, 1000), numbered(resp, syn_ack, 5000, 1001),
              numbered(orig, fin | ack, 1001, 5001), numbered(orig, fin | ack, 1001, 5001),
              numbered(orig, fin | ack, 1001, 5001, 20)});
    EXPECT_EQ(history(t), "ShFF");
}

TEST(ZeekRepeats, SynWithANewNumberRestartsWithoutALetter) {
    // In SYN_SENT a SYN with another number restarts the endpoint's numbers (Zeek's
    // SYN_seq_jump): relative number 0 again, so no second S.
    const ZeekTracking t = feed({numbered(orig, syn, 1000), numbered(orig, syn, 77777)});
    EXPECT_EQ(history(t), "S");
    // After the responder closed, its SYN-ACK with another number repeats the letter.
    const ZeekTracking closed =
        feed({numbered(orig, syn, 1000), numbered(resp, syn_ack, 5000, 1001),
              numbered(resp, fin | ack, 5001, 1001), numbered(resp, syn_ack, 6000, 1001)});
    EXPECT_EQ(history(closed), "Shfh");
}

TEST(ZeekRepeats, RetransmissionsAtOneTenAndAHundred) {
    ZeekTracking t = feed({numbered(orig, syn, 1000), numbered(resp, syn_ack, 5000, 1001),
                           numbered(orig, ack, 1001, 5001, 100)});
    for (int i = 0; i < 100; ++i)
        zeek_track(t, numbered(orig, ack, 1001, 5001, 100));
    EXPECT_EQ(history(t), "ShDTTT");
    zeek_track(t, numbered(orig, ack, 1001, 5001, 100));
    EXPECT_EQ(history(t), "ShDTTT");
}

TEST(ZeekRepeats, ZeroWindowsAtOneAndTenAndOnSynAndFin) {
    ZeekSegment zero_syn = numbered(orig, syn, 1000);
    zero_syn.zero_window = true;
    ZeekTracking t = feed({zero_syn, numbered(resp, syn_ack, 5000, 1001)});
    EXPECT_EQ(history(t), "SWh");
    for (int i = 0; i < 9; ++i) {
        ZeekSegment zero = numbered(resp, ack, 5001, 1001);
        zero.zero_window = true;
        zeek_track(t, zero);
    }
    EXPECT_EQ(history(t), "SWhaw");  // the resp's 9 zero windows: only the first one so far
    ZeekSegment zero_fin = numbered(resp, fin | ack, 5001, 1001);
    zero_fin.zero_window = true;
    zeek_track(t, zero_fin);  // the tenth
    EXPECT_EQ(history(t), "SWhawfw");
    ZeekSegment zero_rst = numbered(orig, rst, 1001);
    zero_rst.zero_window = true;  // never with a RST
    zeek_track(t, zero_rst);
    EXPECT_EQ(history(t), "SWhawfwR");
}

TEST(ZeekRepeats, RstWithPayloadBelowTheEndIsARetransmission) {
    ZeekTracking t = feed({numbered(orig, syn, 1000), numbered(resp, syn_ack, 5000, 1001),
                           numbered(resp, ack, 5001, 1001, 50)});
    zeek_track(t, numbered(resp, rst | ack, 5020, 1001, 12));  // below 5051, with payload: t
    EXPECT_EQ(history(t), "Shdrt");
    ZeekTracking ahead = feed({numbered(orig, syn, 1000), numbered(resp, syn_ack, 5000, 1001),
                               numbered(resp, ack, 5001, 1001, 50)});
    zeek_track(ahead, numbered(resp, rst | ack, 5051 + 3, 1001, 12));  // past the end: no t
    EXPECT_EQ(history(ahead), "Shdr");
}

TEST(ZeekRepeats, MultiFlagLettersOncePerDirection) {
    const ZeekTracking t =
        feed({numbered(orig, syn, 1000), numbered(resp, syn | rst | ack, 5000, 1001),
              numbered(resp, syn | rst | ack, 6000, 1001), numbered(orig, fin | rst, 1001),
              numbered(orig, fin | rst, 1001)});
    EXPECT_EQ(history(t), "SqI");
    // SYN+RST went through the state machine: the responder reset.
    EXPECT_EQ(t.resp, ZeekEndpoint::reset);
    EXPECT_EQ(zeek_conn_state(t), ConnState::REJ);
}

TEST(ZeekRepeats, HistoryKeepsItsFirst32Letters) {
    ZeekTracking t = feed({numbered(orig, syn, 1000), numbered(resp, rst | ack, 0, 1001)});
    for (uint32_t i = 1; i < 40; ++i)
        zeek_track(t, numbered(resp, rst, i * 10));
    EXPECT_EQ(t.history_length, zeek_history_max_letters);
    EXPECT_EQ(history(t), std::string("S").append(zeek_history_max_letters - 1, 'r'));
    // Flipping rewrites every kept letter, the 32nd too.
    char buffer[zeek_history_max_letters + 2];
    EXPECT_EQ(zeek_history(t, buffer, sizeof buffer), zeek_history_max_letters);
}

TEST(ZeekTrackingLayout, FitsTheFlowEntryBudget) {
    EXPECT_EQ(sizeof(ZeekTracking), 84u);
    const ZeekTracking fresh{};
    EXPECT_EQ(fresh.orig, ZeekEndpoint::inactive);
    EXPECT_EQ(fresh.history_length, 0);
    EXPECT_EQ(zeek_conn_state(fresh), ConnState::OTH);
}

// ConnectionClosed: which segment closes its sender, and whether the close is complete (ends the
// record 5 s later, flow_tracker.h).
TEST(ZeekClose, FinAndRstCloseTheirSenderOnceAndCompleteAsZeekDoes) {
    Fed t;
    EXPECT_EQ(t(segment(orig, syn)), ZeekClose::none);
    EXPECT_EQ(t(segment(resp, syn | ack)), ZeekClose::none);
    EXPECT_EQ(t(segment(orig, ack)), ZeekClose::none);
    // The first FIN with the peer established: closed, not complete.
    EXPECT_EQ(t(segment(orig, fin | ack)), ZeekClose::incomplete);
    EXPECT_TRUE(zeek_did_close(t.t, true));
    EXPECT_FALSE(zeek_did_close(t.t, false));
    EXPECT_EQ(t(segment(orig, fin | ack)), ZeekClose::none);  // already closed
    EXPECT_EQ(t(segment(orig, rst)), ZeekClose::none);        // FIN then RST: no close
    // The peer's FIN completes it.
    EXPECT_EQ(t(segment(resp, fin | ack)), ZeekClose::complete);
    EXPECT_TRUE(zeek_did_close(t.t, false));

    Fed reset;
    reset(segment(orig, syn));
    reset(segment(resp, syn | ack));
    reset(segment(orig, ack));
    EXPECT_EQ(reset(segment(resp, rst | ack)), ZeekClose::complete);  // a RST is

    Fed lone_fin;  // a FIN whose peer was never seen
    EXPECT_EQ(lone_fin(segment(resp, fin | ack)), ZeekClose::complete);

    Fed after_both;  // after both FINs a RST closes nothing
    after_both(segment(orig, ack, 10));
    after_both(segment(resp, ack, 10));
    EXPECT_EQ(after_both(segment(orig, fin | ack)), ZeekClose::incomplete);
    EXPECT_EQ(after_both(segment(resp, fin | ack)), ZeekClose::complete);
    EXPECT_EQ(after_both(segment(resp, rst)), ZeekClose::none);
}

// After Zeek flips the roles (a SYN-ACK then an ACK), did_close speaks of Zeek's roles.
TEST(ZeekClose, DidCloseIsInZeeksRolesAfterAFlip) {
    Fed t;
    t(segment(orig, syn | ack));
    t(segment(resp, ack));
    ASSERT_TRUE(zeek_roles_inverted(t.t));
    // The caller's originator sent the SYN-ACK: Zeek's responder.
    EXPECT_EQ(t(segment(orig, fin | ack)), ZeekClose::incomplete);
    EXPECT_TRUE(zeek_did_close(t.t, false));
    EXPECT_FALSE(zeek_did_close(t.t, true));
}

}  // namespace
}  // namespace rstscope
