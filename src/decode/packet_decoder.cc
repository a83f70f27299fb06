// Hot path (see packet_decoder.h): noexcept, no allocation, every read bounds-checked.
#include "rstscope/decode/packet_decoder.h"

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
constexpr uint16_t ethertype_aruba_80211 = 0x8200;  // Aruba controllers tunnel raw 802.11 in GRE

constexpr uint8_t ip_proto_ipip = 4;
constexpr uint8_t ip_proto_tcp = 6;
constexpr uint8_t ip_proto_ipv6 = 41;
constexpr uint8_t ip_proto_gre = 47;

// Nested tunnels followed before giving up; real deployments rarely exceed two.
constexpr int max_tunnel_depth = 4;
constexpr int max_vlan_tags = 4;
constexpr int max_mpls_labels = 12;
constexpr int max_ipv6_extensions = 8;

inline uint16_t be16(const uint8_t* p) noexcept {
    return static_cast<uint16_t>(p[0] << 8 | p[1]);
}
inline uint32_t be32(const uint8_t* p) noexcept {
    return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 |
           static_cast<uint32_t>(p[2]) << 8 | p[3];
}

enum class Layer { ethernet, ethertype, ip_by_version, ipv4, ipv6, mpls, ieee80211 };

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
    explicit FrameDecoder(DecodedPacket& packet) noexcept : packet_(packet) {}

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
                    uint8_t protocol = 0;
                    bool ok =
                        layer == Layer::ipv4 ? ipv4(cursor, protocol) : ipv6(cursor, protocol);
                    if (!ok) return dropped(fault_);
                    if (protocol == ip_proto_tcp) return tcp(cursor);
                    auto next = after_ip(cursor, protocol, ethertype);
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
            }
        }
    }

  private:
    std::optional<Layer> fail(DropReason reason) noexcept {
        fault_ = reason;
        return std::nullopt;
    }
    bool fail_bool(DropReason reason) noexcept {
        fault_ = reason;
        return false;
    }

    std::optional<Layer> after_ethertype(Cursor& cursor, uint16_t& ethertype) noexcept {
        int tags = 0;
        while (ethertype == ethertype_vlan || ethertype == ethertype_qinq ||
               ethertype == ethertype_qinq_old1 || ethertype == ethertype_qinq_old2) {
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
                // RFC 2516: 6-byte PPPoE header, then the 2-byte PPP protocol (0x0021 IPv4, 0x0057
                // IPv6).
                if (!cursor.has(8)) return fail(DropReason::truncated_l2);
                uint16_t ppp_protocol = be16(cursor.data + 6);
                cursor.skip(8);
                if (ppp_protocol == 0x0021) return Layer::ipv4;
                if (ppp_protocol == 0x0057) return Layer::ipv6;
                return fail(DropReason::not_ip);
            }
            default:
                return fail(DropReason::not_ip);
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
        if (more_fragments || (fragment & 0x1FFF) != 0) return fail_bool(DropReason::ip_fragment);
        set_addresses(IpFamily::v4, IpAddress::from_v4(h + 12), IpAddress::from_v4(h + 16), h[8]);
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
                    if ((offset_flags & 0xFFF9) != 0) return fail_bool(DropReason::ip_fragment);
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

    std::optional<Layer> after_ip(Cursor& cursor, uint8_t protocol, uint16_t& ethertype) noexcept {
        if (protocol == ip_proto_ipip || protocol == ip_proto_ipv6) {
            if (!enter_tunnel()) return std::nullopt;
            return protocol == ip_proto_ipip ? Layer::ipv4 : Layer::ipv6;
        }
        if (protocol == ip_proto_gre) {
            if (!enter_tunnel()) return std::nullopt;
            return gre(cursor, ethertype);
        }
        return fail(DropReason::not_tcp);
    }

    bool enter_tunnel() noexcept {
        packet_.encapsulation |= encapsulation_tunnel;
        if (++tunnel_depth_ > max_tunnel_depth) return fail_bool(DropReason::tunnel_too_deep);
        // The inner packet's VLAN tags, if any, belong to another segment: keep the outer ones.
        return true;
    }

    // RFC 2784/2890 GRE version 0, with ERSPAN types I-III and Aruba's 802.11 payload.
    std::optional<Layer> gre(Cursor& cursor, uint16_t& ethertype) noexcept {
        if (!cursor.has(4)) return fail(DropReason::truncated_l2);
        uint8_t flags = cursor.data[0];
        uint8_t version = cursor.data[1] & 0x07;
        if (version != 0) return fail(DropReason::unsupported_tunnel);  // v1 is PPTP's PPP
        uint16_t protocol = be16(cursor.data + 2);
        bool has_checksum = flags & 0x80, has_key = flags & 0x20, has_sequence = flags & 0x10;
        uint32_t length = 4 + (has_checksum ? 4 : 0) + (has_key ? 4 : 0) + (has_sequence ? 4 : 0);
        if (!cursor.has(length)) return fail(DropReason::truncated_l2);
        cursor.skip(length);
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
            case ethertype_aruba_80211:
                ethertype = 0;
                return Layer::ieee80211;
            default:
                return fail(DropReason::unsupported_tunnel);
        }
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
        if (subtype & 0x08) {
            header += 2;                          // QoS control
            if (frame_flags & 0x80) header += 4;  // +HTC when the order bit is set
        }
        if (frame_flags & 0x40) return fail_bool(DropReason::unsupported_tunnel);  // encrypted
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
        return DecodeResult{true, DropReason::not_ip};
    }

    DecodedPacket& packet_;
    DropReason fault_ = DropReason::not_ip;
    uint32_t payload_left_ = 0;
    int tunnel_depth_ = 0;
};

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
        case 108:
            return LinkType::loop;
        case 113:
            return LinkType::linux_sll;
        case 228:
            return LinkType::ipv4;
        case 229:
            return LinkType::ipv6;
        case 276:
            return LinkType::linux_sll2;
        default:
            return std::nullopt;
    }
}

bool parse_tcp_options(const uint8_t* options, uint32_t length, TcpOptions& out) noexcept {
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

DecodeResult decode_frame(LinkType link, const uint8_t* frame, uint32_t captured_length,
                          DecodedPacket& packet) noexcept {
    packet.vlan_outer = vlan_none;
    packet.vlan_inner = vlan_none;
    packet.encapsulation = 0;
    Cursor cursor{frame, captured_length};
    FrameDecoder decoder(packet);
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
    }
    return dropped(DropReason::unsupported_link);
}

}  // namespace rstscope
