// SPDX-License-Identifier: BSD-3-Clause
// Unit tests for the capture probe and clock (src/capture/capture_probe.h): pcap files written
// byte by byte here, in either byte order and timestamp unit. Wherever the probe walks record
// headers instead of reading the file, its count and the clock's times must be libpcap's own
// (probe_capture_by_reading and the libpcap clock); what the walk cannot vouch for falls back.

#include <gtest/gtest.h>

#include <pcap/pcap.h>
#include <unistd.h>

#include <algorithm>
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
    const auto walked = walk_plain_pcap(bytes, layout, LinkType::ethernet, false, 1);
    ASSERT_TRUE(walked);
    EXPECT_EQ(walked->records, 2u);
    EXPECT_TRUE(layout.nanosecond);
    EXPECT_EQ(layout.largest_record, 3u);  // captured bytes, not the frame's length on the wire
    Bytes cut(file.bytes().begin(), file.bytes().end() - 1);
    CaptureBytes cut_bytes(cut);
    EXPECT_FALSE(walk_plain_pcap(cut_bytes, layout, LinkType::ethernet, false, 1));
    Bytes short_file(10, 0);
    CaptureBytes short_bytes(short_file);
    EXPECT_FALSE(walk_plain_pcap(short_bytes, layout, LinkType::ethernet, false, 1));
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
    // The RSTs came from two addresses (one of them twice, tagged and not); the fragment's
    // sender is not known to reset.
    EXPECT_EQ(walked->reset_senders, 2u);
    EXPECT_EQ(read->reset_senders, 2u);
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

