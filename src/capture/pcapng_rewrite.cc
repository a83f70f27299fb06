#include "pcapng_rewrite.h"

#include <cstdint>
#include <cstring>
#include <fstream>
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
constexpr uint32_t max_block = 64u << 20;  // larger blocks are not packets: refuse the file
constexpr uint32_t max_snaplen = 262144;   // libpcap's own limit for a record

struct Interface {
    uint16_t link_type;
    uint32_t snaplen;
    // Timestamp units per second: 10^6 unless if_tsresol says otherwise.
    uint64_t units_per_second = 1'000'000;
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

uint64_t units_from_tsresol(uint8_t value) {
    uint64_t units = 1;
    uint8_t exponent = value & 0x7F;
    uint64_t base = (value & 0x80) ? 2 : 10;
    for (uint8_t i = 0; i < exponent && units < (1ull << 62) / base; ++i)
        units *= base;
    return units;
}

void put32(std::ofstream& out, uint32_t v) {
    out.write(reinterpret_cast<const char*>(&v), 4);
}

}  // namespace

bool is_pcapng_file(const std::string& path) {
    std::ifstream file(path, std::ios::binary);
    uint32_t magic = 0;
    file.read(reinterpret_cast<char*>(&magic), 4);
    return file && magic == section_header_block;
}

bool rewrite_pcapng_as_pcap(const std::string& pcapng_path, const std::string& pcap_path,
                            std::string& error) {
    std::ifstream in(pcapng_path, std::ios::binary);
    if (!in) {
        error = "cannot open " + pcapng_path;
        return false;
    }
    ByteOrder r;
    std::vector<Interface> interfaces;
    std::vector<uint8_t> block;
    std::ofstream out;  // opened at the first packet, written as packets come (streaming)
    uint16_t link_type = 0;
    for (uint64_t index = 0;; ++index) {
        uint8_t head[8];
        in.read(reinterpret_cast<char*>(head), 8);
        if (in.gcount() == 0) break;
        if (in.gcount() != 8) {
            error = fmt::format("pcapng block {} is truncated", index);
            return false;
        }
        uint32_t raw_type;
        std::memcpy(&raw_type, head, 4);
        if (raw_type == section_header_block) {
            uint8_t magic[4];
            in.read(reinterpret_cast<char*>(magic), 4);
            uint32_t bom;
            std::memcpy(&bom, magic, 4);
            if (bom == byte_order_magic)
                r.set_swap(false);
            else if (bom == __builtin_bswap32(byte_order_magic))
                r.set_swap(true);
            else {
                error = "not a pcapng file (bad byte-order magic)";
                return false;
            }
            interfaces.clear();  // interface numbers restart with every section
            in.seekg(-4, std::ios::cur);
        } else if (index == 0) {
            error = "not a pcapng file";
            return false;
        }
        uint32_t type = r.u32(head);
        uint32_t length = r.u32(head + 4);
        if (length < 12 || length % 4 != 0 || length > max_block) {
            error = fmt::format("pcapng block {} has an invalid length {}", index, length);
            return false;
        }
        block.resize(length - 8);
        in.read(reinterpret_cast<char*>(block.data()), static_cast<std::streamsize>(block.size()));
        if (static_cast<size_t>(in.gcount()) != block.size()) {
            error = fmt::format("pcapng block {} is truncated", index);
            return false;
        }
        const uint8_t* body = block.data();
        size_t body_length = block.size() - 4;  // the trailing length copy
        if (type == interface_description_block) {
            if (body_length < 8) {
                error = fmt::format("pcapng interface block {} is too short", index);
                return false;
            }
            Interface iface{r.u16(body), r.u32(body + 4)};
            for (size_t at = 8; at + 4 <= body_length;) {
                uint16_t code = r.u16(body + at), size = r.u16(body + at + 2);
                if (code == option_end || at + 4 + size > body_length) break;
                if (code == option_if_tsresol && size >= 1)
                    iface.units_per_second = units_from_tsresol(body[at + 4]);
                at += 4 + ((size + 3u) & ~3u);
            }
            interfaces.push_back(iface);
        } else if (type == enhanced_packet_block || type == simple_packet_block) {
            bool enhanced = type == enhanced_packet_block;
            size_t header = enhanced ? 20 : 4;
            if (body_length < header || interfaces.empty()) {
                error = fmt::format("pcapng packet block {} is malformed", index);
                return false;
            }
            uint32_t iface_id = enhanced ? r.u32(body) : 0;
            if (iface_id >= interfaces.size()) {
                error = fmt::format("pcapng packet block {} names unknown interface {}", index,
                                    iface_id);
                return false;
            }
            const Interface& iface = interfaces[iface_id];
            // Interfaces that carry no packet do not matter; those that do must share a link type.
            if (!out.is_open()) {
                link_type = iface.link_type;
                out.open(pcap_path, std::ios::binary | std::ios::trunc);
                put32(out, 0xA1B23C4D);  // nanosecond-resolution pcap
                uint16_t version[2] = {2, 4};
                out.write(reinterpret_cast<const char*>(version), 4);
                put32(out, 0);
                put32(out, 0);
                put32(out, max_snaplen);  // interfaces may differ: the largest libpcap accepts
                put32(out, link_type);
            } else if (iface.link_type != link_type) {
                error = fmt::format(
                    "pcapng packets come from interfaces of different link types "
                    "({} and {}): a pcap holds one; split the capture per interface",
                    link_type, iface.link_type);
                return false;
            }
            uint32_t captured =
                enhanced ? r.u32(body + 12) : static_cast<uint32_t>(body_length - 4);
            uint32_t original = enhanced ? r.u32(body + 16) : r.u32(body);
            if (captured > body_length - header || captured > max_snaplen) {
                error = fmt::format("pcapng packet block {} claims more data than it holds", index);
                return false;
            }
            uint64_t ts_ns = 0;
            if (enhanced) {
                uint64_t units = (uint64_t{r.u32(body + 4)} << 32) | r.u32(body + 8);
                uint64_t per_second = iface.units_per_second;
                ts_ns = units / per_second * 1'000'000'000ull +
                        (units % per_second) * 1'000'000'000ull / per_second;
            }
            put32(out, static_cast<uint32_t>(ts_ns / 1'000'000'000ull));
            put32(out, static_cast<uint32_t>(ts_ns % 1'000'000'000ull));
            put32(out, captured);
            put32(out, original);
            out.write(reinterpret_cast<const char*>(body + header), captured);
        }
    }
    if (!out.is_open()) {
        error = "pcapng file holds no packet";
        return false;
    }
    out.close();
    if (!out) {
        error = "cannot write " + pcap_path;
        return false;
    }
    return true;
}

}  // namespace rstscope
