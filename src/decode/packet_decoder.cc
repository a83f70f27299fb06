// SPDX-License-Identifier: BSD-3-Clause
// Hot path (see packet_decoder.h): noexcept, no allocation, every read bounds-checked.
#include "rstscope/decode/packet_decoder.h"

#include <algorithm>
#include <cstring>

#include "rstscope/common/tcp_flags.h"

namespace rstscope {
namespace {

constexpr uint16_t ethertype_ipv4 = 0x0800;
constexpr uint16_t ethertype_ipv6 = 0x86DD;
constexpr uint16_t ethertype_vlan = 0x8100;
constexpr uint16_t ethertype_qinq = 0x88A8;
constexpr uint16_t ethertype_qinq_old1 = 0x9100;  // pre-802.1ad vendor QinQ tags
constexpr uint16_t ethertype_qinq_old2 = 0x9200;
constexpr uint16_t ethertype_mpls_unicast = 0x8847;
constexpr uint16_t ethertype_mpls_multicast = 0x8848;
constexpr uint16_t ethertype_pppoe_session = 0x8864;
constexpr uint16_t ethertype_transparent_bridging = 0x6558;  // GRE carrying Ethernet (NVGRE too)
constexpr uint16_t ethertype_erspan_2 = 0x88BE;              // ERSPAN type I (no S bit) and II
constexpr uint16_t ethertype_erspan_3 = 0x22EB;
constexpr uint16_t ethertype_pbb = 0x88E7;         // IEEE 802.1ah backbone I-TAG
constexpr uint16_t ethertype_vntag = 0x8926;       // Cisco VN-Tag (802.1Qbh)
constexpr uint16_t ethertype_fabricpath = 0x8903;  // Cisco FabricPath outer header
constexpr uint16_t ethertype_ppp = 0x880B;         // enhanced GRE (PPTP) payload
constexpr uint16_t ethertype_max_length = 1500;    // below: an IEEE 802.3 length, LLC follows

// The tag protocol identifiers of 802.1Q, 802.1ad and the pre-802.1ad vendor QinQ tags.
inline bool is_vlan_tpid(uint16_t ethertype) noexcept {
    return ethertype == ethertype_vlan || ethertype == ethertype_qinq ||
           ethertype == ethertype_qinq_old1 || ethertype == ethertype_qinq_old2;
}

constexpr uint16_t ppp_ipv4 = 0x0021;
constexpr uint16_t ppp_ipv6 = 0x0057;
constexpr uint16_t ppp_mpls = 0x0281;

constexpr uint8_t ip_proto_ipip = 4;
constexpr uint8_t ip_proto_tcp = 6;
constexpr uint8_t ip_proto_udp = 17;
constexpr uint8_t ip_proto_ipv6 = 41;
constexpr uint8_t ip_proto_gre = 47;

// UDP ports Zeek's tunnel analyzers are registered for (its defaults).
constexpr uint16_t port_gtp_u = 2152;
constexpr uint16_t port_teredo = 3544;
constexpr uint16_t port_gre_in_udp = 4754;
constexpr uint16_t port_vxlan = 4789;
constexpr uint16_t port_ayiya = 5072;
constexpr uint16_t port_geneve = 6081;

// Nested tunnels followed before giving up; real deployments rarely exceed two (Zeek stops at two,
// Tunnel::max_depth; a mirror feed in ERSPAN or VXLAN already spends one).
constexpr int max_tunnel_depth = 4;
// Link-level headers that can repeat (PBB, VN-Tag, FabricPath, LLC/SNAP) walked per frame.
constexpr int max_link_headers = 8;
constexpr int max_vlan_tags = 4;
constexpr int max_mpls_labels = 12;
constexpr int max_ipv6_extensions = 8;

inline uint16_t be16(const uint8_t* p) noexcept {
    return static_cast<uint16_t>(p[0] << 8 | p[1]);
}
inline uint32_t be24(const uint8_t* p) noexcept {
    return static_cast<uint32_t>(p[0]) << 16 | static_cast<uint32_t>(p[1]) << 8 | p[2];
}
inline uint32_t be32(const uint8_t* p) noexcept {
    return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 |
           static_cast<uint32_t>(p[2]) << 8 | p[3];
}

enum class Layer { ethernet, ethertype, ip_by_version, ipv4, ipv6, mpls, ieee80211, ppp };

// The tunnel a UDP port belongs to, or none.
TunnelType udp_tunnel_at(uint16_t port) noexcept {
    switch (port) {
        case port_gtp_u:
            return TunnelType::gtp_u;
        case port_teredo:
            return TunnelType::teredo;
        case port_gre_in_udp:
            return TunnelType::gre_in_udp;
        case port_vxlan:
            return TunnelType::vxlan;
        case port_ayiya:
            return TunnelType::ayiya;
        case port_geneve:
            return TunnelType::geneve;
        default:
            return TunnelType::none;
    }
}

// RFC 4380 2.6: Teredo addresses are in 2001:0000::/32.
bool has_teredo_prefix(const uint8_t* address) noexcept {
    return address[0] == 0x20 && address[1] == 0x01 && address[2] == 0 && address[3] == 0;
}

// Zeek's content check for Teredo on other ports: an IPv6 header with a Teredo source or
// destination address, or a Teredo authentication or origin indication header first. The full
// parse (FrameDecoder::teredo_headers) then has to agree.
bool looks_like_teredo(const uint8_t* data, uint32_t left) noexcept {
    if (left < 40) return false;
    if ((data[0] >> 4) == 6) return has_teredo_prefix(data + 8) || has_teredo_prefix(data + 24);
    return data[0] == 0 && (data[1] == 0 || data[1] == 1);
}

// Decoding state: the unread rest of the frame, walked layer by layer.
struct Cursor {
    const uint8_t* data;
    uint32_t left;
    bool has(uint32_t n) const noexcept { return left >= n; }
    void skip(uint32_t n) noexcept {
        data += n;
        left -= n;
    }
};

DecodeResult dropped(DropReason reason) noexcept {
    return DecodeResult{false, reason};
}

class FrameDecoder {
  public:
    FrameDecoder(DecodedPacket& packet, const uint8_t* frame) noexcept
        : packet_(packet), frame_(frame) {}

