// SPDX-License-Identifier: BSD-3-Clause
// Every counter a worker keeps, defined once: the enum, the names in `stats` JSON and the summary,
// and the descriptions in docs all come from these lists, so they cannot drift.
//
// Thread contract: each worker owns one WorkerCounters and is its only writer; the management
// lcore reads them. Single-writer counters need no atomic read-modify-write: `bump` is a relaxed
// load and store, which compiles to a plain add on x86 yet stays a defined data race for readers.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace rstscope {

// Packets that were not analysed, by reason. Each is a counted drop: nothing is dropped silently.
#define RSTSCOPE_DROP_REASONS(X)                                                                \
    X(not_ip, "frame carries neither IPv4 nor IPv6 (ARP, LLDP, STP, ...)")                      \
    X(not_tcp, "IP packet whose transport is not TCP (UDP, ICMP, ...)")                         \
    X(ip_fragment,                                                                              \
      "IP fragment not reassembled: inside a tunnel, not TCP, after IPv6 extension headers, "   \
      "cut by the snap length, or reassembly off (inline mode, --frag-datagrams 0)")            \
    X(truncated_l2, "frame ends inside the link, VLAN, MPLS or tunnel header")                  \
    X(truncated_ip, "frame ends inside the IPv4 or IPv6 header or its extension headers")       \
    X(truncated_tcp, "frame ends inside the TCP header (before its options end)")               \
    X(bad_ip_version, "IP version nibble is neither 4 nor 6")                                   \
    X(bad_ipv4_header_length, "IPv4 IHL below 5 or beyond the total length")                    \
    X(bad_ip_total_length, "IP total or payload length smaller than the headers it must hold")  \
    X(bad_ipv6_extension, "IPv6 extension header chain malformed or longer than supported")     \
    X(bad_tcp_data_offset, "TCP data offset below 5 or beyond the IP payload")                  \
    X(tunnel_too_deep, "encapsulation nested deeper than the decoder follows")                  \
    X(unsupported_tunnel, "GRE or other encapsulation whose payload the decoder does not know") \
    X(unsupported_link, "pcap record of a link type the decoder does not know")                 \
    X(bad_tunnel_header, "tunnel or link header with a refused version, flag or length")        \
    X(tunnel_control, "tunnel signalling that carries no packet (GTP-U echo, AYIYA non-forward)")

// Everything else a worker counts, each with its kind (CounterKind below): volumes, anomalies that
// do not stop analysis, and losses (events or packets that went missing). The summary prints every
// loss and every anomaly from these kinds, so a new loss cannot be left out of it.
#define RSTSCOPE_WORKER_COUNTERS(X)                                                                \
    X(packets, volume, "frames received by this worker")                                           \
    X(bytes, volume, "frame bytes received (as captured)")                                         \
    X(tcp_packets, volume, "TCP segments decoded")                                                 \
    X(ipv6_packets, volume, "TCP segments over IPv6")                                              \
    X(vlan_packets, volume, "TCP segments carrying at least one 802.1Q/802.1ad tag")               \
    X(mpls_packets, volume, "TCP segments inside an MPLS label stack")                             \
    X(tunnel_packets, volume,                                                                      \
      "TCP segments found inside a tunnel (GRE, ERSPAN, IP-in-IP, UDP tunnels)")                   \
    X(rst_packets, volume, "TCP segments with RST set (every one, including repeats)")             \
    X(fragments, volume, "outermost IP fragments carrying TCP taken by reassembly")                \
    X(fragments_reassembled, volume,                                                               \
      "datagrams reassembled from fragments, then decoded as one packet")                          \
    X(fragments_table_full, loss,                                                                  \
      "fragments dropped: the reassembly table had no free entry (--frag-datagrams)")              \
    X(fragments_timed_out, loss,                                                                   \
      "fragments of datagrams not complete within --frag-timeout, or when the input ended")        \
    X(fragments_invalid, loss,                                                                     \
      "fragments dropped as invalid: overlapping or repeated, more than 8 to a datagram, empty, "  \
      "or not a multiple of 8 bytes before the last")                                              \
    X(fragments_too_large, loss, "fragments dropped: their datagram would exceed 65535 bytes")     \
    X(payload_truncated, anomaly, "TCP segments whose payload was cut by the capture snap length") \
    X(tcp_option_malformed, anomaly,                                                               \
      "TCP option list malformed: options ignored, segment analysed")                              \
    X(syn_retransmitted, anomaly,                                                                  \
      "SYNs repeating their connection's ISN: the first went unanswered or its answer was lost")   \
    X(synack_after_handshake_ack, anomaly,                                                         \
      "SYN-ACKs sent again after the originator acknowledged them: the server dropped the ACK "    \
      "(Linux: accept queue full, tcp_abort_on_overflow 0)")                                       \
    X(flows_created, volume, "flow entries created")                                               \
    X(flows_expired, volume, "flow entries expired after their idle timeout")                      \
    X(flows_evicted, volume, "live flow entries evicted because both candidate buckets were full") \
    X(zeek_records_split, volume,                                                                  \
      "Zeek connection records ended inside a flow: the next packet began a new record")           \
    X(hosts_evicted, volume,                                                                       \
      "host fingerprints (usual TTL, IP-ID behaviour) evicted from a full bucket of the table")    \
    X(reset_connections, volume, "connections with at least one RST (one event each)")             \
    X(app_slots_reused, volume,                                                                    \
      "application parses cut short because a newer connection took their worker's app slot")      \
    X(app_gaps, volume, "application parses stopped by a gap in the stream (missed segment)")      \
    X(events_emitted, volume, "reset events handed to the event ring")                             \
    X(events_ring_full, loss, "reset events dropped because the ring to management was full")      \
    X(events_outbox_full, loss, "reset events lost in the tracker's outbox (never expected)")      \
    X(linger_queue_full, approximation,                                                            \
      "events written before their linger window ended because the linger queue was full: "        \
      "verdicts from the evidence seen so far, no event lost")                                     \
    X(dispatch_ring_full, loss, "packets dropped because a peer worker's dispatch ring was full")  \
    X(capture_records_unread, loss,                                                                \
      "capture records the file no longer held when they were read (cut short during the run)")    \
    X(tx_dropped, loss, "inline mode: packets the peer port did not accept for transmission")      \
    X(events_lost_shutdown, loss, "reset events not handed over before the shutdown deadline")     \
    X(recorder_packets_skipped, approximation,                                                     \
      "flight recorder: packets after a reset's RST not kept, its flow's share for them was used") \
    X(recorder_packets_overwritten, approximation,                                                 \
      "flight recorder: packets a reset's pcap lacks because the ring had overwritten them")       \
    X(recorder_events_without_packets, approximation,                                              \
      "flight recorder: reset events with no packets (slot reused before the verdict, or "         \
      "overwritten)")

