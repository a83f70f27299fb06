// SPDX-License-Identifier: BSD-3-Clause
// decode_frame()'s straight-line fast path against the general decoder (decoder_paths.h): frames
// generated with variations of every field the fast path reads, their prefixes and single-byte
// mutations, must decode identically both ways; the common shapes must take the fast path and
// every unusual one must be left to the general path.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "decoder_paths.h"
#include "frame_builder.h"
#include "rstscope/common/tcp_flags.h"
#include "rstscope/decode/packet_decoder.h"

namespace rstscope {
namespace {

using namespace test;

// A frame of the fast path's shape, every field the fast path reads open to change.
struct FrameShape {
    std::vector<uint16_t> tag_types;  // one 4-byte tag each, outermost first
    std::vector<uint16_t> vlan_ids;   // the tags' TCI (priority and DEI bits included)
    uint16_t ethertype = 0x0800;
    bool ipv6 = false;
    uint8_t first_byte = 0x45;    // IPv4 version/IHL, or IPv6 version/traffic class
    int ip_length_delta = 0;      // added to the true total (IPv4) or payload (IPv6) length
    bool ip_length_zero = false;  // a TSO capture's 0
    uint16_t fragment = 0x4000;   // IPv4 flags and offset
    uint8_t protocol = 6;         // IPv4 protocol or IPv6 next header
    uint8_t ttl = 64;
    uint16_t ip_id = 1;
    Bytes ip_options;  // IPv4 options, or IPv6 bytes between the header and TCP
    TcpSpec tcp;
    int data_offset_delta = 0;  // added to the TCP data offset (in 4-byte words)
    size_t padding = 0;         // link padding after the IP datagram
};

Bytes build(const FrameShape& s) {
    Bytes segment = tcp_segment(s.tcp);
    segment[12] = static_cast<uint8_t>(((segment[12] >> 4) + s.data_offset_delta) << 4);
    Bytes ip;
    if (!s.ipv6) {
        ip = ipv4("198.51.100.7", "203.0.113.9", s.protocol, segment, s.ttl, s.ip_id, s.fragment,
                  s.ip_options);
        ip[0] = s.first_byte;  // the caller's IHL, whatever the options' length
        uint16_t total = static_cast<uint16_t>(ip.size() + s.ip_length_delta);
        if (s.ip_length_zero) total = 0;
        ip[2] = static_cast<uint8_t>(total >> 8);
        ip[3] = static_cast<uint8_t>(total);
    } else {
        Bytes payload = s.ip_options;
        append(payload, segment);
        ip = ipv6("2001:db8::7", "2001:db8:1::9", s.protocol, payload, s.ttl);
        ip[0] = s.first_byte;
        uint16_t length = static_cast<uint16_t>(payload.size() + s.ip_length_delta);
        if (s.ip_length_zero) length = 0;
        ip[4] = static_cast<uint8_t>(length >> 8);
        ip[5] = static_cast<uint8_t>(length);
    }
    Bytes frame{0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2};
    for (size_t i = 0; i < s.tag_types.size(); ++i) {
        put16(frame, s.tag_types[i]);
        put16(frame, s.vlan_ids[i]);
    }
    put16(frame, s.ethertype);
    append(frame, ip);
    frame.resize(frame.size() + s.padding, 0xEE);
    return frame;
}

PathComparison compare(const Bytes& frame) {
    return compare_decoder_paths(LinkType::ethernet, frame.data(),
                                 static_cast<uint32_t>(frame.size()));
}

FrameShape common_ipv4() {
    FrameShape s;
    s.tcp.flags = tcp_flag::ack;
    s.tcp.payload = "GET / HTTP/1.1";
    return s;
}

FrameShape common_ipv6() {
    FrameShape s = common_ipv4();
    s.ipv6 = true;
    s.ethertype = 0x86DD;
    s.first_byte = 0x60;
    return s;
}

const Bytes syn_options{2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 7, 0, 0, 0, 9, 1, 3, 3, 7};

TEST(DecoderFastPath, CommonShapesTakeIt) {
    for (bool v6 : {false, true}) {
        for (size_t tags = 0; tags <= 2; ++tags) {
            for (uint8_t flags : {uint8_t{tcp_flag::syn}, uint8_t{tcp_flag::rst | tcp_flag::ack},
                                  uint8_t{tcp_flag::ack | tcp_flag::psh}, uint8_t{0}}) {
                FrameShape s = v6 ? common_ipv6() : common_ipv4();
                for (size_t i = 0; i < tags; ++i) {
                    s.tag_types.push_back(i == 0 && tags == 2 ? 0x88A8 : 0x8100);
                    s.vlan_ids.push_back(static_cast<uint16_t>(0xE000 | (100 + i)));
                }
                s.tcp.flags = flags;
                s.tcp.options = syn_options;
                s.padding = v6 ? 0 : 6;
                PathComparison c = compare(build(s));
                EXPECT_EQ(c.difference, "") << v6 << " " << tags << " " << int{flags};
                EXPECT_TRUE(c.fast) << v6 << " " << tags << " " << int{flags};
            }
        }
    }
    // Each of the other VLAN tag types, and a frame exactly as long as its headers.
    for (uint16_t type : {0x8100, 0x88A8, 0x9100, 0x9200}) {
        FrameShape s = common_ipv4();
        s.tag_types = {type, type};
        s.vlan_ids = {7, 4095};
        s.tcp.payload.clear();
        PathComparison c = compare(build(s));
        EXPECT_EQ(c.difference, "") << type;
        EXPECT_TRUE(c.fast) << type;
    }
    // A frame cut by the snap length: its IP length says more than was captured.
    for (bool v6 : {false, true}) {
        FrameShape s = v6 ? common_ipv6() : common_ipv4();
        s.ip_length_delta = 1000;
        Bytes frame = build(s);
        PathComparison c = compare(frame);
        EXPECT_EQ(c.difference, "") << v6;
        EXPECT_TRUE(c.fast) << v6;
        DecodedPacket p;
        ASSERT_TRUE(
            decode_frame(LinkType::ethernet, frame.data(), static_cast<uint32_t>(frame.size()), p)
                .is_tcp);
        EXPECT_EQ(p.payload_length, 1014u);
        EXPECT_EQ(p.payload_captured, 14u);
    }
}

TEST(DecoderFastPath, UnusualShapesAreLeftToTheGeneralPath) {
    std::vector<std::pair<std::string, FrameShape>> shapes;
    auto add = [&](std::string name, auto change, bool v6 = false) {
        FrameShape s = v6 ? common_ipv6() : common_ipv4();
        change(s);
        shapes.emplace_back(std::move(name), s);
    };
    add("three tags", [](FrameShape& s) {
        s.tag_types = {0x88A8, 0x8100, 0x8100};
        s.vlan_ids = {1, 2, 3};
    });
    add("MPLS", [](FrameShape& s) { s.ethertype = 0x8847; });
    add("PPPoE", [](FrameShape& s) { s.ethertype = 0x8864; });
    add("802.3 length", [](FrameShape& s) { s.ethertype = 100; });
    add("IPv4 options", [](FrameShape& s) {
        s.first_byte = 0x46;
        s.ip_options = {1, 1, 1, 0};
    });
    add("IPv4 header length 16", [](FrameShape& s) { s.first_byte = 0x44; });
    add("IPv4 version 6", [](FrameShape& s) { s.first_byte = 0x65; });
    add("more fragments", [](FrameShape& s) { s.fragment = 0x2000; });
    add("fragment offset", [](FrameShape& s) { s.fragment = 0x0001; });
    add("IPv4 total length 0 (TSO)", [](FrameShape& s) { s.ip_length_zero = true; });
    add("IPv4 total length below the header", [](FrameShape& s) { s.ip_length_delta = -44; });
    add("IPv4 total length below the TCP header", [](FrameShape& s) { s.ip_length_delta = -24; });
    add("UDP", [](FrameShape& s) { s.protocol = 17; });
    add("IP in IP", [](FrameShape& s) { s.protocol = 4; });
    add("GRE", [](FrameShape& s) { s.protocol = 47; });
    add("TCP data offset 4", [](FrameShape& s) { s.data_offset_delta = -1; });
    add("TCP header beyond the IP length", [](FrameShape& s) { s.data_offset_delta = 6; });
    add(
        "IPv6 hop-by-hop",
        [](FrameShape& s) {
            s.protocol = 0;
            s.ip_options = {6, 0, 1, 4, 0, 0, 0, 0};
        },
        true);
    add(
        "IPv6 atomic fragment",
        [](FrameShape& s) {
            s.protocol = 44;
            s.ip_options = {6, 0, 0, 0, 0, 0, 0, 1};
        },
        true);
    add(
        "IPv6 payload length 0 (jumbogram, TSO)", [](FrameShape& s) { s.ip_length_zero = true; },
        true);
    add(
        "IPv6 version 4", [](FrameShape& s) { s.first_byte = 0x40; }, true);
    add(
        "IPv6 UDP", [](FrameShape& s) { s.protocol = 17; }, true);
    add(
        "IPv6 in IPv6", [](FrameShape& s) { s.protocol = 41; }, true);
    for (const auto& [name, shape] : shapes) {
        PathComparison c = compare(build(shape));
        EXPECT_EQ(c.difference, "") << name;
        EXPECT_FALSE(c.fast) << name;
    }
}

// Every prefix of a common frame: the fast path takes those with the whole TCP header and
// agrees with the general path on all of them.
TEST(DecoderFastPath, EveryPrefixAgrees) {
    for (bool v6 : {false, true}) {
        FrameShape s = v6 ? common_ipv6() : common_ipv4();
        s.tag_types = {0x88A8, 0x8100};
        s.vlan_ids = {10, 20};
        s.tcp.flags = tcp_flag::syn;
        s.tcp.options = syn_options;
        Bytes frame = build(s);
        size_t headers = 22 + (v6 ? 40 : 20) + 20 + syn_options.size();
        for (size_t length = 0; length <= frame.size(); ++length) {
            PathComparison c = compare_decoder_paths(LinkType::ethernet, frame.data(),
                                                     static_cast<uint32_t>(length));
            EXPECT_EQ(c.difference, "") << v6 << " " << length;
            EXPECT_EQ(c.fast, length >= headers) << v6 << " " << length;
        }
    }
}

// Random frames of varied shapes, each whole, cut short and with one byte changed.
TEST(DecoderFastPath, GeneratedFramesAgree) {
    std::mt19937 random(20261205);
    auto pick = [&](uint32_t n) { return static_cast<uint32_t>(random() % n); };
    auto chance = [&](uint32_t percent) { return pick(100) < percent; };
    const uint16_t tag_types[] = {0x8100, 0x88A8, 0x9100, 0x9200, 0x8847, 0x0800};
    const uint8_t flag_sets[] = {tcp_flag::syn,
                                 tcp_flag::syn | tcp_flag::ack,
                                 tcp_flag::rst,
                                 tcp_flag::rst | tcp_flag::ack,
                                 tcp_flag::ack,
                                 tcp_flag::ack | tcp_flag::psh,
                                 tcp_flag::fin | tcp_flag::ack,
                                 0xFF};
    const Bytes option_lists[] = {
        {},
        syn_options,
        {2, 4, 0x05, 0xb4},
        {3, 3, 20},  // window scale above 14
        {1, 1, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8},
        {30, 4, 0x80, 5},                 // MP_TCPRST
        {8, 40, 0, 0},                    // malformed: longer than the list
        {2, 3, 0},                        // malformed: MSS of the wrong size
        {5, 10, 0, 0, 0, 1, 0, 0, 0, 2},  // SACK block
        {0, 2, 4, 5, 0xb4},               // end of list first
        Bytes(40, 1),                     // 40 bytes of no-operation
    };
    int fast = 0, frames = 0;
    for (int i = 0; i < 20000; ++i) {
        FrameShape s = chance(50) ? common_ipv4() : common_ipv6();
        size_t tags = chance(60) ? 0 : pick(4);
        for (size_t t = 0; t < tags; ++t) {
            s.tag_types.push_back(chance(85) ? tag_types[pick(4)] : tag_types[pick(6)]);
            s.vlan_ids.push_back(static_cast<uint16_t>(random()));
        }
        if (chance(5)) s.ethertype = s.ipv6 ? 0x0800 : 0x86DD;
        if (chance(3)) s.ethertype = static_cast<uint16_t>(random());
        if (chance(10)) s.first_byte = static_cast<uint8_t>(random());
        if (!s.ipv6 && chance(10)) {
            size_t words = 1 + pick(10);
            s.ip_options.assign(words * 4, 1);
            s.first_byte = static_cast<uint8_t>(0x40 | (5 + words));
        }
        if (s.ipv6 && chance(10)) {
            s.protocol = chance(50) ? 60 : 44;
            s.ip_options = {6, 0, 0, 0, 0, 0, 0, static_cast<uint8_t>(pick(2))};
        }
        if (chance(10)) s.ip_length_delta = static_cast<int>(pick(80)) - 40;
        if (chance(3)) s.ip_length_zero = true;
        if (chance(20)) s.fragment = static_cast<uint16_t>(random());
        if (chance(5)) s.protocol = static_cast<uint8_t>(random());
        s.ttl = static_cast<uint8_t>(random());
        s.ip_id = static_cast<uint16_t>(random());
        s.tcp.sport = static_cast<uint16_t>(random());
        s.tcp.dport = static_cast<uint16_t>(random());
        s.tcp.seq = static_cast<uint32_t>(random());
        s.tcp.ack = static_cast<uint32_t>(random());
        s.tcp.window = static_cast<uint16_t>(random());
        s.tcp.flags = chance(80) ? flag_sets[pick(8)] : static_cast<uint8_t>(random());
        s.tcp.options = option_lists[pick(std::size(option_lists))];
        s.tcp.payload.assign(chance(50) ? 0 : pick(1500), 'x');
        if (chance(10)) s.data_offset_delta = static_cast<int>(pick(16)) - 8;
        if (chance(20)) s.padding = pick(40);
        Bytes frame = build(s);

        std::vector<Bytes> variants{frame};
        variants.emplace_back(frame.begin(),
                              frame.begin() + static_cast<std::ptrdiff_t>(
                                                  pick(static_cast<uint32_t>(frame.size()) + 1)));
        Bytes mutated = frame;
        mutated[pick(static_cast<uint32_t>(std::min<size_t>(mutated.size(), 120)))] =
            static_cast<uint8_t>(random());
        variants.push_back(mutated);
        for (const Bytes& f : variants) {
            PathComparison c = compare(f);
            ++frames;
            fast += c.fast;
            ASSERT_EQ(c.difference, "") << "frame " << i;
        }
    }
    // The generator leans to common shapes: most frames must have taken the fast path, and a
    // good share must have been left to the general one.
    EXPECT_GT(fast, frames / 4);
    EXPECT_LT(fast, frames * 9 / 10);
}

}  // namespace
}  // namespace rstscope