    DecodeResult run(Layer first, Cursor cursor, uint16_t ethertype) noexcept {
        Layer layer = first;
        for (;;) {
            switch (layer) {
                case Layer::ethernet:
                    if (!cursor.has(14)) return dropped(DropReason::truncated_l2);
                    ethertype = be16(cursor.data + 12);
                    cursor.skip(14);
                    layer = Layer::ethertype;
                    break;
                case Layer::ethertype: {
                    auto next = after_ethertype(cursor, ethertype);
                    if (!next) return dropped(fault_);
                    layer = *next;
                    break;
                }
                case Layer::ip_by_version:
                    if (!cursor.has(1)) return dropped(DropReason::truncated_ip);
                    switch (cursor.data[0] >> 4) {
                        case 4:
                            layer = Layer::ipv4;
                            break;
                        case 6:
                            layer = Layer::ipv6;
                            break;
                        default:
                            return dropped(DropReason::bad_ip_version);
                    }
                    break;
                case Layer::ipv4:
                case Layer::ipv6: {
                    const uint8_t* ip_header = cursor.data;
                    uint8_t protocol = 0;
                    bool ok =
                        layer == Layer::ipv4 ? ipv4(cursor, protocol) : ipv6(cursor, protocol);
                    if (!ok) return fragment_ ? reassemblable(ip_header, frame_) : dropped(fault_);
                    if (protocol == ip_proto_tcp) return tcp(cursor);
                    auto next = on_copy(cursor, ethertype, [&](Cursor& rest, uint16_t& type) {
                        return after_ip(rest, protocol, type, ip_header);
                    });
                    if (!next) return dropped(fault_);
                    layer = *next;
                    break;
                }
                case Layer::mpls: {
                    auto next = mpls(cursor);
                    if (!next) return dropped(fault_);
                    layer = *next;
                    break;
                }
                case Layer::ieee80211:
                    if (!ieee80211(cursor, ethertype)) return dropped(fault_);
                    layer = Layer::ethertype;
                    break;
                case Layer::ppp: {
                    auto next = ppp(cursor);
                    if (!next) return dropped(fault_);
                    layer = *next;
                    break;
                }
            }
        }
    }

  private:
    // Runs a rarely taken step on copies of the cursor and EtherType. Handing their addresses to a
    // function the compiler does not inline made it keep both in memory on every frame's path
    // (about 20 more instructions per Ethernet/IPv4/TCP packet under callgrind); the copies keep
    // the common path in registers.
    template <class Step>
    std::optional<Layer> on_copy(Cursor& cursor, uint16_t& ethertype, Step step) noexcept {
        Cursor rest = cursor;
        uint16_t type = ethertype;
        std::optional<Layer> next = step(rest, type);
        cursor = rest;
        ethertype = type;
        return next;
    }

    std::optional<Layer> fail(DropReason reason) noexcept {
        fault_ = reason;
        return std::nullopt;
    }
    bool fail_bool(DropReason reason) noexcept {
        fault_ = reason;
        return false;
    }
    std::optional<uint32_t> fail_length(DropReason reason) noexcept {
        fault_ = reason;
        return std::nullopt;
    }

    std::optional<Layer> after_ethertype(Cursor& cursor, uint16_t& ethertype) noexcept {
        int tags = 0;
        while (is_vlan_tpid(ethertype)) {
            if (!cursor.has(4)) return fail(DropReason::truncated_l2);
            if (++tags > max_vlan_tags) return fail(DropReason::tunnel_too_deep);
            uint16_t vlan_id = be16(cursor.data) & 0x0FFF;
            // The outermost two tags name the segment (S-tag, C-tag); deeper ones are walked only.
            if (packet_.vlan_outer == vlan_none)
                packet_.vlan_outer = vlan_id;
            else if (packet_.vlan_inner == vlan_none)
                packet_.vlan_inner = vlan_id;
            packet_.encapsulation |= encapsulation_vlan;
            ethertype = be16(cursor.data + 2);
            cursor.skip(4);
        }
        switch (ethertype) {
            case ethertype_ipv4:
                return Layer::ipv4;
            case ethertype_ipv6:
                return Layer::ipv6;
            case ethertype_mpls_unicast:
            case ethertype_mpls_multicast:
                return Layer::mpls;
            case ethertype_pppoe_session: {
                // RFC 2516: 6-byte PPPoE header, then the 2-byte PPP protocol.
                if (!cursor.has(8)) return fail(DropReason::truncated_l2);
                uint16_t ppp_protocol = be16(cursor.data + 6);
                cursor.skip(8);
                return after_ppp(ppp_protocol);
            }
            case ethertype_pbb:
            case ethertype_vntag:
            case ethertype_fabricpath:
                return on_copy(cursor, ethertype, [this](Cursor& rest, uint16_t& type) {
                    return more_link_headers(rest, type);
                });
            default:
                if (ethertype <= ethertype_max_length) {
                    return on_copy(cursor, ethertype, [this](Cursor& rest, uint16_t& type) {
                        return llc_snap(rest, type);
                    });
                }
                return fail(DropReason::not_ip);
        }
    }

    // Link headers that wrap another link header; Zeek opens each of them.
    std::optional<Layer> more_link_headers(Cursor& cursor, uint16_t& ethertype) noexcept {
        if (++link_headers_ > max_link_headers) return fail(DropReason::tunnel_too_deep);
        switch (ethertype) {
            case ethertype_pbb:  // 802.1ah: a 4-byte I-TAG, then the customer's Ethernet header
                if (!cursor.has(4)) return fail(DropReason::truncated_l2);
                cursor.skip(4);
                return Layer::ethernet;
            case ethertype_vntag:  // a 4-byte tag, then the EtherType
                if (!cursor.has(6)) return fail(DropReason::truncated_l2);
                ethertype = be16(cursor.data + 4);
                cursor.skip(6);
                return Layer::ethertype;
            default:  // FabricPath: 2 more bytes (FTag, TTL), then the inner Ethernet header
                if (!cursor.has(2)) return fail(DropReason::truncated_l2);
                cursor.skip(2);
                return Layer::ethernet;
        }
    }

    // IEEE 802.2 LLC after an 802.3 length (or a Linux cooked header's LLC protocol): only SNAP
    // with OUI 0 (RFC 1042) carries an EtherType; STP, NetBIOS and IPX carry no IP.
    std::optional<Layer> llc_snap(Cursor& cursor, uint16_t& ethertype) noexcept {
        if (++link_headers_ > max_link_headers) return fail(DropReason::tunnel_too_deep);
        if (!cursor.has(3)) return fail(DropReason::truncated_l2);
        if (cursor.data[0] != 0xAA || cursor.data[1] != 0xAA) return fail(DropReason::not_ip);
        // An unnumbered control field is one byte, the others two.
        uint32_t llc = (cursor.data[2] & 0x03) == 0x03 ? 3 : 4;
        if (!cursor.has(llc + 5)) return fail(DropReason::truncated_l2);
        const uint8_t* snap = cursor.data + llc;
        if (snap[0] != 0 || snap[1] != 0 || snap[2] != 0) return fail(DropReason::not_ip);
        ethertype = be16(snap + 3);
        cursor.skip(llc + 5);
        return Layer::ethertype;
    }

    // PPP (RFC 1661), with or without RFC 1662's address and control bytes (FF 03): no PPP
    // protocol number starts with FF, so the two cannot be confused.
    std::optional<Layer> ppp(Cursor& cursor) noexcept {
        if (!cursor.has(2)) return fail(DropReason::truncated_l2);
        if (cursor.data[0] == 0xFF && cursor.data[1] == 0x03) {
            if (!cursor.has(4)) return fail(DropReason::truncated_l2);
            cursor.skip(2);
        }
        uint16_t protocol = be16(cursor.data);
        cursor.skip(2);
        return after_ppp(protocol);
    }

    std::optional<Layer> after_ppp(uint16_t protocol) noexcept {
        switch (protocol) {
            case ppp_ipv4:
                return Layer::ipv4;
            case ppp_ipv6:
                return Layer::ipv6;
            case ppp_mpls:
                return Layer::mpls;
            default:
                return fail(DropReason::not_ip);  // LCP, IPCP, CHAP, compressed data
        }
    }

