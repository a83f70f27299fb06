// SPDX-License-Identifier: BSD-3-Clause
#include "rstscope/mgmt/event_json.h"

#include <emmintrin.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>

namespace rstscope {
namespace {

// Compile-time literals copied with a constant length: the compiler turns each into a few moves.
template <size_t N>
char* put(char* out, const char (&literal)[N]) noexcept {
    std::memcpy(out, literal, N - 1);
    return out + N - 1;
}

char* put(char* out, std::string_view text) noexcept {
    std::memcpy(out, text.data(), text.size());
    return out + text.size();
}

constexpr std::array<uint64_t, 9> powers_of_10 = [] {
    std::array<uint64_t, 9> p{};
    p[0] = 1;
    for (size_t i = 1; i < p.size(); ++i)
        p[i] = p[i - 1] * 10;
    return p;
}();

// The eight decimal digits of `value` < 10^8, leading zeros included, as ASCII in one word, the
// first digit in the lowest byte (little-endian: a 8-byte copy writes them in order). SIMD within
// a register: split in 4-digit halves, each half in 2-digit quarters, each quarter in digits, all
// lanes at once with multiply-shift division (x * 10486 >> 20 = x / 100 for x < 10^4, x * 103 >>
// 10 = x / 10 for x < 100). About 15 instructions for 8 digits; on the reset-heavy events the
// integers of a line cost 420 instructions this way, 500 two digits a step with a table (which
// wins only up to four digits: put_unsigned() uses it there).
static_assert(std::endian::native == std::endian::little, "eight_digits() lays digits out so");
uint64_t eight_digits(uint32_t value) noexcept {
    uint64_t x = value / 10'000 | uint64_t{value % 10'000} << 32;
    uint64_t hundreds = (x * 10'486 >> 20) & 0x0000'007F'0000'007Full;
    x = hundreds | (x - hundreds * 100) << 16;
    uint64_t tens = (x * 103 >> 10) & 0x000F'000F'000F'000Full;
    x = tens | (x - tens * 10) << 8;
    return x | 0x3030'3030'3030'3030ull;
}

// Writes the last `length` (1 to 8) of eight_digits(value); writes 8 bytes, so `out` needs 7 bytes
// of slack past the text.
char* put_digits(char* out, uint32_t value, unsigned length) noexcept {
    uint64_t digits = eight_digits(value) >> (8 * (8 - length));
    std::memcpy(out, &digits, 8);
    return out + length;
}

// Digits of `value` < 10^8: log10 from the bit width (1233 / 4096 ~ log10(2)), one comparison.
unsigned length_below_10_8(uint32_t value) noexcept {
    unsigned t = static_cast<unsigned>(std::bit_width(value | 1)) * 1233 >> 12;
    return t + ((value | 1) >= powers_of_10[t]);
}

// "00" to "99".
constexpr std::array<char, 200> two_digits = [] {
    std::array<char, 200> t{};
    for (size_t i = 0; i < 100; ++i) {
        t[2 * i] = static_cast<char>('0' + i / 10);
        t[2 * i + 1] = static_cast<char>('0' + i % 10);
    }
    return t;
}();

// `value` < 100 in one digit or a pair from the table.
char* put_below_100(char* out, uint32_t value) noexcept {
    if (value < 10) {
        *out = static_cast<char>('0' + value);
        return out + 1;
    }
    std::memcpy(out, &two_digits[2 * value], 2);
    return out + 2;
}

// Decimal, no leading zeros: up to six digits in pairs from a table (most of a line's integers:
// ports, TTLs, counts, ids; about 200 instructions a line fewer than eight digits computed for
// each), longer ones in chunks of eight digits.
char* put_unsigned(char* out, uint64_t value) noexcept {
    constexpr uint64_t e8 = 100'000'000;
    // TTLs, packet counts, seconds of a duration: most fields; a pair from the table, not eight
    // digits computed.
    if (value < 100) return put_below_100(out, static_cast<uint32_t>(value));
    if (value < 1'000'000) {  // ports, byte counts, ids: the first digit or two, then pairs
        uint32_t v = static_cast<uint32_t>(value);
        bool three_pairs = v >= 10'000;
        out = put_below_100(out, three_pairs ? v / 10'000 : v / 100);
        if (three_pairs) {
            std::memcpy(out, &two_digits[2 * (v / 100 % 100)], 2);
            out += 2;
        }
        std::memcpy(out, &two_digits[2 * (v % 100)], 2);
        return out + 2;
    }
    if (value < e8) {
        uint32_t v = static_cast<uint32_t>(value);
        return put_digits(out, v, length_below_10_8(v));
    }
    uint64_t high = value / e8;
    uint32_t low = static_cast<uint32_t>(value % e8);
    if (high < 100) {  // nine or ten digits: a time's seconds since 1970
        out = put_below_100(out, static_cast<uint32_t>(high));
    } else if (high < e8) {
        uint32_t h = static_cast<uint32_t>(high);
        out = put_digits(out, h, length_below_10_8(h));
    } else {  // 17 to 20 digits
        uint32_t top = static_cast<uint32_t>(high / e8);
        out = put_digits(out, top, length_below_10_8(top));
        out = put_digits(out, static_cast<uint32_t>(high % e8), 8);
    }
    return put_digits(out, low, 8);
}

char* put_bool(char* out, bool value) noexcept {
    return value ? put(out, "true") : put(out, "false");
}

// Seconds as a decimal with microsecond digits, without the rounding of a double.
char* put_seconds(char* out, uint64_t ns) noexcept {
    out = put_unsigned(out, ns / 1'000'000'000ull);
    *out++ = '.';
    return put_digits(out, static_cast<uint32_t>(ns % 1'000'000'000ull / 1000), 6);
}

constexpr bool plain_json_byte(unsigned char c) noexcept {
    return c >= 0x20 && c < 0x7F && c != '"' && c != '\\';
}

char* put_json_string(char* out, const char* text, size_t size) noexcept {
    static constexpr char hex[] = "0123456789abcdef";
    *out++ = '"';
    for (size_t i = 0; i < size; ++i) {
        unsigned char c = static_cast<unsigned char>(text[i]);
        if (plain_json_byte(c)) {
            *out++ = static_cast<char>(c);
        } else if (c == '"' || c == '\\') {
            *out++ = '\\';
            *out++ = static_cast<char>(c);
        } else {
            out = put(out, "\\u00");
            *out++ = hex[c >> 4];
            *out++ = hex[c & 0xF];
        }
    }
    *out++ = '"';
    return out;
}

template <size_t N>
constexpr size_t longest(const std::array<std::string_view, N>& names) {
    size_t n = 0;
    for (std::string_view name : names)
        n = std::max(n, name.size());
    return n;
}

constexpr size_t all_evidence_length() {
    size_t n = 0;
    for (std::string_view name : evidence_names)
        n += name.size() + 3;  // quotes and comma
    return n;
}

// The verdict's names, padded to a fixed width: each is copied with a constant length (one 16-byte
// move; two for evidence, whose names run to 18) instead of a memcpy call of its own length, six
// or more a line.
template <size_t Width>
struct PaddedName {
    char text[Width];
    size_t size;
};

template <size_t Width, size_t N>
constexpr std::array<PaddedName<Width>, N> padded(const std::array<std::string_view, N>& names) {
    std::array<PaddedName<Width>, N> out{};
    for (size_t i = 0; i < N; ++i) {
        std::copy(names[i].begin(), names[i].end(), out[i].text);
        out[i].size = names[i].size();
    }
    return out;
}

constexpr size_t padded_name_width = 32;  // the widest padding
static_assert(longest(conn_state_names) <= 16 && longest(reset_cause_names) <= 16 &&
              longest(confidence_names) <= 16 && longest(seq_check_names) <= 16 &&
              longest(evidence_names) <= padded_name_width && longest(rst_origin_names) <= 16);
constexpr auto conn_state_padded = padded<16>(conn_state_names);
constexpr auto reset_cause_padded = padded<16>(reset_cause_names);
constexpr auto confidence_padded = padded<16>(confidence_names);
constexpr auto seq_check_padded = padded<16>(seq_check_names);
constexpr auto evidence_padded = padded<padded_name_width>(evidence_names);
constexpr auto rst_origin_padded = padded<16>(rst_origin_names);

// Writes the padding's width (at most padded_name_width bytes): the line's slack covers it.
template <size_t Width, size_t N>
char* put_name(char* out, const std::array<PaddedName<Width>, N>& names, size_t index) noexcept {
    const PaddedName<Width>& name = names[index];
    std::memcpy(out, name.text, Width);
    return out + name.size;
}

// The history as a JSON string. Its letters never need escaping and are usually fewer than 16:
// then one 16-byte load finds the NUL and checks every letter at once, and one store copies them
// (the line's slack covers the 16 bytes); otherwise byte by byte.
char* put_history(char* out, const char (&history)[history_capacity]) noexcept {
    static_assert(history_capacity >= 16);
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(history));
    auto mask = [](__m128i x) { return static_cast<unsigned>(_mm_movemask_epi8(x)); };
    unsigned nul = mask(_mm_cmpeq_epi8(v, _mm_setzero_si128()));
    if (nul != 0) {
        unsigned length = static_cast<unsigned>(std::countr_zero(nul));
        // Not plain_json_byte(): below 0x20 (signed, so 0x80 and up too), 0x7F, '"', '\\'.
        __m128i escaped = _mm_or_si128(_mm_or_si128(_mm_cmplt_epi8(v, _mm_set1_epi8(0x20)),
                                                    _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7F))),
                                       _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                                                    _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))));
        if ((mask(escaped) & ((1u << length) - 1)) == 0) {
            *out++ = '"';
            _mm_storeu_si128(reinterpret_cast<__m128i*>(out), v);
            out += length;
            *out++ = '"';
            return out;
        }
    }
    return put_json_string(out, history, strnlen(history, history_capacity));
}

