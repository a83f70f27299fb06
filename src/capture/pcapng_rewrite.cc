// SPDX-License-Identifier: BSD-3-Clause
#include "pcapng_rewrite.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <limits>
#include <vector>

#include <fmt/format.h>

namespace rstscope {
namespace {

// Block types and constants from draft-ietf-opsawg-pcapng.
constexpr uint32_t section_header_block = 0x0A0D0D0A;
constexpr uint32_t interface_description_block = 0x00000001;
constexpr uint32_t simple_packet_block = 0x00000003;
constexpr uint32_t enhanced_packet_block = 0x00000006;
constexpr uint32_t byte_order_magic = 0x1A2B3C4D;
constexpr uint16_t option_end = 0;
constexpr uint16_t option_if_tsresol = 9;
constexpr uint32_t block_head = 8;  // type, length
constexpr uint32_t block_tail = 4;  // trailing length
constexpr uint32_t min_block = block_head + block_tail;
constexpr uint32_t magic_size = 4;          // a section header's byte-order magic
constexpr uint32_t min_section_block = 28;  // + magic, version, section length
constexpr uint16_t supported_major_version = 1;
constexpr size_t interface_fixed_part = 8;    // link type, reserved, snaplen
constexpr size_t option_head = 4;             // code, length
constexpr size_t enhanced_packet_fixed = 20;  // interface, timestamp (2 words), lengths (2)
constexpr size_t simple_packet_fixed = 4;     // original length
constexpr uint32_t max_block = 64u << 20;     // larger blocks are not packets: refuse the file
constexpr uint32_t max_snaplen = 262144;      // libpcap's own limit for a record
constexpr uint8_t default_tsresol = 6;        // microseconds when if_tsresol is absent
constexpr uint64_t ns_per_second = 1'000'000'000ull;
// The pcap file written: nanosecond-resolution magic, format version 2.4.
constexpr uint32_t pcap_nanosecond_magic = 0xA1B23C4D;
constexpr uint16_t pcap_version_major = 2;
constexpr uint16_t pcap_version_minor = 4;
// A pcap record's seconds are 32 bits, and libpcap (hence the capture clock) reads them as
// signed: later times (after 2038-01-19) are clamped to the last nanosecond it reads back rather
// than wrapped to 1901.
constexpr uint64_t max_pcap_ns =
    (uint64_t{std::numeric_limits<int32_t>::max()} + 1) * ns_per_second - 1;

struct Interface {
    uint16_t link_type;
    uint32_t snaplen;  // 0: no limit
    uint8_t tsresol = default_tsresol;
};

// Reads the section's integers in the byte order its header declared.
class ByteOrder {
  public:
    uint32_t u32(const uint8_t* p) const {
        uint32_t v;
        std::memcpy(&v, p, 4);
        return swap_ ? __builtin_bswap32(v) : v;
    }
    uint16_t u16(const uint8_t* p) const {
        uint16_t v;
        std::memcpy(&v, p, 2);
        return swap_ ? __builtin_bswap16(v) : v;
    }
    void set_swap(bool swap) { swap_ = swap; }

  private:
    bool swap_ = false;
};

unsigned __int128 pow10_u128(unsigned exponent) {  // exact for exponent <= 38
    unsigned __int128 value = 1;
    while (exponent-- > 0)
        value *= 10;
    return value;
}

void put32(std::ofstream& out, uint32_t v) {
    out.write(reinterpret_cast<const char*>(&v), 4);
}

// One pass over the pcapng file, block by block; packets are written as they come (streaming).
class Rewriter {
  public:
    Rewriter(std::ifstream& in, uint64_t file_size, const std::string& pcap_path)
        : in_(in), left_(file_size), pcap_path_(pcap_path) {}

    bool run(std::string& error);