    std::optional<Layer> mpls(Cursor& cursor) noexcept {
        packet_.encapsulation |= encapsulation_mpls;
        for (int labels = 0;; ++labels) {
            if (labels >= max_mpls_labels) return fail(DropReason::tunnel_too_deep);
            if (!cursor.has(4)) return fail(DropReason::truncated_l2);
            bool bottom_of_stack = cursor.data[2] & 0x01;
            cursor.skip(4);
            if (bottom_of_stack) break;
        }
        // RFC 4385: no protocol field follows the stack; the first nibble tells IP from a
        // pseudowire control word (0), after which an Ethernet frame follows (RFC 4448).
        if (!cursor.has(1)) return fail(DropReason::truncated_l2);
        switch (cursor.data[0] >> 4) {
            case 4:
                return Layer::ipv4;
            case 6:
                return Layer::ipv6;
            case 0:
                if (!cursor.has(4)) return fail(DropReason::truncated_l2);
                cursor.skip(4);
                return Layer::ethernet;
            default:
                return fail(DropReason::unsupported_tunnel);
        }
    }

    // RFC 791. Leaves the cursor on the IP payload, trimmed to the datagram's own length so that
    // Ethernet padding is never read as TCP payload.
    bool ipv4(Cursor& cursor, uint8_t& protocol) noexcept {
        if (!cursor.has(20)) return fail_bool(DropReason::truncated_ip);
        const uint8_t* h = cursor.data;
        if ((h[0] >> 4) != 4) return fail_bool(DropReason::bad_ip_version);
        uint32_t header_length = (h[0] & 0x0F) * 4u;
        uint32_t total_length = be16(h + 2);
        if (header_length < 20) return fail_bool(DropReason::bad_ipv4_header_length);
        // A zero total length is what a capture on a host doing TCP segmentation offload records:
        // take the captured length, as Wireshark does.
        if (total_length == 0) total_length = cursor.left;
        if (total_length < header_length) {
            return fail_bool(header_length > cursor.left ? DropReason::bad_ipv4_header_length
                                                         : DropReason::bad_ip_total_length);
        }
        if (!cursor.has(header_length)) return fail_bool(DropReason::truncated_ip);
        protocol = h[9];
        uint16_t fragment = be16(h + 6);
        bool more_fragments = fragment & 0x2000;
        set_addresses(IpFamily::v4, IpAddress::from_v4(h + 12), IpAddress::from_v4(h + 16), h[8]);
        if (more_fragments || (fragment & 0x1FFF) != 0) {
            // Reassembly takes TCP fragments of the outermost IP layer only (docs/architecture.md).
            if (protocol == ip_proto_tcp && tunnel_depth_ == 0)
                note_fragment(header_length, total_length, cursor.left);
            return fail_bool(DropReason::ip_fragment);
        }
        packet_.has_ip_id = true;
        packet_.ip_id = be16(h + 4);
        packet_.dont_fragment = fragment & 0x4000;
        enter_payload(cursor, header_length, total_length - header_length);
        return true;
    }

    // RFC 8200 section 4: walks the extension header chain to the upper-layer header.
    bool ipv6(Cursor& cursor, uint8_t& protocol) noexcept {
        if (!cursor.has(40)) return fail_bool(DropReason::truncated_ip);
        const uint8_t* h = cursor.data;
        if ((h[0] >> 4) != 6) return fail_bool(DropReason::bad_ip_version);
        uint32_t payload_length = be16(h + 4);
        if (payload_length == 0) payload_length = cursor.left - 40;  // jumbogram or TSO capture
        set_addresses(IpFamily::v6, IpAddress::from_v6(h + 8), IpAddress::from_v6(h + 24), h[7]);
        packet_.has_ip_id = false;
        packet_.dont_fragment = false;
        uint8_t next = h[6];
        enter_payload(cursor, 40, payload_length);
        for (int n = 0;; ++n) {
            uint32_t length = 0;
            switch (next) {
                case 0:    // hop-by-hop options
                case 43:   // routing
                case 60:   // destination options
                case 135:  // mobility
                case 139:  // HIP
                case 140:  // shim6
                    if (!cursor.has(2)) return fail_bool(DropReason::truncated_ip);
                    length = (cursor.data[1] + 1u) * 8u;
                    break;
                case 51:  // authentication header: length in 4-octet units (RFC 4302)
                    if (!cursor.has(2)) return fail_bool(DropReason::truncated_ip);
                    length = (cursor.data[1] + 2u) * 4u;
                    break;
                case 44: {  // fragment
                    if (!cursor.has(8)) return fail_bool(DropReason::truncated_ip);
                    uint16_t offset_flags = be16(cursor.data + 2);
                    // An atomic fragment (offset 0, M clear, RFC 6946) is a whole packet.
                    if ((offset_flags & 0xFFF9) != 0) {
                        // rte_ip_frag takes a fragment header right after the fixed one only.
                        if (n == 0 && cursor.data[0] == ip_proto_tcp && tunnel_depth_ == 0)
                            note_fragment(48, 40 + payload_left_, cursor.left + 40);
                        return fail_bool(DropReason::ip_fragment);
                    }
                    length = 8;
                    break;
                }
                default:
                    protocol = next;
                    return true;
            }
            if (n >= max_ipv6_extensions) return fail_bool(DropReason::bad_ipv6_extension);
            if (length > payload_left_) return fail_bool(DropReason::bad_ipv6_extension);
            if (!cursor.has(length)) return fail_bool(DropReason::truncated_ip);
            next = cursor.data[0];
            cursor.skip(length);
            payload_left_ -= length;
        }
    }

    // The fragment whose IP header ends at the cursor + header_length (IPv6: whose fragment
    // header starts at the cursor) can be reassembled if the whole datagram piece is in the
    // buffer: `ip_length` is its length from the IP header on, `left` what the buffer holds of it.
    void note_fragment(uint32_t header_length, uint32_t ip_length, uint32_t left) noexcept {
        if (ip_length > left) return;  // cut by the snap length
        fragment_ = true;
        fragment_l3_length_ = static_cast<uint16_t>(header_length);
    }

    // rte_ip_frag keeps the link header's length in 7 bits of the mbuf.
    DecodeResult reassemblable(const uint8_t* ip_header, const uint8_t* frame) const noexcept {
        auto l2 = static_cast<uint64_t>(ip_header - frame);
        DecodeResult r = dropped(DropReason::ip_fragment);
        if (l2 > 127) return r;
        r.fragment_l2_length = static_cast<uint8_t>(l2);
        r.fragment_l3_length = fragment_l3_length_;
        return r;
    }

    void set_addresses(IpFamily family, const IpAddress& src, const IpAddress& dst, uint8_t ttl) {
        packet_.family = family;
        packet_.src = src;
        packet_.dst = dst;
        packet_.ttl = ttl;
    }

