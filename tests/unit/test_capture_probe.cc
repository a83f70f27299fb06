// SPDX-License-Identifier: BSD-3-Clause
// Unit tests for the capture probe and clock (src/capture/capture_probe.h): pcap files written
// byte by byte here, in either byte order and timestamp unit. Wherever the probe walks record
// headers instead of reading the file, its count and the clock's times must be libpcap's own
// (probe_capture_by_reading and the libpcap clock); what the walk cannot vouch for falls back.

#include <gtest/gtest.h>

#include <pcap/pcap.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "capture/capture_probe.h"
#include "frame_builder.h"
#include "resident_memory.h"
#include "rstscope/flow/flow_table.h"

namespace rstscope {
namespace {

using Bytes = std::vector<uint8_t>;

struct Record {
    uint32_t seconds;
    uint32_t fraction;
    uint32_t captured;
    uint32_t length;
};

class PcapFile {
  public:
    PcapFile(bool swapped, bool nanosecond, uint32_t snaplen = 65535, uint16_t minor = 4)
        : swapped_(swapped) {
        put32(nanosecond ? 0xa1b23c4d : 0xa1b2c3d4);
        put16(2);
        put16(minor);
        put32(0);
        put32(0);
        put32(snaplen);
        put32(1);  // Ethernet
    }
    PcapFile& record(const Record& r) {
        put32(r.seconds);
        put32(r.fraction);
        put32(r.captured);
        put32(r.length);
        bytes_.insert(bytes_.end(), r.captured, 0xab);
        return *this;
    }
    PcapFile& frame(const Bytes& frame, uint32_t seconds = 1'700'000'000, uint32_t fraction = 0) {
        const auto length = static_cast<uint32_t>(frame.size());
        put32(seconds);
        put32(fraction);
        put32(length);
        put32(length);
        return raw(frame);
    }
    PcapFile& raw(const Bytes& tail) {
        bytes_.insert(bytes_.end(), tail.begin(), tail.end());
        return *this;
    }
    std::string write(const std::string& name) const {
        std::string path = (std::filesystem::temp_directory_path() /
                            ("rstscope-probe-" + std::to_string(getpid()) + "-" + name))
                               .string();
        std::ofstream(path, std::ios::binary)
            .write(reinterpret_cast<const char*>(bytes_.data()),
                   static_cast<std::streamsize>(bytes_.size()));
        return path;
    }
    const Bytes& bytes() const { return bytes_; }

