// SPDX-License-Identifier: BSD-3-Clause
// pcapng per draft-ietf-opsawg-pcapng (sections 4.1 SHB, 4.2 IDB, 4.3 EPB, 3.5 options).
#include "rstscope/mgmt/pcapng.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <vector>

namespace rstscope::pcapng {
namespace {

constexpr uint32_t byte_order_magic = 0x1A2B3C4D;
constexpr uint16_t opt_endofopt = 0;
constexpr uint16_t opt_comment = 1;
constexpr uint16_t if_tsresol = 9;
constexpr std::string_view comment_prefix = "rstscope event ";

template <typename T>
void put(std::string& out, T value) {
    char bytes[sizeof(T)];
    std::memcpy(bytes, &value, sizeof(T));
    out.append(bytes, sizeof(T));
}

template <typename T>
T get(std::string_view bytes, size_t at) {
    T value;
    std::memcpy(&value, bytes.data() + at, sizeof(T));
    return value;
}

uint32_t padded(size_t n) {
    return static_cast<uint32_t>((n + 3) & ~size_t{3});
}

void pad(std::string& out) {
    out.append((4 - out.size() % 4) % 4, '\0');
}

// A block's total length goes first and last; written once its body is known.
void close_block(std::string& out, size_t start) {
    pad(out);
    uint32_t total = static_cast<uint32_t>(out.size() - start + 4);
    std::memcpy(out.data() + start + 4, &total, 4);
    put<uint32_t>(out, total);
}

}  // namespace

std::string event_comment(uint64_t event_id) {
    return std::string(comment_prefix) + std::to_string(event_id);
}

uint64_t event_of_comment(std::string_view comment) noexcept {
    if (comment.substr(0, comment_prefix.size()) != comment_prefix) return 0;
    comment.remove_prefix(comment_prefix.size());
    uint64_t id = 0;
    auto [end, ec] = std::from_chars(comment.data(), comment.data() + comment.size(), id);
    if (ec != std::errc() || end != comment.data() + comment.size()) return 0;
    return id;
}

void append_section_header(std::string& out) {
    size_t start = out.size();
    put<uint32_t>(out, section_header_type);
    put<uint32_t>(out, 0);
    put<uint32_t>(out, byte_order_magic);
    put<uint16_t>(out, 1);  // major
    put<uint16_t>(out, 0);  // minor
    put<int64_t>(out, -1);  // section length not given
    close_block(out, start);
}

void append_interface(std::string& out, uint16_t link, uint32_t snap) {
    size_t start = out.size();
    put<uint32_t>(out, interface_type);
    put<uint32_t>(out, 0);
    put<uint16_t>(out, link);
    put<uint16_t>(out, 0);
    put<uint32_t>(out, snap);
    put<uint16_t>(out, if_tsresol);
    put<uint16_t>(out, 1);
    out.push_back(9);  // 10^-9 s
    pad(out);
    put<uint16_t>(out, opt_endofopt);
    put<uint16_t>(out, 0);
    close_block(out, start);
}

void append_packet(std::string& out, uint32_t interface, uint64_t ts_ns, const uint8_t* data,
                   uint32_t captured, uint32_t length, std::string_view comment,
                   uint32_t comment_room) {
    size_t start = out.size();
    put<uint32_t>(out, enhanced_packet_type);
    put<uint32_t>(out, 0);
    put<uint32_t>(out, interface);
    put<uint32_t>(out, static_cast<uint32_t>(ts_ns >> 32));
    put<uint32_t>(out, static_cast<uint32_t>(ts_ns));
    put<uint32_t>(out, captured);
    put<uint32_t>(out, length);
    out.append(reinterpret_cast<const char*>(data), captured);
    pad(out);
    if (!comment.empty()) {
        put<uint16_t>(out, opt_comment);
        put<uint16_t>(out, static_cast<uint16_t>(comment.size()));
        out.append(comment);
        // Zeros read as opt_endofopt wherever the comment's padding ends.
        out.append(padded(std::max<size_t>(comment.size(), comment_room)) - comment.size(), '\0');
        put<uint16_t>(out, opt_endofopt);
        put<uint16_t>(out, 0);
    }
    close_block(out, start);
}

bool set_comments(std::string& blocks, std::string_view comment) {
    size_t at = 0;
    while (at < blocks.size()) {
        if (blocks.size() - at < 32) return false;
        uint32_t type = get<uint32_t>(blocks, at);
        uint32_t total = get<uint32_t>(blocks, at + 4);
        if (type != enhanced_packet_type || total < 32 || total > blocks.size() - at) return false;
        size_t option = at + 28 + padded(get<uint32_t>(blocks, at + 20));
        // The room: from the comment's text to the end-of-options and total length closing it.
        if (option + 4 > at + total - 8 || get<uint16_t>(blocks, option) != opt_comment)
            return false;
        size_t room = at + total - 8 - (option + 4);
        if (comment.size() > room) return false;
        uint16_t length = static_cast<uint16_t>(comment.size());
        std::memcpy(blocks.data() + option + 2, &length, 2);
        std::memcpy(blocks.data() + option + 4, comment.data(), comment.size());
        std::memset(blocks.data() + option + 4 + comment.size(), 0, room - comment.size());
        at += total;
    }
    return true;
}

bool read_packets(std::string_view bytes, const std::function<bool(const Packet&)>& on_packet) {
    std::vector<uint16_t> links;  // the current section's interfaces
    size_t at = 0;
    while (at < bytes.size()) {
        if (bytes.size() - at < 12) return false;
        uint32_t type = get<uint32_t>(bytes, at);
        uint32_t total = get<uint32_t>(bytes, at + 4);
        if (total < 12 || total % 4 != 0 || total > bytes.size() - at) return false;
        if (get<uint32_t>(bytes, at + total - 4) != total) return false;
        std::string_view body = bytes.substr(at + 8, total - 12);
        if (type == section_header_type) {
            if (body.size() < 16 || get<uint32_t>(body, 0) != byte_order_magic) return false;
            links.clear();
        } else if (type == interface_type) {
            if (body.size() < 8) return false;
            links.push_back(get<uint16_t>(body, 0));
        } else if (type == enhanced_packet_type) {
            if (body.size() < 20) return false;
            Packet p;
            uint32_t interface = get<uint32_t>(body, 0);
            if (interface >= links.size()) return false;
            p.link = links[interface];
            p.ts_ns = uint64_t{get<uint32_t>(body, 4)} << 32 | get<uint32_t>(body, 8);
            uint32_t captured = get<uint32_t>(body, 12);
            p.length = get<uint32_t>(body, 16);
            if (captured > body.size() - 20) return false;
            p.data = body.substr(20, captured);
            p.offset = at;
            // Options: code, length, value padded to 4.
            size_t o = 20 + padded(captured);
            while (o + 4 <= body.size()) {
                uint16_t code = get<uint16_t>(body, o);
                uint16_t length = get<uint16_t>(body, o + 2);
                if (code == opt_endofopt) break;
                if (length > body.size() - o - 4) return false;
                if (code == opt_comment) p.comment = body.substr(o + 4, length);
                o += 4 + padded(length);
            }
            if (!on_packet(p)) return true;
        }
        at += total;
    }
    return true;
}

void append_pcap_header(std::string& out, uint16_t link, uint32_t snap) {
    put<uint32_t>(out, 0xA1B23C4D);  // nanosecond times
    put<uint16_t>(out, 2);
    put<uint16_t>(out, 4);
    put<int32_t>(out, 0);
    put<uint32_t>(out, 0);
    put<uint32_t>(out, snap);
    put<uint32_t>(out, link);
}

void append_pcap_record(std::string& out, uint64_t ts_ns, std::string_view data, uint32_t length) {
    put<uint32_t>(out, static_cast<uint32_t>(ts_ns / 1'000'000'000ull));
    put<uint32_t>(out, static_cast<uint32_t>(ts_ns % 1'000'000'000ull));
    put<uint32_t>(out, static_cast<uint32_t>(data.size()));
    put<uint32_t>(out, length);
    out.append(data);
}

}  // namespace rstscope::pcapng