// Every field at its widest (u64 20 digits, u32 10, u16 5, seconds 11 + 7, addresses
// ip_text_max_length), keys and punctuation counted generously, escaped strings 6 bytes a byte.
constexpr size_t widest_line =
    300 /* keys and punctuation */ + 24 + 20 /* type and id */ + 3 * 18 /* times */ +
    2 * (ip_text_max_length + ip_text_slack + 5) + 2 * 5 /* vlans */ + 5 /* bool */ +
    4 /* rst_by */ + 3 * 10 + 2 * 20 /* counts */ + longest(conn_state_names) +
    longest(reset_cause_names) + longest(confidence_names) + longest(seq_check_names) +
    all_evidence_length() + 2 * 3 /* ttls */ + 11 /* idle */ + longest(rst_origin_names) +
    3 /* hops */ + 6 * history_capacity + 6 * rst_payload_capacity + 3 /* reason */ +
    80 /* tunnel keys */ + 2 * longest(tunnel_type_names) + 10 /* id */ +
    2 * (ip_text_max_length + ip_text_slack) + 16 +
    signature_hits_capacity * (40 + signature_max_id_length + 11) + 80 /* app keys */ +
    longest(app_proto_names) + longest(http_method_names) + 5 /* status */ +
    6 * (app_name_capacity + app_banner_capacity) + 5 /* truncated */ + 60 + 10 + 20 +
    5 /* pcap: keys, file, offset, packets */ + 15 + 11 /* rst_spacing: key, u32 us as seconds */;