    // Moves past an IP header; `payload_left_` holds what the IP lengths say follows.
    void enter_payload(Cursor& cursor, uint32_t header_length, uint32_t payload_length) noexcept {
        cursor.skip(header_length);
        payload_left_ = payload_length;
        if (cursor.left > payload_length) cursor.left = payload_length;  // link padding
    }

    // `ip_header` is the header just read: the outer header of a tunnel found in its payload.
    std::optional<Layer> after_ip(Cursor& cursor, uint8_t protocol, uint16_t& ethertype,
                                  const uint8_t* ip_header) noexcept {
        switch (protocol) {
            case ip_proto_ipip:
            case ip_proto_ipv6:
                if (!enter_tunnel(TunnelType::ip_in_ip, ip_header)) return std::nullopt;
                return protocol == ip_proto_ipip ? Layer::ipv4 : Layer::ipv6;
            case ip_proto_gre:
                return gre(cursor, ethertype, false, ip_header);
            case ip_proto_udp:
                return udp(cursor, ethertype, ip_header);
            default:
                return fail(DropReason::not_tcp);
        }
    }

    // Counts one more tunnel and records it as the innermost (and, if first, the outermost), with
    // its outer IP header.
    bool enter_tunnel(TunnelType type, const uint8_t* ip_header) noexcept {
        packet_.encapsulation |= encapsulation_tunnel;
        if (++tunnel_depth_ > max_tunnel_depth) return fail_bool(DropReason::tunnel_too_deep);
        // The inner packet's VLAN tags, if any, belong to another segment: keep the outer ones.
        auto code = static_cast<uint8_t>(type);
        uint8_t outermost = tunnel_depth_ == 1 ? static_cast<uint8_t>(code << 4)
                                               : static_cast<uint8_t>(packet_.tunnels & 0xF0);
        packet_.tunnels = static_cast<uint8_t>(outermost | code);
        packet_.tunnel_id = 0;
        tunnel_header_ = ip_header;
        return true;
    }

    // GRE version 0 (RFC 2784/2890) with ERSPAN types I-III and Aruba's 802.11 payload, and
    // enhanced GRE version 1 (RFC 2637, PPTP). Like Zeek: the checksum, key, sequence and
    // acknowledgement fields are skipped by their flags; routing (RFC 1701, deprecated) and the
    // reserved flags are refused.
    std::optional<Layer> gre(Cursor& cursor, uint16_t& ethertype, bool in_udp,
                             const uint8_t* ip_header) noexcept {
        if (!cursor.has(4)) return fail(DropReason::truncated_l2);
        uint16_t flags = be16(cursor.data);
        uint16_t protocol = be16(cursor.data + 2);
        unsigned version = flags & 0x0007;
        if (version > 1) return fail(DropReason::unsupported_tunnel);
        if (flags & 0x4078) return fail(DropReason::bad_tunnel_header);
        bool has_checksum = flags & 0x8000, has_key = flags & 0x2000;
        bool has_sequence = flags & 0x1000, has_ack = flags & 0x0080;
        uint32_t length = 4 + (has_checksum ? 4 : 0) + (has_key ? 4 : 0) + (has_sequence ? 4 : 0) +
                          (has_ack ? 4 : 0);
        if (!cursor.has(length)) return fail(DropReason::truncated_l2);
        uint32_t key = has_key ? be32(cursor.data + (has_checksum ? 8 : 4)) : 0;
        cursor.skip(length);
        TunnelType type = TunnelType::gre;
        std::optional<Layer> next;
        if (version == 1) {
            // Enhanced GRE carries PPP only; its key field holds the payload length and call ID.
            if (protocol != ethertype_ppp) return fail(DropReason::bad_tunnel_header);
            type = TunnelType::pptp;
            key &= 0xFFFF;
            next = Layer::ppp;
        } else {
            next = gre_payload(cursor, protocol, has_sequence, ethertype);
            if (!next) return std::nullopt;
            if (protocol == ethertype_erspan_2 || protocol == ethertype_erspan_3)
                type = TunnelType::erspan;
        }
        if (!enter_tunnel(in_udp ? TunnelType::gre_in_udp : type, ip_header)) return std::nullopt;
        packet_.tunnel_id = key;
        return next;
    }

    std::optional<Layer> gre_payload(Cursor& cursor, uint16_t protocol, bool has_sequence,
                                     uint16_t& ethertype) noexcept {
        switch (protocol) {
            case ethertype_ipv4:
                return Layer::ipv4;
            case ethertype_ipv6:
                return Layer::ipv6;
            case ethertype_mpls_unicast:
                return Layer::mpls;
            case ethertype_transparent_bridging:
                return Layer::ethernet;
            case ethertype_erspan_2:
                // Type I has no sequence number and no ERSPAN header; type II has an 8-byte one.
                if (has_sequence) {
                    if (!cursor.has(8)) return fail(DropReason::truncated_l2);
                    cursor.skip(8);
                }
                return Layer::ethernet;
            case ethertype_erspan_3: {
                // 12-byte header; the O bit (last byte, bit 0) adds an 8-byte platform subheader.
                if (!cursor.has(12)) return fail(DropReason::truncated_l2);
                uint32_t header = (cursor.data[11] & 0x01) ? 20 : 12;
                if (!cursor.has(header)) return fail(DropReason::truncated_l2);
                cursor.skip(header);
                return Layer::ethernet;
            }
            default:
                // Aruba's protocol types for 802.11 payloads, as Zeek recognises them.
                if (((protocol & 0x8200) == 0x8200 && (protocol & 0x0F) == 0) ||
                    ((protocol & 0x8300) == 0x8300 && (protocol & 0x0F) == 0 &&
                     protocol <= 0x8370) ||
                    protocol == 0x9000) {
                    ethertype = 0;
                    return Layer::ieee80211;
                }
                return fail(DropReason::unsupported_tunnel);
        }
    }

    // A UDP datagram is a tunnel when a port is one of the tunnels' (Zeek looks at the
    // responder's port, which a stateless decoder cannot know: the destination port is tried
    // first, then the source port), or, on any port, when it is Teredo by content.
    std::optional<Layer> udp(Cursor& cursor, uint16_t& ethertype,
                             const uint8_t* ip_header) noexcept {
        if (!cursor.has(8)) return fail(DropReason::not_tcp);
        TunnelType type = udp_tunnel_at(be16(cursor.data + 2));
        if (type == TunnelType::none) type = udp_tunnel_at(be16(cursor.data));
        // The UDP payload on the wire, from the IP lengths (Zeek's choice too, not the UDP
        // length field); the cursor stops at what was captured.
        uint32_t wire_length = payload_left_ - 8;
        cursor.skip(8);
        if (type == TunnelType::none) {
            if (!looks_like_teredo(cursor.data, cursor.left) ||
                !teredo_headers(cursor, wire_length))
                return fail(DropReason::not_tcp);
            type = TunnelType::teredo;
        }
        if (type == TunnelType::gre_in_udp) return gre(cursor, ethertype, true, ip_header);
        if (!enter_tunnel(type, ip_header)) return std::nullopt;
        switch (type) {
            case TunnelType::vxlan:
                return vxlan(cursor);
            case TunnelType::geneve:
                return geneve(cursor, ethertype);
            case TunnelType::teredo: {
                auto skip = teredo_headers(cursor, wire_length);
                if (!skip) return std::nullopt;
                cursor.skip(*skip);
                return Layer::ipv6;
            }
            case TunnelType::ayiya:
                return ayiya(cursor);
            default:
                return gtp_u(cursor);
        }
    }

