// SPDX-License-Identifier: BSD-3-Clause
// The streaming parsers of app_identity.h. Hot path: noexcept, no allocation.
#include "rstscope/analysis/app_identity.h"

#include <algorithm>
#include <cstring>

namespace rstscope {
namespace {

// Originator states. A state reads `need` bytes: an integer into `value`, or bytes skipped or
// copied. Levels say which lengths a state's bytes count against.
enum OrigState : uint8_t {
    o_start,
    o_dead,  // done: foreign, malformed, finished or too long
    // TLS handshake (ClientHello) fields, record headers stripped
    h_type,
    h_length,
    h_version,
    h_random,
    h_session_id_length,
    h_session_id,
    h_ciphers_length,
    h_ciphers,
    h_compression_length,
    h_compression,
    h_extensions_length,
    e_type,
    e_length,
    e_body,
    s_list_length,
    s_name_type,
    s_name_length,
    s_name,
    // HTTP request
    q_method,
    q_line,
    q_line_start,
    q_header_name,
    q_skip_line,
    q_end_lf,
    q_value_space,
    q_value,
};

constexpr bool tls_state(uint8_t s) noexcept {
    return s >= h_type && s <= s_name;
}
constexpr bool integer_state(uint8_t s) noexcept {
    return s == h_type || s == h_length || s == h_session_id_length || s == h_ciphers_length ||
           s == h_compression_length || s == h_extensions_length || s == e_type || s == e_length ||
           s == s_list_length || s == s_name_type || s == s_name_length;
}
// 1: counts against the ClientHello, 2: and the extensions block, 3: and the extension.
constexpr int level(uint8_t s) noexcept {
    if (s <= h_extensions_length) return 1;
    if (s == e_type || s == e_length) return 2;
    return 3;
}

constexpr uint32_t tls_record_max = 16384 + 2048;  // TLSCiphertext limit (RFC 8446 5.2)
constexpr std::string_view host_header = "host:";

char lower(char c) noexcept {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c;
}

bool starts_with(std::string_view text, std::string_view prefix) noexcept {
    return text.substr(0, prefix.size()) == prefix;
}

bool contains_caseless(std::string_view text, std::string_view word) noexcept {
    for (size_t i = 0; i + word.size() <= text.size(); ++i) {
        size_t j = 0;
        while (j < word.size() && lower(text[i + j]) == lower(word[j]))
            ++j;
        if (j == word.size()) return true;
    }
    return false;
}

bool digit(char c) noexcept {
    return c >= '0' && c <= '9';
}

// Enters `state`, which reads `need` bytes; false when they do not fit in what holds them.
bool enter(AppRecord::Orig& o, uint8_t state, uint32_t need) noexcept {
    const int l = level(state);
    if (need > o.hello_left || (l >= 2 && need > o.extensions_left) ||
        (l >= 3 && need > o.extension_left))
        return false;
    o.state = state;
    o.need = static_cast<uint16_t>(need);
    o.value = 0;
    return true;
}

// After the extension ends: the next one, or the end of the ClientHello (no SNI).
bool next_extension(AppRecord::Orig& o) noexcept {
    if (o.extensions_left == 0) return false;
    return enter(o, e_type, 2);
}

// The field in `value` (or the bytes skipped or copied) is complete: checks it and moves on;
// false ends the parse.
bool advance(AppRecord::Orig& o, AppIdentity& found) noexcept {
    const uint32_t v = o.value;
    switch (o.state) {
        case h_type:
            if (v != 1) return false;  // not a ClientHello
            found.proto = AppProto::tls;
            o.hello_left = 3;  // the length field itself
            return enter(o, h_length, 3);
        case h_length:
            // version + random + three length fields at least
            if (v < 2 + 32 + 1 + 2 + 1) return false;
            o.hello_left = v;
            return enter(o, h_version, 2);
        case h_version:
            return enter(o, h_random, 32);
        case h_random:
            return enter(o, h_session_id_length, 1);
        case h_session_id_length:
            if (v > 32) return false;
            if (!enter(o, h_session_id, v)) return false;
            return v > 0 || advance(o, found);
        case h_session_id:
            return enter(o, h_ciphers_length, 2);
        case h_ciphers_length:
            if (v < 2 || v % 2 != 0) return false;
            return enter(o, h_ciphers, v);
        case h_ciphers:
            return enter(o, h_compression_length, 1);
        case h_compression_length:
            if (v < 1) return false;
            return enter(o, h_compression, v);
        case h_compression:
            if (o.hello_left == 0) return false;  // no extensions: no SNI
            return enter(o, h_extensions_length, 2);
        case h_extensions_length:
            if (v != o.hello_left) return false;  // the extensions fill the ClientHello
            o.extensions_left = v;
            return next_extension(o);
        case e_type:
            o.extension_type = static_cast<uint16_t>(v);
            return enter(o, e_length, 2);
        case e_length: {
            const bool server_name = o.extension_type == 0;
            if (v > o.extensions_left) return false;
            o.extension_left = v;
            if (!server_name) {
                if (v == 0) return next_extension(o);  // GREASE and others may be empty
                return enter(o, e_body, v);
            }
            return enter(o, s_list_length, 2);
        }
        case e_body:
            return next_extension(o);
        case s_list_length:
            if (v == 0 || v != o.extension_left) return false;
            return enter(o, s_name_type, 1);
        case s_name_type:
            if (v != 0) return false;  // only host_name is defined (RFC 6066 3)
            return enter(o, s_name_length, 2);
        case s_name_length:
            if (v == 0) return false;
            return enter(o, s_name, v);
        case s_name:
            return false;  // have it
        default:
            return false;
    }
}

// Bytes of a ClientHello with the record headers taken out.
bool handshake_bytes(AppRecord::Orig& o, AppIdentity& found, const uint8_t* p,
                     uint32_t n) noexcept {
    while (n > 0) {
        uint32_t take = std::min<uint32_t>(n, o.need);
        if (integer_state(o.state)) {
            for (uint32_t i = 0; i < take; ++i)
                o.value = o.value << 8 | p[i];
        } else if (o.state == s_name) {
            size_t room = app_name_capacity - found.name_length;
            size_t copy = std::min<size_t>(room, take);
            std::memcpy(found.name + found.name_length, p, copy);
            found.name_length = static_cast<uint8_t>(found.name_length + copy);
            if (copy < take) found.flags |= app_flag::name_cut;
        }
        const int l = level(o.state);
        o.hello_left -= take;
        if (l >= 2) o.extensions_left -= take;
        if (l >= 3) o.extension_left -= take;
        o.need = static_cast<uint16_t>(o.need - take);
        p += take;
        n -= take;
        if (o.need == 0 && !advance(o, found)) return false;
    }
    return true;
}

bool tls_bytes(AppRecord::Orig& o, AppIdentity& found, const uint8_t* p, uint32_t n) noexcept {
    while (n > 0) {
        if (o.record_left == 0) {  // a record header
            const uint8_t c = *p++;
            --n;
            switch (o.record_header_at++) {
                case 0:
                    if (c != 0x16) return false;  // handshake records only
                    break;
                case 1:
                    if (c != 0x03) return false;
                    break;
                case 2:
                    if (c > 0x04) return false;
                    break;
                case 3:
                    o.record_length = static_cast<uint16_t>(c << 8);
                    break;
                default: {
                    uint32_t length = o.record_length | c;
                    if (length == 0 || length > tls_record_max) return false;
                    o.record_left = length;
                    o.record_header_at = 0;
                }
            }
            continue;
        }
        uint32_t take = std::min(n, o.record_left);
        o.record_left -= take;
        if (!handshake_bytes(o, found, p, take)) return false;
        p += take;
        n -= take;
    }
    return true;
}

int method_index(std::string_view token) noexcept {
    for (size_t i = 1; i < http_method_names.size(); ++i)
        if (http_method_names[i] == token) return static_cast<int>(i);
    return 0;
}

bool http_bytes(AppRecord::Orig& o, AppIdentity& found, const uint8_t* p, uint32_t n) noexcept {
    // `need` counts the method's letters, then the matched part of "host:"
    for (uint32_t i = 0; i < n; ++i) {
        const char c = static_cast<char>(p[i]);
        switch (o.state) {
            case q_method:
                if (c == ' ') {
                    int m = method_index(std::string_view(o.token, o.need));
                    if (m == 0) return false;
                    found.proto = AppProto::http;
                    found.method = static_cast<uint8_t>(m);
                    o.state = q_line;
                } else if (c >= 'A' && c <= 'Z' && o.need < 7) {
                    o.token[o.need++] = c;
                } else {
                    return false;
                }
                break;
            case q_line:
            case q_skip_line:
                if (c == '\n') o.state = q_line_start;
                break;
            case q_line_start:
                if (c == '\r') {
                    o.state = q_end_lf;
                } else if (c == '\n') {
                    return false;  // end of the headers: no Host
                } else if (lower(c) == host_header[0]) {
                    o.state = q_header_name;
                    o.need = 1;
                } else {
                    o.state = q_skip_line;
                }
                break;
            case q_end_lf:
                return false;  // end of the headers (or a stray CR): no Host
            case q_header_name:
                if (lower(c) != host_header[o.need]) {
                    o.state = c == '\n' ? q_line_start : q_skip_line;
                } else if (++o.need == host_header.size()) {
                    o.state = q_value_space;
                }
                break;
            case q_value_space:
                if (c == ' ' || c == '\t') break;
                o.state = q_value;
                [[fallthrough]];
            case q_value:
                if (c == '\r' || c == '\n') {
                    while (found.name_length > 0 && (found.name[found.name_length - 1] == ' ' ||
                                                     found.name[found.name_length - 1] == '\t'))
                        --found.name_length;
                    return false;  // have it
                }
                if (found.name_length < app_name_capacity) {
                    found.name[found.name_length++] = c;
                } else {
                    found.flags |= app_flag::name_cut;
                }
                break;
            default:
                return false;
        }
    }
    return true;
}

// Responder states.
enum RespState : uint8_t { r_line, r_done };
constexpr uint8_t resp_spoke_first = 0x80;  // in Resp::state: no originator byte came before

}  // namespace

// The parsers' states and the found identity's lengths: a name's or banner's bytes past its
// length are never read (identity() clears them in its copy), and leaving them alone spares a
// connection taking over an app-table slot two of its cache lines (flow_tracker.h, AppSlot).
void AppRecord::reset() noexcept {
    orig = Orig{};
    resp = Resp{};
    found.proto = AppProto::none;
    found.method = 0;
    found.status = 0;
    found.name_length = 0;
    found.banner_length = 0;
    found.flags = 0;
    found.padding = 0;
}

bool AppRecord::feed_orig(const uint8_t* data, uint32_t length) noexcept {
    if (orig.state == o_dead || length == 0) return orig.state != o_dead;
    if (orig.seen >= app_parse_max_bytes) {
        orig.state = o_dead;
        return false;
    }
    length = std::min(length, app_parse_max_bytes - orig.seen);
    const bool first = orig.seen == 0;
    orig.seen += length;
    if (first) {
        if (data[0] == 0x16) {
            orig.state = h_type;
            orig.need = 1;
            orig.hello_left = 1;  // the type byte; h_type's advance sets the real length
        } else if (data[0] >= 'A' && data[0] <= 'Z') {
            orig.state = q_method;
            orig.need = 0;
        } else {
            orig.state = o_dead;
            return false;
        }
    }
    bool more = tls_state(orig.state) ? tls_bytes(orig, found, data, length)
                                      : http_bytes(orig, found, data, length);
    if (!more || orig.seen >= app_parse_max_bytes) orig.state = o_dead;
    return orig.state != o_dead;
}

bool AppRecord::feed_resp(const uint8_t* data, uint32_t length) noexcept {
    if ((resp.state & 0x7F) == r_done || length == 0) return (resp.state & 0x7F) != r_done;
    if (resp.seen == 0 && orig.seen == 0) resp.state |= resp_spoke_first;
    resp.seen += length;
    // The first line, up to the banner's room: the bytes before a line feed are kept; with no
    // line feed within the room, the byte after it decides (a line feed ends the line, anything
    // else cuts the banner). One memchr and one copy instead of a loop per byte: this runs on
    // every responder segment until the line ends, in every connection.
    const uint32_t room = static_cast<uint32_t>(app_banner_capacity - resp.line_length);
    const uint32_t take = std::min(length, room);
    const void* feed = std::memchr(data, '\n', take);
    const uint32_t kept =
        feed ? static_cast<uint32_t>(static_cast<const uint8_t*>(feed) - data) : take;
    std::memcpy(resp.line + resp.line_length, data, kept);
    resp.line_length = static_cast<uint8_t>(resp.line_length + kept);
    if (!feed && take == length) return true;  // all kept, the line goes on
    if (feed || data[take] == '\n') {
        if (resp.line_length > 0 && resp.line[resp.line_length - 1] == '\r') --resp.line_length;
    } else {
        found.flags |= app_flag::banner_cut;
    }
    resp.state = static_cast<uint8_t>((resp.state & resp_spoke_first) | r_done);
    return false;
}

AppIdentity AppRecord::identity(uint16_t resp_port) const noexcept {
    AppIdentity out = found;
    std::memset(out.name + out.name_length, 0, sizeof(out.name) - out.name_length);
    std::memset(out.banner + out.banner_length, 0, sizeof(out.banner) - out.banner_length);
    std::string_view line(resp.line, resp.line_length);
    // "HTTP/1.1 503 ...": a status line answering an HTTP request (or answering nothing seen)
    if (line.size() >= 12 && starts_with(line, "HTTP/1.") && digit(line[7]) && line[8] == ' ' &&
        digit(line[9]) && digit(line[10]) && digit(line[11]) &&
        (line.size() == 12 || line[12] == ' ') && line[9] >= '1' && line[9] <= '5') {
        if (out.proto == AppProto::none || out.proto == AppProto::http) {
            out.proto = AppProto::http;
            out.status = static_cast<uint16_t>((line[9] - '0') * 100 + (line[10] - '0') * 10 +
                                               (line[11] - '0'));
        }
        out.flags &= static_cast<uint8_t>(~app_flag::banner_cut);
        return out;
    }
    out.flags &= static_cast<uint8_t>(~app_flag::banner_cut);
    if (out.proto != AppProto::none || line.empty()) return out;
    const bool first = resp.state & resp_spoke_first;
    AppProto proto = AppProto::none;
    if (starts_with(line, "SSH-")) {
        proto = AppProto::ssh;  // either side may speak first (RFC 4253 4.2)
    } else if (!first) {
        return out;  // the other greetings come before the client says anything
    } else if (starts_with(line, "+OK")) {
        proto = AppProto::pop3;
    } else if (starts_with(line, "* OK") || starts_with(line, "* PREAUTH") ||
               starts_with(line, "* BYE")) {
        proto = AppProto::imap;
    } else if (line.size() >= 4 && line[0] >= '1' && line[0] <= '5' && digit(line[1]) &&
               digit(line[2]) && (line[3] == ' ' || line[3] == '-')) {
        // SMTP and FTP greet alike (220/421/554): the text or else the port tells them apart
        if (contains_caseless(line, "FTP")) {
            proto = AppProto::ftp;
        } else if (contains_caseless(line, "SMTP")) {
            proto = AppProto::smtp;
        } else if (resp_port == 21 || resp_port == 990 || resp_port == 2121) {
            proto = AppProto::ftp;
        } else if (resp_port == 25 || resp_port == 465 || resp_port == 587 || resp_port == 2525) {
            proto = AppProto::smtp;
        }
    }
    if (proto == AppProto::none) return out;
    out.proto = proto;
    std::memcpy(out.banner, line.data(), line.size());
    out.banner_length = static_cast<uint8_t>(line.size());
    if (found.flags & app_flag::banner_cut) out.flags |= app_flag::banner_cut;
    return out;
}

}  // namespace rstscope
