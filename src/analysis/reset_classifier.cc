// SPDX-License-Identifier: BSD-3-Clause
#include "rstscope/analysis/reset_classifier.h"

namespace rstscope {
namespace {

Confidence by_sequence(SeqCheck check) noexcept {
    switch (check) {
        case SeqCheck::exact:
            return Confidence::high;
        case SeqCheck::in_window:
            return Confidence::medium;
        default:
            return Confidence::low;
    }
}

// Weaver, Sommer, Paxson, "Detecting Forged TCP Reset Packets" (NDSS 2009). The race signature
// (the apparent sender keeps sending after its own RST) is the only strong signal; TTL and IP-ID
// shifts also follow load balancers, route changes and NAT, so alone they never convict. A TTL
// counts only when nothing innocent explains it: not the kernel's own socketless RST (IP-ID 0,
// default TTL: then `ttl_mismatch` is not even set) and not a device on the path (`ttl_on_path`).
bool injection(const ResetFacts& f, Confidence& confidence) noexcept {
    bool ttl = f.has(Evidence::ttl_mismatch) && !f.has(Evidence::ttl_on_path);
    bool ipid = f.has(Evidence::ipid_mismatch);
    bool seq_change = f.has(Evidence::rst_seq_change);
    bool ack_change = f.has(Evidence::rst_ack_change);
    if (f.has(Evidence::data_after_rst)) {
        confidence = (ttl || ipid || seq_change) ? Confidence::high : Confidence::medium;
        return true;
    }
    int weak = int{ttl} + int{ipid} + int{seq_change} + int{ack_change};
    if (weak >= 2 && (seq_change || ack_change)) {
        confidence = Confidence::medium;
        return true;
    }
    if (ttl && ipid) {
        confidence = Confidence::low;
        return true;
    }
    return false;
}

// The RST continues what its sender's own packets show (TTL, IP-ID), or is its kernel's own.
bool from_endpoint(const ResetFacts& f) noexcept {
    return !f.has(Evidence::ttl_on_path) &&
           (f.has(Evidence::ttl_match) || f.has(Evidence::ipid_continues) ||
            f.has(Evidence::socketless_rst));
}

}  // namespace

Verdict classify_reset(const ResetFacts& f) noexcept {
    if (f.started_with_rst) return {ResetCause::unsolicited, Confidence::medium};

    // RFC 5961 3.2: outside the window the receiver drops the RST; inside but inexact it answers
    // with a challenge ACK and keeps the connection. Either way the RST did not reset anything.
    if (f.seq_check == SeqCheck::out_of_window) {
        return {ResetCause::out_of_window,
                f.has(Evidence::challenge_ack) ? Confidence::high : Confidence::medium};
    }
    if (f.seq_check == SeqCheck::in_window && f.has(Evidence::challenge_ack))
        return {ResetCause::out_of_window, Confidence::medium};

    // Linux with tcp_abort_on_overflow: the accept queue was full when the handshake's last ACK
    // came, and the listener answered it from no socket. The application never saw the client.
    if (f.has(Evidence::listen_overflow)) {
        return {ResetCause::overload,
                f.has(Evidence::socketless_rst) ? Confidence::high : Confidence::medium};
    }

    // A RST that states its reason (RFC 9293 3.5.3 diagnostic text, matched by a signature) is
    // taken at its word: a load balancer or firewall saying why it reset also explains the TTL
    // and IP-ID that are not the endpoint's, which would otherwise look injected.
    if (f.has(Evidence::rst_reason) && f.rst_reason_cause != ResetCause::count)
        return {f.rst_reason_cause, Confidence::high};

    // Something expired the flow and answered the first packet after the silence. A device on the
    // path (its TTL says so) is the classic firewall/NAT timeout: high. The endpoint's own timer
    // (its TTL and IP-ID continue) is an application's or its stack's: medium at most, and the
    // event says which side. An exact sequence number says nothing here: every RST a stack
    // accepts is exact.
    if (f.idle && f.established && !f.has(Evidence::fin_before)) {
        bool on_path =
            f.has(Evidence::ttl_on_path) || (f.has(Evidence::ttl_mismatch) && !from_endpoint(f));
        return {ResetCause::idle_timeout, on_path ? Confidence::high : Confidence::medium};
    }

    Confidence injected_confidence = Confidence::low;
    if (injection(f, injected_confidence)) return {ResetCause::injected, injected_confidence};

    if (!f.established) {
        if (!f.rst_by_orig && f.orig_syn_seen && !f.synack_seen) {
            return {ResetCause::refused, f.ack_matches_syn ? Confidence::high : Confidence::medium};
        }
        if (f.orig_syn_seen || f.synack_seen)
            return {ResetCause::handshake_abort, by_sequence(f.seq_check)};
    }

    // A device between the observer and the endpoint reset an established connection: an IPS,
    // a firewall policy, a proxy. Its TTL places it; IP-ID breaking too makes it a second fact.
    if (f.established && f.has(Evidence::ttl_on_path)) {
        return {ResetCause::policy_reset,
                f.has(Evidence::ipid_mismatch) ? Confidence::high : Confidence::medium};
    }

    // An error reply (HTTP 503, SMTP 421, "too many connections", ...) says why the peer gave
    // up, whether or not it closed before resetting.
    if (f.has(Evidence::server_error) && f.reply_cause != ResetCause::count)
        return {f.reply_cause, Confidence::medium};

    if (f.has(Evidence::fin_before)) return {ResetCause::after_close, by_sequence(f.seq_check)};

    if (!f.rst_by_orig && f.has(Evidence::zero_window_before))
        return {ResetCause::overload, Confidence::medium};

    return {f.rst_by_orig ? ResetCause::orig_abort : ResetCause::resp_abort,
            by_sequence(f.seq_check)};
}

RstOrigin rst_origin_of(const ResetFacts& f, ResetCause cause) noexcept {
    if (cause == ResetCause::injected || f.has(Evidence::ttl_on_path)) return RstOrigin::path;
    if (from_endpoint(f)) return RstOrigin::endpoint;
    return RstOrigin::unknown;
}

}  // namespace rstscope