#define RSTSCOPE_ENUM_ENTRY(name, description) name,
#define RSTSCOPE_NAME_ENTRY(name, description) std::string_view{#name},
#define RSTSCOPE_DESCRIPTION_ENTRY(name, description) std::string_view{description},
// The same for lists with a kind column.
#define RSTSCOPE_KINDED_ENUM_ENTRY(name, kind, description) name,
#define RSTSCOPE_KINDED_NAME_ENTRY(name, kind, description) std::string_view{#name},
#define RSTSCOPE_KINDED_DESCRIPTION_ENTRY(name, kind, description) std::string_view{description},
#define RSTSCOPE_KIND_ENTRY(name, kind, description) CounterKind::kind,

// What a counter tells an operator, and so where the summary and `stats` readers put it.
enum class CounterKind : uint8_t {
    volume,         // how much went through: packets, flows, events
    anomaly,        // something odd, counted, and analysed anyway
    loss,           // a packet not analysed or forwarded, or a reset event missing from the log
    approximation,  // a bounded table forgot something: a verdict or tally approximated
};

constexpr std::string_view name_of(CounterKind kind) noexcept {
    switch (kind) {
        case CounterKind::volume:
            return "volume";
        case CounterKind::anomaly:
            return "anomaly";
        case CounterKind::loss:
            return "loss";
        case CounterKind::approximation:
            return "approximation";
    }
    return "unknown";
}

enum class DropReason : uint8_t { RSTSCOPE_DROP_REASONS(RSTSCOPE_ENUM_ENTRY) count };
enum class WorkerCounter : uint8_t { RSTSCOPE_WORKER_COUNTERS(RSTSCOPE_KINDED_ENUM_ENTRY) count };

inline constexpr size_t drop_reason_count = static_cast<size_t>(DropReason::count);
inline constexpr size_t worker_counter_count = static_cast<size_t>(WorkerCounter::count);

inline constexpr std::array<std::string_view, drop_reason_count> drop_reason_names{
    RSTSCOPE_DROP_REASONS(RSTSCOPE_NAME_ENTRY)};
inline constexpr std::array<std::string_view, drop_reason_count> drop_reason_descriptions{
    RSTSCOPE_DROP_REASONS(RSTSCOPE_DESCRIPTION_ENTRY)};
inline constexpr std::array<std::string_view, worker_counter_count> worker_counter_names{
    RSTSCOPE_WORKER_COUNTERS(RSTSCOPE_KINDED_NAME_ENTRY)};
inline constexpr std::array<std::string_view, worker_counter_count> worker_counter_descriptions{
    RSTSCOPE_WORKER_COUNTERS(RSTSCOPE_KINDED_DESCRIPTION_ENTRY)};
inline constexpr std::array<CounterKind, worker_counter_count> worker_counter_kinds{
    RSTSCOPE_WORKER_COUNTERS(RSTSCOPE_KIND_ENTRY)};
// Every drop reason is a loss: the packet was not analysed.

// One worker's counters, alone on its cache lines so two workers never share one (no false
// sharing). Written by the owning worker only; read by management.
struct alignas(64) WorkerCounters {
    std::array<std::atomic<uint64_t>, worker_counter_count> counters{};
    std::array<std::atomic<uint64_t>, drop_reason_count> drops{};

    void bump(WorkerCounter c, uint64_t n = 1) noexcept { add(counters[index(c)], n); }
    void drop(DropReason r) noexcept { add(drops[index(r)], 1); }

    uint64_t get(WorkerCounter c) const noexcept {
        return counters[index(c)].load(std::memory_order_relaxed);
    }
    uint64_t get(DropReason r) const noexcept {
        return drops[index(r)].load(std::memory_order_relaxed);
    }
    uint64_t total_drops() const noexcept {
        uint64_t sum = 0;
        for (const auto& d : drops)
            sum += d.load(std::memory_order_relaxed);
        return sum;
    }

  private:
    template <class E>
    static constexpr size_t index(E e) noexcept {
        return static_cast<size_t>(e);
    }
    static void add(std::atomic<uint64_t>& c, uint64_t n) noexcept {
        c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
};

}  // namespace rstscope