    // RFC 7348 5: an 8-byte header whose I flag says the VNI is valid, then an Ethernet frame.
    std::optional<Layer> vxlan(Cursor& cursor) noexcept {
        if (!cursor.has(8)) return fail(DropReason::truncated_l2);
        if (!(cursor.data[0] & 0x08)) return fail(DropReason::bad_tunnel_header);
        packet_.tunnel_id = be24(cursor.data + 4);
        cursor.skip(8);
        return Layer::ethernet;
    }

    // RFC 8926 3.4: version 0, options in 4-byte words, then a protocol type that is an EtherType
    // (0x6558: an Ethernet frame).
    std::optional<Layer> geneve(Cursor& cursor, uint16_t& ethertype) noexcept {
        if (!cursor.has(8)) return fail(DropReason::truncated_l2);
        if ((cursor.data[0] >> 6) != 0) return fail(DropReason::bad_tunnel_header);
        uint32_t header = 8 + (cursor.data[0] & 0x3Fu) * 4;
        if (!cursor.has(header)) return fail(DropReason::truncated_l2);
        ethertype = be16(cursor.data + 2);
        packet_.tunnel_id = be24(cursor.data + 4);
        cursor.skip(header);
        return ethertype == ethertype_transparent_bridging ? Layer::ethernet : Layer::ethertype;
    }

    // RFC 4380 5.1.1: an optional authentication header, an optional origin indication, then the
    // IPv6 packet, whose lengths must account for the whole datagram as Zeek requires (a bubble,
    // which carries no next header, may be followed by more). Returns the bytes before the IPv6
    // header. Lengths are checked against the wire, so a capture's snap length does not turn
    // Teredo into something else.
    std::optional<uint32_t> teredo_headers(const Cursor& cursor, uint32_t wire_length) noexcept {
        const uint8_t* d = cursor.data;
        uint32_t at = 0;
        if (cursor.has(2) && d[0] == 0 && d[1] == 1) {
            // Client identifier and authenticator lengths, then a nonce (8) and confirmation (1).
            if (!cursor.has(4)) return fail_length(DropReason::truncated_l2);
            at = 4u + d[2] + d[3] + 9u;
        }
        if (cursor.has(at + 2) && d[at] == 0 && d[at + 1] == 0) at += 8;  // origin indication
        if (!cursor.has(at + 40)) return fail_length(DropReason::truncated_l2);
        const uint8_t* ipv6 = d + at;
        if ((ipv6[0] >> 4) != 6) return fail_length(DropReason::bad_tunnel_header);
        uint32_t ipv6_length = 40u + be16(ipv6 + 4);
        bool bubble = ipv6_length == 40 && ipv6[6] == 59;  // no next header
        if (at + ipv6_length != wire_length && !(bubble && at + 40 <= wire_length))
            return fail_length(DropReason::bad_tunnel_header);
        return at;
    }

    // AYIYA: identity length (a power of two) and signature length (4-byte words) in the first two
    // bytes' high nibbles, the opcode in byte 2 (1: forward a packet), the carried IP protocol in
    // byte 3, then an epoch (4 bytes), the identity and the signature.
    std::optional<Layer> ayiya(Cursor& cursor) noexcept {
        if (!cursor.has(8)) return fail(DropReason::truncated_l2);
        const uint8_t* d = cursor.data;
        uint32_t header = 8 + (1u << (d[0] >> 4)) + (d[1] >> 4) * 4u;
        if (!cursor.has(header)) return fail(DropReason::truncated_l2);
        if ((d[2] & 0x0F) != 1) return fail(DropReason::tunnel_control);
        uint8_t next = d[3];
        cursor.skip(header);
        if (next == ip_proto_ipip) return Layer::ipv4;
        if (next == ip_proto_ipv6) return Layer::ipv6;
        return fail(DropReason::unsupported_tunnel);
    }

    // 3GPP TS 29.281 5: version 1 and protocol type GTP (not GTP'); message type 255 (G-PDU)
    // carries a user packet, the others are signalling. The sequence/N-PDU/next-extension word is
    // present when any of E, S or PN is set; extension headers chain through their last byte.
    std::optional<Layer> gtp_u(Cursor& cursor) noexcept {
        if (!cursor.has(8)) return fail(DropReason::truncated_l2);
        const uint8_t* d = cursor.data;
        uint8_t flags = d[0];
        if ((flags >> 5) != 1 || !(flags & 0x10)) return fail(DropReason::bad_tunnel_header);
        if (d[1] != 0xFF) return fail(DropReason::tunnel_control);
        packet_.tunnel_id = be32(d + 4);
        uint32_t header = 8;
        if (flags & 0x07) {
            if (!cursor.has(12)) return fail(DropReason::truncated_l2);
            header = 12;
            uint8_t next_extension = (flags & 0x04) ? d[11] : 0;
            // Each extension is at least 4 bytes, so the frame's length bounds this walk.
            while (next_extension != 0) {
                if (!cursor.has(header + 1)) return fail(DropReason::truncated_l2);
                uint32_t length = d[header] * 4u;  // in 4-byte words, including this byte
                if (length == 0) return fail(DropReason::bad_tunnel_header);
                if (!cursor.has(header + length)) return fail(DropReason::truncated_l2);
                next_extension = d[header + length - 1];
                header += length;
            }
        }
        cursor.skip(header);
        return Layer::ip_by_version;
    }

    // IEEE 802.11 data frame followed by LLC/SNAP: yields the SNAP ethertype.
    bool ieee80211(Cursor& cursor, uint16_t& ethertype) noexcept {
        if (!cursor.has(24)) return fail_bool(DropReason::truncated_l2);
        uint8_t frame_control = cursor.data[0];
        uint8_t frame_flags = cursor.data[1];
        uint8_t type = (frame_control >> 2) & 0x03;
        uint8_t subtype = frame_control >> 4;
        if (type != 2 || (subtype & 0x04)) return fail_bool(DropReason::not_ip);  // not data / null
        uint32_t header = 24;
        if ((frame_flags & 0x03) == 0x03) header += 6;  // ToDS and FromDS: fourth address
        bool aggregate = false;
        if (subtype & 0x08) {
            // QoS control; its first byte's top bit marks an A-MSDU (several packets in one frame).
            if (!cursor.has(header + 1)) return fail_bool(DropReason::truncated_l2);
            aggregate = cursor.data[header] & 0x80;
            header += 2;
            if (frame_flags & 0x80) header += 4;  // +HTC when the order bit is set
        }
        if (frame_flags & 0x40) return fail_bool(DropReason::unsupported_tunnel);  // encrypted
        // The decoder yields one packet per frame: an aggregate is counted, not half-analysed.
        if (aggregate) return fail_bool(DropReason::unsupported_tunnel);
        if (!cursor.has(header + 8)) return fail_bool(DropReason::truncated_l2);
        const uint8_t* llc = cursor.data + header;
        if (llc[0] != 0xAA || llc[1] != 0xAA || llc[2] != 0x03)
            return fail_bool(DropReason::not_ip);
        ethertype = be16(llc + 6);
        cursor.skip(header + 8);
        return true;
    }

