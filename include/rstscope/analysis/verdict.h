// SPDX-License-Identifier: BSD-3-Clause
// The vocabulary of a reset verdict, each list defined once: enum, log string and description
// (docs/causes.md is checked against these lists by a unit test).
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "rstscope/common/counters.h"  // RSTSCOPE_*_ENTRY helpers

namespace rstscope {

// Zeek's conn_state vocabulary (base/protocols/conn/main.zeek).
#define RSTSCOPE_CONN_STATES(X)                                                      \
    X(S0, "connection attempt seen, no reply")                                       \
    X(S1, "established, not terminated")                                             \
    X(SF, "normal establishment and termination")                                    \
    X(REJ, "connection attempt rejected")                                            \
    X(S2, "established, originator close attempt seen, no reply from responder")     \
    X(S3, "established, responder close attempt seen, no reply from originator")     \
    X(RSTO, "established, originator aborted with a RST")                            \
    X(RSTR, "established, responder sent a RST")                                     \
    X(RSTOS0, "originator sent a SYN then a RST, no SYN-ACK seen")                   \
    X(RSTRH, "responder sent a SYN-ACK then a RST, no SYN from the originator seen") \
    X(SH, "originator sent a SYN then a FIN, no SYN-ACK seen")                       \
    X(SHR, "responder sent a SYN-ACK then a FIN, no SYN from the originator seen")   \
    X(OTH, "no SYN seen, midstream traffic")

#define RSTSCOPE_RESET_CAUSES(X)                                                                   \
    X(refused, "RST answering a SYN: nothing listens on the port, or a firewall rejects it")       \
    X(handshake_abort, "RST during the handshake, after the SYN-ACK")                              \
    X(orig_abort, "the originator aborted an established connection")                              \
    X(resp_abort, "the responder aborted an established connection")                               \
    X(after_close, "RST after a FIN: data reached a socket already closed")                        \
    X(idle_timeout, "RST after a long idle gap: a middlebox forgot the flow")                      \
    X(overload, "the server reset under load: zero window, error reply or a RST storm")            \
    X(injected, "RST forged by a middlebox or an attacker")                                        \
    X(policy_reset, "a device on the path reset the connection by its policy (rule, port denied)") \
    X(out_of_window, "RST the receiver must ignore (RFC 5961): blind attack or stale stack")       \
    X(unsolicited, "RST on no known flow: backscatter, scan reply or midstream start")             \
    X(protocol_error, "an endpoint reported a protocol error (a TLS fatal alert) before the RST")

#define RSTSCOPE_CONFIDENCES(X)                                         \
    X(low, "one weak signal")                                           \
    X(medium, "consistent evidence with a known false-positive source") \
    X(high, "strong, independent evidence")

#define RSTSCOPE_SEQ_CHECKS(X)                                                      \
    X(unknown, "the receiver's expected sequence number was not known")             \
    X(exact, "sequence number equals the receiver's next expected (RFC 5961 3.2)")  \
    X(in_window, "within the receive window but not exact: a challenge ACK is due") \
    X(out_of_window, "outside the receive window: the receiver must drop it")

// Machine-readable facts behind a verdict; events carry them as a bit set plus a few values.
#define RSTSCOPE_EVIDENCE(X)                                                                  \
    X(ttl_mismatch, "the RST's TTL/hop limit differs from the sender's usual one")            \
    X(ipid_mismatch, "the RST's IP-ID does not follow the sender's IP-ID sequence")           \
    X(seq_exact, "RST sequence number exactly the next expected")                             \
    X(seq_in_window, "RST sequence number inside the window, not exact")                      \
    X(seq_out_of_window, "RST sequence number outside the window")                            \
    X(data_after_rst, "the RST's sender kept sending data after it (injection race)")         \
    X(rst_seq_change, "a later RST from the same side used a different sequence number")      \
    X(rst_ack_change, "a later RST from the same side acknowledged a different number")       \
    X(zero_window_before, "the RST's sender advertised a zero window before the RST")         \
    X(retransmits_before, "retransmissions were seen before the RST")                         \
    X(idle_before, "long idle gap before the RST")                                            \
    X(payload_in_rst, "the RST carries payload, often a text reason")                         \
    X(challenge_ack, "the receiver answered the RST with an ACK (RFC 5961 challenge)")        \
    X(rst_storm, "the same host reset many connections within a short time")                  \
    X(fin_before, "a FIN was seen before the RST")                                            \
    X(rst_retransmitted, "the same RST was sent again")                                       \
    X(mptcp_reset_reason, "an MPTCP MP_TCPRST option carries the reason")                     \
    X(ttl_match, "the RST's TTL/hop limit is its sender's usual one (connection or host)")    \
    X(ipid_continues, "the RST's IP-ID continues its sender's IP-ID counter")                 \
    X(socketless_rst, "IP-ID 0 and a default TTL less the sender's hops: a kernel RST")       \
    X(ttl_on_path, "the RST's TTL puts its sender on the path, fewer hops than the endpoint") \
    X(listen_overflow, "bare RST at the responder's ISN + 1 right after the handshake")       \
    X(host_fingerprint,                                                                       \
      "the sender never spoke on the connection: judged by its host's fingerprint")           \
    X(server_error, "a signature matched an error reply before the RST")                      \
    X(rst_reason, "a signature matched a reason in the RST's payload")

// Who sent the RST, as far as its TTL and IP-ID tell (docs/causes.md, "Who sent it").
#define RSTSCOPE_RST_ORIGINS(X)                                                          \
    X(unknown, "nothing known of the sender's TTL or IP-ID places the RST")              \
    X(endpoint, "the RST continues the endpoint's TTL or IP-ID, or is its kernel's own") \
    X(path, "a device between the observer and the endpoint, or a forger, sent the RST")

enum class ConnState : uint8_t { RSTSCOPE_CONN_STATES(RSTSCOPE_ENUM_ENTRY) count };
enum class ResetCause : uint8_t { RSTSCOPE_RESET_CAUSES(RSTSCOPE_ENUM_ENTRY) count };
enum class Confidence : uint8_t { RSTSCOPE_CONFIDENCES(RSTSCOPE_ENUM_ENTRY) count };
enum class SeqCheck : uint8_t { RSTSCOPE_SEQ_CHECKS(RSTSCOPE_ENUM_ENTRY) count };
enum class Evidence : uint8_t { RSTSCOPE_EVIDENCE(RSTSCOPE_ENUM_ENTRY) count };
enum class RstOrigin : uint8_t { RSTSCOPE_RST_ORIGINS(RSTSCOPE_ENUM_ENTRY) count };

template <class E>
inline constexpr size_t enum_count = static_cast<size_t>(E::count);

inline constexpr std::array<std::string_view, enum_count<ConnState>> conn_state_names{
    RSTSCOPE_CONN_STATES(RSTSCOPE_NAME_ENTRY)};
inline constexpr std::array<std::string_view, enum_count<ConnState>> conn_state_descriptions{
    RSTSCOPE_CONN_STATES(RSTSCOPE_DESCRIPTION_ENTRY)};
inline constexpr std::array<std::string_view, enum_count<ResetCause>> reset_cause_names{
    RSTSCOPE_RESET_CAUSES(RSTSCOPE_NAME_ENTRY)};
inline constexpr std::array<std::string_view, enum_count<ResetCause>> reset_cause_descriptions{
    RSTSCOPE_RESET_CAUSES(RSTSCOPE_DESCRIPTION_ENTRY)};
inline constexpr std::array<std::string_view, enum_count<Confidence>> confidence_names{
    RSTSCOPE_CONFIDENCES(RSTSCOPE_NAME_ENTRY)};
inline constexpr std::array<std::string_view, enum_count<SeqCheck>> seq_check_names{
    RSTSCOPE_SEQ_CHECKS(RSTSCOPE_NAME_ENTRY)};
inline constexpr std::array<std::string_view, enum_count<Evidence>> evidence_names{
    RSTSCOPE_EVIDENCE(RSTSCOPE_NAME_ENTRY)};
inline constexpr std::array<std::string_view, enum_count<Evidence>> evidence_descriptions{
    RSTSCOPE_EVIDENCE(RSTSCOPE_DESCRIPTION_ENTRY)};
inline constexpr std::array<std::string_view, enum_count<RstOrigin>> rst_origin_names{
    RSTSCOPE_RST_ORIGINS(RSTSCOPE_NAME_ENTRY)};
inline constexpr std::array<std::string_view, enum_count<RstOrigin>> rst_origin_descriptions{
    RSTSCOPE_RST_ORIGINS(RSTSCOPE_DESCRIPTION_ENTRY)};

template <class E>
constexpr std::string_view name_of(E value) noexcept {
    if constexpr (std::is_same_v<E, ConnState>) return conn_state_names[static_cast<size_t>(value)];
    if constexpr (std::is_same_v<E, ResetCause>)
        return reset_cause_names[static_cast<size_t>(value)];
    if constexpr (std::is_same_v<E, Confidence>)
        return confidence_names[static_cast<size_t>(value)];
    if constexpr (std::is_same_v<E, SeqCheck>) return seq_check_names[static_cast<size_t>(value)];
    if constexpr (std::is_same_v<E, Evidence>) return evidence_names[static_cast<size_t>(value)];
    if constexpr (std::is_same_v<E, RstOrigin>) return rst_origin_names[static_cast<size_t>(value)];
}

using EvidenceSet = uint32_t;
static_assert(enum_count<Evidence> <= 32);
constexpr EvidenceSet evidence_bit(Evidence e) noexcept {
    return EvidenceSet{1} << static_cast<unsigned>(e);
}

}  // namespace rstscope