  private:
    // Reads the next block into block_ (without its 8-byte head); false at the end or on error.
    bool read_block(uint32_t& type, std::string& error);
    // Reads `size` bytes; false on a short read (an error unless nothing at all was left and
    // `end_allowed`).
    bool read_exactly(uint8_t* into, uint64_t size, bool end_allowed, std::string& error);
    bool read_byte_order(uint8_t* magic_bytes, std::string& error);
    bool read_body(uint32_t length, const uint8_t* magic, std::string& error);
    bool read_section_header(std::string& error);
    bool read_interface(std::string& error);
    bool write_packet(uint32_t type, std::string& error);
    const Interface* packet_interface(uint32_t iface_id, std::string& error);
    bool captured_length(bool enhanced, const Interface& iface, uint32_t original,
                         uint32_t& captured, std::string& error) const;
    void write_record(uint64_t ts_ns, uint32_t captured, uint32_t original, const uint8_t* data);
    bool open_output(uint16_t link_type, std::string& error);

    std::ifstream& in_;
    uint64_t left_;  // bytes of the file not read yet
    const std::string& pcap_path_;
    uint64_t index_ = 0;
    ByteOrder order_;
    std::vector<Interface> interfaces_;  // of the current section
    std::vector<uint8_t> block_;         // body and trailing length of the current block
    std::ofstream out_;                  // opened at the first packet
    uint16_t link_type_ = 0;
};

bool Rewriter::run(std::string& error) {
    for (;; ++index_) {
        uint32_t type;
        if (!read_block(type, error)) {
            if (!error.empty()) return false;
            break;
        }
        bool ok = true;
        if (type == section_header_block)
            ok = read_section_header(error);
        else if (type == interface_description_block)
            ok = read_interface(error);
        else if (type == enhanced_packet_block || type == simple_packet_block)
            ok = write_packet(type, error);
        // Other blocks (name resolution, statistics, decryption secrets, custom) carry no packet.
        if (!ok) return false;
    }
    if (!out_.is_open()) {
        error = index_ == 0 ? "not a pcapng file (empty)" : "pcapng file holds no packet";
        return false;
    }
    out_.close();
    if (!out_) {
        error = "cannot write " + pcap_path_;
        return false;
    }
    return true;
}

bool Rewriter::read_block(uint32_t& type, std::string& error) {
    uint8_t head[block_head + magic_size];
    if (!read_exactly(head, block_head, true, error)) return false;
    uint32_t raw_type;
    std::memcpy(&raw_type, head, 4);
    bool section = raw_type == section_header_block;  // the same in either byte order
    if (section) {
        if (!read_byte_order(head + block_head, error)) return false;
    } else if (index_ == 0) {
        error = "not a pcapng file";
        return false;
    }
    type = order_.u32(head);
    uint32_t length = order_.u32(head + 4);
    if (length < min_block || length % 4 != 0 || length > max_block ||
        (section && length < min_section_block)) {
        error = fmt::format("pcapng block {} has an invalid length {}", index_, length);
        return false;
    }
    return read_body(length, section ? head + block_head : nullptr, error);
}

bool Rewriter::read_exactly(uint8_t* into, uint64_t size, bool end_allowed, std::string& error) {
    in_.read(reinterpret_cast<char*>(into), static_cast<std::streamsize>(size));
    uint64_t got = static_cast<uint64_t>(in_.gcount());
    if (got == 0 && end_allowed) return false;  // the end of the file, between blocks
    if (got != size) {
        error = fmt::format("pcapng block {} is truncated", index_);
        return false;
    }
    left_ -= size;
    return true;
}

// The byte-order magic decides how to read this block's length and the whole section.
bool Rewriter::read_byte_order(uint8_t* magic_bytes, std::string& error) {
    if (!read_exactly(magic_bytes, magic_size, false, error)) return false;
    uint32_t magic;
    std::memcpy(&magic, magic_bytes, 4);
    if (magic != byte_order_magic && magic != __builtin_bswap32(byte_order_magic)) {
        error = "not a pcapng file (bad byte-order magic)";
        return false;
    }
    order_.set_swap(magic != byte_order_magic);
    return true;
}

// The rest of a block of `length` bytes into block_; `magic` (a section header's, already read)
// goes first.
bool Rewriter::read_body(uint32_t length, const uint8_t* magic, std::string& error) {
    uint32_t already = block_head + (magic ? magic_size : 0);
    // Checked before allocating: a length near max_block in a small file is a truncation.
    uint64_t to_read = length - already;
    if (to_read > left_) {
        error = fmt::format("pcapng block {} is truncated ({} bytes declared, {} left)", index_,
                            length, left_ + (length - to_read));
        return false;
    }
    block_.resize(length - block_head);
    size_t at = 0;
    if (magic) {
        std::memcpy(block_.data(), magic, magic_size);
        at = magic_size;
    }
    if (!read_exactly(block_.data() + at, to_read, false, error)) return false;
    uint32_t trailing = order_.u32(block_.data() + block_.size() - block_tail);
    if (trailing != length) {
        error = fmt::format("pcapng block {} has mismatched lengths ({} and {})", index_, length,
                            trailing);
        return false;
    }
    return true;
}

bool Rewriter::read_section_header(std::string& error) {
    uint16_t major = order_.u16(block_.data() + 4);
    if (major != supported_major_version) {
        error = fmt::format("pcapng section {} has unsupported version {}.{}", index_, major,
                            order_.u16(block_.data() + 6));
        return false;
    }
    interfaces_.clear();  // interface numbers restart with every section
    return true;
}

bool Rewriter::read_interface(std::string& error) {
    const uint8_t* body = block_.data();
    size_t body_length = block_.size() - block_tail;
    if (body_length < interface_fixed_part) {
        error = fmt::format("pcapng interface block {} is too short", index_);
        return false;
    }
    Interface iface{order_.u16(body), order_.u32(body + 4)};
    for (size_t at = interface_fixed_part; at + option_head <= body_length;) {
        uint16_t code = order_.u16(body + at), size = order_.u16(body + at + 2);
        if (code == option_end || at + option_head + size > body_length) break;
        if (code == option_if_tsresol && size >= 1) iface.tsresol = body[at + option_head];
        at += option_head + ((size + 3u) & ~3u);  // option values are padded to 32 bits
    }
    interfaces_.push_back(iface);
    return true;
}

bool Rewriter::open_output(uint16_t link_type, std::string& error) {
    link_type_ = link_type;
    out_.open(pcap_path_, std::ios::binary | std::ios::trunc);
    put32(out_, pcap_nanosecond_magic);
    uint16_t version[2] = {pcap_version_major, pcap_version_minor};
    out_.write(reinterpret_cast<const char*>(version), 4);
    put32(out_, 0);
    put32(out_, 0);
    put32(out_, max_snaplen);  // interfaces may differ: the largest libpcap accepts
    put32(out_, link_type);
    if (!out_) error = "cannot write " + pcap_path_;
    return static_cast<bool>(out_);
}

bool Rewriter::write_packet(uint32_t type, std::string& error) {
    const uint8_t* body = block_.data();
    size_t body_length = block_.size() - block_tail;
    bool enhanced = type == enhanced_packet_block;
    size_t header = enhanced ? enhanced_packet_fixed : simple_packet_fixed;
    if (body_length < header || interfaces_.empty()) {
        error = fmt::format("pcapng packet block {} is malformed", index_);
        return false;
    }
    const Interface* iface = packet_interface(enhanced ? order_.u32(body) : 0, error);
    if (!iface) return false;
    uint32_t original = enhanced ? order_.u32(body + 16) : order_.u32(body);
    uint32_t captured;
    if (!captured_length(enhanced, *iface, original, captured, error)) return false;
    uint64_t ts_ns = 0;
    if (enhanced) {
        uint64_t units = (uint64_t{order_.u32(body + 4)} << 32) | order_.u32(body + 8);
        ts_ns = pcapng_timestamp_ns(units, iface->tsresol);
    }
    write_record(std::min(ts_ns, max_pcap_ns), captured, original, body + header);
    return true;
}

// The interface a packet names. Interfaces that carry no packet do not matter; those that do
// must share a link type, the one the output is opened with at the first packet.
const Interface* Rewriter::packet_interface(uint32_t iface_id, std::string& error) {
    if (iface_id >= interfaces_.size()) {
        error = fmt::format("pcapng packet block {} names unknown interface {}", index_, iface_id);
        return nullptr;
    }
    const Interface& iface = interfaces_[iface_id];
    if (!out_.is_open()) {
        if (!open_output(iface.link_type, error)) return nullptr;
    } else if (iface.link_type != link_type_) {
        error = fmt::format(
            "pcapng packets come from interfaces of different link types "
            "({} and {}): a pcap holds one; split the capture per interface",
            link_type_, iface.link_type);
        return nullptr;
    }
    return &iface;
}

bool Rewriter::captured_length(bool enhanced, const Interface& iface, uint32_t original,
                               uint32_t& captured, std::string& error) const {
    size_t room =
        block_.size() - block_tail - (enhanced ? enhanced_packet_fixed : simple_packet_fixed);
    if (enhanced) {
        captured = order_.u32(block_.data() + 12);
        if (captured > room || captured > max_snaplen) {
            error = fmt::format("pcapng packet block {} claims more data than it holds", index_);
            return false;
        }
        return true;
    }
    // A simple packet block has no captured length: the packet, cut to the interface's snapshot
    // length, then padding to 32 bits.
    if (iface.snaplen != 0) room = std::min<size_t>(room, iface.snaplen);
    captured = static_cast<uint32_t>(std::min<size_t>({room, original, max_snaplen}));
    return true;
}

void Rewriter::write_record(uint64_t ts_ns, uint32_t captured, uint32_t original,
                            const uint8_t* data) {
    put32(out_, static_cast<uint32_t>(ts_ns / ns_per_second));
    put32(out_, static_cast<uint32_t>(ts_ns % ns_per_second));
    put32(out_, captured);
    put32(out_, original);
    out_.write(reinterpret_cast<const char*>(data), captured);
}

}  // namespace

uint64_t pcapng_timestamp_ns(uint64_t units, uint8_t if_tsresol) {
    // Exact integer arithmetic: units * 10^9 < 2^94 and any divisor up to 10^38 or 2^93 fit in
    // 128 bits. Only a quotient above 2^64 ns (possible for resolutions coarser than 1 ns) is
    // clamped.
    unsigned base_two = if_tsresol & 0x80;
    unsigned exponent = if_tsresol & 0x7F;
    unsigned __int128 ns = static_cast<unsigned __int128>(units) * ns_per_second;
    if (base_two)
        ns = exponent >= 94 ? 0 : ns >> exponent;
    else
        ns = exponent > 38 ? 0 : ns / pow10_u128(exponent);  // 10^39 > 2^94 > the product
    constexpr uint64_t max_ns = std::numeric_limits<uint64_t>::max();
    return ns > max_ns ? max_ns : static_cast<uint64_t>(ns);
}

bool is_pcapng_file(const std::string& path) {
    std::ifstream file(path, std::ios::binary);
    uint32_t magic = 0;
    file.read(reinterpret_cast<char*>(&magic), 4);
    return file && magic == section_header_block;
}

bool rewrite_pcapng_as_pcap(const std::string& pcapng_path, const std::string& pcap_path,
                            std::string& error) {
    error.clear();
    std::ifstream in(pcapng_path, std::ios::binary | std::ios::ate);
    if (!in) {
        error = "cannot open " + pcapng_path;
        return false;
    }
    std::streamoff size = in.tellg();
    in.seekg(0);
    if (size < 0 || !in) {
        error = "cannot read " + pcapng_path;
        return false;
    }
    Rewriter rewriter(in, static_cast<uint64_t>(size), pcap_path);
    return rewriter.run(error);
}

}  // namespace rstscope
