// SPDX-License-Identifier: BSD-3-Clause
// Unit tests for the capture feed (src/datapath/capture_feed.h): an EAL test (no hugepages, no
// PCI). A pcap file written here goes through the feed's net_ring port as the worker receives it
// (top_up, then rte_eth_rx_burst); every frame must arrive whole, in order, stamped with its
// record's time, and every mbuf must return to the pool.

#include <gtest/gtest.h>

#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <rte_mempool.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "datapath/capture_feed.h"
#include "eal_for_tests.h"

namespace rstscope {
namespace {

constexpr unsigned pool_size = 255;
constexpr uint16_t data_room = 512;  // frames longer than this arrive as chains
rte_mempool* pool = nullptr;
int timestamp_offset = -1;
uint64_t timestamp_flag = 0;

class Eal : public testing::Environment {
  public:
    void SetUp() override {
        ASSERT_GE(start_eal_for_tests("test_capture_feed"), 0);
        pool = rte_pktmbuf_pool_create("capture_feed_test", pool_size, 0, 0,
                                       RTE_PKTMBUF_HEADROOM + data_room, SOCKET_ID_ANY);
        ASSERT_NE(pool, nullptr);
        ASSERT_EQ(rte_mbuf_dyn_rx_timestamp_register(&timestamp_offset, &timestamp_flag), 0);
    }
    void TearDown() override {
        rte_mempool_free(pool);
        rte_eal_cleanup();
    }
};
testing::Environment* const eal = testing::AddGlobalTestEnvironment(new Eal);

// A little-endian microsecond pcap file of `count` Ethernet-sized frames, frame i of
// lengths[i % size] bytes, each byte its record's and position's.
struct Capture {
    std::string path;
    std::vector<std::vector<uint8_t>> frames;
    std::vector<uint64_t> times_ns;