// A capture of `records` TCP frames of varied sizes from one client's ports, one in 997 a RST and
// one in 1 000 a fragment, 10 000 records a second of packet time; `reset_times` gets the times
// of the frames that may be resets.
PcapFile varied_capture(uint32_t records, std::vector<uint64_t>& reset_times) {
    PcapFile file(false, false);
    const test::Bytes fragment =
        test::ethernet(0x0800, test::ipv4("198.51.100.1", "203.0.113.2", 6,
                                          test::tcp_segment(test::TcpSpec()), 64, 1, 0x2000));
    for (uint32_t r = 0; r < records; ++r) {
        const uint32_t seconds = 1'700'000'000 + r / 10'000, micros = r % 10'000 * 100;
        const uint64_t ts_ns = uint64_t{seconds} * 1'000'000'000 + uint64_t{micros} * 1000;
        if (r % 1000 == 7) {
            file.frame(fragment, seconds, micros);
            reset_times.push_back(ts_ns);
            continue;
        }
        test::TcpSpec spec;
        spec.sport = static_cast<uint16_t>(1024 + r % 50'000);  // each port again in a later share
        spec.flags = r % 997 == 3 ? 0x14 : 0x10;
        spec.payload.assign(r * 7919 % 301, 0x5a);  // 0 to 300 bytes
        if (r % 997 == 3) reset_times.push_back(ts_ns);
        file.frame(test::ethernet(0x0800, test::ipv4("198.51.100.1", "203.0.113.2", 6,
                                                     test::tcp_segment(spec))),
                   seconds, micros);
    }
    return file;
}

// The tally of every record of `file` in one loop, each named by its byte offset: what the walk
// must give whatever its shares. `starts` gets every record's offset, then the file's size.
FlowKeyTally reference_tally(const PcapFile& file, std::vector<uint64_t>& starts) {
    FlowKeyTally reference(LinkType::ethernet, false);
    const Bytes& bytes = file.bytes();
    size_t at = 24;
    while (at < bytes.size()) {
        starts.push_back(at);
        uint32_t seconds, micros, captured;
        std::memcpy(&seconds, bytes.data() + at, 4);
        std::memcpy(&micros, bytes.data() + at + 4, 4);
        std::memcpy(&captured, bytes.data() + at + 8, 4);
        reference.add_frame(bytes.data() + at + 16, captured,
                            uint64_t{seconds} * 1'000'000'000 + uint64_t{micros} * 1000, at);
        at += 16 + captured;
    }
    starts.push_back(at);
    return reference;
}

// A large capture is walked in shares of its bytes on several threads: the records counted and
// the merged sketches are exactly one walk's, whether a connection's packets fall in one share or
// in several, and fragments (named by their offsets) stay one connection each across shares.
// Each share after the first finds its first record itself, and the walk before it confirms it.
TEST(CaptureProbe, WalksSharesOfACaptureAsOnePass) {
    constexpr uint32_t records = 200'000;
    std::vector<uint64_t> reset_times;
    const PcapFile file = varied_capture(records, reset_times);
    std::vector<uint64_t> starts;
    const FlowKeyTally reference = reference_tally(file, starts);
    ASSERT_EQ(starts.size(), records + 1u);
    uint64_t largest = 0;  // bytes captured of the longest frame
    for (size_t r = 0; r < records; ++r)
        largest = std::max<uint64_t>(largest, starts[r + 1] - starts[r] - 16);
    EXPECT_NEAR(static_cast<double>(reference.estimate()), 50'000 + records / 1000, 50'200 / 32.0);
    EXPECT_EQ(reference.reset_segments(), reset_times.size());
    const uint64_t size = file.bytes().size();
    ASSERT_GT(size, 3 * plain_walk_min_share_bytes);  // three shares of the default size
    for (uint64_t min_share : {plain_walk_min_share_bytes, uint64_t{4096}, uint64_t{300}}) {
        for (unsigned threads : {1u, 2u, 3u, 16u, 64u}) {
            PlainPcapLayout layout;
            CaptureBytes bytes(file.bytes());
            const auto walked =
                walk_plain_pcap(bytes, layout, LinkType::ethernet, false, threads, min_share);
            ASSERT_TRUE(walked) << threads << " threads, shares of " << min_share;
            const uint64_t shares = std::min<uint64_t>({threads, 16, (size - 24) / min_share});
            EXPECT_EQ(walked->shares, std::max<uint64_t>(shares, 1));
            EXPECT_FALSE(walked->walked_again) << threads << " threads, shares of " << min_share;
            EXPECT_EQ(walked->records, records);
            EXPECT_EQ(layout.largest_record, largest);
            EXPECT_EQ(walked->tally.estimate(), reference.estimate());
            EXPECT_EQ(walked->tally.reset_segments(), reset_times.size());
            EXPECT_EQ(walked->tally.reset_senders(), reference.reset_senders());
            for (uint64_t span_ns : {0ull, 100'000'000ull, 1'000'000'000ull, 3'000'000'000ull}) {
                EXPECT_EQ(walked->tally.reset_peaks().most_within(span_ns),
                          reference.reset_peaks().most_within(span_ns))
                    << threads << " threads, shares of " << min_share << ", span " << span_ns;
            }
        }
    }
    // 20 seconds of packet time, about 20 resets a second: a busiest 3 s holds about 60, counted
    // to within the two end buckets' (67 ms each, a reset or two).
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

// From any byte of an ordinary capture, the start found is the first record's at or after it
// (records of every size, headers only among them, times a fraction of a second apart), and none
// past the limit.
TEST(CaptureProbe, FindsTheNextRecordStartFromAnyByte) {
    PcapFile file(false, true);
    std::mt19937 random(20261207);
    for (uint32_t r = 0; r < 400; ++r) {
        const uint32_t captured = r % 7 == 0 ? 0 : static_cast<uint32_t>(random() % 200);
        file.record({1'700'000'000 + r / 3, static_cast<uint32_t>(random() % 1'000'000'000),
                     captured, captured + static_cast<uint32_t>(random() % 1400)});
    }
    std::vector<uint64_t> starts;
    size_t at = 24;
    while (at < file.bytes().size()) {
        starts.push_back(at);
        uint32_t captured;
        std::memcpy(&captured, file.bytes().data() + at + 8, 4);
        at += 16 + captured;
    }
    CaptureBytes bytes(file.bytes());
    PlainPcapLayout layout;
    const auto rules = read_plain_pcap_header(bytes, layout);
    ASSERT_TRUE(rules);
    const uint64_t size = file.bytes().size();
    for (uint64_t from = 24; from < size; ++from) {
        const auto next = std::lower_bound(starts.begin(), starts.end(), from);
        const std::optional<uint64_t> expected =
            next == starts.end() ? std::nullopt : std::optional<uint64_t>(*next);
        EXPECT_EQ(find_plain_record_start(bytes, layout, *rules, from, size), expected)
            << "from " << from;
        EXPECT_FALSE(find_plain_record_start(bytes, layout, *rules, from, expected.value_or(size)))
            << "from " << from;
    }
}

// A frame whose bytes read as records in a row fools the guess of a share that starts inside
// it: the share before ends elsewhere, and the file is walked again from its first record, to
// the same answer as one walk. A record that is not plain ends the walk wherever the shares fall.
TEST(CaptureProbe, UnconfirmedShareStartsWalkTheFileAgain) {
    PcapFile file(false, false);
    const test::Bytes frame = test::ethernet(
        0x0800, test::ipv4("198.51.100.1", "203.0.113.2", 6, test::tcp_segment(test::TcpSpec())));
    for (int r = 0; r < 40; ++r)
        file.frame(frame, 1'700'000'000 + r);
    Bytes decoy;  // ten headers of empty records, as the frame's bytes
    for (int r = 0; r < 10; ++r) {
        const uint32_t fields[4] = {1'700'000'000, 0, 0, 0};
        const auto* b = reinterpret_cast<const uint8_t*>(fields);
        decoy.insert(decoy.end(), b, b + 16);
    }
    const uint64_t decoy_at = file.bytes().size() + 16;
    file.frame(decoy, 1'700'000'040);
    for (int r = 0; r < 40; ++r)
        file.frame(frame, 1'700'000'041 + r);
    const uint64_t size = file.bytes().size();
    std::vector<uint64_t> starts;
    const FlowKeyTally reference = reference_tally(file, starts);
    bool fooled = false;
    for (uint64_t min_share = 64; min_share < size / 2; min_share += 7) {
        for (unsigned threads : {2u, 3u, 16u}) {
            PlainPcapLayout layout;
            CaptureBytes bytes(file.bytes());
            const auto walked =
                walk_plain_pcap(bytes, layout, LinkType::ethernet, false, threads, min_share);
            ASSERT_TRUE(walked) << threads << " threads, shares of " << min_share;
            EXPECT_EQ(walked->records, 81u);
            EXPECT_EQ(walked->tally.estimate(), reference.estimate());
            EXPECT_EQ(layout.largest_record, 160u);
            // A share whose bytes begin inside the decoy, before its sixth header, guesses wrong.
            const uint64_t shares = walked->shares;
            bool inside = false;
            for (uint64_t share = 1; share < shares; ++share) {
                const uint64_t begin = 24 + (size - 24) * share / shares;
                inside = inside || (begin > decoy_at - 16 && begin <= decoy_at + 5 * 16);
            }
            if (inside) {
                EXPECT_TRUE(walked->walked_again) << threads << " threads, shares of " << min_share;
                fooled = true;
            }
        }
    }
    EXPECT_TRUE(fooled);  // the sweep put a share's beginning inside the decoy
    // A record beyond its unit's fraction of a second is not plain, whichever share holds it.
    Bytes damaged = file.bytes();
    const uint32_t too_large = 1'000'000;
    std::memcpy(damaged.data() + starts[60] + 4, &too_large, 4);
    for (uint64_t min_share = 64; min_share < size / 2; min_share += 13) {
        PlainPcapLayout layout;
        CaptureBytes bytes(damaged);
        EXPECT_FALSE(walk_plain_pcap(bytes, layout, LinkType::ethernet, false, 3, min_share))
            << "shares of " << min_share;
    }
}

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

// A file cut short under the walk (a capture still being rotated) is not plain: the probe
// leaves it to libpcap's reading, which says where it ends.
TEST(CaptureProbe, FileCutShortUnderTheWalkIsNotPlain) {
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
    const auto whole = walk_plain_pcap(*bytes, layout, LinkType::ethernet, false, 1);
    ASSERT_TRUE(whole);
    ASSERT_EQ(whole->records, 100u);
    EXPECT_NEAR(static_cast<double>(whole->tally.estimate()), 100, 4);
    bytes = CaptureBytes::open_file(path);
    ASSERT_TRUE(bytes);
    ASSERT_EQ(truncate(path.c_str(), static_cast<off_t>(file.bytes().size() / 2)), 0);
    EXPECT_FALSE(walk_plain_pcap(*bytes, layout, LinkType::ethernet, false, 1));
    std::filesystem::remove(path);
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
    for (uint64_t i = 0; i < 5; ++i)
        tally.add_frame(frame.data(), static_cast<uint32_t>(frame.size()), 1'000'000'000, i);
    EXPECT_EQ(tally.estimate(), 5u);
    EXPECT_EQ(tally.reset_peaks().most_within(0), 5u);  // each may become a RST
}

}  // namespace
}  // namespace rstscope
