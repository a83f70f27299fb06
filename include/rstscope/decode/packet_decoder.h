// SPDX-License-Identifier: BSD-3-Clause
// Frame decoder: link layer → VLAN/QinQ, PBB, VN-Tag, FabricPath, LLC/SNAP, MPLS, PPPoE → tunnels
// (IP-in-IP, GRE with ERSPAN, Aruba 802.11 and PPTP's PPP, and over UDP: VXLAN, Geneve, Teredo,
// AYIYA, GTPv1-U, GRE-in-UDP) → IPv4/IPv6 (options, extension headers) → TCP (options). A segment
// found inside tunnels is decoded as its own packet: addresses, ports and TTL are the innermost
// ones; DecodedPacket records what carried it. docs/architecture.md lists the rules and limits.
//
// Hot path: noexcept, no allocation, no I/O. Every read is bounds-checked against the captured
// length; a frame that ends early or lies about its lengths yields a DropReason, never a read past
// the buffer. Checksums are not verified: mirror ports and captures from offloading hosts carry
// bad checksums on good traffic (Zeek's -C does the same).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "rstscope/common/counters.h"
#include "rstscope/decode/decoded_packet.h"

namespace rstscope {

// Link types the decoder reads, numbered as libpcap's LINKTYPE_* values in capture files.
enum class LinkType : uint16_t {
    null_bsd = 0,  // 4-byte address family in the capturing host's byte order
    ethernet = 1,
    ppp = 9,          // PPP (RFC 1661), with or without RFC 1662's address and control bytes
    fddi = 10,        // FDDI header, then 802.2 LLC/SNAP
    ppp_serial = 50,  // PPP in HDLC-like framing (RFC 1662)
    raw_ip = 101,     // no link header: IPv4 or IPv6 by version nibble
    ieee802_11 = 105,
    loop = 108,                 // OpenBSD loopback: 4-byte address family in network order
    linux_sll = 113,            // Linux "cooked" capture v1
    ieee802_11_radiotap = 127,  // radiotap header, then an 802.11 frame
    ipv4 = 228,
    ipv6 = 229,
    nflog = 239,       // Linux netfilter log: a header and TLVs, one of them the packet
    linux_sll2 = 276,  // Linux "cooked" capture v2
};

// Every link type decode_frame() reads, in one list for whatever must try them all (the
// robustness tests, the decoder fuzz target). The fuzz target and its seeds (tools/fuzz/seeds.py)
// pick a link type by its index here: append, never reorder.
inline constexpr LinkType decoded_link_types[] = {LinkType::ethernet,
                                                  LinkType::raw_ip,
                                                  LinkType::null_bsd,
                                                  LinkType::loop,
                                                  LinkType::linux_sll,
                                                  LinkType::linux_sll2,
                                                  LinkType::ipv4,
                                                  LinkType::ipv6,
                                                  LinkType::ppp,
                                                  LinkType::fddi,
                                                  LinkType::ppp_serial,
                                                  LinkType::ieee802_11,
                                                  LinkType::ieee802_11_radiotap,
                                                  LinkType::nflog};

// Maps a libpcap DLT_* value (as pcap_datalink() returns it) to a link type the decoder reads.
std::optional<LinkType> link_type_from_dlt(int dlt) noexcept;

struct DecodeResult {
    bool is_tcp = false;                     // true: `packet` holds a TCP segment
    DropReason reason = DropReason::not_ip;  // why not, when !is_tcp
    // reason == ip_fragment and fragment_l3_length != 0: a fragment reassembly can take (an
    // outermost IP fragment carrying TCP, whole in the buffer; IPv6: its fragment header right
    // after the fixed header). Its IP header starts fragment_l2_length bytes into the frame and
    // is fragment_l3_length bytes long (IPv6: with the fragment header), as rte_ip_frag's
    // mbuf->l2_len and l3_len want them. `packet` holds its addresses only.
    uint8_t fragment_l2_length = 0;
    uint16_t fragment_l3_length = 0;
};

// What a reassembler may do with a fragment, from its own lengths (offset and payload in bytes):
// take it, or drop it before it takes a table entry. A datagram longer than the IP length field
// can say (65535 bytes: IPv4 with its header, IPv6 as payload) is too large; an empty fragment,
// or one that is not the last and whose length is not a multiple of 8, is invalid (RFC 791,
// RFC 8200 4.5).
enum class FragmentCheck : uint8_t { take, too_large, invalid };
FragmentCheck check_fragment(IpFamily family, uint32_t header_length, uint32_t offset,
                             uint32_t payload_length, bool more_fragments) noexcept;

// Decodes one frame. `packet.ts_ns` is left for the caller to set. The common Ethernet frame
// (at most two VLAN tags, IPv4 without options or IPv6 without extension headers, TCP) takes a
// straight-line fast path; every other frame goes to decode_frame_general(). Both give the same
// result and fill the same fields, for every input (tests/unit/test_packet_decoder.cc and the
// decoder fuzz target compare them).
DecodeResult decode_frame(LinkType link, const uint8_t* frame, uint32_t captured_length,
                          DecodedPacket& packet) noexcept;

// The fast path alone: true when it took the frame (an Ethernet frame of the common shape, see
// src/decode/packet_decoder.cc for its checks) and filled `packet` as decode_frame_general() would;
// false, with `packet` untouched, for every other frame.
bool decode_ethernet_tcp_fast(const uint8_t* frame, uint32_t captured_length,
                              DecodedPacket& packet) noexcept;
// The fast path's checks, filling only what a flow key is made of (family, addresses, ports,
// VLAN ids; `tunnels` 0) and `tcp_flags`: for the capture probe's connection count, which
// decodes every frame once before the run and needs nothing else. True for exactly the frames
// decode_ethernet_tcp_fast() takes, those fields as it fills them; the rest of `packet` untouched.
bool decode_ethernet_tcp_key_fast(const uint8_t* frame, uint32_t captured_length,
                                  DecodedPacket& packet) noexcept;
// decode_frame() for the connection count: the same result, and when it is TCP the flow key's
// fields and `tcp_flags` as decode_frame() gives them. A frame the fast path takes gets only those
// (decode_ethernet_tcp_key_fast), so `packet` may be reused from frame to frame; any other is
// decoded whole by the general path, from a fresh packet.
DecodeResult decode_frame_key(LinkType link, const uint8_t* frame, uint32_t captured_length,
                              DecodedPacket& packet) noexcept;

// The general decoder, layer by layer: what decode_frame() gives, without its fast path. For the
// tests that hold the fast path to it; the datapath calls decode_frame().
DecodeResult decode_frame_general(LinkType link, const uint8_t* frame, uint32_t captured_length,
                                  DecodedPacket& packet) noexcept;

// Parses a TCP option list (RFC 9293 3.2, RFC 7323, RFC 2018, RFC 8684 MP_TCPRST). Returns false
// when the list is malformed; options read before the fault are kept. Linux's SYN layout is read
// at once, any other by walk_tcp_options.
bool parse_tcp_options(const uint8_t* options, uint32_t length, TcpOptions& out) noexcept;
// The same, one option after the other whatever the layout: what parse_tcp_options gives.
bool walk_tcp_options(const uint8_t* options, uint32_t length, TcpOptions& out) noexcept;

}  // namespace rstscope