// Bytes written past the text: put_digits() writes 8, put_history() 16, put_name()
// padded_name_width.
constexpr size_t write_slack = std::max<size_t>(16, padded_name_width);
static_assert(widest_line + write_slack <= event_json_max_length);

// ,"tunnel":{"type":..,"id":..,"outer_src":..,"outer_dst":..,"outermost":..}: id when the type
// carries one, the addresses when the header was recorded, outermost when another type wraps it.
char* put_tunnel(char* out, const EventTunnel& tunnel) noexcept {
    const TunnelType type = tunnel.innermost();
    out = put(out, ",\"tunnel\":{\"type\":\"");
    out = put(out, tunnel_type_names[static_cast<size_t>(type)]);
    *out++ = '"';
    if (tunnel_id_always_present(type) || tunnel.id != 0) {
        out = put(out, ",\"id\":");
        out = put_unsigned(out, tunnel.id);
    }
    if (tunnel.outer_known) {
        out = put(out, ",\"outer_src\":\"");
        out = write_ip(tunnel.outer_src, tunnel.outer_family, out);
        out = put(out, "\",\"outer_dst\":\"");
        out = write_ip(tunnel.outer_dst, tunnel.outer_family, out);
        *out++ = '"';
    }
    if (tunnel.outermost() != type) {
        out = put(out, ",\"outermost\":\"");
        out = put(out, tunnel_type_names[static_cast<size_t>(tunnel.outermost())]);
        *out++ = '"';
    }
    *out++ = '}';
    return out;
}

}  // namespace

std::string ip_text(const IpAddress& address, IpFamily family) {
    char text[ip_text_max_length + ip_text_slack];
    return std::string(text, write_ip(address, family, text));
}

void append_json_string(fmt::memory_buffer& out, std::string_view text) {
    size_t at = out.size();
    out.resize(at + 2 + 6 * text.size());
    char* end = put_json_string(out.data() + at, text.data(), text.size());
    out.resize(static_cast<size_t>(end - out.data()));
}