  private:
    void put32(uint32_t v) {
        for (int i = 0; i < 4; ++i)
            bytes_.push_back(static_cast<uint8_t>(swapped_ ? v >> (24 - 8 * i) : v >> (8 * i)));
    }
    void put16(uint16_t v) {
        for (int i = 0; i < 2; ++i)
            bytes_.push_back(static_cast<uint8_t>(swapped_ ? v >> (8 - 8 * i) : v >> (8 * i)));
    }
    bool swapped_;
    Bytes bytes_;
};

// The probe and clock against libpcap reading every record: same count, truncation, times.
struct Outcome {
    CaptureProbe probe;
    std::vector<uint64_t> times;
};

Outcome probe_and_clock(const std::string& path) {
    std::string error;
    auto probe = probe_capture(path, error);
    EXPECT_TRUE(probe) << error;
    auto read = probe_capture_by_reading(path, error);
    EXPECT_TRUE(read) << error;
    if (!probe || !read) return {};
    EXPECT_EQ(probe->packets, read->packets);
    EXPECT_EQ(probe->truncated, read->truncated);
    EXPECT_EQ(probe->truncation_error, read->truncation_error);
    EXPECT_EQ(probe->flows, read->flows);
    CaptureClock clock, reference;
    EXPECT_TRUE(clock.open(path, *probe, error)) << error;
    EXPECT_TRUE(reference.open(path, *read, error)) << error;
    Outcome outcome{*probe, {}};
    for (uint64_t i = 0; i <= probe->packets; ++i) {  // one past the end: the last time again
        outcome.times.push_back(clock.next_ns());
        EXPECT_EQ(outcome.times.back(), reference.next_ns()) << "record " << i;
    }
    std::filesystem::remove(path);
    return outcome;
}

TEST(CaptureProbe, WalksPlainHeadersInEveryByteOrderAndUnit) {
    for (bool swapped : {false, true}) {
        for (bool nanosecond : {false, true}) {
            PcapFile file(swapped, nanosecond);
            file.record({1'700'000'000, 999'999, 60, 60})
                .record({1'700'000'001, 5, 0, 0})
                .record({1'700'000'002, 123, 1514, 1514});
            Outcome o = probe_and_clock(file.write("plain"));
            ASSERT_TRUE(o.probe.plain_layout);
            EXPECT_EQ(o.probe.plain_layout->swapped, swapped);
            EXPECT_EQ(o.probe.plain_layout->nanosecond, nanosecond);
            EXPECT_EQ(o.probe.packets, 3u);
            EXPECT_FALSE(o.probe.truncated);
            uint64_t unit = nanosecond ? 1 : 1000;
            EXPECT_EQ(o.times[0], 1'700'000'000'000'000'000ull + 999'999 * unit);
            EXPECT_EQ(o.times[2], 1'700'000'002'000'000'000ull + 123 * unit);
            EXPECT_EQ(o.times[3], o.times[2]);
        }
    }
}

// The clock reads the file a window at a time (CaptureBytes::window_bytes, from the first record
// header on): a header that straddles a window's end, the longest record libpcap reads, and
// windows after them, in either byte order, keep libpcap's times.
TEST(CaptureProbe, ClockKeepsLibpcapsTimesAcrossReadWindows) {
    static_assert(CaptureBytes::window_bytes == 524288, "the lengths below straddle this window");
    for (bool swapped : {false, true}) {
        PcapFile file(swapped, true, 262144);
        std::vector<uint32_t> lengths(516, 1000);  // 516 x 1016 bytes with their headers
        lengths.push_back(8);                      // 524 280 bytes: the next header straddles
        lengths.push_back(262144);                 // libpcap's longest
        for (uint32_t i = 0; i < 2000; ++i)
            lengths.push_back((i * 37) % 1500);  // varied, across more windows
        for (uint32_t i = 0; i < lengths.size(); ++i)
            file.record({1'700'000'000 + i, (i * 7919) % 1'000'000'000, lengths[i], lengths[i]});
        Outcome o = probe_and_clock(file.write("windows"));
        ASSERT_TRUE(o.probe.plain_layout);
        ASSERT_EQ(o.probe.packets, lengths.size());
        for (uint32_t i : {516u, 517u, 518u, 2517u})
            EXPECT_EQ(o.times[i],
                      (1'700'000'000ull + i) * 1'000'000'000ull + (i * 7919) % 1'000'000'000)
                << "record " << i;
    }
}

// The capture feed's reading (PlainRecordReader): every record's time, length and bytes as
// libpcap reads them, across read windows (a frame that runs past a window's end, libpcap's
// longest), in either byte order; put_back() returns the same record again.
TEST(PlainRecordReader, ReadsWhatLibpcapReads) {
    for (bool swapped : {false, true}) {
        PcapFile file(swapped, !swapped, 262144);
        std::vector<uint32_t> lengths(516, 1000);
        lengths.push_back(8);       // the next header straddles the first window's end
        lengths.push_back(262144);  // libpcap's longest
        for (uint32_t i = 0; i < 1500; ++i)
            lengths.push_back((i * 37) % 1500);
        for (uint32_t i = 0; i < lengths.size(); ++i) {
            Bytes frame(lengths[i]);
            for (uint32_t b = 0; b < lengths[i]; ++b)
                frame[b] = static_cast<uint8_t>(i * 31 + b);
            file.frame(frame, 1'700'000'000 + i, (i * 7919) % 1'000'000);
        }
        const std::string path = file.write("reader");
        std::string error;
        std::optional<CaptureProbe> probe = probe_capture(path, error);
        ASSERT_TRUE(probe && probe->plain_layout) << error;
        std::optional<PlainRecordReader> reader =
            PlainRecordReader::open(path, *probe->plain_layout);
        ASSERT_TRUE(reader);
        char errbuf[PCAP_ERRBUF_SIZE] = {};
        pcap_t* libpcap = pcap_open_offline_with_tstamp_precision(
            path.c_str(), PCAP_TSTAMP_PRECISION_NANO, errbuf);
        ASSERT_NE(libpcap, nullptr) << errbuf;
        pcap_pkthdr* header;
        const u_char* data;
        uint64_t records = 0;
        while (pcap_next_ex(libpcap, &header, &data) == 1) {
            std::optional<PlainRecord> record = reader->next(true);
            ASSERT_TRUE(record) << "record " << records;
            EXPECT_EQ(record->time_ns, uint64_t(header->ts.tv_sec) * 1'000'000'000ull +
                                           uint64_t(header->ts.tv_usec));
            ASSERT_EQ(record->length, header->caplen) << "record " << records;
            EXPECT_EQ(std::memcmp(record->frame, data, header->caplen), 0) << "record " << records;
            if (records % 100 == 7) {  // taken back, it comes again whole
                reader->put_back();
                std::optional<PlainRecord> again = reader->next(true);
                ASSERT_TRUE(again);
                EXPECT_EQ(again->time_ns, record->time_ns);
                EXPECT_EQ(std::memcmp(again->frame, data, header->caplen), 0);
            }
            ++records;
        }
        pcap_close(libpcap);
        EXPECT_EQ(records, lengths.size());
        EXPECT_FALSE(reader->next(true));  // past the last record
        std::filesystem::remove(path);
    }
}

// A file cut short after the probe: the reader stops at the first record the file no longer holds
// whole (the feed counts the rest as capture_records_unread); one whose size changed before it
// was opened is not read at all.
TEST(PlainRecordReader, StopsWhereAFileWasCutShort) {
    PcapFile file(false, false);
    for (uint32_t i = 0; i < 10; ++i)
        file.record({1'700'000'000 + i, 0, 100, 100});
    const std::string path = file.write("reader-cut");
    std::string error;
    std::optional<CaptureProbe> probe = probe_capture(path, error);
    ASSERT_TRUE(probe && probe->plain_layout) << error;
    std::optional<PlainRecordReader> reader = PlainRecordReader::open(path, *probe->plain_layout);
    ASSERT_TRUE(reader);
    ASSERT_EQ(truncate(path.c_str(), 24 + 4 * 116 + 50),
              0);  // the fifth record cut inside its frame
    for (uint32_t i = 0; i < 4; ++i)
        EXPECT_TRUE(reader->next(true)) << "record " << i;
    EXPECT_FALSE(reader->next(true));
    EXPECT_FALSE(PlainRecordReader::open(path, *probe->plain_layout));
    std::filesystem::remove(path);
}

TEST(CaptureProbe, HeaderOnlyFileHasNoRecords) {
    Outcome o = probe_and_clock(PcapFile(false, false).write("empty"));
    EXPECT_TRUE(o.probe.plain_layout);
    EXPECT_EQ(o.probe.packets, 0u);
}

TEST(CaptureProbe, TruncatedRecordFallsBackToLibpcapsMessage) {
    PcapFile file(false, false);
    file.record({10, 0, 60, 60}).raw({1, 0, 0, 0, 2, 0, 0, 0, 60, 0, 0, 0, 60, 0, 0, 0, 7});
    Outcome o = probe_and_clock(file.write("truncated-data"));
    EXPECT_FALSE(o.probe.plain_layout);
    EXPECT_EQ(o.probe.packets, 1u);
    EXPECT_TRUE(o.probe.truncated);
    EXPECT_NE(o.probe.truncation_error.find("truncated"), std::string::npos);

    PcapFile half_header(true, true);
    half_header.record({10, 0, 60, 60}).raw({1, 2, 3});
    o = probe_and_clock(half_header.write("truncated-header"));
    EXPECT_FALSE(o.probe.plain_layout);
    EXPECT_TRUE(o.probe.truncated);
}

TEST(CaptureProbe, WhatLibpcapReadsOtherwiseIsLeftToIt) {
    // A record longer than the snapshot length: libpcap reads the snapshot and skips the rest.
    PcapFile longer(false, false, 100);
    longer.record({10, 0, 60, 60}).record({11, 0, 200, 200}).record({12, 0, 60, 60});
    Outcome o = probe_and_clock(longer.write("longer"));
    EXPECT_FALSE(o.probe.plain_layout);
    EXPECT_EQ(o.probe.packets, 3u);

    // Times libpcap converts its own way: a second past 2^31, a fraction beyond its unit.
    PcapFile odd_times(true, false);
    odd_times.record({0x80000001u, 0, 60, 60}).record({10, 2'000'000, 60, 60});
    o = probe_and_clock(odd_times.write("odd-times"));
    EXPECT_FALSE(o.probe.plain_layout);
    EXPECT_EQ(o.probe.packets, 2u);

    // An older minor version, whose caplen and len libpcap may swap.
    PcapFile old_version(false, false, 65535, 2);
    old_version.record({10, 0, 60, 60});
    o = probe_and_clock(old_version.write("old-version"));
    EXPECT_FALSE(o.probe.plain_layout);
    EXPECT_EQ(o.probe.packets, 1u);
}

TEST(CaptureProbe, CountsPlainRecordsFromBytesAlone) {
    PcapFile file(false, true);
    file.record({1, 2, 3, 3}).record({4, 5, 0, 9});
    PlainPcapLayout layout;
    CaptureBytes bytes(file.bytes());
    const auto counted = count_plain_pcap_records(bytes, layout);
    ASSERT_TRUE(counted);
    EXPECT_EQ(counted->count, 2u);
    EXPECT_EQ(counted->mark_offsets, std::vector<uint64_t>{24});  // record 0, after the header
    EXPECT_TRUE(layout.nanosecond);
    EXPECT_EQ(layout.largest_record, 3u);  // captured bytes, not the frame's length on the wire
    Bytes cut(file.bytes().begin(), file.bytes().end() - 1);
    CaptureBytes cut_bytes(cut);
    EXPECT_FALSE(count_plain_pcap_records(cut_bytes, layout));
    Bytes short_file(10, 0);
    CaptureBytes short_bytes(short_file);
    EXPECT_FALSE(count_plain_pcap_records(short_bytes, layout));
}

// A file's CaptureBytes owns its descriptor: another() takes one of its own, a move hands it on,
// and each is closed once, with its last holder. What is not a regular file gives none.
TEST(CaptureProbe, CaptureBytesClosesTheDescriptorsItOpened) {
    const auto open_descriptors = [] {
        return std::distance(std::filesystem::directory_iterator("/proc/self/fd"),
                             std::filesystem::directory_iterator{});
    };
    PcapFile file(false, false);
    file.record({1, 2, 3, 3});
    const std::string path = file.write("owned-fd");
    const auto before = open_descriptors();
    {
        std::optional<CaptureBytes> bytes = CaptureBytes::open_file(path);
        ASSERT_TRUE(bytes);
        EXPECT_EQ(bytes->size(), 24u + 16u + 3u);
        EXPECT_EQ(open_descriptors(), before + 1);
        std::vector<CaptureBytes> others;
        others.push_back(bytes->another());
        others.push_back(bytes->another());  // the vector grows: the first one moves
        EXPECT_EQ(open_descriptors(), before + 3);
        for (CaptureBytes& other : others)
            EXPECT_NE(other.at(24, 16), nullptr);
        *bytes = std::move(others.back());  // what `bytes` held goes with the moved-from object
        others.pop_back();
        EXPECT_EQ(open_descriptors(), before + 2);
        EXPECT_NE(bytes->at(0, 24), nullptr);
    }
    EXPECT_EQ(open_descriptors(), before);
    EXPECT_FALSE(CaptureBytes::open_file(std::filesystem::temp_directory_path().string()));
    EXPECT_FALSE(CaptureBytes::open_file(path + "-missing"));
    std::filesystem::remove(path);
}

// The probe counts connections, both directions as one, as the flow table keys them: the
// capture's flow table is sized from the count (capture_sizes.h). Not TCP: not counted.
TEST(CaptureProbe, CountsConnectionsAsTheFlowTableKeysThem) {
    const auto segment = [](uint16_t sport, uint16_t dport, uint8_t flags) {
        test::TcpSpec spec;
        spec.sport = sport;
        spec.dport = dport;
        spec.flags = flags;
        return spec;
    };
    PcapFile file(false, false);
    for (uint16_t port = 40000; port < 40010; ++port) {
        file.frame(test::eth_ipv4_tcp(segment(port, 80, 0x02)))
            .frame(test::eth_ipv4_tcp(segment(80, port, 0x12), "203.0.113.2", "198.51.100.1"))
            .frame(test::eth_ipv4_tcp(segment(port, 80, 0x10)));
    }
    // The same connection tagged: one connection under Zeek's key (VLANs left out).
    file.frame(test::ethernet(
        0x0800,
        test::ipv4("198.51.100.1", "203.0.113.2", 6, test::tcp_segment(segment(40000, 80, 0x10))),
        {7}));
    file.frame(test::ethernet(0x0800, test::ipv4_udp(5353, 5353, test::Bytes(8, 0))));
    Outcome o = probe_and_clock(file.write("connections"));
    EXPECT_EQ(o.probe.packets, 32u);
    EXPECT_EQ(o.probe.flows, 10u);
}

// What may raise a reset event: a TCP segment with RST (tagged or not, with ACK or without, over
// IPv4 or IPv6) and a fragment reassembly may turn into one; not a SYN, an ACK, a FIN or UDP.
// Both ways of probing count them alike.
TEST(CaptureProbe, CountsFramesThatMayBeResets) {
    auto segment = [](uint8_t flags) {
        test::TcpSpec spec;
        spec.flags = flags;
        return test::tcp_segment(spec);
    };
    PcapFile file(false, false);
    file.frame(test::ethernet(0x0800, test::ipv4("198.51.100.1", "203.0.113.2", 6, segment(0x02))))
        .frame(test::ethernet(0x0800, test::ipv4("203.0.113.2", "198.51.100.1", 6, segment(0x04))))
        .frame(test::ethernet(0x0800, test::ipv4("203.0.113.2", "198.51.100.1", 6, segment(0x14)),
                              {7}))
        .frame(test::ethernet(0x0800, test::ipv4("198.51.100.1", "203.0.113.2", 6, segment(0x11))))
        .frame(test::ethernet(0x86DD, test::ipv6("2001:db8::1", "2001:db8::2", 6, segment(0x04))))
        .frame(test::ethernet(
            0x0800, test::ipv4("198.51.100.1", "203.0.113.2", 6, segment(0x10), 64, 1, 0x2000)))
        .frame(test::ethernet(0x0800, test::ipv4_udp(5353, 5353, test::Bytes(8, 0))));
    const std::string path = file.write("resets");
    std::string error;
    auto walked = probe_capture(path, error);
    auto read = probe_capture_by_reading(path, error);
    std::filesystem::remove(path);
    ASSERT_TRUE(walked && read) << error;
    EXPECT_EQ(walked->packets, 7u);
    EXPECT_EQ(walked->reset_segments, 4u);
    EXPECT_EQ(read->reset_segments, 4u);
}

TEST(CaptureProbe, VlanInKeyCountsTaggedCopiesApart) {
    PcapFile file(false, false);
    const test::Bytes segment =
        test::ipv4("198.51.100.1", "203.0.113.2", 6, test::tcp_segment(test::TcpSpec()));
    file.frame(test::ethernet(0x0800, segment, {7}))
        .frame(test::ethernet(0x0800, segment, {8}))
        .frame(test::ethernet(0x0800, segment));
    const std::string path = file.write("vlans");
    std::string error;
    auto zeek_key = probe_capture(path, error);
    auto vlan_key = probe_capture(path, error, true);
    auto vlan_key_read = probe_capture_by_reading(path, error, true);
    std::filesystem::remove(path);
    ASSERT_TRUE(zeek_key && vlan_key && vlan_key_read) << error;
    EXPECT_EQ(zeek_key->flows, 1u);
    EXPECT_EQ(vlan_key->flows, 3u);
    EXPECT_EQ(vlan_key_read->flows, 3u);
}

// The estimate against exact counts of connections keyed and hashed as the flow table does,
// from a handful to two million, repeats not counted again: within 1/32, the margin the sizing
// adds (capture_sizes.cc). Keys and hashes are deterministic, so is the check.
TEST(FlowKeyTally, EstimatesDistinctKeysWithinTheSizingsMargin) {
    for (uint32_t keys : {0u, 1u, 17u, 1'000u, 30'000u, 100'000u, 2'000'000u}) {
        FlowKeyTally tally(LinkType::ethernet, false);
        for (int pass = 0; pass < 2; ++pass) {
            for (uint32_t k = 0; k < keys; ++k) {
                FlowKey key{};
                key.family = IpFamily::v4;
                const uint32_t client = 0xC6120000u + (k >> 6);  // 198.18.0.0/15, 64 per host
                key.addr_lo = IpAddress::from_v4(reinterpret_cast<const uint8_t*>(&client));
                key.port_lo = static_cast<uint16_t>(40000 + (k & 63));
                key.port_hi = 443;
                key.vlan_outer = key.vlan_inner = vlan_none;
                tally.add_hash(FlowTable::hash(key));
            }
        }
        const double estimate = static_cast<double>(tally.estimate());
        EXPECT_NEAR(estimate, keys, keys / 32.0 + 0.5) << keys << " keys";
    }
}

// A large capture's connections are tallied in shares on several threads: the merged sketches
// give exactly the estimate of one pass, whether a connection's packets fall in one share or in
// several, and fragments (counted by record number) stay one connection each across shares. The
// shares start where the count's walk noted every 65 536th record, not at places found by
// walking the headers again.
TEST(CaptureProbe, TalliesSharesOfACaptureAsOnePass) {
    PcapFile file(false, false);
    const test::Bytes fragment =
        test::ethernet(0x0800, test::ipv4("198.51.100.1", "203.0.113.2", 6,
                                          test::tcp_segment(test::TcpSpec()), 64, 1, 0x2000));
    constexpr uint32_t records = 200'000;  // up to three shares of at least 65 536 records
    uint64_t may_reset = 0;                // RSTs and fragments
    std::vector<uint64_t> reset_times;     // theirs, in order
    for (uint32_t r = 0; r < records; ++r) {
        // 10 000 records a second of packet time, so that the resets' times span the shares.
        const uint32_t seconds = 1'700'000'000 + r / 10'000, micros = r % 10'000 * 100;
        const uint64_t ts_ns = uint64_t{seconds} * 1'000'000'000 + uint64_t{micros} * 1000;
        if (r % 1000 == 7) {
            file.frame(fragment, seconds, micros);
            ++may_reset;
            reset_times.push_back(ts_ns);
            continue;
        }
        test::TcpSpec spec;
        spec.sport = static_cast<uint16_t>(1024 + r % 50'000);  // each port again in a later share
        spec.flags = r % 997 == 3 ? 0x14 : 0x10;
        may_reset += r % 997 == 3;
        if (r % 997 == 3) reset_times.push_back(ts_ns);
        file.frame(test::ethernet(0x0800, test::ipv4("198.51.100.1", "203.0.113.2", 6,
                                                     test::tcp_segment(spec))),
                   seconds, micros);
    }
    PlainPcapLayout layout;
    CaptureBytes bytes(file.bytes());
    const auto counted = count_plain_pcap_records(bytes, layout);
    ASSERT_TRUE(counted);
    ASSERT_EQ(counted->count, records);
    FlowKeyTally reference(LinkType::ethernet, false);
    std::vector<uint64_t> every_65536th;  // where records 0, 65 536, ... start
    size_t at = 24;
    for (uint32_t r = 0; r < records; ++r) {
        if (r % 65'536 == 0) every_65536th.push_back(at);
        uint32_t seconds, micros, captured;
        std::memcpy(&seconds, file.bytes().data() + at, 4);
        std::memcpy(&micros, file.bytes().data() + at + 4, 4);
        std::memcpy(&captured, file.bytes().data() + at + 8, 4);
        reference.add_frame(file.bytes().data() + at + 16, captured,
                            uint64_t{seconds} * 1'000'000'000 + uint64_t{micros} * 1000);
        at += 16 + captured;
    }
    EXPECT_EQ(counted->mark_offsets, every_65536th);

    for (unsigned threads : {1u, 2u, 3u, 64u}) {
        const std::vector<TallyShare> plan = plan_tally_shares(*counted, at, threads);
        ASSERT_EQ(plan.size(), std::min(threads, 3u)) << threads << " threads";
        for (size_t share = 0; share < plan.size(); ++share) {
            const uint64_t first = plan[share].first_record;
            ASSERT_EQ(first % 65'536, 0u);
            EXPECT_EQ(plan[share].start, every_65536th[first / 65'536]);
            EXPECT_EQ(plan[share].end, share + 1 < plan.size() ? plan[share + 1].start : at);
        }
    }
    const std::optional<FlowKeyTally> one_pass =
        tally_plain_pcap_frames(bytes, layout, *counted, LinkType::ethernet, false, 1);
    ASSERT_TRUE(one_pass);
    EXPECT_EQ(one_pass->estimate(), reference.estimate());
    EXPECT_NEAR(static_cast<double>(one_pass->estimate()), 50'000 + records / 1000, 50'200 / 32.0);
    EXPECT_EQ(one_pass->reset_segments(), may_reset);
    EXPECT_EQ(reference.reset_segments(), may_reset);
    for (unsigned threads : {2u, 3u, 64u}) {
        const std::optional<FlowKeyTally> shared =
            tally_plain_pcap_frames(bytes, layout, *counted, LinkType::ethernet, false, threads);
        ASSERT_TRUE(shared) << threads << " threads";
        EXPECT_EQ(shared->estimate(), one_pass->estimate()) << threads << " threads";
        EXPECT_EQ(shared->reset_segments(), may_reset) << threads << " threads";
        // The shares' reset times merged are one pass's: the same busiest spans.
        for (uint64_t span_ns : {0ull, 100'000'000ull, 1'000'000'000ull, 3'000'000'000ull}) {
            EXPECT_EQ(shared->reset_peaks().most_within(span_ns),
                      reference.reset_peaks().most_within(span_ns))
                << threads << " threads, span " << span_ns;
        }
    }
    // Counted and tallied together (the probe's way): a tally walks behind the count from the
    // first record, the records left after the count are shared. Whatever the threads and however
    // far the tally behind got, the same count, layout, estimate, resets and busiest spans.
    for (unsigned threads : {1u, 2u, 3u, 64u}) {
        PlainPcapLayout together_layout;
        CaptureBytes together_bytes(file.bytes());
        const PlainPcapProbe together = count_and_tally_plain_pcap(
            together_bytes, together_layout, LinkType::ethernet, false, threads);
        ASSERT_TRUE(together.records) << threads << " threads";
        EXPECT_EQ(together.records->count, records);
        EXPECT_EQ(together.records->mark_offsets, every_65536th);
        EXPECT_EQ(together_layout.largest_record, layout.largest_record);
        ASSERT_TRUE(together.tally) << threads << " threads";
        EXPECT_EQ(together.tally->estimate(), one_pass->estimate()) << threads << " threads";
        EXPECT_EQ(together.tally->reset_segments(), may_reset) << threads << " threads";
        for (uint64_t span_ns : {0ull, 100'000'000ull, 1'000'000'000ull, 3'000'000'000ull}) {
            EXPECT_EQ(together.tally->reset_peaks().most_within(span_ns),
                      reference.reset_peaks().most_within(span_ns))
                << threads << " threads, span " << span_ns;
        }
    }
    // The count says how far it has read, up to the file's end.
    std::atomic<uint64_t> counted_to{0};
    PlainPcapLayout counted_layout;
    CaptureBytes counted_bytes(file.bytes());
    ASSERT_TRUE(count_plain_pcap_records(counted_bytes, counted_layout, &counted_to));
    EXPECT_EQ(counted_to.load(), file.bytes().size());
    // 20 seconds of packet time, about 20 resets a second: a busiest 3 s holds about 60, counted
    // to within the two end buckets' (67 ms each, a reset or two).
    EXPECT_EQ(reference.reset_peaks().total(), may_reset);
    uint64_t busiest = 0;
    for (size_t first = 0, last = 0; last < reset_times.size(); ++last) {
        while (reset_times[last] - reset_times[first] > 3'000'000'000)
            ++first;
        busiest = std::max<uint64_t>(busiest, last - first + 1);
    }
    EXPECT_GE(reference.reset_peaks().most_within(3'000'000'000), busiest);
    EXPECT_LE(reference.reset_peaks().most_within(3'000'000'000), busiest + 6);
    EXPECT_GT(busiest, 40u);
}

// A file cut short between the count and the tally (a capture still being rotated) is no
// estimate: the tally says so and the probe takes the packet count for both.
// A reader's 512 KiB window is not zeroed: reading a small capture makes a page or two of it
// resident, not all of it (each reader cost 128 page faults and a 512 KiB memset before; a small
// capture's run opens two).
TEST(CaptureProbe, ReadingASmallFileTouchesLittleOfTheWindow) {
    PcapFile file(false, false);
    file.frame(test::ethernet(
        0x0800, test::ipv4("198.51.100.1", "203.0.113.2", 6, test::tcp_segment(test::TcpSpec()))));
    const std::string path = file.write("small-window");
    constexpr int readers = 4;
    std::vector<CaptureBytes> open;
    const size_t before = resident_bytes();
    for (int i = 0; i < readers; ++i) {
        std::optional<CaptureBytes> bytes = CaptureBytes::open_file(path);
        ASSERT_TRUE(bytes);
        ASSERT_NE(bytes->at(0, 24), nullptr);
        open.push_back(std::move(*bytes));
    }
    const size_t after = resident_bytes();
    std::filesystem::remove(path);
    EXPECT_LT(after > before ? after - before : 0, readers * CaptureBytes::window_bytes / 4);
}

TEST(CaptureProbe, TallyOfAFileThatChangedUnderTheWalkIsNothing) {
    PcapFile file(false, false);
    for (uint16_t port = 1024; port < 1124; ++port) {
        test::TcpSpec spec;
        spec.sport = port;
        file.frame(test::ethernet(
            0x0800, test::ipv4("198.51.100.1", "203.0.113.2", 6, test::tcp_segment(spec))));
    }
    const std::string path = file.write("changed-under-walk");
    std::optional<CaptureBytes> bytes = CaptureBytes::open_file(path);
    ASSERT_TRUE(bytes);
    PlainPcapLayout layout;
    const auto counted = count_plain_pcap_records(*bytes, layout);
    ASSERT_TRUE(counted);
    ASSERT_EQ(counted->count, 100u);
    const std::optional<FlowKeyTally> whole =
        tally_plain_pcap_frames(*bytes, layout, *counted, LinkType::ethernet, false, 1);
    ASSERT_TRUE(whole);
    EXPECT_NEAR(static_cast<double>(whole->estimate()), 100, 4);
    ASSERT_EQ(truncate(path.c_str(), static_cast<off_t>(file.bytes().size() / 2)), 0);
    EXPECT_FALSE(tally_plain_pcap_frames(*bytes, layout, *counted, LinkType::ethernet, false, 1));
    std::filesystem::remove(path);
}

// The shares of any capture: one per thread, at most 16, each of at least 65 536 records and
// starting at a noted record, their sizes within a mark of an even split (the count waits for
// its longest share).
TEST(CaptureProbe, PlansSharesAtNotedRecordsNearAnEvenSplit) {
    constexpr uint64_t per_mark = PlainPcapRecords::records_per_mark;
    for (uint64_t count : {1ull, 65'535ull, 65'536ull, 131'071ull, 200'000ull, 1'040'000ull,
                           1'048'575ull, 30'000'000ull}) {
        PlainPcapRecords records;
        records.count = count;
        for (uint64_t mark = 0; mark * per_mark < count; ++mark)
            records.mark_offsets.push_back(24 + mark * 1'000);  // any increasing offsets
        const uint64_t file_bytes = 24 + records.mark_offsets.size() * 1'000;
        for (unsigned threads = 1; threads <= 20; ++threads) {
            const std::vector<TallyShare> plan = plan_tally_shares(records, file_bytes, threads);
            const uint64_t shares =
                std::clamp<uint64_t>(std::min<uint64_t>(threads, count / per_mark), 1, 16);
            ASSERT_EQ(plan.size(), shares) << count << " records, " << threads << " threads";
            for (size_t share = 0; share < plan.size(); ++share) {
                const bool last = share + 1 == plan.size();
                const uint64_t first = plan[share].first_record;
                const uint64_t size = (last ? count : plan[share + 1].first_record) - first;
                ASSERT_EQ(first % per_mark, 0u);
                EXPECT_EQ(plan[share].start, records.mark_offsets[first / per_mark]);
                EXPECT_EQ(plan[share].end, last ? file_bytes : plan[share + 1].start);
                if (shares > 1) {
                    EXPECT_GE(size, per_mark) << count << " records, share " << share;
                }
                EXPECT_LE(std::abs(static_cast<double>(size) -
                                   static_cast<double>(count) / static_cast<double>(shares)),
                          static_cast<double>(per_mark))
                    << count << " records, " << threads << " threads, share " << share;
            }
        }
    }
    EXPECT_TRUE(plan_tally_shares(PlainPcapRecords{}, 24, 4).empty());  // no records, no shares
}

// Shares of what a tally behind the count left: the first starts where that tally stopped (any
// record), the others at noted records after it; together they hold every record left, each at
// least one, near an even split.
TEST(CaptureProbe, PlansSharesOfTheRecordsLeft) {
    constexpr uint64_t per_mark = PlainPcapRecords::records_per_mark;
    for (uint64_t count : {65'536ull, 200'000ull, 1'040'000ull, 30'000'000ull}) {
        PlainPcapRecords records;
        records.count = count;
        for (uint64_t mark = 0; mark * per_mark < count; ++mark)
            records.mark_offsets.push_back(24 + mark * 1'000'000);
        const uint64_t file_bytes = 24 + records.mark_offsets.size() * 1'000'000;
        for (uint64_t from : {uint64_t{0}, uint64_t{1}, per_mark - 1, per_mark, count / 3,
                              count - per_mark, count - 1, count}) {
            // Record `from` lies this far into its mark's span (1 000 000 bytes for 65 536).
            const uint64_t from_offset =
                records.mark_offsets[std::min(from, count - 1) / per_mark] + from % per_mark;
            for (unsigned threads : {1u, 2u, 3u, 8u, 20u}) {
                const std::vector<TallyShare> plan = plan_tally_shares(
                    records, file_bytes, threads, TallyShare{from, from_offset, file_bytes});
                if (from == count) {
                    EXPECT_TRUE(plan.empty()) << "nothing left";
                    continue;
                }
                const uint64_t left = count - from;
                const uint64_t shares =
                    std::clamp<uint64_t>(std::min<uint64_t>(threads, left / per_mark), 1, 16);
                ASSERT_EQ(plan.size(), shares) << count << " records from " << from;
                EXPECT_EQ(plan[0].first_record, from);
                EXPECT_EQ(plan[0].start, from_offset);
                for (size_t share = 0; share < plan.size(); ++share) {
                    const bool last = share + 1 == plan.size();
                    const uint64_t first = plan[share].first_record;
                    const uint64_t size = (last ? count : plan[share + 1].first_record) - first;
                    EXPECT_GE(size, 1u) << count << " records from " << from << ", share " << share;
                    EXPECT_EQ(plan[share].end, last ? file_bytes : plan[share + 1].start);
                    if (share == 0) continue;
                    ASSERT_EQ(first % per_mark, 0u);
                    EXPECT_EQ(plan[share].start, records.mark_offsets[first / per_mark]);
                    EXPECT_LE(std::abs(static_cast<double>(size) -
                                       static_cast<double>(left) / static_cast<double>(shares)),
                              static_cast<double>(per_mark))
                        << count << " records from " << from << ", " << threads << " threads";
                }
            }
        }
    }
}

// Shares merged: the union's sketch, the same whichever way the keys were split.
TEST(FlowKeyTally, MergedSharesEstimateTheirUnion) {
    FlowKeyTally whole(LinkType::ethernet, false), first(LinkType::ethernet, false),
        second(LinkType::ethernet, false);
    for (uint64_t k = 0; k < 40'000; ++k) {
        whole.add_hash(k * 0x9E3779B97F4A7C15ull);
        (k % 3 == 0 ? first : second).add_hash(k * 0x9E3779B97F4A7C15ull);
        if (k < 10'000) second.add_hash(k * 0x9E3779B97F4A7C15ull);  // seen in both shares
    }
    EXPECT_NE(first.estimate(), whole.estimate());
    first.merge(second);
    EXPECT_EQ(first.estimate(), whole.estimate());
}

// The most resets within any span of [t, t + span] among `times`, counted one by one.
uint64_t busiest_by_brute_force(std::vector<uint64_t> times, uint64_t span_ns) {
    std::sort(times.begin(), times.end());
    uint64_t most = 0;
    for (size_t first = 0, last = 0; last < times.size(); ++last) {
        while (times[last] - times[first] > span_ns)
            ++first;
        most = std::max<uint64_t>(most, last - first + 1);
    }
    return most;
}

// The timeline's answer lies between the true busiest span's count and that of a span two
// buckets longer, whatever the order of the times (a capture merged from several taps goes back
// in time), and shares merged answer as one pass.
TEST(ResetPeaks, BusiestSpanIsBoundedByTheTrueCount) {
    std::mt19937_64 random(20261206);
    std::vector<uint64_t> times;
    ResetPeaks whole, first_half, second_half;
    uint64_t now = 1'700'000'000'000'000'000ull;
    for (int i = 0; i < 20'000; ++i) {
        // Bursts, quiet stretches, a jump of a day now and then, and stragglers from the past.
        const uint64_t r = random() % 1000;
        if (r < 2)
            now += 86'400'000'000'000ull;
        else if (r < 50)
            now += random() % 5'000'000'000;
        else
            now += random() % 2'000'000;
        const uint64_t t = r % 97 == 0 ? now - random() % 4'000'000'000 : now;
        times.push_back(t);
        whole.add(t);
        (i < 7'000 ? first_half : second_half).add(t);
    }
    first_half.merge(second_half);
    constexpr uint64_t bucket_ns = uint64_t{1} << ResetPeaks::bucket_bits;
    for (uint64_t span_ns : {0ull, 1'000'000ull, 100'000'000ull, 1'000'000'000ull, 3'000'000'000ull,
                             60'000'000'000ull}) {
        const uint64_t answer = whole.most_within(span_ns);
        EXPECT_GE(answer, busiest_by_brute_force(times, span_ns)) << span_ns;
        EXPECT_LE(answer, busiest_by_brute_force(times, span_ns + 2 * bucket_ns)) << span_ns;
        EXPECT_EQ(first_half.most_within(span_ns), answer) << span_ns;
    }
    EXPECT_EQ(whole.total(), times.size());
    EXPECT_EQ(whole.most_within(UINT64_MAX), times.size());
    EXPECT_EQ(ResetPeaks().most_within(1'000'000'000), 0u);
}

// A fragment may become a segment of any connection once reassembled: each counts as its own.
TEST(FlowKeyTally, FragmentsCountEachAsAConnection) {
    FlowKeyTally tally(LinkType::ethernet, false);
    const test::Bytes frame = test::ethernet(
        0x0800, test::ipv4("198.51.100.1", "203.0.113.2", 6, test::tcp_segment(test::TcpSpec()), 64,
                           1, 0x2000));  // more fragments follow, offset 0
    for (int i = 0; i < 5; ++i)
        tally.add_frame(frame.data(), static_cast<uint32_t>(frame.size()), 1'000'000'000);
    EXPECT_EQ(tally.estimate(), 5u);
    EXPECT_EQ(tally.reset_peaks().most_within(0), 5u);  // each may become a RST
}

}  // namespace
}  // namespace rstscope