    DecodeResult tcp(Cursor& cursor) noexcept {
        if (!cursor.has(20)) {
            return dropped(payload_left_ < 20 ? DropReason::bad_ip_total_length
                                              : DropReason::truncated_tcp);
        }
        const uint8_t* h = cursor.data;
        uint32_t header_length = (h[12] >> 4) * 4u;
        if (header_length < 20 || header_length > payload_left_)
            return dropped(DropReason::bad_tcp_data_offset);
        if (!cursor.has(header_length)) return dropped(DropReason::truncated_tcp);
        packet_.src_port = be16(h);
        packet_.dst_port = be16(h + 2);
        packet_.seq = be32(h + 4);
        packet_.ack = be32(h + 8);
        packet_.tcp_flags = h[13];
        packet_.window = be16(h + 14);
        packet_.options = TcpOptions{};
        // Only SYNs (MSS, window scale, SACK) and RSTs (MP_TCPRST) carry options the analysis
        // uses; skipping the rest (mostly timestamps) saves ~70 instructions a segment.
        packet_.options_malformed = (packet_.tcp_flags & (tcp_flag::syn | tcp_flag::rst)) &&
                                    !parse_tcp_options(h + 20, header_length - 20, packet_.options);
        cursor.skip(header_length);
        packet_.payload_length = payload_left_ - header_length;
        packet_.payload_captured = static_cast<uint16_t>(
            cursor.left < packet_.payload_length ? cursor.left : packet_.payload_length);
        packet_.payload = cursor.data;
        if (tunnel_header_ != nullptr) {
            auto back = static_cast<uint64_t>(cursor.data - tunnel_header_);
            packet_.tunnel_header_back = back <= 0xFFFF ? static_cast<uint16_t>(back) : 0;
        }
        return DecodeResult{true, DropReason::not_ip};
    }

