// SPDX-License-Identifier: BSD-3-Clause
// Unit tests for the pcapng → pcap rewrite (src/capture/pcapng_rewrite.h): files built block by
// block here, in either byte order; the output read back with libpcap at nanosecond precision.
// Each malformed block kind is refused with its exact one-line reason; each timestamp resolution
// converts exactly.

#include <gtest/gtest.h>

#include <pcap/pcap.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "capture/pcapng_rewrite.h"

namespace rstscope {
namespace {

using Bytes = std::vector<uint8_t>;

constexpr uint32_t shb = 0x0A0D0D0A, idb = 1, spb = 3, isb = 5, epb = 6, nrb = 4;
constexpr uint16_t dlt_ethernet = 1, dlt_raw = 101;

// A pcapng file written block by block in one byte order (switchable per section).
class Pcapng {
  public:
    explicit Pcapng(bool big_endian = false) : big_endian_(big_endian) {}

    Pcapng& section(bool big_endian, uint16_t major = 1) {
        big_endian_ = big_endian;
        Bytes body;
        put32(body, 0x1A2B3C4D);
        put16(body, major);
        put16(body, 0);
        put32(body, 0xFFFFFFFF);  // section length unknown (-1)
        put32(body, 0xFFFFFFFF);
        return block(shb, body);
    }
    Pcapng& section() { return section(big_endian_); }

    Pcapng& interface(uint16_t link, uint32_t snaplen, std::optional<uint8_t> tsresol = {}) {
        Bytes body;
        put16(body, link);
        put16(body, 0);
        put32(body, snaplen);
        if (tsresol) {
            put16(body, 9);  // if_tsresol
            put16(body, 1);
            body.insert(body.end(), {*tsresol, 0, 0, 0});
            put32(body, 0);  // opt_endofopt
        }
        return block(idb, body);
    }

    Pcapng& enhanced(uint32_t iface, uint64_t units, const Bytes& packet,
                     std::optional<uint32_t> original = {}) {
        Bytes body;
        put32(body, iface);
        put32(body, static_cast<uint32_t>(units >> 32));
        put32(body, static_cast<uint32_t>(units));
        put32(body, static_cast<uint32_t>(packet.size()));
        put32(body, original.value_or(static_cast<uint32_t>(packet.size())));
        body.insert(body.end(), packet.begin(), packet.end());
        return block(epb, body);
    }

    Pcapng& simple(uint32_t original, const Bytes& packet) {
        Bytes body;
        put32(body, original);
        body.insert(body.end(), packet.begin(), packet.end());
        return block(spb, body);
    }

    // Any block: the body padded to 32 bits between the length and its trailing copy.
    Pcapng& block(uint32_t type, Bytes body) {
        body.resize((body.size() + 3) & ~size_t{3});
        return block_with_length(type, body, static_cast<uint32_t>(body.size() + 12));
    }

    // A block whose declared length (both copies) is `length`, whatever the body holds.
    Pcapng& block_with_length(uint32_t type, const Bytes& body, uint32_t length,
                              std::optional<uint32_t> trailing = {}) {
        put32(data_, type);
        put32(data_, length);
        data_.insert(data_.end(), body.begin(), body.end());
        put32(data_, trailing.value_or(length));
        return *this;
    }

    Pcapng& raw(std::initializer_list<uint8_t> bytes) {
        data_.insert(data_.end(), bytes);
        return *this;
    }

    Pcapng& cut(size_t bytes) {
        data_.resize(data_.size() - bytes);
        return *this;
    }

    const Bytes& bytes() const { return data_; }

  private:
    void put16(Bytes& out, uint16_t v) const {
        if (big_endian_)
            out.insert(out.end(), {uint8_t(v >> 8), uint8_t(v)});
        else
            out.insert(out.end(), {uint8_t(v), uint8_t(v >> 8)});
    }
    void put32(Bytes& out, uint32_t v) const {
        put16(out, static_cast<uint16_t>(big_endian_ ? v >> 16 : v));
        put16(out, static_cast<uint16_t>(big_endian_ ? v : v >> 16));
    }