namespace {

// "signatures":[{"id":"http_503","dir":"resp","before_rst":0.120},...], absent when none.
char* put_signatures(const ResetEventExtras& e, char* out, SignatureRules rules) noexcept {
    char separator = '\0';
    for (const SignatureHit& hit : e.signatures) {
        if (hit.rule == 0 || hit.rule > rules.size()) continue;
        out = put(out, separator ? ",{\"id\":\"" : ",\"signatures\":[{\"id\":\"");
        separator = ',';
        const std::string& id = rules[hit.rule - 1].id;  // [a-z0-9_]: nothing to escape
        out = put(out, std::string_view(id).substr(0, signature_max_id_length));
        out = put(out, "\",\"dir\":\"");
        out = put(out, signature_where_name(static_cast<SignatureWhere>(hit.where)));
        out = put(out, "\",\"before_rst\":");
        out = put_unsigned(out, hit.before_rst_ms / 1000);
        *out++ = '.';
        out = put_digits(out, hit.before_rst_ms % 1000, 3);
        *out++ = '}';
    }
    if (separator) *out++ = ']';
    return out;
}

// ,"app":{"proto":..,"method":..,"host"|"sni":..,"status":..,"banner":..,"truncated":true}, each
// member where known; absent when the protocol is not.
char* put_app(char* out, const AppIdentity& app) noexcept {
    out = put(out, ",\"app\":{\"proto\":\"");
    out = put(out, app_proto_names[static_cast<size_t>(app.proto)]);
    *out++ = '"';
    if (app.method != 0 && app.method < http_method_names.size()) {
        out = put(out, ",\"method\":\"");
        out = put(out, http_method_names[app.method]);
        *out++ = '"';
    }
    if (app.name_length > 0) {
        out = app.proto == AppProto::tls ? put(out, ",\"sni\":") : put(out, ",\"host\":");
        out = put_json_string(out, app.name, std::min<size_t>(app.name_length, app_name_capacity));
    }
    if (app.status != 0) {
        out = put(out, ",\"status\":");
        out = put_unsigned(out, app.status);
    }
    if (app.banner_length > 0) {
        out = put(out, ",\"banner\":");
        out = put_json_string(out, app.banner,
                              std::min<size_t>(app.banner_length, app_banner_capacity));
    }
    if (app.flags & (app_flag::name_cut | app_flag::banner_cut))
        out = put(out, ",\"truncated\":true");
    *out++ = '}';
    return out;
}

// ,"pcap":{"file":"flight-000042.pcapng","offset":..,"packets":..}: where the flight recorder
// wrote the connection's packets (flight_recorder.h names its files so).
char* put_pcap(char* out, const PcapRef& pcap) noexcept {
    out = put(out, ",\"pcap\":{\"file\":\"flight-");
    out = pcap.file < 1'000'000 ? put_digits(out, pcap.file, 6) : put_unsigned(out, pcap.file);
    out = put(out, ".pcapng\",\"offset\":");
    out = put_unsigned(out, pcap.offset);
    out = put(out, ",\"packets\":");
    out = put_unsigned(out, pcap.packets);
    *out++ = '}';
    return out;
}

}  // namespace

