#include <gtest/gtest.h>

#include "frame_builder.h"
#include "rstscope/common/tcp_flags.h"
#include "rstscope/decode/packet_decoder.h"

namespace rstscope {
namespace {

using namespace test;

DecodeResult decode(LinkType link, const Bytes& frame, DecodedPacket& p) {
    return decode_frame(link, frame.data(), static_cast<uint32_t>(frame.size()), p);
}

TEST(Decoder, Ipv4TcpWithOptionsAndPayload) {
    TcpSpec t;
    t.flags = tcp_flag::syn;
    t.options = {2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 7, 0, 0, 0, 9, 1, 3, 3, 7};
    t.payload = "hello";
    Bytes frame = eth_ipv4_tcp(t, "198.51.100.1", "203.0.113.2", 57, 4242);
    DecodedPacket p;
    DecodeResult r = decode(LinkType::ethernet, frame, p);
    ASSERT_TRUE(r.is_tcp);
    EXPECT_EQ(p.family, IpFamily::v4);
    EXPECT_EQ(p.src.bytes[0], 198);
    EXPECT_EQ(p.dst.bytes[3], 2);
    EXPECT_EQ(p.src_port, 40000);
    EXPECT_EQ(p.dst_port, 80);
    EXPECT_EQ(p.ttl, 57);
    EXPECT_TRUE(p.has_ip_id);
    EXPECT_EQ(p.ip_id, 4242);
    EXPECT_EQ(p.tcp_flags, tcp_flag::syn);
    EXPECT_EQ(p.options.mss, 1460);
    EXPECT_EQ(p.options.window_scale, 7);
    EXPECT_TRUE(p.options.sack_permitted);
    EXPECT_TRUE(p.options.has_timestamps);
    EXPECT_EQ(p.options.ts_value, 7u);
    EXPECT_EQ(p.options.ts_echo, 9u);
    EXPECT_EQ(p.payload_length, 5u);
    EXPECT_EQ(p.payload_captured, 5u);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(p.payload), 5), "hello");
    EXPECT_FALSE(p.options_malformed);
    EXPECT_EQ(p.vlan_outer, vlan_none);
}

TEST(Decoder, QinQTagsGiveOuterAndInnerVlan) {
    TcpSpec t;
    Bytes frame = ethernet(0x0800, ipv4("198.51.100.1", "203.0.113.2", 6, tcp_segment(t)),
                           {100, 200}, 0x88A8);
    DecodedPacket p;
    ASSERT_TRUE(decode(LinkType::ethernet, frame, p).is_tcp);
    EXPECT_EQ(p.vlan_outer, 100);
    EXPECT_EQ(p.vlan_inner, 200);
    EXPECT_TRUE(p.encapsulation & encapsulation_vlan);
}

TEST(Decoder, Ipv6WithExtensionHeaders) {
    TcpSpec t;
    Bytes tcp = tcp_segment(t);
    Bytes hop_by_hop{60, 0, 1, 4, 0, 0, 0, 0};      // next = destination options, 8 bytes
    Bytes destination{44, 0, 1, 4, 0, 0, 0, 0};     // next = fragment
    Bytes atomic_fragment{6, 0, 0, 0, 0, 0, 0, 1};  // offset 0, M clear: a whole packet
    Bytes payload = hop_by_hop;
    append(payload, destination);
    append(payload, atomic_fragment);
    append(payload, tcp);
    Bytes frame = ethernet(0x86DD, ipv6("2001:db8::1", "2001:db8::2", 0, payload, 33));
    DecodedPacket p;
    ASSERT_TRUE(decode(LinkType::ethernet, frame, p).is_tcp);
    EXPECT_EQ(p.family, IpFamily::v6);
    EXPECT_EQ(p.ttl, 33);
    EXPECT_FALSE(p.has_ip_id);
    EXPECT_EQ(p.payload_length, 0u);
}

TEST(Decoder, Ipv6FragmentIsSkipped) {
    Bytes fragment{6, 0, 0x00, 0x09, 0, 0, 0, 1};  // offset 1: not the first fragment
    append(fragment, tcp_segment(TcpSpec{}));
    DecodedPacket p;
    DecodeResult r = decode(LinkType::ethernet,
                            ethernet(0x86DD, ipv6("2001:db8::1", "2001:db8::2", 44, fragment)), p);
    EXPECT_FALSE(r.is_tcp);
    EXPECT_EQ(r.reason, DropReason::ip_fragment);
}

