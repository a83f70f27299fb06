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
// shifts also follow load balancers, route changes and NAT, so alone they never convict.
bool injection(const ResetFacts& f, Confidence& confidence) noexcept {
    bool ttl = f.has(Evidence::ttl_mismatch);
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

    // A middlebox that expired the flow answers the first packet after the silence, often with a
    // TTL that is not the endpoint's: that TTL is expected here, not a sign of injection.
    if (f.idle && f.established && !f.has(Evidence::fin_before)) {
        bool corroborated = f.has(Evidence::ttl_mismatch) || f.seq_check == SeqCheck::exact;
        return {ResetCause::idle_timeout, corroborated ? Confidence::high : Confidence::medium};
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

    if (f.has(Evidence::fin_before)) return {ResetCause::after_close, by_sequence(f.seq_check)};

    if (!f.rst_by_orig && f.has(Evidence::zero_window_before))
        return {ResetCause::overload, Confidence::medium};

    return {f.rst_by_orig ? ResetCause::orig_abort : ResetCause::resp_abort,
            by_sequence(f.seq_check)};
}

}  // namespace rstscope