char* write_event_json(const ResetEventCore& e, const ResetEventExtras& x, char* out,
                       SignatureRules rules) noexcept {
    out = put(out, "{\"ts\":");
    out = put_seconds(out, e.ts_ns);
    out = put(out, ",\"type\":\"reset\",\"id\":");
    out = put_unsigned(out, e.id);
    out = put(out, ",\"orig_h\":\"");
    out = write_ip(e.orig_h, e.family, out);
    out = put(out, "\",\"orig_p\":");
    out = put_unsigned(out, e.orig_p);
    out = put(out, ",\"resp_h\":\"");
    out = write_ip(e.resp_h, e.family, out);
    out = put(out, "\",\"resp_p\":");
    out = put_unsigned(out, e.resp_p);
    if (e.vlan_outer != vlan_none) {
        out = put(out, ",\"vlan\":");
        out = put_unsigned(out, e.vlan_outer);
    }
    if (e.vlan_inner != vlan_none) {
        out = put(out, ",\"vlan_inner\":");
        out = put_unsigned(out, e.vlan_inner);
    }
    if (x.tunnel.types != 0) out = put_tunnel(out, x.tunnel);
    out = put(out, ",\"orig_guessed\":");
    out = put_bool(out, e.orig_guessed);
    out = e.rst_by_orig ? put(out, ",\"rst_by\":\"orig\"") : put(out, ",\"rst_by\":\"resp\"");
    out = put(out, ",\"rst_count\":");
    out = put_unsigned(out, e.rst_count);
    if (e.rst_spacing_us != 0) {
        out = put(out, ",\"rst_spacing\":");
        out = put_seconds(out, uint64_t{e.rst_spacing_us} * 1000);
    }
    out = put(out, ",\"orig_pkts\":");
    out = put_unsigned(out, e.orig_pkts);
    out = put(out, ",\"orig_bytes\":");
    out = put_unsigned(out, e.orig_bytes);
    out = put(out, ",\"resp_pkts\":");
    out = put_unsigned(out, e.resp_pkts);
    out = put(out, ",\"resp_bytes\":");
    out = put_unsigned(out, e.resp_bytes);
    out = put(out, ",\"duration\":");
    out = put_seconds(out, e.last_ts_ns >= e.first_ts_ns ? e.last_ts_ns - e.first_ts_ns : 0);
    out = put(out, ",\"age_at_rst\":");
    out = put_seconds(out, e.ts_ns >= e.first_ts_ns ? e.ts_ns - e.first_ts_ns : 0);
    out = put(out, ",\"conn_state\":\"");
    out = put_name(out, conn_state_padded, static_cast<size_t>(e.conn_state));
    out = put(out, "\",\"history\":");
    out = put_history(out, e.history);
    out = put(out, ",\"cause\":\"");
    out = put_name(out, reset_cause_padded, static_cast<size_t>(e.cause));
    out = put(out, "\",\"confidence\":\"");
    out = put_name(out, confidence_padded, static_cast<size_t>(e.confidence));
    out = put(out, "\",\"seq_check\":\"");
    out = put_name(out, seq_check_padded, static_cast<size_t>(e.seq_check));
    out = put(out, "\",\"evidence\":[");
    // Set bits in ascending order are the vocabulary's order.
    constexpr EvidenceSet known = (EvidenceSet{1} << enum_count<Evidence>)-1;
    char separator = '\0';
    for (EvidenceSet bits = e.evidence & known; bits != 0; bits &= bits - 1) {
        if (separator) *out++ = separator;
        separator = ',';
        *out++ = '"';
        out = put_name(out, evidence_padded, static_cast<size_t>(std::countr_zero(bits)));
        *out++ = '"';
    }
    out = put(out, "],\"rst_ttl\":");
    out = put_unsigned(out, e.rst_ttl);
    if (e.usual_ttl != 0) {
        out = put(out, ",\"usual_ttl\":");
        out = put_unsigned(out, e.usual_ttl);
    }
    out = put(out, ",\"rst_origin\":\"");
    out = put_name(out, rst_origin_padded, static_cast<size_t>(e.rst_origin));
    *out++ = '"';
    if (e.hops_from_endpoint != 0) {
        out = put(out, ",\"hops_from_endpoint\":");
        out = put_unsigned(out, e.hops_from_endpoint);
    }
    out = put(out, ",\"idle_before\":");
    out = put_unsigned(out, e.idle_before_ms / 1000);
    *out++ = '.';
    out = put_digits(out, e.idle_before_ms % 1000, 3);
    if (e.rst_payload_length > 0) {
        out = put(out, ",\"payload_in_rst\":");
        out = put_json_string(out, reinterpret_cast<const char*>(x.rst_payload),
                              std::min<size_t>(e.rst_payload_length, rst_payload_capacity));
    }
    if (e.has(Evidence::mptcp_reset_reason)) {
        out = put(out, ",\"mptcp_reset_reason\":");
        out = put_unsigned(out, e.mptcp_reset_reason);
    }
    // Without rules no hit can name one: the walk over the hits costs 20 instructions a line.
    if (!rules.empty()) out = put_signatures(x, out, rules);
    if (x.app.proto != AppProto::none && static_cast<size_t>(x.app.proto) < app_proto_names.size())
        out = put_app(out, x.app);
    if (e.pcap.packets != 0) out = put_pcap(out, e.pcap);
    *out++ = '}';
    return out;
}

void append_event_json(fmt::memory_buffer& out, const ResetEventCore& event,
                       const ResetEventExtras& extras, SignatureRules rules) {
    size_t at = out.size();
    out.resize(at + event_json_max_length);
    char* end = write_event_json(event, extras, out.data() + at, rules);
    out.resize(static_cast<size_t>(end - out.data()));
}

std::string event_json(const ResetEventCore& event, const ResetEventExtras& extras,
                       SignatureRules rules) {
    char line[event_json_max_length];
    return std::string(line, write_event_json(event, extras, line, rules));
}

}  // namespace rstscope