    Capture(const std::string& name, const std::vector<uint32_t>& lengths, uint32_t count) {
        path = (std::filesystem::temp_directory_path() /
                ("rstscope-feed-" + std::to_string(getpid()) + "-" + name))
                   .string();
        std::vector<uint8_t> bytes;
        auto put32 = [&bytes](uint32_t v) {
            for (int i = 0; i < 4; ++i)
                bytes.push_back(static_cast<uint8_t>(v >> (8 * i)));
        };
        put32(0xa1b2c3d4);
        put32(2 | 4u << 16);  // version 2.4
        put32(0);
        put32(0);
        put32(65535);
        put32(1);
        for (uint32_t i = 0; i < count; ++i) {
            std::vector<uint8_t> frame(lengths[i % lengths.size()]);
            for (size_t b = 0; b < frame.size(); ++b)
                frame[b] = static_cast<uint8_t>(i * 13 + b);
            put32(1'700'000'000 + i / 1000);
            put32(i % 1000 * 997);
            put32(static_cast<uint32_t>(frame.size()));
            put32(static_cast<uint32_t>(frame.size()));
            bytes.insert(bytes.end(), frame.begin(), frame.end());
            times_ns.push_back((1'700'000'000ull + i / 1000) * 1'000'000'000ull +
                               uint64_t{i % 1000 * 997} * 1000);
            frames.push_back(std::move(frame));
        }
        std::ofstream(path, std::ios::binary)
            .write(reinterpret_cast<const char*>(bytes.data()),
                   static_cast<std::streamsize>(bytes.size()));
    }
    ~Capture() { std::filesystem::remove(path); }
};

// The feed on `capture` with its port started, as setup_ports starts one.
std::unique_ptr<CaptureFeed> started_feed(const Capture& capture, WorkerCounters& counters) {
    std::string error;
    std::optional<CaptureProbe> probe = probe_capture(capture.path, error);
    EXPECT_TRUE(probe && probe->plain_layout) << error;
    if (!probe || !probe->plain_layout) return nullptr;
    std::optional<PlainRecordReader> reader =
        PlainRecordReader::open(capture.path, *probe->plain_layout);
    EXPECT_TRUE(reader);
    if (!reader) return nullptr;
    auto feed = std::make_unique<CaptureFeed>(std::move(*reader), probe->packets);
    rte_eth_conf conf{};
    EXPECT_EQ(rte_eth_dev_configure(feed->port(), 1, 0, &conf), 0);
    EXPECT_EQ(rte_eth_rx_queue_setup(feed->port(), 0, 128, SOCKET_ID_ANY, nullptr, pool), 0);
    EXPECT_EQ(rte_eth_dev_start(feed->port()), 0);
    feed->attach(pool, timestamp_offset, timestamp_flag, counters);
    return feed;
}

void stop(uint16_t port) {
    rte_eth_dev_stop(port);
    rte_eth_dev_close(port);
}

std::vector<uint8_t> bytes_of(const rte_mbuf* m) {
    std::vector<uint8_t> bytes;
    for (const rte_mbuf* segment = m; segment != nullptr; segment = segment->next) {
        const auto* data = rte_pktmbuf_mtod(segment, const uint8_t*);
        bytes.insert(bytes.end(), data, data + segment->data_len);
    }
    return bytes;
}

TEST(CaptureFeed, DeliversEveryFrameWholeInOrderWithItsTime) {
    // Short, empty and full frames, and frames longer than an mbuf's room (two and three
    // segments).
    Capture capture("order", {60, 512, 1514, 74, 1100, 9000 % 1500}, 3000);
    WorkerCounters counters;
    std::unique_ptr<CaptureFeed> feed = started_feed(capture, counters);
    ASSERT_TRUE(feed);
    size_t received = 0;
    rte_mbuf* burst[64];
    for (unsigned round = 0; round < 10'000 && received < capture.frames.size(); ++round) {
        unsigned size = 1 + round % 64;  // every burst size the worker may use
        feed->top_up(size);
        uint16_t n = rte_eth_rx_burst(feed->port(), 0, burst, static_cast<uint16_t>(size));
        for (uint16_t i = 0; i < n; ++i, ++received) {
            const rte_mbuf* m = burst[i];
            ASSERT_LT(received, capture.frames.size());
            EXPECT_EQ(bytes_of(m), capture.frames[received]) << "frame " << received;
            EXPECT_EQ(m->pkt_len, capture.frames[received].size());
            EXPECT_EQ(
                m->nb_segs,
                std::max<size_t>(1, (capture.frames[received].size() + data_room - 1) / data_room));
            EXPECT_EQ(m->port, feed->port());
            ASSERT_TRUE(m->ol_flags & timestamp_flag);
            EXPECT_EQ(*RTE_MBUF_DYNFIELD(m, timestamp_offset, const rte_mbuf_timestamp_t*),
                      capture.times_ns[received]);
        }
        // What the worker publishes as the capture's time: the last frame it received.
        if (n) {
            EXPECT_EQ(feed->last_ns(), capture.times_ns[received - 1]);
        }
        rte_pktmbuf_free_bulk(burst, n);
    }
    EXPECT_EQ(received, capture.frames.size());
    feed->top_up(64);
    EXPECT_EQ(rte_eth_rx_burst(feed->port(), 0, burst, 64), 0);  // nothing past the end
    EXPECT_EQ(counters.get(WorkerCounter::capture_records_unread), 0u);
    stop(feed->port());
    feed.reset();
    EXPECT_EQ(rte_mempool_avail_count(pool), pool_size);
}

// A pool without mbufs to spare delays the frames; it never drops one.
TEST(CaptureFeed, AnEmptyPoolDelaysFramesWithoutLosingAny) {
    Capture capture("pool", {60, 1514}, 400);
    WorkerCounters counters;
    std::unique_ptr<CaptureFeed> feed = started_feed(capture, counters);
    ASSERT_TRUE(feed);
    std::vector<rte_mbuf*> taken(rte_mempool_avail_count(pool) - 3);  // 3 left: not a burst
    ASSERT_EQ(rte_pktmbuf_alloc_bulk(pool, taken.data(), static_cast<unsigned>(taken.size())), 0);
    rte_mbuf* burst[32];
    feed->top_up(32);
    EXPECT_EQ(rte_eth_rx_burst(feed->port(), 0, burst, 32), 0);
    // Two mbufs: a 60-byte frame fits one, the next 1514-byte frame needs three and waits.
    feed->top_up(2);
    uint16_t n = rte_eth_rx_burst(feed->port(), 0, burst, 2);
    ASSERT_EQ(n, 1);
    EXPECT_EQ(bytes_of(burst[0]), capture.frames[0]);
    rte_pktmbuf_free(burst[0]);
    rte_pktmbuf_free_bulk(taken.data(), static_cast<unsigned>(taken.size()));
    size_t received = 1;
    for (unsigned round = 0; round < 1000 && received < capture.frames.size(); ++round) {
        feed->top_up(32);
        n = rte_eth_rx_burst(feed->port(), 0, burst, 32);
        for (uint16_t i = 0; i < n; ++i, ++received)
            EXPECT_EQ(bytes_of(burst[i]), capture.frames[received]) << "frame " << received;
        rte_pktmbuf_free_bulk(burst, n);
    }
    EXPECT_EQ(received, capture.frames.size());
    EXPECT_EQ(counters.get(WorkerCounter::capture_records_unread), 0u);
    stop(feed->port());
    feed.reset();
    EXPECT_EQ(rte_mempool_avail_count(pool), pool_size);
}

// A file cut short during the run: the records it no longer holds are counted, so the worker's
// end-of-capture test (received + unread = the probe's count) holds and the run ends.
TEST(CaptureFeed, CountsTheRecordsOfAFileCutShort) {
    Capture capture("cut", {100}, 50);
    WorkerCounters counters;
    std::unique_ptr<CaptureFeed> feed = started_feed(capture, counters);
    ASSERT_TRUE(feed);
    ASSERT_EQ(truncate(capture.path.c_str(), 24 + 20 * 116 + 30), 0);
    size_t received = 0;
    rte_mbuf* burst[16];
    for (unsigned round = 0; round < 100; ++round) {
        feed->top_up(16);
        uint16_t n = rte_eth_rx_burst(feed->port(), 0, burst, 16);
        received += n;
        rte_pktmbuf_free_bulk(burst, n);
    }
    EXPECT_EQ(received, 20u);
    EXPECT_EQ(counters.get(WorkerCounter::capture_records_unread), 30u);
    stop(feed->port());
    feed.reset();
    EXPECT_EQ(rte_mempool_avail_count(pool), pool_size);
}

}  // namespace
}  // namespace rstscope
