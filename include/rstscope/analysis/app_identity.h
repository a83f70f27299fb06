// SPDX-License-Identifier: BSD-3-Clause
// Who the application was: small, exact, bounded parsers of a connection's first bytes.
//   originator -> responder: a TLS ClientHello (its server_name, over any number of segments and
//     TLS records, GREASE and unknown extensions skipped, every length checked against the one
//     that holds it) or an HTTP/1.x request line and its Host header;
//   responder -> originator: an HTTP/1.x status line, or a server's greeting line (SMTP, FTP,
//     SSH, POP3, IMAP) kept as a truncated banner.
// The parsers are streaming state machines: a few bytes of state per direction, no buffer of the
// stream, so a ClientHello split anywhere across segments is read the same as in one piece. They
// stop for good at the first byte that does not fit (a malformed or foreign stream), after
// app_parse_max_bytes of a direction, or once they have what they look for.
//
// Thread contract: pure logic, no EAL, no allocation; AppRecord lives in a worker's fixed table
// (flow_tracker.h), feed() is hot path (noexcept, no allocation, no lock).
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace rstscope {

enum class AppProto : uint8_t { none, http, tls, smtp, ftp, ssh, pop3, imap };
inline constexpr std::array<std::string_view, 8> app_proto_names{"none", "http", "tls",  "smtp",
                                                                 "ftp",  "ssh",  "pop3", "imap"};

// Request methods the HTTP parser accepts (RFC 9110 9.1 and PATCH, RFC 5789); index 0: none.
inline constexpr std::array<std::string_view, 10> http_method_names{
    "", "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"};

// A DNS name has at most 253 characters; the event keeps the first 64 (and says it cut).
inline constexpr size_t app_name_capacity = 64;
inline constexpr size_t app_banner_capacity = 48;
// Bytes of each direction the parsers read at most (a ClientHello with a post-quantum key share
// is about 1 800 bytes).
inline constexpr uint32_t app_parse_max_bytes = 4096;

namespace app_flag {
inline constexpr uint8_t name_cut = 0x01;    // the host or SNI was longer than app_name_capacity
inline constexpr uint8_t banner_cut = 0x02;  // the greeting line was longer than the banner
}  // namespace app_flag

// What an event says about the application (docs/events.md "app"). Fixed size, no pointers.
struct AppIdentity {
    AppProto proto;
    uint8_t method;       // index into http_method_names, 0: none
    uint16_t status;      // HTTP status code, 0: none
    uint8_t name_length;  // bytes in `name`: the SNI for tls, the Host for http
    uint8_t banner_length;
    uint8_t flags;  // app_flag::*
    uint8_t padding;
    char name[app_name_capacity];
    char banner[app_banner_capacity];

    std::string_view name_view() const noexcept { return {name, name_length}; }
    std::string_view banner_view() const noexcept { return {banner, banner_length}; }
};
static_assert(sizeof(AppIdentity) == 120);

// One connection's parsing: both directions' state and what they found so far.
struct AppRecord {
    // Originator side: TLS record/handshake walk or HTTP request walk.
    struct Orig {
        uint8_t state;
        uint8_t record_header_at;  // TLS: bytes of the 5-byte record header read
        uint16_t need;             // bytes still to read in the current field
        uint16_t record_length;    // TLS: the record header's length, while it is read
        uint16_t extension_type;   // TLS: the current extension's type
        uint32_t value;            // the field being read (big-endian lengths)
        uint32_t record_left;      // TLS: bytes left in the current record
        uint32_t hello_left;       // TLS: bytes left in the ClientHello body
        uint32_t extensions_left;  // TLS: bytes left in the extensions block
        uint32_t extension_left;   // TLS: bytes left in the current extension
        uint32_t seen;             // bytes fed
        char token[8];             // HTTP: the method's letters
    } orig;
    struct Resp {
        uint8_t state;
        uint8_t line_length;  // bytes of the first line kept in `line`
        uint16_t padding;
        uint32_t seen;
        char line[app_banner_capacity];
    } resp;
    AppIdentity found;

    void reset() noexcept;
    // Feeds the next in-order bytes of one direction; returns true while the direction still
    // wants bytes (false: done with it, for good).
    bool feed_orig(const uint8_t* data, uint32_t length) noexcept;
    bool feed_resp(const uint8_t* data, uint32_t length) noexcept;
    // The identity as far as the bytes seen tell, `resp_port` deciding between SMTP and FTP when
    // the greeting does not name its protocol.
    AppIdentity identity(uint16_t resp_port) const noexcept;
};

}  // namespace rstscope
