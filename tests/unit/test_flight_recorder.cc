// SPDX-License-Identifier: BSD-3-Clause
// Flight recorder without EAL: the ring of records, the evidence blocks, the pcapng writer and
// reader, the rolling directory, and the tracker sealing a reset connection's packets.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "frame_builder.h"
#include "rstscope/analysis/flight_store.h"
#include "rstscope/datapath/burst.h"
#include "rstscope/mgmt/flight_recorder.h"
#include "rstscope/mgmt/pcapng.h"

namespace rstscope {
namespace {

using test::Bytes;

// A frame whose first byte says which packet it is, `size` bytes long.
Bytes numbered(uint8_t n, size_t size = 100) {
    Bytes b(size, 0xEE);
    b[0] = n;
    return b;
}

FrameRef frame_of(const Bytes& b, uint32_t length = 0) {
    return {b.data(), static_cast<uint32_t>(b.size()),
            length ? length : static_cast<uint32_t>(b.size())};
}

// The first byte of every record of block `number`, in order.
std::vector<int> firsts(const EvidenceArena& arena, uint64_t number) {
    std::vector<uint8_t> scratch(size_t{arena.max_records()} * arena.record_bytes());
    EvidenceView view;
    if (!arena.read(number, scratch.data(), view)) return {-1};
    std::vector<int> out;
    for (uint32_t i = 0; i < view.count; ++i)
        out.push_back(view.data(i)[0]);
    return out;
}

// One flow of the ring: its slot, generation and latest record, as its flow entry holds them.
struct Flow {
    uint32_t slot;
    uint32_t generation = 1;
    uint32_t last = 0;
    uint64_t packets = 0;
    void append(FlightStore& store, const Bytes& frame, uint64_t ts) {
        store.append(last, slot, generation, frame_of(frame), ts, 1);
        ++packets;
    }
    FlightStore::Sealed seal(const FlightStore& store, EvidenceArena& arena) const {
        return store.seal(last, slot, generation, packets, arena);
    }
};

// A ring of the fewest records (1024) for these tests.
FlightConfig small_ring(uint32_t packets, uint32_t snap = 64) {
    return FlightConfig{.packets = packets, .snap = snap, .ring_bytes = 1};
}

TEST(FlightStore, KeepsTheHandshakeAndTheLatestPacketsInOrder) {
    FlightStore store(small_ring(8));
    EXPECT_EQ(store.capacity(), 1024u);
    EXPECT_EQ(FlightStore::ring_record_bytes(160), 192u);  // 16 + 16 + 160, in whole lines
    // 1 GiB: as many whole records as fit, no power of two.
    EXPECT_EQ(FlightStore::memory_for(FlightConfig{.packets = 8, .snap = 160}),
              (size_t{1} << 30) / 192 * 192);
    EvidenceArena arena(1024, 8, store.record_bytes());
    std::vector<Bytes> frames;
    for (uint8_t n = 0; n < 40; ++n)
        frames.push_back(numbered(n));
    // Two flows interleaved in the ring: each finds its own packets.
    Flow a{5}, b{6};
    for (uint8_t n = 0; n < 20; ++n) {
        a.append(store, frames[n], 1000 + n);
        b.append(store, frames[20 + n], 2000 + n);
    }
    FlightStore::Sealed sealed = a.seal(store, arena);
    ASSERT_NE(sealed.block, 0u);
    EXPECT_EQ(sealed.overwritten, 0u);
    // The first three (handshake), then the last five.
    EXPECT_EQ(firsts(arena, sealed.block), (std::vector<int>{0, 1, 2, 15, 16, 17, 18, 19}));
    EXPECT_EQ(firsts(arena, b.seal(store, arena).block),
              (std::vector<int>{20, 21, 22, 35, 36, 37, 38, 39}));
    // A short flow: all of it.
    Flow c{7};
    for (uint8_t n = 0; n < 4; ++n)
        c.append(store, frames[n], n);
    EXPECT_EQ(firsts(arena, c.seal(store, arena).block), (std::vector<int>{0, 1, 2, 3}));
    // A flow with no record seals nothing.
    Flow empty{8};
    EXPECT_EQ(empty.seal(store, arena).block, 0u);
}

TEST(FlightStore, CutsFramesToTheSnapButKeepsTheirLengthAndTime) {
    FlightStore store(small_ring(4));
    EvidenceArena arena(1024, 4, store.record_bytes());
    Bytes big = numbered(9, 1500);
    uint32_t last = 0;
    store.append(last, 1, 1, frame_of(big, 9000), 123456789, 101);
    std::vector<uint8_t> scratch(4 * store.record_bytes());
    EvidenceView view;
    ASSERT_TRUE(arena.read(store.seal(last, 1, 1, 1, arena).block, scratch.data(), view));
    ASSERT_EQ(view.count, 1u);
    EXPECT_EQ(view.header(0).captured, 64);
    EXPECT_EQ(view.header(0).length, 9000u);
    EXPECT_EQ(view.header(0).ts_ns, 123456789u);
    EXPECT_EQ(view.header(0).link, 101);
    EXPECT_EQ(std::memcmp(view.data(0), big.data(), 64), 0);
}

// A slot taken by a new flow (its generation bumped) does not see the old flow's records, still
// in the ring; a reference with the wrong generation finds nothing.
TEST(FlightStore, AReusedSlotStartsOver) {
    FlightStore store(small_ring(8));
    EvidenceArena arena(1024, 8, store.record_bytes());
    Bytes one = numbered(1), two = numbered(2);
    Flow old{3, 7};
    old.append(store, one, 1);
    Flow fresh{3, 8};
    fresh.append(store, two, 2);
    EXPECT_EQ(firsts(arena, fresh.seal(store, arena).block), (std::vector<int>{2}));
    EXPECT_EQ(firsts(arena, old.seal(store, arena).block), (std::vector<int>{1}));
    EXPECT_EQ(store.seal(old.last, 3, 8, 1, arena).block, 0u);  // a generation that never wrote
}

// The ring is overwritten oldest first: a flow whose packets are older than the ring's capacity
// has none left, one with some left gets those, and what is missing is counted.
TEST(FlightStore, PacketsOlderThanTheRingAreGoneAndCounted) {
    FlightStore store(small_ring(8));
    EvidenceArena arena(1024, 8, store.record_bytes());
    std::vector<Bytes> frames;
    for (int n = 0; n < 256; ++n)
        frames.push_back(numbered(static_cast<uint8_t>(n)));
    Flow quiet{1}, busy{2};
    for (uint8_t n = 0; n < 6; ++n)
        quiet.append(store, frames[n], n);
    for (uint32_t n = 0; n < store.capacity() - 3; ++n)
        busy.append(store, frames[n % 251], n);
    // quiet's first three are overwritten; its last three remain.
    FlightStore::Sealed sealed = quiet.seal(store, arena);
    EXPECT_EQ(firsts(arena, sealed.block), (std::vector<int>{3, 4, 5}));
    EXPECT_EQ(sealed.overwritten, 3u);
    for (int n = 0; n < 3; ++n)
        busy.append(store, frames[0], 0);
    sealed = quiet.seal(store, arena);
    EXPECT_EQ(sealed.block, 0u);
    EXPECT_EQ(sealed.overwritten, 6u);
    // busy has lost its head but has its latest eight.
    sealed = busy.seal(store, arena);
    EXPECT_EQ(sealed.overwritten, 0u);
    EXPECT_EQ(firsts(arena, sealed.block).size(), 8u);
}

// Record numbers are kept in 32 bits in the flow entry: across the wrap of 2^32 (0 is skipped, it
// means "none") a flow still finds its records, in order.
TEST(FlightStore, FindsItsRecordsAcrossTheWrapOfTheirNumbers) {
    FlightStore store(small_ring(4));
    store.skip_numbers_for_test((uint64_t{1} << 32) - 3);
    EvidenceArena arena(16, 4, store.record_bytes());
    std::vector<Bytes> frames;
    for (uint8_t n = 0; n < 8; ++n)
        frames.push_back(numbered(n));
    Flow f{9};
    for (uint8_t n = 0; n < 6; ++n) {
        f.append(store, frames[n], n);
        EXPECT_NE(f.last, 0u);
    }
    EXPECT_EQ(firsts(arena, f.seal(store, arena).block), (std::vector<int>{0, 1, 4, 5}));
}

TEST(FlightStore, OffAllocatesNothingAndKeepsNothing) {
    FlightStore store(FlightConfig{.packets = 0});
    EXPECT_FALSE(store.enabled());
    EXPECT_EQ(FlightStore::memory_for(FlightConfig{.packets = 0}), 0u);
    Bytes b = numbered(1);
    uint32_t last = 0;
    store.append(last, 3, 1, frame_of(b), 1, 1);
    EXPECT_EQ(last, 0u);
}

TEST(EvidenceArena, ABlockOverwrittenBeforeItIsReadIsReportedLost) {
    FlightStore store(small_ring(2));
    EvidenceArena arena(1024, 2, store.record_bytes());
    Bytes b = numbered(7);
    Flow f{0};
    f.append(store, b, 1);
    uint64_t first = f.seal(store, arena).block;
    EXPECT_EQ(firsts(arena, first), (std::vector<int>{7}));
    uint64_t last = first;
    for (int i = 0; i < 1024; ++i)
        last = f.seal(store, arena).block;
    EXPECT_EQ(last, first + 1024);
    EXPECT_EQ(firsts(arena, first), (std::vector<int>{-1}));  // lapped
    EXPECT_EQ(firsts(arena, last), (std::vector<int>{7}));
    EXPECT_EQ(firsts(arena, 0), (std::vector<int>{-1}));
    EXPECT_EQ(firsts(arena, last + 1), (std::vector<int>{-1}));  // not written yet
}

TEST(Pcapng, WhatIsWrittenReadsBackWithItsComments) {
    std::string out;
    pcapng::append_section_header(out);
    pcapng::append_interface(out, 1, 65535);
    Bytes a = numbered(1, 61), b = numbered(2, 64);
    size_t second_at = 0;
    pcapng::append_packet(out, 0, 1'700'000'000'123'456'789ull, a.data(), 61, 61,
                          pcapng::event_comment(17));
    second_at = out.size();
    pcapng::append_packet(out, 0, 1'700'000'001'000'000'000ull, b.data(), 64, 1514, "");
    ASSERT_EQ(out.size() % 4, 0u);
    std::vector<pcapng::Packet> packets;
    ASSERT_TRUE(pcapng::read_packets(out, [&](const pcapng::Packet& p) {
        packets.push_back(p);
        return true;
    }));
    ASSERT_EQ(packets.size(), 2u);
    EXPECT_EQ(packets[0].ts_ns, 1'700'000'000'123'456'789ull);
    EXPECT_EQ(packets[0].data, std::string_view(reinterpret_cast<const char*>(a.data()), 61));
    EXPECT_EQ(pcapng::event_of_comment(packets[0].comment), 17u);
    EXPECT_EQ(packets[1].length, 1514u);
    EXPECT_EQ(packets[1].offset, second_at);
    EXPECT_TRUE(packets[1].comment.empty());
    EXPECT_EQ(packets[1].link, 1);
    // Cut short (a full disk): the whole packets before the cut, then false.
    packets.clear();
    EXPECT_FALSE(pcapng::read_packets(std::string_view(out).substr(0, out.size() - 3),
                                      [&](const pcapng::Packet& p) {
                                          packets.push_back(p);
                                          return true;
                                      }));
    EXPECT_EQ(packets.size(), 1u);
    EXPECT_EQ(pcapng::event_of_comment("rstscope event 12x"), 0u);
    EXPECT_EQ(pcapng::event_of_comment("something else"), 0u);
}

TEST(Pcapng, ClassicPcapHasNanosecondMagicAndRecords) {
    std::string out;
    pcapng::append_pcap_header(out, 1);
    pcapng::append_pcap_record(out, 5'000'000'007ull, "abcd", 60);
    ASSERT_EQ(out.size(), 24u + 16 + 4);
    EXPECT_EQ(static_cast<uint8_t>(out[0]), 0x4D);  // a1b23c4d little-endian
    uint32_t sec, nsec, caplen, len;
    std::memcpy(&sec, out.data() + 24, 4);
    std::memcpy(&nsec, out.data() + 28, 4);
    std::memcpy(&caplen, out.data() + 32, 4);
    std::memcpy(&len, out.data() + 36, 4);
    EXPECT_EQ(sec, 5u);
    EXPECT_EQ(nsec, 7u);
    EXPECT_EQ(caplen, 4u);
    EXPECT_EQ(len, 60u);
}

// A fresh directory under the test's temporary directory, removed with its files.
struct TempDir {
    TempDir() {
        const char* base = std::getenv("TMPDIR");
        std::string pattern = std::string(base ? base : "/tmp") + "/flight-test-XXXXXX";
        path = mkdtemp(pattern.data());
    }
    ~TempDir() {
        for (const std::string& name : names())
            unlink((path + "/" + name).c_str());
        rmdir(path.c_str());
    }
    std::vector<std::string> names() const {
        std::vector<std::string> out;
        if (DIR* d = opendir(path.c_str())) {
            while (dirent* e = readdir(d))
                if (e->d_name[0] != '.') out.push_back(e->d_name);
            closedir(d);
        }
        std::sort(out.begin(), out.end());
        return out;
    }
    uint64_t bytes() const {
        uint64_t sum = 0;
        for (const std::string& name : names()) {
            struct stat st;
            if (stat((path + "/" + name).c_str(), &st) == 0)
                sum += static_cast<uint64_t>(st.st_size);
        }
        return sum;
    }
    std::string read(const std::string& name) const {
        std::ifstream in(path + "/" + name, std::ios::binary);
        return std::string(std::istreambuf_iterator<char>(in), {});
    }
    std::string path;
};

uint64_t counter(const FlightRecorder& r, ManagementCounter c) {
    CounterTotals totals;
    r.add_to(totals);
    return totals.get(c);
}

// One worker's ring and arena, sealing `packets` numbered frames of a new flow each time.
struct OneWorker {
    FlightStore store{small_ring(8, 96)};
    EvidenceArena arena{1024, 8, store.record_bytes()};
    std::vector<Bytes> frames;
    uint32_t generation = 0;
    OneWorker() {
        for (uint8_t n = 0; n < 8; ++n)
            frames.push_back(numbered(n, 80));
    }
    ResetEvent sealed(uint64_t id, uint32_t packets) {
        Flow flow{0, ++generation};
        for (uint32_t n = 0; n < packets; ++n)
            flow.append(store, frames[n], id * 1'000'000'000ull + n);
        ResetEvent e{};
        e.id = id;
        e.flight_block = flow.seal(store, arena).block;
        return e;
    }
};

TEST(FlightRecorder, WritesEachEventsPacketsWithItsIdAndSaysWhere) {
    TempDir dir;
    OneWorker w;
    FlightRecorder recorder({dir.path, 1 << 20, 4}, {&w.arena});
    ResetEvent first = w.sealed(1, 3), second = w.sealed(2, 5);
    // Both taken from the ring before either is settled (the storm window holds them).
    recorder.event_received(first);
    recorder.event_received(second);
    EXPECT_EQ(first.pcap.packets, 3);  // written, id not yet given
    std::string before = dir.read("flight-000001.pcapng");
    EXPECT_NE(before.find("rstscope event pending"), std::string::npos);
    recorder.event_settled(first);
    recorder.event_settled(second);
    recorder.run_finished();
    EXPECT_EQ(first.pcap.file, 1u);
    EXPECT_EQ(first.pcap.packets, 3);
    EXPECT_EQ(second.pcap.packets, 5);
    ASSERT_EQ(dir.names(), (std::vector<std::string>{"flight-000001.pcapng"}));
    std::string bytes = dir.read("flight-000001.pcapng");
    std::vector<std::pair<uint64_t, int>> seen;  // event, first byte
    std::vector<uint64_t> offsets;
    ASSERT_TRUE(pcapng::read_packets(bytes, [&](const pcapng::Packet& p) {
        seen.emplace_back(pcapng::event_of_comment(p.comment), p.data[0]);
        offsets.push_back(p.offset);
        EXPECT_EQ(p.data.size(), 80u);
        return true;
    }));
    EXPECT_EQ(seen, (std::vector<std::pair<uint64_t, int>>{
                        {1, 0}, {1, 1}, {1, 2}, {2, 0}, {2, 1}, {2, 2}, {2, 3}, {2, 4}}));
    EXPECT_EQ(first.pcap.offset, offsets[0]);
    EXPECT_EQ(second.pcap.offset, offsets[3]);
    EXPECT_EQ(counter(recorder, ManagementCounter::recorder_events), 2u);
    EXPECT_EQ(counter(recorder, ManagementCounter::recorder_packets), 8u);
    EXPECT_EQ(counter(recorder, ManagementCounter::recorder_bytes), bytes.size());
}

TEST(FlightRecorder, KeepsItsDirectoryWithinTheBoundAcrossRuns) {
    TempDir dir;
    OneWorker w;
    // An earlier run's files, and a file that is not the recorder's (left alone).
    for (int n : {3, 7, 8})
        std::ofstream(dir.path + "/" + flight_file_name(static_cast<uint32_t>(n))) << "old";
    std::ofstream(dir.path + "/notes.txt") << "mine";
    const uint64_t file_bytes = 8192;
    FlightRecorder recorder({dir.path, file_bytes, 3}, {&w.arena});
    // Two of the three old files go, to leave room for this run's first.
    for (uint64_t id = 1; id <= 400; ++id) {
        ResetEvent e = w.sealed(id, 8);
        recorder.event_received(e);
        recorder.event_settled(e);
        ASSERT_EQ(e.pcap.packets, 8) << id;
        std::vector<std::string> names = dir.names();
        ASSERT_LE(names.size(), 3u + 1) << id;  // + notes.txt
        ASSERT_LE(dir.bytes(), 3 * file_bytes + 4) << id;
    }
    recorder.run_finished();
    std::vector<std::string> names = dir.names();
    EXPECT_EQ(names.back(), "notes.txt");
    EXPECT_GT(recorder.current_file(), 9u);  // numbering went on after the old ones
    EXPECT_EQ(names[2], flight_file_name(recorder.current_file()));
    EXPECT_GT(counter(recorder, ManagementCounter::recorder_files_deleted), 10u);
    // Every file left is whole pcapng.
    for (size_t i = 0; i + 1 < names.size(); ++i)
        EXPECT_TRUE(pcapng::read_packets(dir.read(names[i]), [](const pcapng::Packet&) {
            return true;
        })) << names[i];
}

TEST(FlightRecorder, CountsLostBlocksAndRefusesAnUnusableDirectory) {
    TempDir dir;
    OneWorker w;
    FlightRecorder recorder({dir.path, 1 << 20, 4}, {&w.arena});
    ResetEvent old = w.sealed(1, 2);
    for (int i = 0; i < 1024; ++i)
        w.sealed(2, 2);
    recorder.event_received(old);
    recorder.event_settled(old);
    EXPECT_EQ(old.pcap.packets, 0);
    EXPECT_EQ(counter(recorder, ManagementCounter::recorder_evidence_lost), 1u);
    ResetEvent none{};
    recorder.event_received(none);
    recorder.event_settled(none);  // no packets kept: nothing written, nothing counted
    EXPECT_EQ(none.pcap.packets, 0);
    EXPECT_EQ(counter(recorder, ManagementCounter::recorder_events), 0u);
    std::ofstream(dir.path + "/plain") << "x";
    EXPECT_THROW(FlightRecorder({dir.path + "/plain/sub", 1 << 20, 4}, {&w.arena}),
                 std::runtime_error);
}

TEST(FlightRecorder, AnEventWhoseFileWasDeletedWhileItWaitedHasNoPcap) {
    TempDir dir;
    OneWorker w;
    FlightRecorder recorder({dir.path, 4096, 2}, {&w.arena});
    ResetEvent waiting = w.sealed(1, 8);
    recorder.event_received(waiting);
    ASSERT_EQ(waiting.pcap.file, 1u);
    // Later events fill two more files: the first is deleted.
    for (uint64_t id = 2; id <= 10; ++id) {
        ResetEvent e = w.sealed(id, 8);
        recorder.event_received(e);
        recorder.event_settled(e);
    }
    ASSERT_GT(recorder.current_file(), 2u);
    recorder.event_settled(waiting);
    EXPECT_EQ(waiting.pcap.packets, 0);
    EXPECT_EQ(counter(recorder, ManagementCounter::recorder_rotated_out), 1u);
    EXPECT_EQ(counter(recorder, ManagementCounter::recorder_events), 9u);
}

TEST(Pcapng, ACommentWrittenLaterFitsItsRoom) {
    std::string blocks;
    Bytes a = numbered(1, 61);
    pcapng::append_packet(blocks, 0, 1, a.data(), 61, 61, "rstscope event pending", 35);
    pcapng::append_packet(blocks, 0, 2, a.data(), 3, 61, "rstscope event pending", 35);
    std::string longest = pcapng::event_comment(UINT64_MAX);
    ASSERT_EQ(longest.size(), 35u);
    ASSERT_TRUE(pcapng::set_comments(blocks, longest));
    ASSERT_TRUE(pcapng::set_comments(blocks, pcapng::event_comment(7)));
    std::string file;
    pcapng::append_section_header(file);
    pcapng::append_interface(file, 1, 65535);
    file += blocks;
    std::vector<std::string> comments;
    ASSERT_TRUE(pcapng::read_packets(file, [&](const pcapng::Packet& p) {
        comments.emplace_back(p.comment);
        return true;
    }));
    EXPECT_EQ(comments, (std::vector<std::string>{"rstscope event 7", "rstscope event 7"}));
    EXPECT_FALSE(pcapng::set_comments(blocks, longest + "00"));  // past the padded room
}

// The tracker keeps a connection's frames and seals them with its reset event.
TEST(FlightRecorder, TheTrackerSealsTheConnectionsStoryWithItsEvent) {
    WorkerCounters counters;
    TrackerConfig config;
    config.flow_capacity = 1024;
    config.linger_ns = 10 * ns_per_second;
    config.flight = FlightConfig{.packets = 8, .snap = 128, .evidence_blocks = 1024};
    FlowTracker tracker(config, counters);
    ASSERT_NE(tracker.evidence(), nullptr);
    auto seg = [](bool from_client, uint32_t seq, uint32_t ack, uint8_t flags,
                  std::string payload = "") {
        test::TcpSpec t;
        t.sport = from_client ? 40000 : 80;
        t.dport = from_client ? 80 : 40000;
        t.seq = seq;
        t.ack = ack;
        t.flags = flags;
        t.payload = std::move(payload);
        return from_client ? test::eth_ipv4_tcp(t)
                           : test::eth_ipv4_tcp(t, "203.0.113.2", "198.51.100.1");
    };
    std::vector<Bytes> frames{
        seg(true, 1000, 0, 0x02),      // SYN
        seg(false, 5000, 1001, 0x12),  // SYN-ACK
        seg(true, 1001, 5001, 0x10),   // ACK
        seg(true, 1001, 5001, 0x18, "GET / HTTP/1.1\r\n\r\n"),
        seg(false, 5001, 1019, 0x18, "HTTP/1.1 200 OK\r\n"),
        seg(false, 5018, 1019, 0x14),         // the server's RST
        seg(true, 1019, 5018, 0x18, "more"),  // the client did not know yet
        seg(false, 5018, 0, 0x04),            // and is reset again
        seg(true, 1023, 5018, 0x18, "x"),     // beyond the share kept after the RST (2 of 8)
    };
    struct Frames {
        std::vector<Bytes>& f;
        bool arriving() const { return true; }
        void prefetch(uint32_t) const {}
        void arrived(uint32_t) const {}
        const uint8_t* data(uint32_t i) const { return f[i].data(); }
        uint32_t data_length(uint32_t i) const { return static_cast<uint32_t>(f[i].size()); }
        uint32_t packet_length(uint32_t i) const { return data_length(i); }
        bool stays(uint32_t, const DecodedPacket&) const { return true; }
        uint64_t time_ns(uint32_t i) const { return ns_per_second * 100 + i * 1000; }
        void keep(uint32_t) const {}
    } burst{frames};
    BurstPath path(tracker, counters);
    path.track(LinkType::ethernet, burst, static_cast<uint32_t>(frames.size()));
    EXPECT_EQ(tracker.event_count(), 0u);  // lingering
    tracker.flush_pending(16);
    ASSERT_EQ(tracker.event_count(), 1u);
    const ResetEvent& e = tracker.events()[0];
    ASSERT_NE(e.flight_block, 0u);
    std::vector<uint8_t> scratch(8 * tracker.evidence()->record_bytes());
    EvidenceView view;
    ASSERT_TRUE(tracker.evidence()->read(e.flight_block, scratch.data(), view));
    ASSERT_EQ(view.count, 8u);
    for (uint32_t i = 0; i < view.count; ++i) {
        EXPECT_EQ(view.header(i).captured, frames[i].size()) << i;
        EXPECT_EQ(std::memcmp(view.data(i), frames[i].data(), frames[i].size()), 0) << i;
        EXPECT_EQ(view.header(i).ts_ns, ns_per_second * 100 + i * 1000) << i;
        EXPECT_EQ(view.header(i).link, 1);
    }
    EXPECT_EQ(counters.get(WorkerCounter::recorder_events_without_packets), 0u);
    EXPECT_EQ(counters.get(WorkerCounter::recorder_packets_skipped), 1u);
    EXPECT_EQ(counters.get(WorkerCounter::recorder_packets_overwritten), 0u);
}

}  // namespace
}  // namespace rstscope
