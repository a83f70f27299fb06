// SPDX-License-Identifier: BSD-3-Clause
// Unit tests for the worker's IP reassembly (src/datapath/reassembly.cc) on DPDK's rte_ip_frag:
// an EAL test (no hugepages, no PCI), fragments built by hand in mbufs of a real pool and
// described by the real decoder. Each test checks the counters and that every mbuf returns to
// the pool.

#include <gtest/gtest.h>

#include <rte_eal.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <arpa/inet.h>

#include <cstring>

#include "datapath/reassembly.h"
#include "datapath/rss_spread.h"
#include "eal_for_tests.h"
#include "rstscope/decode/packet_decoder.h"
#include "rstscope/flow/symmetric_rss.h"

namespace rstscope {
namespace {

constexpr unsigned pool_size = 511;
rte_mempool* pool = nullptr;

class Eal : public testing::Environment {
  public:
    void SetUp() override {
        ASSERT_GE(start_eal_for_tests("test_reassembly"), 0);
        pool = rte_pktmbuf_pool_create("reassembly_test", pool_size, 0, 0,
                                       RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
        ASSERT_NE(pool, nullptr);
    }
    void TearDown() override {
        rte_mempool_free(pool);
        rte_eal_cleanup();
    }
};
testing::Environment* const eal = testing::AddGlobalTestEnvironment(new Eal);

constexpr uint64_t second = 1'000'000'000;

// An Ethernet frame holding an IPv4 fragment of TCP: `length` payload bytes at byte `offset` of
// datagram `id`, each byte its own position in the datagram (mod 251).
rte_mbuf* fragment(uint16_t id, uint32_t offset, uint32_t length, bool more) {
    rte_mbuf* m = rte_pktmbuf_alloc(pool);
    EXPECT_NE(m, nullptr);
    auto* d = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, 14 + 20 + length));
    std::memset(d, 0, 34);
    d[12] = 0x08;  // IPv4
    uint8_t* ip = d + 14;
    ip[0] = 0x45;
    ip[2] = static_cast<uint8_t>((20 + length) >> 8);
    ip[3] = static_cast<uint8_t>(20 + length);
    ip[4] = static_cast<uint8_t>(id >> 8);
    ip[5] = static_cast<uint8_t>(id);
    uint16_t field = static_cast<uint16_t>(offset / 8 | (more ? 0x2000 : 0));
    ip[6] = static_cast<uint8_t>(field >> 8);
    ip[7] = static_cast<uint8_t>(field);
    ip[8] = 64;
    ip[9] = 6;  // TCP
    const uint8_t src[] = {198, 51, 100, 1}, dst[] = {203, 0, 113, 2};
    std::memcpy(ip + 12, src, 4);
    std::memcpy(ip + 16, dst, 4);
    for (uint32_t i = 0; i < length; ++i)
        ip[20 + i] = static_cast<uint8_t>((offset + i) % 251);
    return m;
}

struct Fixture {
    WorkerCounters counters;
    Reassembler reassembler;
    explicit Fixture(ReassemblyConfig config = {}) : reassembler(config, counters, SOCKET_ID_ANY) {}