    DecodedPacket& packet_;
    const uint8_t* frame_;
    bool fragment_ = false;
    uint16_t fragment_l3_length_ = 0;
    DropReason fault_ = DropReason::not_ip;
    uint32_t payload_left_ = 0;
    int tunnel_depth_ = 0;
    int link_headers_ = 0;
    const uint8_t* tunnel_header_ = nullptr;  // the innermost tunnel's outer IP header
};

// LINKTYPE_NFLOG: address family, version 0, resource ID, then TLVs whose length and type are in
// the capturing host's byte order (libpcap swaps them when the file's order is not ours), padded
// to 4 bytes; type 9 (NFULA_PAYLOAD) is the packet.
DecodeResult decode_nflog(Cursor cursor, DecodedPacket& packet, const uint8_t* frame) noexcept {
    constexpr uint16_t nflog_payload = 9;
    if (!cursor.has(4)) return dropped(DropReason::truncated_l2);
    uint8_t family = cursor.data[0];
    if (cursor.data[1] != 0) return dropped(DropReason::bad_tunnel_header);
    cursor.skip(4);
    for (;;) {
        if (cursor.left == 0) return dropped(DropReason::not_ip);  // a record without the packet
        if (!cursor.has(4)) return dropped(DropReason::truncated_l2);
        uint16_t length, type;
        std::memcpy(&length, cursor.data, 2);
        std::memcpy(&type, cursor.data + 2, 2);
        if (type == nflog_payload) {
            cursor.skip(4);
            break;
        }
        if (length < 4) return dropped(DropReason::bad_tunnel_header);
        uint32_t padded = (length + 3u) & ~3u;
        if (!cursor.has(padded)) return dropped(DropReason::truncated_l2);
        cursor.skip(padded);
    }
    // AF_INET and AF_INET6 as Linux numbers them.
    if (family != 2 && family != 10) return dropped(DropReason::not_ip);
    return FrameDecoder(packet, frame).run(Layer::ip_by_version, cursor, 0);
}

// FDDI: frame control and two addresses (13 bytes), then 802.2 LLC/SNAP carrying an EtherType.
DecodeResult decode_fddi(Cursor cursor, DecodedPacket& packet, const uint8_t* frame) noexcept {
    if (!cursor.has(21)) return dropped(DropReason::truncated_l2);
    const uint8_t* llc = cursor.data + 13;
    if (llc[0] != 0xAA || llc[1] != 0xAA || llc[2] != 0x03) return dropped(DropReason::not_ip);
    uint16_t ethertype = be16(llc + 6);
    cursor.skip(21);
    return FrameDecoder(packet, frame).run(Layer::ethertype, cursor, ethertype);
}

// Radiotap: version, pad, then the header's own length (little-endian), then an 802.11 frame.
DecodeResult decode_radiotap(Cursor cursor, DecodedPacket& packet, const uint8_t* frame) noexcept {
    if (!cursor.has(4)) return dropped(DropReason::truncated_l2);
    uint32_t length = cursor.data[2] | static_cast<uint32_t>(cursor.data[3]) << 8;
    if (length < 8) return dropped(DropReason::bad_tunnel_header);
    if (!cursor.has(length)) return dropped(DropReason::truncated_l2);
    cursor.skip(length);
    return FrameDecoder(packet, frame).run(Layer::ieee80211, cursor, 0);
}

// Past an IP header of `ip_header_length` bytes: the TCP header (`tcp`), what is present of the
// IP payload (`left`: on entry, what is captured from the IP header on; then trimmed to the IP
// lengths, dropping link padding, as enter_payload() does) and the TCP header's length. True when
// the general path's tcp() would take the segment: 20 bytes present, data offset >= 5, the header
// within the IP length and present.
inline bool find_fast_tcp(const uint8_t* ip, uint32_t ip_header_length, uint32_t payload_left,
                          const uint8_t*& tcp, uint32_t& left, uint32_t& header_length) noexcept {
    tcp = ip + ip_header_length;
    left = std::min(left - ip_header_length, payload_left);
    if (left < 20) return false;
    header_length = (tcp[12] >> 4) * 4u;
    // header_length <= left also gives header_length <= payload_left, as tcp() checks.
    return header_length >= 20 && header_length <= left;
}

}  // namespace

std::optional<LinkType> link_type_from_dlt(int dlt) noexcept {
    switch (dlt) {
        case 0:
            return LinkType::null_bsd;
        case 1:
            return LinkType::ethernet;
        case 12:   // DLT_RAW on most platforms
        case 14:   // DLT_RAW on OpenBSD
        case 101:  // LINKTYPE_RAW as stored in files
            return LinkType::raw_ip;
        case 9:
            return LinkType::ppp;
        case 10:
            return LinkType::fddi;
        case 50:
            return LinkType::ppp_serial;
        case 105:
            return LinkType::ieee802_11;
        case 108:
            return LinkType::loop;
        case 113:
            return LinkType::linux_sll;
        case 127:
            return LinkType::ieee802_11_radiotap;
        case 228:
            return LinkType::ipv4;
        case 229:
            return LinkType::ipv6;
        case 239:
            return LinkType::nflog;
        case 276:
            return LinkType::linux_sll2;
        default:
            return std::nullopt;
    }
}

FragmentCheck check_fragment(IpFamily family, uint32_t header_length, uint32_t offset,
                             uint32_t payload_length, bool more_fragments) noexcept {
    if (payload_length == 0 || (more_fragments && payload_length % 8 != 0))
        return FragmentCheck::invalid;
    // IPv4's total length counts its header; IPv6's payload length counts the extension headers
    // before the fragmentable part (here: none but the fragment header, which reassembly drops).
    uint64_t end = uint64_t{offset} + payload_length;
    if (family == IpFamily::v4) end += header_length;
    return end > 65535 ? FragmentCheck::too_large : FragmentCheck::take;
}

bool parse_tcp_options(const uint8_t* options, uint32_t length, TcpOptions& out) noexcept {
    // Linux's SYN and SYN-ACK, when both ends offer timestamps and SACK, carry MSS, SACK
    // permitted, timestamps, NOP and window scale in this order (tcp_options_write): read at once
    // with three compares, where walking them took some 150 instructions. What the walk makes of
    // these 20 bytes exactly (a unit test compares the two).
    if (length == 20 && std::memcmp(options, "\x02\x04", 2) == 0 &&
        std::memcmp(options + 4, "\x04\x02\x08\x0a", 4) == 0 &&
        std::memcmp(options + 16, "\x01\x03\x03", 3) == 0) {
        out.mss = be16(options + 2);
        out.sack_permitted = true;
        out.has_timestamps = true;
        out.ts_value = be32(options + 8);
        out.ts_echo = be32(options + 12);
        out.window_scale = options[19] > 14 ? 14 : options[19];  // RFC 7323 2.3, as the walk
        return true;
    }
    return walk_tcp_options(options, length, out);
}

bool walk_tcp_options(const uint8_t* options, uint32_t length, TcpOptions& out) noexcept {
    uint32_t i = 0;
    while (i < length) {
        uint8_t kind = options[i];
        if (kind == 0) return true;  // end of option list
        if (kind == 1) {             // no-operation
            ++i;
            continue;
        }
        if (i + 1 >= length) return false;
        uint8_t size = options[i + 1];
        if (size < 2 || i + size > length) return false;
        const uint8_t* value = options + i + 2;
        switch (kind) {
            case 2:
                if (size != 4) return false;
                out.mss = be16(value);
                break;
            case 3:
                if (size != 3) return false;
                // RFC 7323 2.3: a shift above 14 is treated as 14.
                out.window_scale = value[0] > 14 ? 14 : value[0];
                break;
            case 4:
                if (size != 2) return false;
                out.sack_permitted = true;
                break;
            case 8:
                if (size != 10) return false;
                out.has_timestamps = true;
                out.ts_value = be32(value);
                out.ts_echo = be32(value + 4);
                break;
            case 30:  // MPTCP: subtype in the high nibble; 8 is MP_TCPRST (RFC 8684 3.6)
                if (size >= 4 && (value[0] >> 4) == 8) {
                    out.has_mptcp_reset = true;
                    out.mptcp_reset_reason = value[1];
                }
                break;
            default:
                break;  // SACK blocks, MD5, TCP-AO, experimental: skipped by length
        }
        i += size;
    }
    return true;
}

DecodeResult decode_frame_general(LinkType link, const uint8_t* frame, uint32_t captured_length,
                                  DecodedPacket& packet) noexcept {
    packet.vlan_outer = vlan_none;
    packet.vlan_inner = vlan_none;
    packet.encapsulation = 0;
    packet.tunnels = 0;
    Cursor cursor{frame, captured_length};
    FrameDecoder decoder(packet, frame);
    switch (link) {
        case LinkType::ethernet:
            return decoder.run(Layer::ethernet, cursor, 0);
        case LinkType::raw_ip:
            return decoder.run(Layer::ip_by_version, cursor, 0);
        case LinkType::ipv4:
            return decoder.run(Layer::ipv4, cursor, 0);
        case LinkType::ipv6:
            return decoder.run(Layer::ipv6, cursor, 0);
        case LinkType::null_bsd:
        case LinkType::loop: {
            if (!cursor.has(4)) return dropped(DropReason::truncated_l2);
            uint32_t family;
            std::memcpy(&family, frame, 4);
            // The family is in the capturing host's byte order (DLT_NULL) or network order
            // (DLT_LOOP); a value with high bits set was written by the other endianness.
            if (link == LinkType::loop || (family & 0xFFFF0000u))
                family = __builtin_bswap32(family);
            cursor.skip(4);
            if (family == 2) return decoder.run(Layer::ipv4, cursor, 0);
            // AF_INET6 differs between systems: 10 Linux, 24 NetBSD/OpenBSD, 28 FreeBSD, 30 macOS.
            if (family == 10 || family == 24 || family == 28 || family == 30)
                return decoder.run(Layer::ipv6, cursor, 0);
            return dropped(DropReason::not_ip);
        }
        case LinkType::linux_sll: {
            if (!cursor.has(16)) return dropped(DropReason::truncated_l2);
            uint16_t protocol = be16(frame + 14);
            cursor.skip(16);
            return decoder.run(Layer::ethertype, cursor, protocol);
        }
        case LinkType::linux_sll2: {
            if (!cursor.has(20)) return dropped(DropReason::truncated_l2);
            uint16_t protocol = be16(frame);
            cursor.skip(20);
            return decoder.run(Layer::ethertype, cursor, protocol);
        }
        case LinkType::ppp:
            return decoder.run(Layer::ppp, cursor, 0);
        case LinkType::ppp_serial:
            // Address and control (FF 03) always precede the protocol here; Zeek skips them unread.
            if (!cursor.has(4)) return dropped(DropReason::truncated_l2);
            cursor.skip(2);
            return decoder.run(Layer::ppp, cursor, 0);
        case LinkType::fddi:
            return decode_fddi(cursor, packet, frame);
        case LinkType::ieee802_11:
            return decoder.run(Layer::ieee80211, cursor, 0);
        case LinkType::ieee802_11_radiotap:
            return decode_radiotap(cursor, packet, frame);
        case LinkType::nflog:
            return decode_nflog(cursor, packet, frame);
    }
    return dropped(DropReason::unsupported_link);
}

// The straight-line fast path: Ethernet, at most two VLAN tags, IPv4 without options or IPv6
// without extension headers, TCP. It accepts (returns true, having filled `packet` exactly as
// decode_frame_general() would, with the result {is_tcp, not_ip}) only a frame that passes every
// check below; otherwise it returns false having written nothing, and the caller hands the frame
// to the general path untouched. What it checks, from FrameDecoder::run's path for such a frame:
//   - the 14-byte Ethernet header is present;
//   - its EtherType, after at most two tags of 0x8100, 0x88A8, 0x9100 or 0x9200 (each 4 bytes,
//     present), is IPv4 or IPv6: a third tag, MPLS, PPPoE, PBB, VN-Tag, FabricPath, LLC and all
//     else fall back;
//   - IPv4: 20 bytes present; first byte 0x45 (version 4, no options); protocol 6 (TCP: no
//     IP-in-IP, GRE or UDP tunnel is ever entered); total length >= 20 (0, as a TSO capture
//     records it, and lengths below the header fall back); neither MF nor a fragment offset;
//   - IPv6: 40 bytes present; version 6; next header 6 (any extension header, fragments
//     included, falls back); payload length not 0 (jumbogram or TSO capture: fall back);
//   - TCP, in what is present of the IP payload (the captured rest, trimmed to the IP length as
//     enter_payload() does): 20 bytes present; data offset >= 5; the header within the IP
//     length and present.
// Fields it leaves alone, as the general path does on this route: ts_ns, tunnel_header_back,
// tunnel_id, and ip_id for IPv6.
namespace {

// What the fast path fills: the whole segment (the datapath), or only the fields a flow key is
// made of and the flags (decode_ethernet_tcp_key_fast: the capture probe's connection count).
// Which frames it takes is the same at both depths.
enum class FastDepth : uint8_t { segment, key };

template <FastDepth depth>
[[gnu::always_inline]] inline bool ethernet_tcp_fast(const uint8_t* frame, uint32_t captured,
                                                     DecodedPacket& packet) noexcept {
    constexpr bool whole_segment = depth == FastDepth::segment;
    if (captured < 14) return false;
    uint32_t l2 = 14;
    uint16_t ethertype = be16(frame + 12);
    uint16_t vlan_outer = vlan_none;
    uint16_t vlan_inner = vlan_none;
    // An untagged IPv4 frame, the commonest, is told with one comparison.
    if (ethertype != ethertype_ipv4 && is_vlan_tpid(ethertype)) {
        if (captured < 18) return false;
        vlan_outer = be16(frame + 14) & 0x0FFF;
        ethertype = be16(frame + 16);
        l2 = 18;
        if (is_vlan_tpid(ethertype)) {
            if (captured < 22) return false;
            vlan_inner = be16(frame + 18) & 0x0FFF;
            ethertype = be16(frame + 20);
            l2 = 22;
        }
    }
    const uint8_t* ip = frame + l2;
    uint32_t left = captured - l2;
    const uint8_t* tcp;
    uint32_t payload_left;
    uint32_t header_length;
    if (ethertype == ethertype_ipv4) {
        if (left < 20 || ip[0] != 0x45 || ip[9] != ip_proto_tcp) return false;
        uint32_t total_length = be16(ip + 2);
        uint16_t fragment = be16(ip + 6);
        if (total_length < 20 || (fragment & 0x3FFF) != 0) return false;
        payload_left = total_length - 20;
        if (!find_fast_tcp(ip, 20, payload_left, tcp, left, header_length)) return false;
        packet.family = IpFamily::v4;
        packet.src = IpAddress::from_v4(ip + 12);
        packet.dst = IpAddress::from_v4(ip + 16);
        if constexpr (whole_segment) {
            packet.ttl = ip[8];
            packet.has_ip_id = true;
            packet.ip_id = be16(ip + 4);
            packet.dont_fragment = fragment & 0x4000;
        }
    } else if (ethertype == ethertype_ipv6) {
        if (left < 40 || (ip[0] >> 4) != 6 || ip[6] != ip_proto_tcp) return false;
        payload_left = be16(ip + 4);
        if (payload_left == 0) return false;
        if (!find_fast_tcp(ip, 40, payload_left, tcp, left, header_length)) return false;
        packet.family = IpFamily::v6;
        packet.src = IpAddress::from_v6(ip + 8);
        packet.dst = IpAddress::from_v6(ip + 24);
        if constexpr (whole_segment) {
            packet.ttl = ip[7];
            packet.has_ip_id = false;
            packet.dont_fragment = false;
        }
    } else {
        return false;
    }
    packet.vlan_outer = vlan_outer;
    packet.vlan_inner = vlan_inner;
    packet.tunnels = 0;
    packet.src_port = be16(tcp);
    packet.dst_port = be16(tcp + 2);
    packet.tcp_flags = tcp[13];
    if constexpr (!whole_segment) return true;
    packet.encapsulation = vlan_outer != vlan_none ? encapsulation_vlan : 0;
    packet.seq = be32(tcp + 4);
    packet.ack = be32(tcp + 8);
    packet.window = be16(tcp + 14);
    // left <= payload_left, so what is captured of the payload is never more than its length.
    packet.payload_length = payload_left - header_length;
    packet.payload_captured = static_cast<uint16_t>(left - header_length);
    packet.payload = tcp + header_length;
    packet.options = TcpOptions{};
    // The option parse comes last, so that nothing but `packet` lives across its call (fewer
    // registers saved on every packet's path).
    packet.options_malformed = (tcp[13] & (tcp_flag::syn | tcp_flag::rst)) &&
                               !parse_tcp_options(tcp + 20, header_length - 20, packet.options);
    return true;
}

}  // namespace

bool decode_ethernet_tcp_fast(const uint8_t* frame, uint32_t captured,
                              DecodedPacket& packet) noexcept {
    return ethernet_tcp_fast<FastDepth::segment>(frame, captured, packet);
}

bool decode_ethernet_tcp_key_fast(const uint8_t* frame, uint32_t captured,
                                  DecodedPacket& packet) noexcept {
    return ethernet_tcp_fast<FastDepth::key>(frame, captured, packet);
}

DecodeResult decode_frame(LinkType link, const uint8_t* frame, uint32_t captured_length,
                          DecodedPacket& packet) noexcept {
    if (link == LinkType::ethernet && decode_ethernet_tcp_fast(frame, captured_length, packet))
        return DecodeResult{true, DropReason::not_ip};
    return decode_frame_general(link, frame, captured_length, packet);
}

DecodeResult decode_frame_key(LinkType link, const uint8_t* frame, uint32_t captured_length,
                              DecodedPacket& packet) noexcept {
    if (link == LinkType::ethernet && decode_ethernet_tcp_key_fast(frame, captured_length, packet))
        return DecodeResult{true, DropReason::not_ip};
    // The general path's routes are many: from a fresh packet, nothing of an earlier frame can
    // show through whatever a route leaves unwritten. Rare frames; the common one never gets here.
    packet = DecodedPacket{};
    return decode_frame_general(link, frame, captured_length, packet);
}

}  // namespace rstscope

namespace rstscope {

bool innermost_tunnel_endpoints(const DecodedPacket& packet, IpFamily& family, IpAddress& src,
                                IpAddress& dst) noexcept {
    if (packet.tunnels == 0 || packet.tunnel_header_back == 0 || packet.payload == nullptr)
        return false;
    // The decoder checked this header's length before it walked past it.
    const uint8_t* header = packet.payload - packet.tunnel_header_back;
    if ((header[0] >> 4) == 4) {
        family = IpFamily::v4;
        src = IpAddress::from_v4(header + 12);
        dst = IpAddress::from_v4(header + 16);
    } else {
        family = IpFamily::v6;
        src = IpAddress::from_v6(header + 8);
        dst = IpAddress::from_v6(header + 24);
    }
    return true;
}

}  // namespace rstscope