    bool big_endian_;
    Bytes data_;
};

struct Record {
    uint64_t ts_ns;
    uint32_t captured;
    uint32_t original;
    Bytes data;
    friend bool operator==(const Record&, const Record&) = default;
};

void PrintTo(const Record& r, std::ostream* os) {
    *os << "{ts_ns " << r.ts_ns << ", captured " << r.captured << ", original " << r.original
        << ", " << r.data.size() << " bytes}";
}

struct Pcap {
    int link_type = -1;
    std::vector<Record> records;
};

Bytes frame(size_t size, uint8_t first) {
    Bytes b(size);
    for (size_t i = 0; i < size; ++i)
        b[i] = static_cast<uint8_t>(first + i);
    return b;
}

class PcapngRewrite : public ::testing::Test {
  protected:
    void SetUp() override {
        std::string pattern = (std::filesystem::temp_directory_path() / "pcapng-test-XXXXXX");
        ASSERT_NE(mkdtemp(pattern.data()), nullptr);
        dir_ = pattern;
        in_ = (dir_ / "in.pcapng").string();
        out_ = (dir_ / "out.pcap").string();
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    // Rewrites `file`; returns the error, empty on success.
    std::string rewrite(const Pcapng& file) {
        std::ofstream(in_, std::ios::binary)
            .write(reinterpret_cast<const char*>(file.bytes().data()),
                   static_cast<std::streamsize>(file.bytes().size()));
        std::string error;
        bool ok = rewrite_pcapng_as_pcap(in_, out_, error);
        EXPECT_EQ(ok, error.empty()) << error;
        return error;
    }

    Pcap read_output() {
        Pcap result;
        char errbuf[PCAP_ERRBUF_SIZE] = {};
        pcap_t* handle = pcap_open_offline_with_tstamp_precision(
            out_.c_str(), PCAP_TSTAMP_PRECISION_NANO, errbuf);
        EXPECT_NE(handle, nullptr) << errbuf;
        if (!handle) return result;
        result.link_type = pcap_datalink(handle);
        pcap_pkthdr* header;
        const u_char* data;
        int status;
        while ((status = pcap_next_ex(handle, &header, &data)) == 1) {
            result.records.push_back({static_cast<uint64_t>(header->ts.tv_sec) * 1'000'000'000ull +
                                          static_cast<uint64_t>(header->ts.tv_usec),
                                      header->caplen, header->len,
                                      Bytes(data, data + header->caplen)});
        }
        EXPECT_EQ(status, PCAP_ERROR_BREAK) << pcap_geterr(handle);  // the end, not an error
        pcap_close(handle);
        return result;
    }

    // The single packet's time in ns for a file whose one interface has `tsresol`.
    uint64_t rewritten_time(std::optional<uint8_t> tsresol, uint64_t units) {
        Pcapng file;
        file.section().interface(dlt_ethernet, 0, tsresol).enhanced(0, units, frame(14, 0));
        EXPECT_EQ(rewrite(file), "");
        Pcap pcap = read_output();
        EXPECT_EQ(pcap.records.size(), 1u);
        return pcap.records.empty() ? 0 : pcap.records[0].ts_ns;
    }

    std::filesystem::path dir_;
    std::string in_, out_;
};

// Two interfaces of one link type with different snapshot lengths and resolutions (what libpcap
// 1.10 refuses), a simple packet block and blocks without packets in between.
Pcapng multi_interface(bool big_endian) {
    Pcapng file(big_endian);
    file.section()
        .interface(dlt_ethernet, 65535)                       // µs
        .interface(dlt_ethernet, 128, uint8_t{9})             // ns
        .enhanced(0, 1'700'000'000'123'456ull, frame(60, 0))  // 1700000000.123456 s
        .block(nrb, Bytes{0, 0, 0, 0})
        .enhanced(1, 1'700'000'001'000'000'007ull, frame(128, 7), 1500)
        .simple(10, frame(10, 3))  // padded to 12 bytes in the block
        .block(isb, Bytes(24, 0));
    return file;
}

std::vector<Record> multi_interface_records() {
    return {{1'700'000'000'123'456'000ull, 60, 60, frame(60, 0)},
            {1'700'000'001'000'000'007ull, 128, 1500, frame(128, 7)},
            {0, 10, 10, frame(10, 3)}};
}

TEST_F(PcapngRewrite, KeepsEveryPacketOfInterfacesWithDifferentSnaplens) {
    ASSERT_EQ(rewrite(multi_interface(false)), "");
    Pcap pcap = read_output();
    EXPECT_EQ(pcap.link_type, dlt_ethernet);
    EXPECT_EQ(pcap.records, multi_interface_records());
}

TEST_F(PcapngRewrite, ReadsABigEndianSection) {
    ASSERT_EQ(rewrite(multi_interface(true)), "");
    Pcap pcap = read_output();
    EXPECT_EQ(pcap.link_type, dlt_ethernet);
    EXPECT_EQ(pcap.records, multi_interface_records());
}

TEST_F(PcapngRewrite, SimplePacketIsCutToTheInterfaceSnaplen) {
    Pcapng file;
    file.section().interface(dlt_raw, 8).simple(20, frame(20, 1));
    ASSERT_EQ(rewrite(file), "");
    Pcap pcap = read_output();
    EXPECT_EQ(pcap.link_type, DLT_RAW);  // LINKTYPE_RAW (101) in the file
    EXPECT_EQ(pcap.records, (std::vector<Record>{{0, 8, 20, frame(8, 1)}}));
}

TEST_F(PcapngRewrite, SectionsOfEitherByteOrderFollowEachOther) {
    Pcapng file;
    file.section(false)
        .interface(dlt_ethernet, 0)
        .enhanced(0, 5'000'000, frame(20, 0))
        .section(true)
        .interface(dlt_ethernet, 0, uint8_t{3})
        .enhanced(0, 6'000, frame(30, 1));
    ASSERT_EQ(rewrite(file), "");
    EXPECT_EQ(read_output().records,
              (std::vector<Record>{{5'000'000'000ull, 20, 20, frame(20, 0)},
                                   {6'000'000'000ull, 30, 30, frame(30, 1)}}));
}

TEST_F(PcapngRewrite, InterfaceNumbersRestartWithEachSection) {
    Pcapng file;
    file.section()
        .interface(dlt_ethernet, 0)
        .interface(dlt_ethernet, 0)
        .enhanced(1, 0, frame(20, 0))
        .section(true)
        .interface(dlt_ethernet, 0)
        .enhanced(1, 0, frame(20, 0));
    EXPECT_EQ(rewrite(file), "pcapng packet block 6 names unknown interface 1");
}

// --- malformed files: each refused with its reason --------------------------------------------

TEST_F(PcapngRewrite, RefusesAnEmptyFile) {
    EXPECT_EQ(rewrite(Pcapng()), "not a pcapng file (empty)");
}

TEST_F(PcapngRewrite, RefusesAFileNotStartingWithASection) {
    Pcapng file;
    file.interface(dlt_ethernet, 0);
    EXPECT_EQ(rewrite(file), "not a pcapng file");
}

TEST_F(PcapngRewrite, RefusesABadByteOrderMagic) {
    Pcapng file;
    file.block(shb, Bytes{1, 2, 3, 4, 1, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF});
    EXPECT_EQ(rewrite(file), "not a pcapng file (bad byte-order magic)");
}

TEST_F(PcapngRewrite, RefusesAnotherMajorVersion) {
    Pcapng file;
    file.section(false, 2).interface(dlt_ethernet, 0).enhanced(0, 0, frame(20, 0));
    EXPECT_EQ(rewrite(file), "pcapng section 0 has unsupported version 2.0");
}

TEST_F(PcapngRewrite, RefusesATruncatedSectionHeader) {
    Pcapng file;
    file.section().cut(18);  // 10 bytes left: type, length and half the magic
    EXPECT_EQ(rewrite(file), "pcapng block 0 is truncated");
}

TEST_F(PcapngRewrite, RefusesATooShortSectionHeader) {
    Pcapng file;
    file.block_with_length(shb, Bytes{0x4D, 0x3C, 0x2B, 0x1A, 1, 0, 0, 0, 0, 0, 0, 0}, 24);
    EXPECT_EQ(rewrite(file), "pcapng block 0 has an invalid length 24");
}

TEST_F(PcapngRewrite, RefusesAZeroLengthBlock) {
    Pcapng file;
    file.section().block_with_length(idb, {}, 0);
    EXPECT_EQ(rewrite(file), "pcapng block 1 has an invalid length 0");
}

TEST_F(PcapngRewrite, RefusesABlockShorterThanItsHead) {
    Pcapng file;
    file.section().block_with_length(idb, {}, 8);
    EXPECT_EQ(rewrite(file), "pcapng block 1 has an invalid length 8");
}

TEST_F(PcapngRewrite, RefusesALengthNotAMultipleOfFour) {
    Pcapng file;
    file.section().block_with_length(idb, Bytes(18, 0), 30);
    EXPECT_EQ(rewrite(file), "pcapng block 1 has an invalid length 30");
}

TEST_F(PcapngRewrite, RefusesAHugeLength) {
    Pcapng file;
    file.section().block_with_length(epb, Bytes(20, 0), 0xFFFFFFFC);
    EXPECT_EQ(rewrite(file), "pcapng block 1 has an invalid length 4294967292");
}

TEST_F(PcapngRewrite, RefusesALengthPastTheEndOfTheFile) {
    Pcapng file;
    file.section().interface(dlt_ethernet, 0).block_with_length(epb, Bytes(20, 0), 1u << 20);
    EXPECT_EQ(rewrite(file), "pcapng block 2 is truncated (1048576 bytes declared, 32 left)");
}

TEST_F(PcapngRewrite, RefusesATruncatedBlockHead) {
    Pcapng file;
    file.section().interface(dlt_ethernet, 0).raw({6, 0, 0, 0});
    EXPECT_EQ(rewrite(file), "pcapng block 2 is truncated");
}

TEST_F(PcapngRewrite, RefusesMismatchedLengths) {
    Pcapng file;
    file.section().block_with_length(idb, Bytes(8, 0), 20, 24);
    EXPECT_EQ(rewrite(file), "pcapng block 1 has mismatched lengths (20 and 24)");
}

TEST_F(PcapngRewrite, RefusesATooShortInterface) {
    Pcapng file;
    file.section().block(idb, Bytes(4, 0));
    EXPECT_EQ(rewrite(file), "pcapng interface block 1 is too short");
}

TEST_F(PcapngRewrite, RefusesAPacketBeforeAnyInterface) {
    Pcapng file;
    file.section().enhanced(0, 0, frame(20, 0));
    EXPECT_EQ(rewrite(file), "pcapng packet block 1 is malformed");
}

TEST_F(PcapngRewrite, RefusesATooShortEnhancedPacket) {
    Pcapng file;
    file.section().interface(dlt_ethernet, 0).block(epb, Bytes(16, 0));
    EXPECT_EQ(rewrite(file), "pcapng packet block 2 is malformed");
}

TEST_F(PcapngRewrite, RefusesAnUnknownInterface) {
    Pcapng file;
    file.section().interface(dlt_ethernet, 0).enhanced(3, 0, frame(20, 0));
    EXPECT_EQ(rewrite(file), "pcapng packet block 2 names unknown interface 3");
}

TEST_F(PcapngRewrite, RefusesACapturedLengthBeyondTheBlock) {
    Pcapng file;
    Bytes body(20 + 8, 0);
    body[12] = 9;  // captured length 9 (little endian) with 8 bytes of packet data
    file.section().interface(dlt_ethernet, 0).block(epb, body);
    EXPECT_EQ(rewrite(file), "pcapng packet block 2 claims more data than it holds");
}

TEST_F(PcapngRewrite, RefusesInterfacesOfDifferentLinkTypes) {
    Pcapng file;
    file.section()
        .interface(dlt_ethernet, 0)
        .interface(dlt_raw, 0)
        .enhanced(0, 0, frame(20, 0))
        .enhanced(1, 0, frame(20, 0));
    EXPECT_EQ(rewrite(file),
              "pcapng packets come from interfaces of different link types (1 and 101): a pcap "
              "holds one; split the capture per interface");
}

TEST_F(PcapngRewrite, RefusesAFileWithoutPackets) {
    Pcapng file;
    file.section().interface(dlt_ethernet, 0);
    EXPECT_EQ(rewrite(file), "pcapng file holds no packet");
}

TEST_F(PcapngRewrite, RefusesAMissingFile) {
    std::string error;
    EXPECT_FALSE(rewrite_pcapng_as_pcap(in_ + ".absent", out_, error));
    EXPECT_EQ(error, "cannot open " + in_ + ".absent");
}

// --- timestamp resolutions -------------------------------------------------------------------

TEST_F(PcapngRewrite, MicrosecondsByDefaultAndWhenGiven) {
    EXPECT_EQ(rewritten_time({}, 1'700'000'000'123'456ull), 1'700'000'000'123'456'000ull);
    EXPECT_EQ(rewritten_time(uint8_t{6}, 1'700'000'000'123'456ull), 1'700'000'000'123'456'000ull);
}

TEST_F(PcapngRewrite, Nanoseconds) {
    EXPECT_EQ(rewritten_time(uint8_t{9}, 1'700'000'000'123'456'789ull),
              1'700'000'000'123'456'789ull);
}

TEST_F(PcapngRewrite, PicosecondsDoNotOverflow) {
    // The remainder (< 10^12) times 10^9 overflowed 64 bits before.
    EXPECT_EQ(rewritten_time(uint8_t{12}, 12'345'678'901'234'567ull), 12'345'678'901'234ull);
    EXPECT_EQ(pcapng_timestamp_ns(UINT64_MAX, 12), 18'446'744'073'709'551ull);
}

TEST_F(PcapngRewrite, BinaryResolution) {
    // 2^-30 s: 1700000000 s and 123456789 / 2^30 s, rounded down to the ns.
    EXPECT_EQ(rewritten_time(uint8_t{0x80 | 30}, (1'700'000'000ull << 30) | 123'456'789ull),
              1'700'000'000'114'978'094ull);
    EXPECT_EQ(pcapng_timestamp_ns(3, 0x80 | 30), 2u);
    EXPECT_EQ(pcapng_timestamp_ns(UINT64_MAX, 0x80 | 93), 1u);  // 2^94 * ... / 2^93, floor
    EXPECT_EQ(pcapng_timestamp_ns(UINT64_MAX, 0x80 | 94), 0u);
    EXPECT_EQ(pcapng_timestamp_ns(UINT64_MAX, 0xFF), 0u);
}

TEST_F(PcapngRewrite, Exponent127IsZeroNotSaturated) {
    EXPECT_EQ(rewritten_time(uint8_t{127}, UINT64_MAX), 0u);
    EXPECT_EQ(pcapng_timestamp_ns(UINT64_MAX, 38), 0u);
    EXPECT_EQ(pcapng_timestamp_ns(UINT64_MAX, 127), 0u);
    EXPECT_EQ(pcapng_timestamp_ns(10'000'000'000'000'000'000ull, 26), 100u);
}

TEST_F(PcapngRewrite, CoarseResolutionsClamp) {
    EXPECT_EQ(pcapng_timestamp_ns(1'700'000'000, 0), 1'700'000'000'000'000'000ull);
    EXPECT_EQ(pcapng_timestamp_ns(1'700'000'000, 0x80), 1'700'000'000'000'000'000ull);
    EXPECT_EQ(pcapng_timestamp_ns(UINT64_MAX, 0), UINT64_MAX);
    // In the pcap, past 2^31 s (libpcap reads the seconds as signed): its last nanosecond.
    EXPECT_EQ(rewritten_time(uint8_t{0}, 1ull << 40), 2'147'483'647'999'999'999ull);
    EXPECT_EQ(rewritten_time(uint8_t{0}, 2'147'483'647), 2'147'483'647'000'000'000ull);
}

}  // namespace
}  // namespace rstscope
