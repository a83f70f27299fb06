// SPDX-License-Identifier: BSD-3-Clause
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "decoder_paths.h"
#include "frame_builder.h"
#include "rstscope/common/tcp_flags.h"
#include "rstscope/decode/packet_decoder.h"

namespace rstscope {
namespace {

using namespace test;

// Every frame a test here decodes is also held to the general path: decode_frame()'s fast path
// must agree with it field by field (decoder_paths.h; test_decoder_fast_path.cc generates more).
void expect_paths_agree(LinkType link, const uint8_t* frame, size_t length) {
    EXPECT_EQ(compare_decoder_paths(link, frame, static_cast<uint32_t>(length)).difference, "")
        << "frame of " << length << " bytes, link type " << static_cast<int>(link);
}

DecodeResult decode(LinkType link, const Bytes& frame, DecodedPacket& p) {
    expect_paths_agree(link, frame.data(), frame.size());
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

// ---- Fragments: which ones reassembly may take, and where their headers are ----

TEST(DecoderFragments, OutermostTcpFragmentsAreReassemblable) {
    DecodedPacket p;
    Bytes tcp = tcp_segment(TcpSpec{});
    // IPv4 behind a VLAN tag: the IP header starts 18 bytes in and is 20 bytes long.
    Bytes first =
        ethernet(0x0800, ipv4("198.51.100.1", "203.0.113.2", 6, tcp, 64, 7, 0x2000), {100});
    DecodeResult r = decode(LinkType::ethernet, first, p);
    EXPECT_EQ(r.reason, DropReason::ip_fragment);
    EXPECT_EQ(r.fragment_l2_length, 18);
    EXPECT_EQ(r.fragment_l3_length, 20);
    // With 8 bytes of IP options: a 28-byte header.
    Bytes options =
        ethernet(0x0800, ipv4("198.51.100.1", "203.0.113.2", 6, tcp, 64, 7, 0x0003, Bytes(8, 1)));
    r = decode(LinkType::ethernet, options, p);
    EXPECT_EQ(r.fragment_l2_length, 14);
    EXPECT_EQ(r.fragment_l3_length, 28);
    // IPv6: the fixed header and the fragment header.
    Bytes fragment{6, 0, 0x00, 0x09, 0, 0, 0, 1};
    append(fragment, tcp);
    r = decode(LinkType::raw_ip, ipv6("2001:db8::1", "2001:db8::2", 44, fragment), p);
    EXPECT_EQ(r.reason, DropReason::ip_fragment);
    EXPECT_EQ(r.fragment_l2_length, 0);
    EXPECT_EQ(r.fragment_l3_length, 48);
}

TEST(DecoderFragments, OtherFragmentsAreNotReassemblable) {
    DecodedPacket p;
    Bytes tcp = tcp_segment(TcpSpec{});
    const auto not_taken = [&](const Bytes& frame, LinkType link = LinkType::ethernet) {
        DecodeResult r = decode(link, frame, p);
        EXPECT_EQ(r.reason, DropReason::ip_fragment);
        EXPECT_EQ(r.fragment_l3_length, 0);
    };
    // Not TCP (a UDP fragment), IPv4 and IPv6.
    not_taken(ethernet(0x0800, ipv4("198.51.100.1", "203.0.113.2", 17, tcp, 64, 1, 0x2000)));
    Bytes udp_fragment{17, 0, 0x00, 0x09, 0, 0, 0, 1};
    append(udp_fragment, tcp);
    not_taken(ipv6("2001:db8::1", "2001:db8::2", 44, udp_fragment), LinkType::raw_ip);
    // IPv6: a fragment header after another extension header.
    Bytes chain{44, 0, 1, 4, 0, 0, 0, 0, 6, 0, 0x00, 0x09, 0, 0, 0, 1};
    append(chain, tcp);
    not_taken(ipv6("2001:db8::1", "2001:db8::2", 60, chain), LinkType::raw_ip);
    // Inside a tunnel (IP in IP).
    not_taken(ethernet(0x0800, ipv4("192.0.2.1", "192.0.2.2", 4,
                                    ipv4("198.51.100.1", "203.0.113.2", 6, tcp, 64, 1, 0x2000))));
    // Cut by the snap length: reassembly needs the whole fragment.
    Bytes whole = ethernet(0x0800, ipv4("198.51.100.1", "203.0.113.2", 6, tcp, 64, 1, 0x2000));
    not_taken(Bytes(whole.begin(), whole.end() - 1));
}

TEST(DecoderFragments, CheckFragmentLengths) {
    EXPECT_EQ(check_fragment(IpFamily::v4, 20, 0, 1480, true), FragmentCheck::take);
    EXPECT_EQ(check_fragment(IpFamily::v4, 20, 1480, 3, false), FragmentCheck::take);
    EXPECT_EQ(check_fragment(IpFamily::v4, 20, 0, 0, true), FragmentCheck::invalid);
    EXPECT_EQ(check_fragment(IpFamily::v6, 48, 8, 0, false), FragmentCheck::invalid);
    EXPECT_EQ(check_fragment(IpFamily::v4, 20, 0, 12, true), FragmentCheck::invalid);
    EXPECT_EQ(check_fragment(IpFamily::v4, 20, 0, 12, false), FragmentCheck::take);
    // The last byte of a datagram at 65535 (IPv4 with its header; IPv6 as payload), then one more.
    EXPECT_EQ(check_fragment(IpFamily::v4, 20, 65512, 3, false), FragmentCheck::take);
    EXPECT_EQ(check_fragment(IpFamily::v4, 20, 65512, 4, false), FragmentCheck::too_large);
    EXPECT_EQ(check_fragment(IpFamily::v6, 48, 65528, 7, false), FragmentCheck::take);
    EXPECT_EQ(check_fragment(IpFamily::v6, 48, 65528, 8, false), FragmentCheck::too_large);
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
        expect_paths_agree(LinkType::ethernet, prefix.data(), length);
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

// Linux's SYN options (MSS, SACK permitted, timestamps, NOP, window scale: 20 bytes) are read
// at once; that must give what walking them gives, and every layout one byte off Linux's must be
// walked.
TEST(TcpOptions, LinuxSynLayoutReadsAsTheWalk) {
    auto check = [](const std::vector<uint8_t>& options, const char* what) {
        TcpOptions read, walked;
        EXPECT_EQ(parse_tcp_options(options.data(), 20, read),
                  walk_tcp_options(options.data(), 20, walked))
            << what;
        EXPECT_EQ(read.mss, walked.mss) << what;
        EXPECT_EQ(read.window_scale, walked.window_scale) << what;
        EXPECT_EQ(read.sack_permitted, walked.sack_permitted) << what;
        EXPECT_EQ(read.has_timestamps, walked.has_timestamps) << what;
        EXPECT_EQ(read.ts_value, walked.ts_value) << what;
        EXPECT_EQ(read.ts_echo, walked.ts_echo) << what;
        EXPECT_EQ(read.has_mptcp_reset, walked.has_mptcp_reset) << what;
        EXPECT_EQ(read.mptcp_reset_reason, walked.mptcp_reset_reason) << what;
    };
    for (uint16_t mss : {0, 536, 1460, 65535}) {
        for (uint8_t scale : {0, 7, 14, 15, 255}) {
            const std::vector<uint8_t> syn = {2,
                                              4,
                                              static_cast<uint8_t>(mss >> 8),
                                              static_cast<uint8_t>(mss),
                                              4,
                                              2,
                                              8,
                                              10,
                                              0x12,
                                              0x34,
                                              0x56,
                                              0x78,
                                              0x9a,
                                              0xbc,
                                              0xde,
                                              0xf0,
                                              1,
                                              3,
                                              3,
                                              scale};
            TcpOptions read;
            ASSERT_TRUE(parse_tcp_options(syn.data(), 20, read));
            EXPECT_EQ(read.mss, mss);
            EXPECT_EQ(read.window_scale, scale > 14 ? 14 : scale);
            EXPECT_TRUE(read.sack_permitted && read.has_timestamps);
            EXPECT_EQ(read.ts_value, 0x12345678u);
            EXPECT_EQ(read.ts_echo, 0x9abcdef0u);
            check(syn, "Linux's layout");
            // Any one of the layout's kind and size bytes changed.
            for (size_t at : {0, 1, 4, 5, 6, 7, 16, 17, 18}) {
                for (uint8_t value : {0, 1, 2, 3, 4, 8, 10, 30}) {
                    std::vector<uint8_t> other = syn;
                    if (other[at] == value) continue;
                    other[at] = value;
                    check(other, "a byte off Linux's layout");
                }
            }
        }
    }
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
    EXPECT_FALSE(link_type_from_dlt(123).has_value());  // ATM: refused, not misparsed
    EXPECT_EQ(link_type_from_dlt(9), LinkType::ppp);
    EXPECT_EQ(link_type_from_dlt(10), LinkType::fddi);
    EXPECT_EQ(link_type_from_dlt(50), LinkType::ppp_serial);
    EXPECT_EQ(link_type_from_dlt(105), LinkType::ieee802_11);
    EXPECT_EQ(link_type_from_dlt(127), LinkType::ieee802_11_radiotap);
    EXPECT_EQ(link_type_from_dlt(239), LinkType::nflog);
    EXPECT_EQ(link_type_from_dlt(113), LinkType::linux_sll);
    EXPECT_EQ(link_type_from_dlt(12), LinkType::raw_ip);
}

TEST(Decoder, PppoeSession) {
    Bytes pppoe{0x11, 0x00, 0x00, 0x01, 0x00, 0x30, 0x00, 0x21};
    append(pppoe, ipv4("198.51.100.1", "203.0.113.2", 6, tcp_segment(TcpSpec{})));
    DecodedPacket p;
    EXPECT_TRUE(decode(LinkType::ethernet, ethernet(0x8864, pppoe), p).is_tcp);
}

// ---- tunnels over UDP, enhanced GRE, more link types ----

std::string address_text(const IpAddress& a, IpFamily family) {
    char text[64];
    size_t n = format_ip(a, family, text, sizeof text);
    return std::string(text, n);
}

// The inner connection of inner_ipv4_tcp(), found as its own packet, through a tunnel or not.
void expect_inner_ipv4(const DecodedPacket& p, bool tunnelled = true) {
    EXPECT_EQ(p.family, IpFamily::v4);
    EXPECT_EQ(address_text(p.src, p.family), "198.51.100.7");
    EXPECT_EQ(address_text(p.dst, p.family), "203.0.113.8");
    EXPECT_EQ(p.src_port, 40000);
    EXPECT_EQ(p.dst_port, 80);
    EXPECT_EQ(p.ttl, 61);
    EXPECT_EQ(p.tcp_flags, tcp_flag::rst);
    EXPECT_EQ((p.encapsulation & encapsulation_tunnel) != 0, tunnelled);
    EXPECT_EQ(p.tunnels != 0, tunnelled);
}

// The outer addresses recorded for the innermost tunnel.
std::string tunnel_endpoints(const DecodedPacket& p) {
    IpFamily family{};
    IpAddress src{}, dst{};
    if (!innermost_tunnel_endpoints(p, family, src, dst)) return "none";
    return address_text(src, family) + " > " + address_text(dst, family);
}

Bytes in_udp_over_ethernet(uint16_t sport, uint16_t dport, const Bytes& payload) {
    return ethernet(0x0800, ipv4_udp(sport, dport, payload));
}

TEST(DecoderTunnels, VxlanCarriesTheInnerConnection) {
    Bytes frame =
        in_udp_over_ethernet(51000, 4789, vxlan(0x123456, ethernet(0x0800, inner_ipv4_tcp())));
    DecodedPacket p;
    ASSERT_TRUE(decode(LinkType::ethernet, frame, p).is_tcp);
    expect_inner_ipv4(p);
    EXPECT_EQ(p.outermost_tunnel(), TunnelType::vxlan);
    EXPECT_EQ(p.innermost_tunnel(), TunnelType::vxlan);
    EXPECT_EQ(p.tunnel_id, 0x123456u);
    EXPECT_EQ(tunnel_endpoints(p), "192.0.2.1 > 192.0.2.2");
}

TEST(DecoderTunnels, TunnelPortOnEitherSide) {
    // The reply of a VXLAN exchange has the VXLAN port as its source.
    Bytes frame = in_udp_over_ethernet(4789, 51000, vxlan(7, ethernet(0x0800, inner_ipv4_tcp())));
    DecodedPacket p;
    ASSERT_TRUE(decode(LinkType::ethernet, frame, p).is_tcp);
    EXPECT_EQ(p.innermost_tunnel(), TunnelType::vxlan);
    // The destination port is tried first: GTP-U to 2152 from a VXLAN port is GTP-U.
    Bytes gtp = in_udp_over_ethernet(4789, 2152, gtp_u(9, inner_ipv4_tcp()));
    ASSERT_TRUE(decode(LinkType::ethernet, gtp, p).is_tcp);
    EXPECT_EQ(p.innermost_tunnel(), TunnelType::gtp_u);
}

TEST(DecoderTunnels, GeneveWithOptionsAndEitherPayload) {
    Bytes option{0x01, 0x02, 0x03, 0x01, 0xAA, 0xBB, 0xCC, 0xDD};  // class, type, 1 word of data
    Bytes frame = in_udp_over_ethernet(
        51000, 6081, geneve(0xABCDEF, 0x6558, ethernet(0x0800, inner_ipv4_tcp()), option));
    DecodedPacket p;
    ASSERT_TRUE(decode(LinkType::ethernet, frame, p).is_tcp);
    expect_inner_ipv4(p);
    EXPECT_EQ(p.innermost_tunnel(), TunnelType::geneve);
    EXPECT_EQ(p.tunnel_id, 0xABCDEFu);
    // A Geneve protocol type is an EtherType: IPv4 directly.
    Bytes direct = in_udp_over_ethernet(51000, 6081, geneve(5, 0x0800, inner_ipv4_tcp()));
    ASSERT_TRUE(decode(LinkType::ethernet, direct, p).is_tcp);
    expect_inner_ipv4(p);
    Bytes version1 = in_udp_over_ethernet(51000, 6081, geneve(5, 0x0800, inner_ipv4_tcp(), {}, 1));
    EXPECT_EQ(decode(LinkType::ethernet, version1, p).reason, DropReason::bad_tunnel_header);
}

TEST(DecoderTunnels, GtpUserPlane) {
    Bytes frame = in_udp_over_ethernet(2152, 2152, gtp_u(0xDEADBEEF, inner_ipv4_tcp()));
    DecodedPacket p;
    ASSERT_TRUE(decode(LinkType::ethernet, frame, p).is_tcp);
    expect_inner_ipv4(p);
    EXPECT_EQ(p.innermost_tunnel(), TunnelType::gtp_u);
    EXPECT_EQ(p.tunnel_id, 0xDEADBEEFu);
    // A PDU session container extension header (5G) before an IPv6 packet.
    Bytes extension{1, 0x00, 0x09, 0x00};
    Bytes with_extension =
        in_udp_over_ethernet(2152, 2152, gtp_u(1, inner_ipv6_tcp(), 0xFF, extension));
    ASSERT_TRUE(decode(LinkType::ethernet, with_extension, p).is_tcp);
    EXPECT_EQ(p.family, IpFamily::v6);
    Bytes echo = in_udp_over_ethernet(2152, 2152, gtp_u(0, Bytes{}, 1));
    EXPECT_EQ(decode(LinkType::ethernet, echo, p).reason, DropReason::tunnel_control);
    Bytes version2 = in_udp_over_ethernet(2152, 2152, gtp_u(1, inner_ipv4_tcp(), 0xFF, {}, 2));
    EXPECT_EQ(decode(LinkType::ethernet, version2, p).reason, DropReason::bad_tunnel_header);
    Bytes empty_extension =
        in_udp_over_ethernet(2152, 2152, gtp_u(1, inner_ipv4_tcp(), 0xFF, {0, 0, 0, 0}));
    EXPECT_EQ(decode(LinkType::ethernet, empty_extension, p).reason, DropReason::bad_tunnel_header);
    Bytes not_ip = in_udp_over_ethernet(2152, 2152, gtp_u(1, Bytes(20, 0x55)));
    EXPECT_EQ(decode(LinkType::ethernet, not_ip, p).reason, DropReason::bad_ip_version);
}

TEST(DecoderTunnels, TeredoByPortAndByContent) {
    DecodedPacket p;
    for (bool authentication : {false, true}) {
        for (bool origin : {false, true}) {
            Bytes frame =
                in_udp_over_ethernet(3544, 51000, teredo(inner_ipv6_tcp(), authentication, origin));
            ASSERT_TRUE(decode(LinkType::ethernet, frame, p).is_tcp) << authentication << origin;
            EXPECT_EQ(p.innermost_tunnel(), TunnelType::teredo);
            EXPECT_EQ(address_text(p.src, p.family), "2001:0:db8::7");
        }
    }
    // On other ports: by content, a Teredo address (2001:0::/32) on either side.
    Bytes relayed = in_udp_over_ethernet(40001, 40002, teredo(inner_ipv6_tcp()));
    ASSERT_TRUE(decode(LinkType::ethernet, relayed, p).is_tcp);
    EXPECT_EQ(p.innermost_tunnel(), TunnelType::teredo);
    Bytes no_teredo_address =
        in_udp_over_ethernet(40001, 40002, teredo(inner_ipv6_tcp("2001:db8::7", "2001:db8::8")));
    EXPECT_EQ(decode(LinkType::ethernet, no_teredo_address, p).reason, DropReason::not_tcp);
    // Lengths that do not account for the datagram: not Teredo on another port, refused on 3544.
    Bytes padded = teredo(inner_ipv6_tcp());
    padded.push_back(0);
    EXPECT_EQ(decode(LinkType::ethernet, in_udp_over_ethernet(40001, 40002, padded), p).reason,
              DropReason::not_tcp);
    EXPECT_EQ(decode(LinkType::ethernet, in_udp_over_ethernet(3544, 40002, padded), p).reason,
              DropReason::bad_tunnel_header);
    // A bubble: IPv6 with no next header; not TCP, but Teredo.
    Bytes bubble = ipv6("2001:0:db8::7", "2001:db8::8", 59, Bytes{});
    EXPECT_EQ(
        decode(LinkType::ethernet, in_udp_over_ethernet(3544, 40002, teredo(bubble)), p).reason,
        DropReason::not_tcp);
    EXPECT_TRUE(p.encapsulation & encapsulation_tunnel);
}

TEST(DecoderTunnels, Ayiya) {
    DecodedPacket p;
    Bytes frame = in_udp_over_ethernet(5072, 5072, ayiya(4, inner_ipv4_tcp()));
    ASSERT_TRUE(decode(LinkType::ethernet, frame, p).is_tcp);
    expect_inner_ipv4(p);
    EXPECT_EQ(p.innermost_tunnel(), TunnelType::ayiya);
    Bytes six = in_udp_over_ethernet(5072, 5072, ayiya(41, inner_ipv6_tcp()));
    ASSERT_TRUE(decode(LinkType::ethernet, six, p).is_tcp);
    EXPECT_EQ(p.family, IpFamily::v6);
    Bytes echo = in_udp_over_ethernet(5072, 5072, ayiya(4, inner_ipv4_tcp(), 2));
    EXPECT_EQ(decode(LinkType::ethernet, echo, p).reason, DropReason::tunnel_control);
}

TEST(DecoderTunnels, VxlanWithoutItsFlagIsRefused) {
    DecodedPacket p;
    Bytes frame =
        in_udp_over_ethernet(51000, 4789, vxlan(1, ethernet(0x0800, inner_ipv4_tcp()), 0));
    EXPECT_EQ(decode(LinkType::ethernet, frame, p).reason, DropReason::bad_tunnel_header);
    Bytes other_port =
        in_udp_over_ethernet(51000, 4790, vxlan(1, ethernet(0x0800, inner_ipv4_tcp())));
    EXPECT_EQ(decode(LinkType::ethernet, other_port, p).reason, DropReason::not_tcp);
}

TEST(DecoderTunnels, GreInUdpAndEnhancedGre) {
    DecodedPacket p;
    Bytes in_udp = in_udp_over_ethernet(51000, 4754, gre(0x0800, inner_ipv4_tcp(), 0x01020304));
    ASSERT_TRUE(decode(LinkType::ethernet, in_udp, p).is_tcp);
    expect_inner_ipv4(p);
    EXPECT_EQ(p.innermost_tunnel(), TunnelType::gre_in_udp);
    EXPECT_EQ(p.tunnel_id, 0x01020304u);
    for (bool compressed : {false, true}) {
        for (bool sequence_and_ack : {false, true}) {
            Bytes pptp = ethernet(0x0800, ipv4("192.0.2.1", "192.0.2.2", 47,
                                               gre_pptp(0x4242, 0x0021, inner_ipv4_tcp(),
                                                        compressed, sequence_and_ack)));
            ASSERT_TRUE(decode(LinkType::ethernet, pptp, p).is_tcp)
                << compressed << sequence_and_ack;
            expect_inner_ipv4(p);
            EXPECT_EQ(p.innermost_tunnel(), TunnelType::pptp);
            EXPECT_EQ(p.tunnel_id, 0x4242u);
        }
    }
    Bytes lcp = ipv4("192.0.2.1", "192.0.2.2", 47, gre_pptp(1, 0xC021, Bytes(8, 0)));
    EXPECT_EQ(decode(LinkType::raw_ip, lcp, p).reason, DropReason::not_ip);
    Bytes not_ppp = ipv4("192.0.2.1", "192.0.2.2", 47, gre_pptp(1, 0x0021, inner_ipv4_tcp()));
    not_ppp[20 + 2] = 0x08;  // enhanced GRE whose protocol is IPv4: refused, as by Zeek
    not_ppp[20 + 3] = 0x00;
    EXPECT_EQ(decode(LinkType::raw_ip, not_ppp, p).reason, DropReason::bad_tunnel_header);
    Bytes routing = ipv4("192.0.2.1", "192.0.2.2", 47, gre(0x0800, inner_ipv4_tcp()));
    routing[20] = 0x40;  // RFC 1701 routing present
    EXPECT_EQ(decode(LinkType::raw_ip, routing, p).reason, DropReason::bad_tunnel_header);
}

TEST(DecoderTunnels, OutermostAndInnermostAreRecorded) {
    // ERSPAN II (a mirror feed) carrying VXLAN carrying the connection.
    Bytes vxlan_frame =
        ethernet(0x0800, ipv4_udp(51000, 4789, vxlan(77, ethernet(0x0800, inner_ipv4_tcp())),
                                  "10.1.1.1", "10.2.2.2"));
    Bytes erspan{0x10, 0x00, 0x88, 0xBE, 0, 0, 0, 1, 0x10, 0x01, 0, 0, 0, 0, 0, 0};
    append(erspan, vxlan_frame);
    Bytes frame = ethernet(0x0800, ipv4("192.0.2.1", "192.0.2.2", 47, erspan));
    DecodedPacket p;
    ASSERT_TRUE(decode(LinkType::ethernet, frame, p).is_tcp);
    expect_inner_ipv4(p);
    EXPECT_EQ(p.outermost_tunnel(), TunnelType::erspan);
    EXPECT_EQ(p.innermost_tunnel(), TunnelType::vxlan);
    EXPECT_EQ(p.tunnel_id, 77u);
    EXPECT_EQ(tunnel_endpoints(p), "10.1.1.1 > 10.2.2.2");
    // A plain packet after it records no tunnel.
    ASSERT_TRUE(decode(LinkType::ethernet, eth_ipv4_tcp(TcpSpec{}), p).is_tcp);
    EXPECT_EQ(p.tunnels, 0);
    EXPECT_EQ(tunnel_endpoints(p), "none");
}

TEST(DecoderTunnels, NestingIsBoundedAcrossTunnelKinds) {
    // VXLAN in GTP-U in VXLAN ...: four tunnels are followed, a fifth is not.
    auto nest = [](int depth) {
        Bytes packet = inner_ipv4_tcp();
        for (int i = 0; i < depth; ++i) {
            packet = i % 2 == 0 ? ipv4_udp(2152, 2152, gtp_u(1, packet))
                                : ipv4_udp(1, 4789, vxlan(1, ethernet(0x0800, packet)));
        }
        return packet;
    };
    DecodedPacket p;
    ASSERT_TRUE(decode(LinkType::raw_ip, nest(4), p).is_tcp);
    EXPECT_EQ(p.outermost_tunnel(), TunnelType::vxlan);
    EXPECT_EQ(p.innermost_tunnel(), TunnelType::gtp_u);
    EXPECT_EQ(decode(LinkType::raw_ip, nest(5), p).reason, DropReason::tunnel_too_deep);
}

// Every prefix of `frame` decodes to the reason its last complete layer predicts, and the whole
// frame to the inner connection; `boundaries` are (end offset of a layer, reason while inside it).
void expect_truncation_reasons(LinkType link, const Bytes& frame,
                               std::vector<std::pair<size_t, DropReason>> boundaries) {
    for (size_t length = 0; length < frame.size(); ++length) {
        auto copy = std::make_unique<uint8_t[]>(length);  // exactly: ASan sees any read past it
        std::memcpy(copy.get(), frame.data(), length);
        DecodedPacket p;
        expect_paths_agree(link, copy.get(), length);
        DecodeResult r = decode_frame(link, copy.get(), static_cast<uint32_t>(length), p);
        ASSERT_FALSE(r.is_tcp) << length;
        DropReason expected = boundaries.back().second;
        for (auto [end, reason] : boundaries) {
            if (length < end) {
                expected = reason;
                break;
            }
        }
        EXPECT_EQ(r.reason, expected) << "prefix of " << length << " bytes";
    }
    DecodedPacket p;
    ASSERT_TRUE(decode(link, frame, p).is_tcp);
}

TEST(DecoderTunnels, TruncationAtEveryLayer) {
    // Ethernet 14, IPv4 20, UDP 8, the tunnel header, [inner Ethernet 14,] inner IPv4 20, TCP 20.
    struct Case {
        uint16_t port;
        Bytes payload;
        size_t header;
        bool inner_ethernet;
    };
    const Case cases[] = {
        {4789, vxlan(1, ethernet(0x0800, inner_ipv4_tcp())), 8, true},
        {6081, geneve(1, 0x6558, ethernet(0x0800, inner_ipv4_tcp()), Bytes(4, 0)), 12, true},
        {2152, gtp_u(1, inner_ipv4_tcp(), 0xFF, {1, 0, 9, 0}), 16, false},
        {5072, ayiya(4, inner_ipv4_tcp()), 12, false},
        {4754, gre(0x6558, ethernet(0x0800, inner_ipv4_tcp()), 9), 8, true},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.port);
        size_t inner_ip = 42 + c.header + (c.inner_ethernet ? 14 : 0);
        expect_truncation_reasons(LinkType::ethernet,
                                  in_udp_over_ethernet(51000, c.port, c.payload),
                                  {{14, DropReason::truncated_l2},
                                   {34, DropReason::truncated_ip},
                                   {42, DropReason::not_tcp},
                                   {inner_ip, DropReason::truncated_l2},
                                   {inner_ip + 20, DropReason::truncated_ip},
                                   {inner_ip + 40, DropReason::truncated_tcp}});
    }
    // Teredo (by port): the whole IPv6 header must be there before it counts as Teredo.
    Bytes teredo_frame = in_udp_over_ethernet(3544, 51000, teredo(inner_ipv6_tcp(), true, true));
    size_t teredo_ipv6 = 42 + 13 + 8;
    expect_truncation_reasons(LinkType::ethernet, teredo_frame,
                              {{14, DropReason::truncated_l2},
                               {34, DropReason::truncated_ip},
                               {42, DropReason::not_tcp},
                               {teredo_ipv6 + 40, DropReason::truncated_l2},
                               {teredo_ipv6 + 60, DropReason::truncated_tcp}});
    // PPTP: GRE 16 bytes with its key, PPP 4.
    Bytes pptp =
        ethernet(0x0800, ipv4("192.0.2.1", "192.0.2.2", 47, gre_pptp(1, 0x0021, inner_ipv4_tcp())));
    expect_truncation_reasons(LinkType::ethernet, pptp,
                              {{14, DropReason::truncated_l2},
                               {34, DropReason::truncated_ip},
                               {34 + 8 + 4, DropReason::truncated_l2},
                               {34 + 12 + 20, DropReason::truncated_ip},
                               {34 + 12 + 40, DropReason::truncated_tcp}});
}

TEST(DecoderLinks, EthernetWrappers) {
    DecodedPacket p;
    Bytes inner = ethernet(0x0800, inner_ipv4_tcp());
    Bytes pbb{0x00, 0x01, 0x02, 0x03};  // I-TAG: priority, I-SID
    append(pbb, inner);
    ASSERT_TRUE(decode(LinkType::ethernet, ethernet(0x88E7, pbb), p).is_tcp);
    expect_inner_ipv4(p, false);
    Bytes vntag{0x80, 0x01, 0x00, 0x02, 0x08, 0x00};
    append(vntag, inner_ipv4_tcp());
    ASSERT_TRUE(decode(LinkType::ethernet, ethernet(0x8926, vntag), p).is_tcp);
    Bytes fabricpath{0x00, 0x3F};  // FTag, TTL
    append(fabricpath, inner);
    ASSERT_TRUE(decode(LinkType::ethernet, ethernet(0x8903, fabricpath), p).is_tcp);
    expect_inner_ipv4(p, false);
    Bytes snap_payload = llc_snap(0x0800, inner_ipv4_tcp());
    ASSERT_TRUE(decode(LinkType::ethernet,
                       ethernet(static_cast<uint16_t>(snap_payload.size()), snap_payload), p)
                    .is_tcp);
    expect_inner_ipv4(p, false);
    Bytes stp{0x42, 0x42, 0x03, 0, 0, 0, 0};
    EXPECT_EQ(
        decode(LinkType::ethernet, ethernet(static_cast<uint16_t>(stp.size()), stp), p).reason,
        DropReason::not_ip);
    Bytes other_oui{0xAA, 0xAA, 0x03, 0x00, 0x00, 0x0C, 0x20, 0x00};  // Cisco CDP
    EXPECT_EQ(decode(LinkType::ethernet, ethernet(8, other_oui), p).reason, DropReason::not_ip);
    // Link headers inside link headers are bounded like tunnels.
    Bytes stacked = inner_ipv4_tcp();
    for (int i = 0; i < 9; ++i) {
        Bytes tag{0x80, 0x01, 0x00, 0x02};
        put16(tag, i == 0 ? 0x0800 : 0x8926);
        append(tag, stacked);
        stacked = tag;
    }
    EXPECT_EQ(decode(LinkType::ethernet, ethernet(0x8926, stacked), p).reason,
              DropReason::tunnel_too_deep);
    // Linux cooked capture's LLC protocol (0x0004): LLC/SNAP follows.
    Bytes sll(16, 0);
    sll[15] = 0x04;
    append(sll, snap_payload);
    ASSERT_TRUE(decode(LinkType::linux_sll, sll, p).is_tcp);
    expect_truncation_reasons(LinkType::ethernet, ethernet(0x8926, vntag),
                              {{20, DropReason::truncated_l2},
                               {40, DropReason::truncated_ip},
                               {60, DropReason::truncated_tcp}});
}

TEST(DecoderLinks, PppLinks) {
    DecodedPacket p;
    Bytes hdlc{0xFF, 0x03, 0x00, 0x21};
    append(hdlc, inner_ipv4_tcp());
    ASSERT_TRUE(decode(LinkType::ppp, hdlc, p).is_tcp);
    expect_inner_ipv4(p, false);
    ASSERT_TRUE(decode(LinkType::ppp_serial, hdlc, p).is_tcp);
    Bytes bare{0x00, 0x57};
    append(bare, inner_ipv6_tcp());
    ASSERT_TRUE(decode(LinkType::ppp, bare, p).is_tcp);
    EXPECT_EQ(p.family, IpFamily::v6);
    Bytes lcp{0xFF, 0x03, 0xC0, 0x21, 1, 1, 0, 4};
    EXPECT_EQ(decode(LinkType::ppp, lcp, p).reason, DropReason::not_ip);
    expect_truncation_reasons(LinkType::ppp_serial, hdlc,
                              {{4, DropReason::truncated_l2},
                               {24, DropReason::truncated_ip},
                               {44, DropReason::truncated_tcp}});
    expect_truncation_reasons(LinkType::ppp, hdlc,
                              {{4, DropReason::truncated_l2},
                               {24, DropReason::truncated_ip},
                               {44, DropReason::truncated_tcp}});
}

TEST(DecoderLinks, Fddi) {
    Bytes fddi{0x50};  // frame control: LLC, asynchronous
    for (int i = 0; i < 12; ++i)
        fddi.push_back(static_cast<uint8_t>(i));
    append(fddi, llc_snap(0x0800, inner_ipv4_tcp()));
    DecodedPacket p;
    ASSERT_TRUE(decode(LinkType::fddi, fddi, p).is_tcp);
    expect_inner_ipv4(p, false);
    expect_truncation_reasons(LinkType::fddi, fddi,
                              {{21, DropReason::truncated_l2},
                               {41, DropReason::truncated_ip},
                               {61, DropReason::truncated_tcp}});
}

TEST(DecoderLinks, Ieee80211AndRadiotap) {
    DecodedPacket p;
    Bytes data = ieee80211_data(inner_ipv4_tcp());
    ASSERT_TRUE(decode(LinkType::ieee802_11, data, p).is_tcp);
    expect_inner_ipv4(p, false);
    Bytes qos = ieee80211_data(inner_ipv4_tcp(), true);
    ASSERT_TRUE(decode(LinkType::ieee802_11, qos, p).is_tcp);
    Bytes amsdu = ieee80211_data(inner_ipv4_tcp(), true, true);
    EXPECT_EQ(decode(LinkType::ieee802_11, amsdu, p).reason, DropReason::unsupported_tunnel);
    Bytes beacon = data;
    beacon[0] = 0x80;  // management
    EXPECT_EQ(decode(LinkType::ieee802_11, beacon, p).reason, DropReason::not_ip);
    Bytes radiotap{0x00, 0x00, 0x0C, 0x00, 0x04, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00};
    append(radiotap, qos);
    ASSERT_TRUE(decode(LinkType::ieee802_11_radiotap, radiotap, p).is_tcp);
    expect_inner_ipv4(p, false);
    Bytes short_radiotap = radiotap;
    short_radiotap[2] = 4;
    EXPECT_EQ(decode(LinkType::ieee802_11_radiotap, short_radiotap, p).reason,
              DropReason::bad_tunnel_header);
    expect_truncation_reasons(LinkType::ieee802_11_radiotap, radiotap,
                              {{12 + 34, DropReason::truncated_l2},
                               {12 + 34 + 20, DropReason::truncated_ip},
                               {12 + 34 + 40, DropReason::truncated_tcp}});
}

Bytes nflog_tlv(uint16_t type, const Bytes& value) {
    auto length = static_cast<uint16_t>(4 + value.size());
    uint8_t header[4];
    std::memcpy(header, &length, 2);  // host byte order, as libpcap hands it over
    std::memcpy(header + 2, &type, 2);
    Bytes b(header, header + 4);
    // Byte by byte: appending the vector whole made GCC 12 warn, at -O3 with LTO, of a read from
    // an empty region (-Wstringop-overread), for a call whose value is never empty.
    for (uint8_t byte : value)
        b.push_back(byte);
    while (b.size() % 4)
        b.push_back(0);
    return b;
}

TEST(DecoderLinks, Nflog) {
    Bytes record{2, 0, 0, 1};                   // AF_INET, version 0, resource ID 1
    append(record, nflog_tlv(1, Bytes(4, 0)));  // packet header
    append(record, nflog_tlv(10, Bytes{'x'}));  // prefix: padded to 8 bytes
    Bytes payload_tlv = nflog_tlv(9, inner_ipv4_tcp());
    Bytes frame = record;
    append(frame, payload_tlv);
    DecodedPacket p;
    ASSERT_TRUE(decode(LinkType::nflog, frame, p).is_tcp);
    expect_inner_ipv4(p, false);
    EXPECT_EQ(decode(LinkType::nflog, record, p).reason, DropReason::not_ip);  // no packet
    Bytes version1 = frame;
    version1[1] = 1;
    EXPECT_EQ(decode(LinkType::nflog, version1, p).reason, DropReason::bad_tunnel_header);
    Bytes short_tlv = frame;
    short_tlv[4] = 2;  // a TLV shorter than its own header
    short_tlv[5] = 0;
    EXPECT_EQ(decode(LinkType::nflog, short_tlv, p).reason, DropReason::bad_tunnel_header);
    // Header 4, TLVs of 8 and 8 bytes, the payload TLV's header 4, IPv4 20, TCP 20. A record
    // that ends exactly between TLVs carries no packet (not_ip); inside one, it was cut.
    std::vector<std::pair<size_t, DropReason>> boundaries{
        {4, DropReason::truncated_l2},  {5, DropReason::not_ip},
        {12, DropReason::truncated_l2}, {13, DropReason::not_ip},
        {20, DropReason::truncated_l2}, {21, DropReason::not_ip},
        {24, DropReason::truncated_l2}, {44, DropReason::truncated_ip},
        {64, DropReason::truncated_tcp}};
    expect_truncation_reasons(LinkType::nflog, frame, boundaries);
}

}  // namespace
}  // namespace rstscope