TEST(Decoder, Ipv4FragmentsAndNonTcpAreCountedReasons) {
    DecodedPacket p;
    Bytes tcp = tcp_segment(TcpSpec{});
    Bytes more_fragments =
        ethernet(0x0800, ipv4("198.51.100.1", "203.0.113.2", 6, tcp, 64, 1, 0x2000));
    EXPECT_EQ(decode(LinkType::ethernet, more_fragments, p).reason, DropReason::ip_fragment);
    Bytes later_fragment =
        ethernet(0x0800, ipv4("198.51.100.1", "203.0.113.2", 6, tcp, 64, 1, 0x0010));
    EXPECT_EQ(decode(LinkType::ethernet, later_fragment, p).reason, DropReason::ip_fragment);
    Bytes udp = ethernet(0x0800, ipv4("198.51.100.1", "203.0.113.2", 17, Bytes(8, 0)));
    EXPECT_EQ(decode(LinkType::ethernet, udp, p).reason, DropReason::not_tcp);
    Bytes arp = ethernet(0x0806, Bytes(28, 0));
    EXPECT_EQ(decode(LinkType::ethernet, arp, p).reason, DropReason::not_ip);
}

TEST(Decoder, EveryTruncationIsCountedNeverOverread) {
    TcpSpec t;
    t.options = {2, 4, 5, 0xb4};
    t.payload = "data";
    Bytes frame = ethernet(0x8100, Bytes{0, 5, 0x08, 0x00});
    append(frame, ipv4("198.51.100.1", "203.0.113.2", 6, tcp_segment(t)));
    // Every prefix of a valid frame must decode to a drop reason or a TCP segment whose payload
    // is marked as cut, and must never read past the prefix (ASan checks the heap copy).
    for (size_t length = 0; length < frame.size(); ++length) {
        Bytes prefix(frame.begin(), frame.begin() + static_cast<std::ptrdiff_t>(length));
        DecodedPacket p;
        DecodeResult r =
            decode_frame(LinkType::ethernet, prefix.data(), static_cast<uint32_t>(length), p);
        if (length < 18) {
            EXPECT_EQ(r.reason, DropReason::truncated_l2) << length;
        } else if (length < 18 + 20) {
            EXPECT_EQ(r.reason, DropReason::truncated_ip) << length;
        } else if (length < 18 + 20 + 24) {
            EXPECT_EQ(r.reason, DropReason::truncated_tcp) << length;
        } else {
            ASSERT_TRUE(r.is_tcp) << length;
            EXPECT_EQ(p.payload_length, 4u);
            EXPECT_EQ(p.payload_captured, length - 62);
        }
    }
}

TEST(Decoder, LyingLengthsAreMalformed) {
    DecodedPacket p;
    Bytes good = ipv4("198.51.100.1", "203.0.113.2", 6, tcp_segment(TcpSpec{}));
    Bytes short_ihl = good;
    short_ihl[0] = 0x44;
    EXPECT_EQ(decode(LinkType::raw_ip, short_ihl, p).reason, DropReason::bad_ipv4_header_length);
    Bytes small_total = good;
    small_total[2] = 0;
    small_total[3] = 30;  // less than IP + TCP headers
    EXPECT_EQ(decode(LinkType::raw_ip, small_total, p).reason, DropReason::bad_ip_total_length);
    Bytes bad_offset = good;
    bad_offset[20 + 12] = 0x30;  // data offset 3
    EXPECT_EQ(decode(LinkType::raw_ip, bad_offset, p).reason, DropReason::bad_tcp_data_offset);
    Bytes big_offset = good;
    big_offset[20 + 12] = 0xF0;  // 60 bytes of header in a 20-byte segment
    EXPECT_EQ(decode(LinkType::raw_ip, big_offset, p).reason, DropReason::bad_tcp_data_offset);
    Bytes version = good;
    version[0] = 0x55;
    EXPECT_EQ(decode(LinkType::raw_ip, version, p).reason, DropReason::bad_ip_version);
}

TEST(Decoder, EthernetPaddingIsNotPayload) {
    TcpSpec t;
    t.flags = tcp_flag::rst | tcp_flag::ack;
    Bytes frame = eth_ipv4_tcp(t);
    frame.resize(60, 0);  // minimum Ethernet frame: 6 bytes of padding
    DecodedPacket p;
    ASSERT_TRUE(decode(LinkType::ethernet, frame, p).is_tcp);
    EXPECT_EQ(p.payload_length, 0u);
}

TEST(Decoder, MalformedOptionsStillDecodeTheSegment) {
    TcpSpec t;
    t.flags = tcp_flag::rst | tcp_flag::ack;
    t.options = {8, 40, 0, 0};  // timestamp option claiming 40 bytes
    DecodedPacket p;
    ASSERT_TRUE(decode(LinkType::ethernet, eth_ipv4_tcp(t), p).is_tcp);
    EXPECT_TRUE(p.options_malformed);
    EXPECT_EQ(p.tcp_flags, tcp_flag::rst | tcp_flag::ack);
}

TEST(Decoder, MptcpResetReason) {
    TcpSpec t;
    t.flags = tcp_flag::rst | tcp_flag::ack;
    t.options = {30, 4, 0x81, 0x06};
    DecodedPacket p;
    ASSERT_TRUE(decode(LinkType::ethernet, eth_ipv4_tcp(t), p).is_tcp);
    EXPECT_TRUE(p.options.has_mptcp_reset);
    EXPECT_EQ(p.options.mptcp_reset_reason, 6);
}