    // What the worker does: decode, then hand the fragment over.
    rte_mbuf* take(rte_mbuf* m, uint64_t t) {
        DecodedPacket p;
        DecodeResult r = decode_frame(LinkType::ethernet, rte_pktmbuf_mtod(m, const uint8_t*),
                                      rte_pktmbuf_data_len(m), p);
        EXPECT_EQ(r.reason, DropReason::ip_fragment);
        EXPECT_EQ(r.fragment_l2_length, 14);
        EXPECT_EQ(r.fragment_l3_length, 20);
        return reassembler.take(m, r, t);
    }
    uint64_t get(WorkerCounter c) const { return counters.get(c); }
};

void expect_pool_full() {
    EXPECT_EQ(rte_mempool_avail_count(pool), pool_size);
}

TEST(Reassembly, OutOfOrderFragmentsMakeOneWholeDatagram) {
    {
        Fixture f;
        EXPECT_EQ(f.take(fragment(7, 32, 8, false), 1 * second), nullptr);
        EXPECT_EQ(f.take(fragment(7, 0, 16, true), 1 * second), nullptr);
        rte_mbuf* d = f.take(fragment(7, 16, 16, true), 2 * second);
        ASSERT_NE(d, nullptr);
        EXPECT_EQ(d->nb_segs, 3);
        ASSERT_EQ(rte_pktmbuf_pkt_len(d), 14u + 20 + 40);
        uint8_t buffer[74];
        auto* whole = static_cast<const uint8_t*>(rte_pktmbuf_read(d, 0, sizeof buffer, buffer));
        // Decoded as one IPv4 packet: total length 60, no fragment bits.
        DecodedPacket p;
        DecodeResult r = decode_frame(LinkType::ethernet, whole, sizeof buffer, p);
        EXPECT_NE(r.reason, DropReason::ip_fragment);
        EXPECT_EQ((whole[16] << 8) | whole[17], 60);
        EXPECT_EQ(((whole[20] << 8) | whole[21]) & 0x3FFF, 0);
        for (uint32_t i = 0; i < 40; ++i)
            ASSERT_EQ(whole[34 + i], i % 251) << i;
        EXPECT_EQ(f.get(WorkerCounter::fragments), 3u);
        EXPECT_EQ(f.get(WorkerCounter::fragments_reassembled), 1u);
        rte_pktmbuf_free(d);
    }
    expect_pool_full();
}

TEST(Reassembly, FullTableDropsTheNewDatagramsFragment) {
    {
        Fixture f(ReassemblyConfig{.datagrams = 1, .bucket_entries = 8, .timeout_ns = second});
        EXPECT_EQ(f.take(fragment(1, 0, 16, true), 0), nullptr);
        EXPECT_EQ(f.take(fragment(2, 0, 16, true), 0), nullptr);  // no room for datagram 2
        EXPECT_EQ(f.get(WorkerCounter::fragments_table_full), 1u);
        rte_mbuf* d = f.take(fragment(1, 16, 8, false), 0);
        ASSERT_NE(d, nullptr);
        rte_pktmbuf_free(d);
        // Datagram 1 is done: its entry is free again.
        EXPECT_EQ(f.take(fragment(2, 16, 8, false), 0), nullptr);
        EXPECT_EQ(f.get(WorkerCounter::fragments_table_full), 1u);
        f.reassembler.expire_all();
        EXPECT_EQ(f.get(WorkerCounter::fragments_timed_out), 1u);
    }
    expect_pool_full();
}

TEST(Reassembly, IncompleteDatagramsTimeOutOnPacketTime) {
    {
        Fixture f(ReassemblyConfig{.datagrams = 8, .bucket_entries = 8, .timeout_ns = second});
        EXPECT_EQ(f.take(fragment(3, 0, 16, true), 10 * second), nullptr);
        EXPECT_EQ(f.take(fragment(3, 16, 16, true), 10 * second), nullptr);
        f.reassembler.expire(11 * second);  // exactly the timeout: not yet
        EXPECT_EQ(f.get(WorkerCounter::fragments_timed_out), 0u);
        f.reassembler.expire(11 * second + 1);
        EXPECT_EQ(f.get(WorkerCounter::fragments_timed_out), 2u);
        // The last fragment after the timeout starts a datagram of its own, never completed.
        EXPECT_EQ(f.take(fragment(3, 32, 8, false), 12 * second), nullptr);
        f.reassembler.expire_all();
        EXPECT_EQ(f.get(WorkerCounter::fragments_timed_out), 3u);
        EXPECT_EQ(f.get(WorkerCounter::fragments_reassembled), 0u);
    }
    expect_pool_full();
}

TEST(Reassembly, RepeatedFragmentDropsTheWholeDatagramAsInvalid) {
    {
        Fixture f;
        EXPECT_EQ(f.take(fragment(4, 0, 16, true), 0), nullptr);
        EXPECT_EQ(f.take(fragment(4, 16, 16, true), 0), nullptr);
        EXPECT_EQ(f.take(fragment(4, 16, 16, true), 0), nullptr);
        EXPECT_EQ(f.take(fragment(4, 32, 8, false), 0), nullptr);
        EXPECT_EQ(f.get(WorkerCounter::fragments_invalid), 4u);
        EXPECT_EQ(f.get(WorkerCounter::fragments_table_full), 0u);
        EXPECT_EQ(f.get(WorkerCounter::fragments_reassembled), 0u);
    }
    expect_pool_full();
}

TEST(Reassembly, BadLengthsAreDroppedBeforeTheTable) {
    {
        Fixture f;
        EXPECT_EQ(f.take(fragment(5, 65528, 16, false), 0), nullptr);  // ends past 65535
        EXPECT_EQ(f.get(WorkerCounter::fragments_too_large), 1u);
        EXPECT_EQ(f.take(fragment(5, 0, 12, true), 0), nullptr);  // not a multiple of 8
        EXPECT_EQ(f.get(WorkerCounter::fragments_invalid), 1u);
        f.reassembler.expire_all();
        EXPECT_EQ(f.get(WorkerCounter::fragments_timed_out), 0u);  // neither took an entry
        EXPECT_EQ(f.get(WorkerCounter::fragments), 2u);
    }
    expect_pool_full();
}

TEST(Reassembly, PoolBoundsTheTable) {
    EXPECT_EQ(reassembly_datagrams_for_pool(512, 8191), 511u);
    EXPECT_EQ(reassembly_datagrams_for_pool(100, 8191), 100u);
    EXPECT_EQ(reassembly_datagrams_for_pool(512, 511), 31u);
}

// ---- Where hardware RSS puts a flow: the owner of a reassembled datagram ----

DecodedPacket segment(const char* src, uint16_t sport, const char* dst, uint16_t dport) {
    DecodedPacket p{};
    p.family = std::strchr(src, ':') ? IpFamily::v6 : IpFamily::v4;
    const int af = p.family == IpFamily::v6 ? AF_INET6 : AF_INET;
    EXPECT_EQ(inet_pton(af, src, p.src.bytes), 1);
    EXPECT_EQ(inet_pton(af, dst, p.dst.bytes), 1);
    p.src_port = sport;
    p.dst_port = dport;
    return p;
}

// The verification suite of the Intel 82599 datasheet (7.1.2.8.3), with its key.
constexpr uint8_t verification_key[40] = {
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3,
    0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3,
    0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa};

TEST(RssSpread, HashIsTheDevicesOnTheVerificationSuite) {
    DecodedPacket a = segment("66.9.149.187", 2794, "161.142.100.80", 1766);
    EXPECT_EQ(rss_hash(a, false, verification_key), 0x323e8fc2u);
    EXPECT_EQ(rss_hash(a, true, verification_key), 0x51ccc178u);
    DecodedPacket b = segment("199.92.111.2", 14230, "65.69.140.83", 4739);
    EXPECT_EQ(rss_hash(b, false, verification_key), 0xd718262au);
    EXPECT_EQ(rss_hash(b, true, verification_key), 0xc626b0eau);
    DecodedPacket c = segment("3ffe:2501:200:1fff::7", 2794, "3ffe:2501:200:3::1", 1766);
    EXPECT_EQ(rss_hash(c, false, verification_key), 0x2cc18cd5u);
    EXPECT_EQ(rss_hash(c, true, verification_key), 0x40207d3du);
}

TEST(RssSpread, BothDirectionsReachTheSameQueueWithTheSymmetricKey) {
    const RssKey key = symmetric_rss_key(52);
    RssSpread spread;
    spread.hash_tcp4 = spread.hash_tcp6 = true;
    for (uint16_t i = 0; i < 128; ++i)
        spread.reta.push_back(i % 3);
    for (uint16_t port = 40000; port < 40064; ++port) {
        DecodedPacket out = segment("198.51.100.7", port, "203.0.113.9", 443);
        DecodedPacket back = segment("203.0.113.9", 443, "198.51.100.7", port);
        EXPECT_EQ(rss_hash(out, true, key.bytes.data()), rss_hash(back, true, key.bytes.data()));
        EXPECT_EQ(rss_queue(spread, out, key.bytes.data()),
                  rss_queue(spread, back, key.bytes.data()));
        DecodedPacket out6 = segment("2001:db8::7", port, "2001:db8::9", 443);
        DecodedPacket back6 = segment("2001:db8::9", 443, "2001:db8::7", port);
        EXPECT_EQ(rss_queue(spread, out6, key.bytes.data()),
                  rss_queue(spread, back6, key.bytes.data()));
    }
}

TEST(RssSpread, QueueIsTheTablesEntryForTheHashsLowBits) {
    DecodedPacket a = segment("66.9.149.187", 2794, "161.142.100.80", 1766);
    RssSpread spread;
    spread.hash_tcp4 = true;
    spread.reta.assign(128, 0);
    spread.reta[0x51ccc178u % 128] = 5;
    EXPECT_EQ(rss_queue(spread, a, verification_key), 5);
    spread.hash_tcp4 = false;  // a device that hashes IPv4 TCP on its addresses only
    spread.reta.assign(128, 0);
    spread.reta[0x323e8fc2u % 128] = 2;
    EXPECT_EQ(rss_queue(spread, a, verification_key), 2);
}

}  // namespace
}  // namespace rstscope
