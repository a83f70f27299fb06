// SPDX-License-Identifier: BSD-3-Clause
// Holds decode_frame()'s fast path to the general decoder: both run on the same frame, from
// packets prefilled with the same non-default values, and every field of DecodeResult and
// DecodedPacket (the ones a path leaves alone included) must agree. Used by the unit tests
// (test_packet_decoder.cc, test_decoder_fast_path.cc) and the decoder fuzz target; no GoogleTest
// here, so that the fuzz target can include it.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

#include "rstscope/decode/packet_decoder.h"

namespace rstscope::test {

// A packet whose every field holds a value no decoder writes by default; `variant` flips the
// booleans and shifts the numbers, so that a field one path writes and the other leaves alone
// differs whatever the path wrote.
inline DecodedPacket prefilled_packet(bool variant) {
    uint8_t k = variant ? 0x5A : 0xA5;
    DecodedPacket p;
    p.ts_ns = 0x1122334455667788ull + k;
    std::memset(p.src.bytes, k, 16);
    std::memset(p.dst.bytes, k ^ 0xFF, 16);
    p.src_port = static_cast<uint16_t>(0x1200 + k);
    p.dst_port = static_cast<uint16_t>(0x3400 + k);
    p.vlan_outer = static_cast<uint16_t>(0x0100 + k);
    p.vlan_inner = static_cast<uint16_t>(0x0200 + k);
    p.family = variant ? IpFamily::v6 : IpFamily::v4;
    p.ttl = k;
    p.tcp_flags = k;
    p.has_ip_id = variant;
    p.dont_fragment = !variant;
    p.tunnels = k;
    p.ip_id = static_cast<uint16_t>(0x5600 + k);
    p.seq = 0x9000u + k;
    p.ack = 0xA000u + k;
    p.window = static_cast<uint16_t>(0x7700 + k);
    p.payload_captured = static_cast<uint16_t>(0x0300 + k);
    p.payload_length = 0x40000u + k;
    p.payload = reinterpret_cast<const uint8_t*>(uintptr_t{0x1000} + k);
    p.options.mss = static_cast<uint16_t>(0x0400 + k);
    p.options.window_scale = k;
    p.options.sack_permitted = variant;
    p.options.has_timestamps = !variant;
    p.options.has_mptcp_reset = variant;
    p.options.mptcp_reset_reason = k;
    p.options.ts_value = 0xB000u + k;
    p.options.ts_echo = 0xC000u + k;
    p.options_malformed = !variant;
    p.encapsulation = k;
    p.tunnel_header_back = static_cast<uint16_t>(0x0500 + k);
    p.tunnel_id = 0xD000u + k;
    return p;
}

// The first field in which two decodings differ, or "" when they agree in every field.
inline std::string decoding_difference(const DecodeResult& ra, const DecodedPacket& a,
                                       const DecodeResult& rb, const DecodedPacket& b) {
#define RSTSCOPE_SAME(field) \
    if (!(a.field == b.field)) return #field;
    if (ra.is_tcp != rb.is_tcp) return "result.is_tcp";
    if (ra.reason != rb.reason) return "result.reason";
    if (ra.fragment_l2_length != rb.fragment_l2_length) return "result.fragment_l2_length";
    if (ra.fragment_l3_length != rb.fragment_l3_length) return "result.fragment_l3_length";
    RSTSCOPE_SAME(ts_ns)
    RSTSCOPE_SAME(src)
    RSTSCOPE_SAME(dst)
    RSTSCOPE_SAME(src_port)
    RSTSCOPE_SAME(dst_port)
    RSTSCOPE_SAME(vlan_outer)
    RSTSCOPE_SAME(vlan_inner)
    RSTSCOPE_SAME(family)
    RSTSCOPE_SAME(ttl)
    RSTSCOPE_SAME(tcp_flags)
    RSTSCOPE_SAME(has_ip_id)
    RSTSCOPE_SAME(dont_fragment)
    RSTSCOPE_SAME(tunnels)
    RSTSCOPE_SAME(ip_id)
    RSTSCOPE_SAME(seq)
    RSTSCOPE_SAME(ack)
    RSTSCOPE_SAME(window)
    RSTSCOPE_SAME(payload_captured)
    RSTSCOPE_SAME(payload_length)
    RSTSCOPE_SAME(payload)
    RSTSCOPE_SAME(options.mss)
    RSTSCOPE_SAME(options.window_scale)
    RSTSCOPE_SAME(options.sack_permitted)
    RSTSCOPE_SAME(options.has_timestamps)
    RSTSCOPE_SAME(options.has_mptcp_reset)
    RSTSCOPE_SAME(options.mptcp_reset_reason)
    RSTSCOPE_SAME(options.ts_value)
    RSTSCOPE_SAME(options.ts_echo)
    RSTSCOPE_SAME(options_malformed)
    RSTSCOPE_SAME(encapsulation)
    RSTSCOPE_SAME(tunnel_header_back)
    RSTSCOPE_SAME(tunnel_id)
#undef RSTSCOPE_SAME
    return "";
}

// Copies the fields a key-only decode fills (the flow key's and the flags) from `from` to `to`.
inline void copy_key_fields(const DecodedPacket& from, DecodedPacket& to) {
    to.family = from.family;
    to.src = from.src;
    to.dst = from.dst;
    to.src_port = from.src_port;
    to.dst_port = from.dst_port;
    to.vlan_outer = from.vlan_outer;
    to.vlan_inner = from.vlan_inner;
    to.tunnels = from.tunnels;
    to.tcp_flags = from.tcp_flags;
}

// What comparing the paths on one frame found.
struct PathComparison {
    std::string difference;  // "" when decode_frame() and decode_frame_general() agree
    bool fast = false;       // the fast path took the frame
};

// Runs decode_frame(), decode_frame_general(), the fast path alone, its key-only depth
// (decode_ethernet_tcp_key_fast) and decode_frame_key() on `length` bytes copied to a buffer of
// exactly that size (so that ASan sees any read past it), from prefilled packets of both variants.
// A frame the fast path refuses must leave its packet untouched.
inline PathComparison compare_decoder_paths(LinkType link, const uint8_t* data, uint32_t length) {
    PathComparison out;
    auto frame = std::make_unique<uint8_t[]>(length == 0 ? 1 : length);
    if (length != 0) std::memcpy(frame.get(), data, length);
    for (bool variant : {false, true}) {
        DecodedPacket general = prefilled_packet(variant);
        DecodedPacket combined = general;
        DecodedPacket fast = general;
        DecodeResult rg = decode_frame_general(link, frame.get(), length, general);
        DecodeResult rc = decode_frame(link, frame.get(), length, combined);
        std::string d = decoding_difference(rg, general, rc, combined);
        if (!d.empty()) {
            out.difference = "decode_frame differs from the general path in " + d;
            return out;
        }
        bool took =
            link == LinkType::ethernet && decode_ethernet_tcp_fast(frame.get(), length, fast);
        if (took) {
            d = decoding_difference(rg, general, DecodeResult{true, DropReason::not_ip}, fast);
            if (!d.empty()) {
                out.difference = "the fast path differs from the general path in " + d;
                return out;
            }
        } else {
            DecodedPacket untouched = prefilled_packet(variant);
            d = decoding_difference(rg, untouched, rg, fast);
            if (!d.empty()) {
                out.difference = "the fast path refused the frame but wrote " + d;
                return out;
            }
        }
        // The key-only depth takes the same frames and fills exactly the key's fields and the
        // flags, as the general path does; the rest of its packet stays as it was.
        DecodedPacket key_only = prefilled_packet(variant);
        bool took_key = link == LinkType::ethernet &&
                        decode_ethernet_tcp_key_fast(frame.get(), length, key_only);
        if (took_key != took) {
            out.difference = took ? "the key decode refused a frame the fast path took"
                                  : "the key decode took a frame the fast path refused";
            return out;
        }
        DecodedPacket expected = prefilled_packet(variant);
        if (took) copy_key_fields(general, expected);
        d = decoding_difference(rg, expected, rg, key_only);
        if (!d.empty()) {
            out.difference = "the key decode differs in " + d;
            return out;
        }
        // decode_frame_key, into a packet an earlier frame left behind: decode_frame's result and,
        // for a segment, its key and flags as a fresh packet gets them.
        DecodedPacket fresh;
        const DecodeResult rf = decode_frame(link, frame.get(), length, fresh);
        DecodedPacket reused = prefilled_packet(variant);
        const DecodeResult rk = decode_frame_key(link, frame.get(), length, reused);
        DecodedPacket want, got;  // the key's fields and the flags of a segment, nothing else
        if (rf.is_tcp) {
            copy_key_fields(fresh, want);
            copy_key_fields(reused, got);
        }
        d = decoding_difference(rf, want, rk, got);
        if (!d.empty()) {
            out.difference = "decode_frame_key differs from decode_frame in " + d;
            return out;
        }
        out.fast = took;
    }
    return out;
}

}  // namespace rstscope::test
