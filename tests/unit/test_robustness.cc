// SPDX-License-Identifier: BSD-3-Clause
// Deterministic mutation fuzzing of the decoder and the flow tracker: valid frames of every
// encapsulation the decoder knows are bit-flipped, overwritten, cut and spliced with a fixed seed,
// copied into exactly-sized heap buffers (so a sanitizer build catches any overread) and decoded
// as every link type; the TCP segments found go through a small tracker. The checks are the
// contracts of packet_decoder.h and flow_tracker.h: a verdict or a counted drop reason, payload
// inside the frame, counters that add up.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <iterator>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "frame_builder.h"
#include "print_enums.h"
#include "rstscope/analysis/flow_tracker.h"
#include "rstscope/common/tcp_flags.h"
#include "rstscope/decode/packet_decoder.h"

namespace rstscope {
namespace {

using namespace test;

Bytes concat(std::initializer_list<Bytes> parts) {
    Bytes out;
    for (const Bytes& p : parts)
        append(out, p);
    return out;
}

Bytes syn_with_options() {
    TcpSpec t;
    t.flags = tcp_flag::syn;
    // MSS, NOP, window scale, SACK permitted, timestamps, MP_TCPRST.
    t.options = {2, 4, 0x05, 0xb4, 1, 3, 3, 7, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 30, 4, 0x80, 6};
    t.payload = "hi";
    return tcp_segment(t);
}

Bytes rst_with_text() {
    TcpSpec t;
    t.flags = tcp_flag::rst | tcp_flag::ack;
    t.seq = 5001;
    t.ack = 1101;
    t.payload = "connection reset by \"peer\"\r\n\x01\xff";
    return tcp_segment(t);
}

Bytes v4(const Bytes& tcp) {
    return ipv4("198.51.100.1", "203.0.113.2", 6, tcp, 64, 7);
}
Bytes v6(const Bytes& tcp) {
    return ipv6("2001:db8::1", "2001:db8::2", 6, tcp, 55);
}

// Valid frames, each for the link type it was built for (every frame is fed to every link type).
std::vector<Bytes> seed_frames() {
    const Bytes syn4 = v4(syn_with_options());
    const Bytes rst4 = v4(rst_with_text());
    const Bytes syn6 = v6(syn_with_options());
    Bytes v6_extensions = concat({{60, 0, 1, 4, 0, 0, 0, 0},  // hop-by-hop → destination options
                                  {44, 0, 1, 4, 0, 0, 0, 0},  // destination options → fragment
                                  {6, 0, 0, 0, 0, 0, 0, 1},   // atomic fragment → TCP
                                  rst_with_text()});
    const Bytes ext6 = ipv6("2001:db8::1", "2001:db8::2", 0, v6_extensions);
    const Bytes inner_eth =
        ethernet(0x0800, ipv4("198.51.100.7", "203.0.113.8", 6, rst_with_text()));

    std::vector<Bytes> seeds;
    seeds.push_back(ethernet(0x0800, syn4));
    seeds.push_back(ethernet(0x0800, rst4));
    seeds.push_back(ethernet(0x86DD, syn6));
    seeds.push_back(ethernet(0x86DD, ext6));
    seeds.push_back(ethernet(0x0800, rst4, {100, 200}, 0x88A8));  // QinQ
    seeds.push_back(ethernet(0x86DD, syn6, {7}));                 // one 802.1Q tag
    // MPLS: two labels then IPv4; one label, pseudowire control word, then Ethernet.
    seeds.push_back(
        ethernet(0x8847, concat({{0x00, 0x01, 0x00, 0x40, 0x00, 0x02, 0x01, 0x40}, rst4})));
    seeds.push_back(ethernet(0x8847, concat({{0x00, 0x03, 0x01, 0x40, 0, 0, 0, 0}, inner_eth})));
    // GRE: ERSPAN II, ERSPAN III with platform subheader, transparent bridging with a key,
    // IPv6 with a checksum, and Aruba's 802.11 (QoS data, LLC/SNAP).
    seeds.push_back(ethernet(0x0800, ipv4("192.0.2.1", "192.0.2.2", 47,
                                          concat({{0x10, 0x00, 0x88, 0xBE, 0, 0, 0, 1},
                                                  {0x10, 0x01, 0, 0, 0, 0, 0, 0},
                                                  inner_eth}))));
    seeds.push_back(ethernet(0x0800, ipv4("192.0.2.1", "192.0.2.2", 47,
                                          concat({{0x10, 0x00, 0x22, 0xEB, 0, 0, 0, 2},
                                                  Bytes(11, 0),
                                                  {0x01},
                                                  Bytes(8, 0),
                                                  inner_eth}))));
    seeds.push_back(
        ethernet(0x0800, ipv4("192.0.2.1", "192.0.2.2", 47,
                              concat({{0x20, 0x00, 0x65, 0x58, 0, 0, 0, 9}, inner_eth}))));
    seeds.push_back(ethernet(0x86DD, ipv6("2001:db8::a", "2001:db8::b", 47,
                                          concat({{0x80, 0x00, 0x86, 0xDD, 0, 0, 0, 0}, syn6}))));
    Bytes wifi{0x88, 0x01, 0, 0};  // QoS data, ToDS
    wifi.resize(24, 0x11);
    append(wifi, {0x00, 0x00});                                      // QoS control
    append(wifi, {0xAA, 0xAA, 0x03, 0x00, 0x00, 0x00, 0x08, 0x00});  // LLC/SNAP: IPv4
    append(wifi, rst4);
    seeds.push_back(ethernet(
        0x0800, ipv4("192.0.2.1", "192.0.2.2", 47, concat({{0x00, 0x00, 0x82, 0x00}, wifi}))));
    // IP-in-IP and IPv6-in-IPv4.
    seeds.push_back(ethernet(0x0800, ipv4("192.0.2.1", "192.0.2.2", 4, rst4)));
    seeds.push_back(ethernet(0x0800, ipv4("192.0.2.1", "192.0.2.2", 41, syn6)));
    // PPPoE session carrying IPv4 and IPv6.
    seeds.push_back(
        ethernet(0x8864, concat({{0x11, 0x00, 0x00, 0x01, 0x00, 0x30, 0x00, 0x21}, rst4})));
    seeds.push_back(
        ethernet(0x8864, concat({{0x11, 0x00, 0x00, 0x01, 0x00, 0x30, 0x00, 0x57}, syn6})));
    // Link types other than Ethernet.
    seeds.push_back(rst4);
    seeds.push_back(ext6);
    seeds.push_back(concat({{2, 0, 0, 0}, rst4}));   // DLT_NULL, little-endian host
    seeds.push_back(concat({{0, 0, 0, 24}, syn6}));  // DLT_LOOP, IPv6
    Bytes sll(16, 0);
    sll[14] = 0x08;
    seeds.push_back(concat({sll, rst4}));
    Bytes sll2(20, 0);
    sll2[0] = 0x86;
    sll2[1] = 0xDD;
    seeds.push_back(concat({sll2, ext6}));
    // Tunnels over UDP and enhanced GRE, in Ethernet.
    auto udp_frame = [](uint16_t dport, const Bytes& payload) {
        return ethernet(0x0800, ipv4_udp(50000, dport, payload));
    };
    seeds.push_back(udp_frame(4789, vxlan(0x1234, inner_eth)));
    seeds.push_back(udp_frame(6081, geneve(7, 0x6558, inner_eth, Bytes(4, 0))));
    seeds.push_back(udp_frame(2152, gtp_u(9, rst4, 0xFF, {1, 0, 9, 0})));
    seeds.push_back(udp_frame(
        3544, teredo(ipv6("2001:0:db8::1", "2001:db8::2", 6, rst_with_text()), true, true)));
    seeds.push_back(udp_frame(5072, ayiya(41, syn6)));
    seeds.push_back(ethernet(
        0x0800, ipv4("192.0.2.1", "192.0.2.2", 47, gre_pptp(3, 0x0021, rst4, false, true))));
    // PBB, then VN-Tag, then an 802.3 length with LLC/SNAP.
    Bytes snap = llc_snap(0x0800, rst4);
    Bytes vntag{0x80, 0x01, 0x00, 0x02};
    put16(vntag, static_cast<uint16_t>(snap.size()));
    seeds.push_back(
        ethernet(0x88E7, concat({{0, 0, 0, 1}, ethernet(0x8926, concat({vntag, snap}))})));
    // Link types: PPP, FDDI, PPP serial, 802.11, radiotap, NFLOG.
    seeds.push_back(concat({{0xFF, 0x03, 0x00, 0x21}, rst4}));
    seeds.push_back(concat({Bytes(13, 0x50), snap}));
    seeds.push_back(concat({{0xFF, 0x03, 0x00, 0x57}, syn6}));
    seeds.push_back(ieee80211_data(rst4, true));
    seeds.push_back(concat({{0, 0, 8, 0, 0, 0, 0, 0}, ieee80211_data(rst4)}));
    Bytes nflog{2, 0, 0, 1, 8, 0, 1, 0, 0, 0, 0, 0};  // header, a packet-header TLV
    const auto payload_length = static_cast<uint16_t>(4 + rst4.size());
    nflog.push_back(static_cast<uint8_t>(payload_length));  // little-endian host order
    nflog.push_back(static_cast<uint8_t>(payload_length >> 8));
    append(nflog, {9, 0});
    seeds.push_back(concat({nflog, rst4}));
    return seeds;
}

// Checks one decode against the decoder's contract; returns what is wrong, or "".
std::string contract_violation(const DecodeResult& r, const DecodedPacket& p, const uint8_t* frame,
                               uint32_t length) {
    if (!r.is_tcp) {
        if (r.reason >= DropReason::count) return "drop reason out of range";
        if (r.reason == DropReason::unsupported_link) return "unsupported_link for a known link";
        return "";
    }
    if (p.payload_captured > p.payload_length) return "payload_captured > payload_length";
    if (p.payload < frame || p.payload > frame + length) return "payload pointer outside the frame";
    if (p.payload + p.payload_captured > frame + length) return "payload runs past the frame";
    if (p.family != IpFamily::v4 && p.family != IpFamily::v6) return "bad family";
    if (p.family == IpFamily::v6 && p.has_ip_id) return "IPv6 with an IP-ID";
    if (p.options.window_scale != tcp_wscale_absent && p.options.window_scale > 14)
        return "window scale above 14";
    if ((p.vlan_outer != vlan_none) != ((p.encapsulation & encapsulation_vlan) != 0))
        return "VLAN tag and encapsulation bit disagree";
    if (p.vlan_inner != vlan_none && p.vlan_outer == vlan_none) return "inner VLAN without outer";
    return "";
}

std::string hex(const uint8_t* data, size_t length) {
    static const char digits[] = "0123456789abcdef";
    std::string out;
    for (size_t i = 0; i < length; ++i) {
        out += digits[data[i] >> 4];
        out += digits[data[i] & 15];
    }
    return out;
}

void mutate(Bytes& frame, std::mt19937& rng) {
    static const uint8_t interesting[] = {0x00, 0x01, 0x04, 0x05, 0x06, 0x0f, 0x29, 0x2f,
                                          0x3f, 0x40, 0x45, 0x4f, 0x60, 0x7f, 0x80, 0x81,
                                          0x86, 0x88, 0xdd, 0xf0, 0xfe, 0xff};
    auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
    int rounds = 1 + static_cast<int>(pick(4));
    for (int round = 0; round < rounds; ++round) {
        switch (pick(7)) {
            case 0:  // flip one bit
                if (!frame.empty())
                    frame[pick(frame.size())] ^= static_cast<uint8_t>(1u << pick(8));
                break;
            case 1:  // overwrite a byte with a random value
                if (!frame.empty()) frame[pick(frame.size())] = static_cast<uint8_t>(rng());
                break;
            case 2:  // overwrite a byte with a value that means something to some header
                if (!frame.empty())
                    frame[pick(frame.size())] = interesting[pick(sizeof interesting)];
                break;
            case 3: {  // insert random bytes
                size_t at = pick(frame.size() + 1), n = 1 + pick(8);
                Bytes more(n);
                for (uint8_t& b : more)
                    b = static_cast<uint8_t>(rng());
                frame.insert(frame.begin() + static_cast<std::ptrdiff_t>(at), more.begin(),
                             more.end());
                break;
            }
            case 4: {  // delete a range
                if (frame.empty()) break;
                size_t at = pick(frame.size());
                size_t n = 1 + pick(std::min<size_t>(16, frame.size() - at));
                frame.erase(frame.begin() + static_cast<std::ptrdiff_t>(at),
                            frame.begin() + static_cast<std::ptrdiff_t>(at + n));
                break;
            }
            case 5:  // truncate
                frame.resize(pick(frame.size() + 1));
                break;
            case 6: {  // overwrite a 16-bit field (lengths, ethertypes) with an extreme value
                if (frame.size() < 2) break;
                size_t at = pick(frame.size() - 1);
                static const uint16_t values[] = {0x0000, 0x0001, 0x0014, 0x0028, 0x7fff, 0xffff};
                uint16_t v = values[pick(6)];
                frame[at] = static_cast<uint8_t>(v >> 8);
                frame[at + 1] = static_cast<uint8_t>(v);
                break;
            }
        }
    }
}

TEST(Robustness, SeedsDecodeAsTcp) {
    // The fuzzer starts from frames the decoder must accept: check that it does.
    const std::vector<Bytes> seeds = seed_frames();
    const LinkType link_of[] = {LinkType::ethernet,
                                LinkType::ethernet,
                                LinkType::ethernet,
                                LinkType::ethernet,
                                LinkType::ethernet,
                                LinkType::ethernet,
                                LinkType::ethernet,
                                LinkType::ethernet,
                                LinkType::ethernet,
                                LinkType::ethernet,
                                LinkType::ethernet,
                                LinkType::ethernet,
                                LinkType::ethernet,
                                LinkType::ethernet,
                                LinkType::ethernet,
                                LinkType::ethernet,
                                LinkType::ethernet,
                                LinkType::raw_ip,
                                LinkType::raw_ip,
                                LinkType::null_bsd,
                                LinkType::loop,
                                LinkType::linux_sll,
                                LinkType::linux_sll2,
                                LinkType::ethernet,
                                LinkType::ethernet,
                                LinkType::ethernet,
                                LinkType::ethernet,
                                LinkType::ethernet,
                                LinkType::ethernet,
                                LinkType::ethernet,
                                LinkType::ppp,
                                LinkType::fddi,
                                LinkType::ppp_serial,
                                LinkType::ieee802_11,
                                LinkType::ieee802_11_radiotap,
                                LinkType::nflog};
    ASSERT_EQ(seeds.size(), std::size(link_of));
    for (size_t i = 0; i < seeds.size(); ++i) {
        DecodedPacket p;
        DecodeResult r =
            decode_frame(link_of[i], seeds[i].data(), static_cast<uint32_t>(seeds[i].size()), p);
        EXPECT_TRUE(r.is_tcp) << "seed " << i << ": " << ::testing::PrintToString(r.reason);
        EXPECT_EQ(p.payload_captured, p.payload_length) << "seed " << i;
    }
}

TEST(Robustness, EveryPrefixOfEverySeedAsEveryLinkType) {
    for (const Bytes& seed : seed_frames()) {
        for (size_t length = 0; length <= seed.size(); ++length) {
            std::unique_ptr<uint8_t[]> frame(new uint8_t[length]);
            if (length) std::memcpy(frame.get(), seed.data(), length);
            for (LinkType link : decoded_link_types) {
                DecodedPacket p;
                DecodeResult r = decode_frame(link, frame.get(), static_cast<uint32_t>(length), p);
                std::string problem =
                    contract_violation(r, p, frame.get(), static_cast<uint32_t>(length));
                ASSERT_EQ(problem, "")
                    << "link " << static_cast<int>(link) << " frame " << hex(frame.get(), length);
            }
        }
    }
}

TEST(Robustness, MutatedFramesKeepTheDecoderAndTrackerContracts) {
    const std::vector<Bytes> seeds = seed_frames();
    std::mt19937 rng(20240607);

    TrackerConfig config;
    config.flow_capacity = 16;  // two buckets: evictions happen
    config.linger_capacity = 16;
    config.linger_ns = 0;
    config.half_open_timeout_ns = 2 * ns_per_second;
    config.closed_timeout_ns = 1 * ns_per_second;
    config.established_timeout_ns = 4 * ns_per_second;
    WorkerCounters counters;
    FlowTracker tracker(config, counters);

    uint64_t fed = 0, fed_rst = 0, fed_syn_rst = 0, fed_v6 = 0, events = 0, decoded = 0;
    uint64_t reasons_seen[drop_reason_count] = {};
    uint64_t ts = ns_per_second;
    constexpr int iterations = 20000;
    for (int i = 0; i < iterations; ++i) {
        Bytes mutated = seeds[rng() % seeds.size()];
        mutate(mutated, rng);
        const uint32_t length = static_cast<uint32_t>(mutated.size());
        // Exactly sized: one byte too far is a heap overflow under AddressSanitizer.
        std::unique_ptr<uint8_t[]> frame(new uint8_t[length]);
        if (length) std::memcpy(frame.get(), mutated.data(), length);

        for (LinkType link : decoded_link_types) {
            DecodedPacket p;
            DecodeResult r = decode_frame(link, frame.get(), length, p);
            std::string problem = contract_violation(r, p, frame.get(), length);
            ASSERT_EQ(problem, "") << "iteration " << i << " link " << static_cast<int>(link)
                                   << " frame " << hex(frame.get(), length);
            if (!r.is_tcp) {
                ++reasons_seen[static_cast<size_t>(r.reason)];
                continue;
            }
            ++decoded;
            // Mostly a burst; now and then a silence long enough to expire flows.
            ts += rng() % 200 == 0 ? 5 * ns_per_second : rng() % (ns_per_second / 100);
            p.ts_ns = ts;
            const bool rst = p.tcp_flags & tcp_flag::rst;
            const bool syn_rst = rst && (p.tcp_flags & tcp_flag::syn);
            tracker.process(p);
            ++fed;
            fed_rst += rst;
            fed_syn_rst += syn_rst;
            fed_v6 += p.family == IpFamily::v6;
            events += tracker.event_count();
            for (uint32_t k = 0; k < tracker.event_count(); ++k) {
                const ResetEvent& e = tracker.events()[k];
                ASSERT_LT(e.cause, ResetCause::count);
                ASSERT_LT(e.confidence, Confidence::count);
                ASSERT_LE(e.rst_payload_length, rst_payload_capacity);
                ASSERT_LT(std::strlen(e.history), history_capacity);
                ASSERT_GE(e.rst_count, 1u);
            }
            tracker.clear_events();
        }
        if (i % 16 == 0) {
            tracker.advance(ts);
            events += tracker.event_count();
            tracker.clear_events();
        }
    }
    EXPECT_TRUE(tracker.flush_pending(UINT32_MAX));
    events += tracker.event_count();

    // The mutants reach every drop reason the decoder gives, except the nesting limit (which
    // needs more tunnels than a few mutations make; test_packet_decoder covers it).
    for (size_t r = 0; r < drop_reason_count; ++r) {
        auto reason = static_cast<DropReason>(r);
        bool reachable =
            reason != DropReason::unsupported_link && reason != DropReason::tunnel_too_deep;
        if (reachable) {
            EXPECT_GT(reasons_seen[r], 0u) << drop_reason_names[r];
        }
    }
    // Enough mutants must still decode for the tracker half of this test to mean anything.
    EXPECT_GT(decoded, static_cast<uint64_t>(iterations) / 4);
    EXPECT_EQ(counters.get(WorkerCounter::tcp_packets), fed);
    EXPECT_EQ(counters.get(WorkerCounter::rst_packets), fed_rst);
    EXPECT_GT(fed_syn_rst, 0u);  // SYN+RST segments were fed, and analysed: no drop
    EXPECT_EQ(counters.total_drops(), 0u);
    EXPECT_EQ(counters.get(WorkerCounter::ipv6_packets), fed_v6);
    EXPECT_GT(counters.get(WorkerCounter::reset_connections), 0u);
    EXPECT_EQ(events, counters.get(WorkerCounter::reset_connections));
    EXPECT_EQ(counters.get(WorkerCounter::events_ring_full), 0u);
    const uint64_t live = counters.get(WorkerCounter::flows_created) -
                          counters.get(WorkerCounter::flows_expired) -
                          counters.get(WorkerCounter::flows_evicted);
    EXPECT_LE(tracker.table().size(), live);
    EXPECT_LE(tracker.table().size(), tracker.table().capacity());
    EXPECT_GT(counters.get(WorkerCounter::flows_expired), 0u);
    EXPECT_GT(counters.get(WorkerCounter::flows_evicted), 0u);
}

}  // namespace
}  // namespace rstscope
