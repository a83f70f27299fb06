// SPDX-License-Identifier: BSD-3-Clause
// Synthetic TCP traffic for the benchmarks: a deterministic mix of connections over N flows,
// written as Ethernet frames. worker_bench feeds it to the worker's packet path; gen_big_pcap
// writes it to a capture file for the side-by-side with tshark and tcpdump.
//
// Shape of the traffic. Every connection follows a script of exactly `steps_per_connection`
// packets; a pass plays step 0 of every flow (flow 0, 1, ..., N-1), then step 1 of every flow, and
// so on, so each flow sees one packet every N packets and the table holds N live flows throughout.
// Consecutive flow numbers hash to unrelated buckets, so every lookup of a large table is a cache
// miss, as on a real link with many flows. The next pass replays the scripts with new initial
// sequence numbers: a SYN on a closed flow opens a fresh connection in the same slot, the
// long-lived flows carry on where they were.
//
// Mix per 64 flows (chosen by a hash of the flow number, not by its position):
//   44 full connections closed by FIN        SYN, SYN-ACK, ACK, data both ways, FIN, FIN, ACK
//   16 long-lived flows picked up mid-stream data and ACKs only, never closed
//    1 responder abort                       handshake, data, RST-ACK, data after it, RST again
//    1 originator abort                      handshake, data, RST-ACK from the client
//    1 refused connection                    (SYN, RST-ACK) five times: five reset connections
//    1 injected reset                        RST with a foreign TTL and IP-ID inside the window
// A quarter of the flows are IPv6 and, independently, a quarter carry an 802.1Q tag. Addresses
// come from the benchmarking ranges (RFC 2544 198.18.0.0/15, RFC 3849 2001:db8::/32).
//
// Mix::reset_heavy (issue 9: what management meets when a server fails): every connection ends in
// a reset. One in five is refused (SYN, RST-ACK: 2 packets); the others are a handshake, a request,
// a response and a RST-ACK from the client or the server, half each (6 packets). Their remaining
// steps are empty: write_frame() returns 0 and the index carries no packet, so N flows make
// 5.2 N packets (200 000 flows: 1.04 M). Clients: 65 000 hosts; servers: 4 000.
#pragma once

#include <cstddef>
#include <cstdint>

namespace rstscope::bench {

inline constexpr uint32_t steps_per_connection = 10;
// Largest frame the model writes (IPv6 + VLAN + TCP options + 32 bytes of payload) fits here.
inline constexpr uint32_t frame_stride = 128;

enum class Script : uint8_t {
    fin_close,
    long_lived,
    responder_abort,
    originator_abort,
    refused,
    injected_reset,
    refused_once,
    reset_by_client,
    reset_by_server,
    count
};

enum class Mix : uint8_t { standard, storm, reset_heavy };

struct FlowShape {
    Script script;
    bool ipv6;
    bool vlan;
};

class TrafficModel {
  public:
    // `first_flow` offsets the flow numbers so that two models (two benchmark threads) never
    // share a connection. `storm`: every connection is a handshake answered by a RST (a reset
    // storm for the management lcore), instead of the mix above.
    TrafficModel(uint32_t flows, uint32_t first_flow = 0, bool storm = false)
        : TrafficModel(flows, first_flow, storm ? Mix::storm : Mix::standard) {}
    TrafficModel(uint32_t flows, uint32_t first_flow, Mix mix);

    uint32_t flows() const noexcept { return flows_; }
    uint64_t packets_per_pass() const noexcept { return uint64_t{flows_} * steps_per_connection; }

    FlowShape shape(uint32_t flow) const noexcept;

    // Writes packet `index` of the endless sequence (pass = index / packets_per_pass) into `out`
    // (at least frame_stride bytes); returns the frame length, 0 for an index that carries no
    // packet (Mix::reset_heavy). `tcp_flags`, when not null, receives the TCP flags written.
    uint32_t write_frame(uint64_t index, uint8_t* out, uint8_t* tcp_flags = nullptr) const noexcept;

    // Packet time of `index`: a fixed spacing, so a pass of N flows lasts N * 10 * spacing.
    uint64_t time_ns(uint64_t index) const noexcept { return t0_ns + index * spacing_ns; }

    static constexpr uint64_t t0_ns = 1'700'000'000ull * 1'000'000'000ull;
    static constexpr uint64_t spacing_ns = 1000;  // 1 Mpps of packet time

  private:
    uint32_t flows_;
    uint32_t first_flow_;
    Mix mix_;
};

}  // namespace rstscope::bench
