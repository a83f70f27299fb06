// SPDX-License-Identifier: BSD-3-Clause
// The connection scripts and the frame writer behind traffic_model.h. Not on the measured path:
// frames are written before the timed region starts.
#include "traffic_model.h"

#include <array>
#include <cstring>

#include "rstscope/common/mix64.h"

namespace rstscope::bench {
namespace {

namespace flag {
inline constexpr uint8_t fin = 0x01, syn = 0x02, rst = 0x04, psh = 0x08, ack = 0x10;
}

enum class Mark : uint8_t { normal, injected };

struct Step {
    uint8_t flags;
    bool from_client;
    uint8_t payload;  // bytes
    Mark mark = Mark::normal;
};

using Steps = std::array<Step, steps_per_connection>;

constexpr uint8_t S = flag::syn, SA = flag::syn | flag::ack, A = flag::ack,
                  PA = flag::psh | flag::ack, FA = flag::fin | flag::ack, R = flag::rst,
                  RA = flag::rst | flag::ack;
constexpr bool C = true, V = false;  // client (originator), server (responder)

constexpr Steps fin_close{{{S, C, 0},
                           {SA, V, 0},
                           {A, C, 0},
                           {PA, C, 32},
                           {A, V, 0},
                           {PA, V, 32},
                           {A, C, 0},
                           {FA, C, 0},
                           {FA, V, 0},
                           {A, C, 0}}};
constexpr Steps long_lived{{{PA, C, 32},
                            {A, V, 0},
                            {PA, V, 32},
                            {A, C, 0},
                            {PA, C, 16},
                            {PA, V, 16},
                            {A, C, 0},
                            {PA, C, 32},
                            {A, V, 0},
                            {A, C, 0}}};
constexpr Steps responder_abort{{{S, C, 0},
                                 {SA, V, 0},
                                 {A, C, 0},
                                 {PA, C, 32},
                                 {A, V, 0},
                                 {PA, V, 32},
                                 {A, C, 0},
                                 {RA, V, 0},
                                 {PA, C, 32},
                                 {RA, V, 0}}};
constexpr Steps originator_abort{{{S, C, 0},
                                  {SA, V, 0},
                                  {A, C, 0},
                                  {PA, C, 32},
                                  {A, V, 0},
                                  {PA, V, 32},
                                  {A, C, 0},
                                  {PA, V, 32},
                                  {RA, C, 0},
                                  {PA, V, 16}}};
constexpr Steps refused{{{S, C, 0},
                         {RA, V, 0},
                         {S, C, 0},
                         {RA, V, 0},
                         {S, C, 0},
                         {RA, V, 0},
                         {S, C, 0},
                         {RA, V, 0},
                         {S, C, 0},
                         {RA, V, 0}}};
constexpr Steps injected_reset{{{S, C, 0},
                                {SA, V, 0},
                                {A, C, 0},
                                {PA, C, 32},
                                {A, V, 0},
                                {R, V, 0, Mark::injected},
                                {PA, V, 32},
                                {A, C, 0},
                                {FA, C, 0},
                                {FA, V, 0}}};

// Reset-heavy scripts: 2 or 6 packets, then steps without a packet (flags 0).
constexpr Step none{0, C, 0};
constexpr Steps refused_once{
    {{S, C, 0}, {RA, V, 0}, none, none, none, none, none, none, none, none}};
constexpr Steps reset_by_client{{{S, C, 0},
                                 {SA, V, 0},
                                 {A, C, 0},
                                 {PA, C, 32},
                                 {PA, V, 32},
                                 {RA, C, 0},
                                 none,
                                 none,
                                 none,
                                 none}};
constexpr Steps reset_by_server{{{S, C, 0},
                                 {SA, V, 0},
                                 {A, C, 0},
                                 {PA, C, 32},
                                 {PA, V, 32},
                                 {RA, V, 0},
                                 none,
                                 none,
                                 none,
                                 none}};

constexpr const Steps& steps_of(Script s) {
    switch (s) {
        case Script::fin_close:
            return fin_close;
        case Script::long_lived:
            return long_lived;
        case Script::responder_abort:
            return responder_abort;
        case Script::originator_abort:
            return originator_abort;
        case Script::refused:
            return refused;
        case Script::injected_reset:
            return injected_reset;
        case Script::refused_once:
            return refused_once;
        case Script::reset_by_client:
            return reset_by_client;
        case Script::reset_by_server:
            return reset_by_server;
        case Script::count:
            break;
    }
    return fin_close;
}

// Sequence space each side has used before each step, relative to its initial sequence number
// (SYN and FIN count one; a RST none). A retried SYN restarts at the same ISN, as stacks do.
struct Offsets {
    uint32_t client[steps_per_connection];
    uint32_t server[steps_per_connection];
    uint32_t client_per_pass;  // long-lived flows carry on from pass to pass
    uint32_t server_per_pass;
};

constexpr Offsets offsets_of(const Steps& steps) {
    Offsets o{};
    uint32_t client = 0, server = 0;
    for (uint32_t i = 0; i < steps_per_connection; ++i) {
        const Step& s = steps[i];
        if ((s.flags & (flag::syn | flag::ack)) == flag::syn) client = 0;
        o.client[i] = client;
        o.server[i] = server;
        if (s.flags & flag::rst) continue;
        uint32_t length =
            s.payload + ((s.flags & flag::syn) ? 1 : 0) + ((s.flags & flag::fin) ? 1 : 0);
        (s.from_client ? client : server) += length;
    }
    o.client_per_pass = client;
    o.server_per_pass = server;
    return o;
}

constexpr std::array<Offsets, static_cast<size_t>(Script::count)> all_offsets{
    offsets_of(fin_close),        offsets_of(long_lived),      offsets_of(responder_abort),
    offsets_of(originator_abort), offsets_of(refused),         offsets_of(injected_reset),
    offsets_of(refused_once),     offsets_of(reset_by_client), offsets_of(reset_by_server)};

inline uint8_t* put16(uint8_t* p, uint16_t v) {
    p[0] = static_cast<uint8_t>(v >> 8);
    p[1] = static_cast<uint8_t>(v);
    return p + 2;
}
inline uint8_t* put32(uint8_t* p, uint32_t v) {
    put16(p, static_cast<uint16_t>(v >> 16));
    return put16(p + 2, static_cast<uint16_t>(v));
}

uint16_t ipv4_checksum(const uint8_t* header) {
    uint32_t sum = 0;
    for (int i = 0; i < 20; i += 2)
        sum += static_cast<uint32_t>(header[i] << 8 | header[i + 1]);
    while (sum >> 16)
        sum = (sum & 0xFFFF) + (sum >> 16);
    return static_cast<uint16_t>(~sum);
}

}  // namespace

TrafficModel::TrafficModel(uint32_t flows, uint32_t first_flow, Mix mix)
    : flows_(flows ? flows : 1), first_flow_(first_flow), mix_(mix) {}

FlowShape TrafficModel::shape(uint32_t flow) const noexcept {
    uint64_t h = mix64(flow);
    FlowShape s{};
    uint32_t slot = static_cast<uint32_t>(h & 63);
    if (mix_ == Mix::storm)
        s.script = Script::refused;
    else if (mix_ == Mix::reset_heavy)
        s.script = flow % 5 == 4   ? Script::refused_once
                   : (h >> 24) & 1 ? Script::reset_by_client
                                   : Script::reset_by_server;
    else if (slot == 0)
        s.script = Script::responder_abort;
    else if (slot == 1)
        s.script = Script::originator_abort;
    else if (slot == 2)
        s.script = Script::refused;
    else if (slot == 3)
        s.script = Script::injected_reset;
    else if (slot < 20)
        s.script = Script::long_lived;
    else
        s.script = Script::fin_close;
    s.ipv6 = ((h >> 8) & 3) == 0;
    s.vlan = ((h >> 16) & 3) == 0;
    return s;
}

uint32_t TrafficModel::write_frame(uint64_t index, uint8_t* out,
                                   uint8_t* tcp_flags) const noexcept {
    const uint64_t per_pass = packets_per_pass();
    const uint64_t pass = index / per_pass;
    const uint32_t within = static_cast<uint32_t>(index % per_pass);
    const uint32_t step_index = within / flows_;
    const uint32_t flow = first_flow_ + within % flows_;

    const FlowShape shape = this->shape(flow);
    const Step& step = steps_of(shape.script)[step_index];
    const Offsets& off = all_offsets[static_cast<size_t>(shape.script)];
    const bool from_client = step.from_client;
    if (step.flags == 0) return 0;  // a reset-heavy connection already ended

    // Connection identity: unique per flow number (client address and port), servers shared.
    const bool reset_heavy = mix_ == Mix::reset_heavy;
    const uint32_t client_host = reset_heavy ? flow % 65'000 : flow & 0xFFFF;
    const uint16_t client_port =
        static_cast<uint16_t>(1024 + (reset_heavy ? flow / 65'000 : flow >> 16));
    const uint32_t server_host =
        reset_heavy ? 1 + static_cast<uint32_t>(mix64(flow ^ 0x5e4e4) % 4'000) : 1 + flow % 200;
    const uint16_t server_port = (flow % 5 == 0) ? 80 : 443;

    // Sequence numbers: connection scripts start over each pass with new ISNs; long-lived flows
    // keep theirs and advance by what a pass carries.
    const bool long_lived = shape.script == Script::long_lived;
    const uint64_t isn_seed =
        long_lived ? mix64(flow ^ 0xABCDEF) : mix64(flow * 1'000'003ull + pass);
    uint32_t client_isn = static_cast<uint32_t>(isn_seed);
    uint32_t server_isn = static_cast<uint32_t>(isn_seed >> 32);
    if (long_lived) {
        client_isn += static_cast<uint32_t>(pass) * off.client_per_pass;
        server_isn += static_cast<uint32_t>(pass) * off.server_per_pass;
    }
    uint32_t seq =
        from_client ? client_isn + off.client[step_index] : server_isn + off.server[step_index];
    uint32_t ack =
        from_client ? server_isn + off.server[step_index] : client_isn + off.client[step_index];
    // The refusal: RFC 9293 3.10.7.1, <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>.
    const bool refusal = shape.script == Script::refused || shape.script == Script::refused_once;
    if (refusal && !from_client) seq = 0;
    const bool injected = step.mark == Mark::injected;
    if (injected) seq += 700;  // inside the receive window, not where the sender is

    uint8_t* p = out;
    static constexpr uint8_t mac_client[6] = {0x02, 0, 0, 0, 0, 0x01};
    static constexpr uint8_t mac_server[6] = {0x02, 0, 0, 0, 0, 0x02};
    std::memcpy(p, from_client ? mac_server : mac_client, 6);
    std::memcpy(p + 6, from_client ? mac_client : mac_server, 6);
    p += 12;
    if (shape.vlan) {
        p = put16(p, 0x8100);
        p = put16(p, static_cast<uint16_t>(100 + flow % 16));
    }
    const uint32_t options_length = (step.flags & flag::syn) ? 20 : 12;
    const uint32_t tcp_length = 20 + options_length + step.payload;
    const uint8_t ttl = injected ? 120 : from_client ? 64 : 57;
    const uint16_t ip_id =
        injected ? static_cast<uint16_t>(0x9999 ^ flow)
                 : static_cast<uint16_t>((from_client ? flow * 31 : flow * 17 + 5000) + pass * 16 +
                                         step_index);
    uint8_t client_addr[16] = {}, server_addr[16] = {};
    if (shape.ipv6) {
        p = put16(p, 0x86DD);
        static constexpr uint8_t prefix[6] = {0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00};
        std::memcpy(client_addr, prefix, 6);
        std::memcpy(server_addr, prefix, 6);
        client_addr[5] = 0x0c;
        server_addr[5] = 0x05;
        put32(client_addr + 12, reset_heavy ? 1 + client_host : flow);
        put32(server_addr + 12, server_host);
        put32(p, 0x60000000);
        put16(p + 4, static_cast<uint16_t>(tcp_length));
        p[6] = 6;  // TCP
        p[7] = ttl;
        std::memcpy(p + 8, from_client ? client_addr : server_addr, 16);
        std::memcpy(p + 24, from_client ? server_addr : client_addr, 16);
        p += 40;
    } else {
        p = put16(p, 0x0800);
        put32(client_addr, (198u << 24) | (18u << 16) | client_host);
        put32(server_addr, (198u << 24) | (19u << 16) | server_host);
        uint8_t* h = p;
        h[0] = 0x45;
        h[1] = 0;
        put16(h + 2, static_cast<uint16_t>(20 + tcp_length));
        put16(h + 4, ip_id);
        put16(h + 6, 0x4000);  // DF
        h[8] = ttl;
        h[9] = 6;
        put16(h + 10, 0);
        std::memcpy(h + 12, from_client ? client_addr : server_addr, 4);
        std::memcpy(h + 16, from_client ? server_addr : client_addr, 4);
        put16(h + 10, ipv4_checksum(h));
        p += 20;
    }
    uint8_t* t = p;
    put16(t, from_client ? client_port : server_port);
    put16(t + 2, from_client ? server_port : client_port);
    put32(t + 4, seq);
    put32(t + 8, (step.flags & flag::ack) ? ack : 0);
    t[12] = static_cast<uint8_t>(((20 + options_length) / 4) << 4);
    t[13] = step.flags;
    put16(t + 14, (step.flags & flag::rst) ? 0 : from_client ? 502 : 509);
    put32(t + 16, 0);  // checksum (not verified by any of the tools compared) and urgent pointer
    uint8_t* o = t + 20;
    const uint32_t ts_value = static_cast<uint32_t>(time_ns(index) / 1'000'000);
    if (step.flags & flag::syn) {
        o[0] = 2, o[1] = 4;
        put16(o + 2, 1460);  // MSS
        o[4] = 4, o[5] = 2;  // SACK permitted
        o[6] = 8, o[7] = 10;
        put32(o + 8, ts_value);
        put32(o + 12, (step.flags & flag::ack) ? ts_value - 1 : 0);
        o[16] = 1;  // NOP, then window scale 7
        o[17] = 3, o[18] = 3, o[19] = 7;
    } else {
        o[0] = 1, o[1] = 1;
        o[2] = 8, o[3] = 10;
        put32(o + 4, ts_value);
        put32(o + 8, ts_value - 1);
    }
    uint8_t* payload = o + options_length;
    for (uint32_t i = 0; i < step.payload; ++i)
        payload[i] = static_cast<uint8_t>('a' + i % 26);
    uint32_t length = static_cast<uint32_t>(payload + step.payload - out);
    if (length < 60) {  // Ethernet minimum (without FCS): captured padded, as on the wire
        std::memset(out + length, 0, 60 - length);
        length = 60;
    }
    if (tcp_flags) *tcp_flags = step.flags;
    return length;
}

}  // namespace rstscope::bench