TEST(Decoder, MplsStackThenIpv4) {
    Bytes labels{0x00, 0x01, 0x00, 0x40, 0x00, 0x02, 0x01, 0x40};  // two labels, S on the second
    append(labels, ipv4("198.51.100.1", "203.0.113.2", 6, tcp_segment(TcpSpec{})));
    DecodedPacket p;
    ASSERT_TRUE(decode(LinkType::ethernet, ethernet(0x8847, labels), p).is_tcp);
    EXPECT_TRUE(p.encapsulation & encapsulation_mpls);
}

TEST(Decoder, GreAndErspanAndIpInIp) {
    Bytes inner = ethernet(0x0800, ipv4("198.51.100.7", "203.0.113.8", 6, tcp_segment(TcpSpec{})));
    Bytes erspan2{0x10, 0x00, 0x88, 0xBE, 0, 0, 0, 1};     // S bit, sequence number
    append(erspan2, Bytes{0x10, 0x01, 0, 0, 0, 0, 0, 0});  // ERSPAN II header
    append(erspan2, inner);
    DecodedPacket p;
    ASSERT_TRUE(decode(LinkType::ethernet,
                       ethernet(0x0800, ipv4("198.51.100.1", "203.0.113.2", 47, erspan2)), p)
                    .is_tcp);
    EXPECT_EQ(p.src.bytes[3], 7);
    EXPECT_TRUE(p.encapsulation & encapsulation_tunnel);

    Bytes ipip = ipv4("198.51.100.1", "203.0.113.2", 4,
                      ipv4("198.51.100.9", "203.0.113.10", 6, tcp_segment(TcpSpec{})));
    ASSERT_TRUE(decode(LinkType::raw_ip, ipip, p).is_tcp);
    EXPECT_EQ(p.src.bytes[3], 9);

    Bytes unknown_gre{0x00, 0x00, 0x12, 0x34};
    EXPECT_EQ(
        decode(LinkType::raw_ip, ipv4("198.51.100.1", "203.0.113.2", 47, unknown_gre), p).reason,
        DropReason::unsupported_tunnel);
}

TEST(Decoder, TunnelNestingIsBounded) {
    Bytes packet = ipv4("198.51.100.9", "203.0.113.10", 6, tcp_segment(TcpSpec{}));
    for (int i = 0; i < 8; ++i)
        packet = ipv4("198.51.100.1", "203.0.113.2", 4, packet);
    DecodedPacket p;
    EXPECT_EQ(decode(LinkType::raw_ip, packet, p).reason, DropReason::tunnel_too_deep);
}

TEST(Decoder, LinkTypesOtherThanEthernet) {
    Bytes ip = ipv4("198.51.100.1", "203.0.113.2", 6, tcp_segment(TcpSpec{}));
    DecodedPacket p;
    Bytes null_le{2, 0, 0, 0};  // AF_INET, little-endian host
    append(null_le, ip);
    EXPECT_TRUE(decode(LinkType::null_bsd, null_le, p).is_tcp);
    Bytes null_be{0, 0, 0, 2};
    append(null_be, ip);
    EXPECT_TRUE(decode(LinkType::null_bsd, null_be, p).is_tcp);
    EXPECT_TRUE(decode(LinkType::loop, null_be, p).is_tcp);
    Bytes sll(16, 0);
    sll[14] = 0x08;
    append(sll, ip);
    EXPECT_TRUE(decode(LinkType::linux_sll, sll, p).is_tcp);
    Bytes sll2(20, 0);
    sll2[0] = 0x08;
    append(sll2, ip);
    EXPECT_TRUE(decode(LinkType::linux_sll2, sll2, p).is_tcp);
    EXPECT_TRUE(decode(LinkType::raw_ip, ip, p).is_tcp);
    EXPECT_TRUE(decode(LinkType::ipv4, ip, p).is_tcp);
    EXPECT_FALSE(link_type_from_dlt(105).has_value());  // 802.11: refused, not misparsed
    EXPECT_EQ(link_type_from_dlt(113), LinkType::linux_sll);
    EXPECT_EQ(link_type_from_dlt(12), LinkType::raw_ip);
}

TEST(Decoder, PppoeSession) {
    Bytes pppoe{0x11, 0x00, 0x00, 0x01, 0x00, 0x30, 0x00, 0x21};
    append(pppoe, ipv4("198.51.100.1", "203.0.113.2", 6, tcp_segment(TcpSpec{})));
    DecodedPacket p;
    EXPECT_TRUE(decode(LinkType::ethernet, ethernet(0x8864, pppoe), p).is_tcp);
}

}  // namespace
}  // namespace rstscope
