// SPDX-License-Identifier: BSD-3-Clause
// The flight recorder's file formats, pure (bytes in, bytes out, no I/O): pcapng blocks as the
// recorder writes them (a section header, one interface per link type, enhanced packet blocks
// with nanosecond times and the event id as a packet comment), a reader for the same blocks
// (rstscopectl pcap, tests), and classic pcap for the conversation `rstscopectl pcap` writes.
// Little-endian host order, as the pcapng specification allows (its byte-order magic says so).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace rstscope::pcapng {

inline constexpr uint32_t section_header_type = 0x0A0D0D0A;
inline constexpr uint32_t interface_type = 1;
inline constexpr uint32_t enhanced_packet_type = 6;

// The comment each packet of a reset event carries: "rstscope event ID".
std::string event_comment(uint64_t event_id);
// The id a comment names, 0 when it is not one of ours.
uint64_t event_of_comment(std::string_view comment) noexcept;

void append_section_header(std::string& out);
// An interface of pcap link type `link` with nanosecond timestamps (if_tsresol 9).
void append_interface(std::string& out, uint16_t link, uint32_t snap);
// `comment_room`: bytes reserved for the comment (at least its size), zero-filled past it, so that
// a longer comment can be written over it later (set_comment).
void append_packet(std::string& out, uint32_t interface, uint64_t ts_ns, const uint8_t* data,
                   uint32_t captured, uint32_t length, std::string_view comment,
                   uint32_t comment_room = 0);
// Rewrites the comment of every enhanced packet block in `blocks` (whole blocks written by
// append_packet with room for it); false when a block is malformed or lacks the room.
bool set_comments(std::string& blocks, std::string_view comment);

// One packet as read back.
struct Packet {
    uint16_t link = 0;
    uint64_t ts_ns = 0;
    uint32_t length = 0;
    std::string_view data;
    std::string_view comment;
    uint64_t offset = 0;  // of its block in the bytes read
};

// Walks the blocks of `bytes` (one or more sections), calling `on_packet` for each enhanced packet
// block; stops early when it returns false. Returns false on a malformed or truncated block (a
// file cut short by a full disk: the packets before it were still given).
bool read_packets(std::string_view bytes, const std::function<bool(const Packet&)>& on_packet);

// Classic pcap with nanosecond times (magic a1b23c4d): the file header and one record.
void append_pcap_header(std::string& out, uint16_t link, uint32_t snap = 262144);
void append_pcap_record(std::string& out, uint64_t ts_ns, std::string_view data, uint32_t length);

}  // namespace rstscope::pcapng
