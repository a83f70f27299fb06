// SPDX-License-Identifier: BSD-3-Clause
// Unit tests for classify_reset(): each rule of src/analysis/reset_classifier.cc on its own, then
// the order in which they apply (the first rule that matches wins).

#include <gtest/gtest.h>

#include <initializer_list>

#include "print_enums.h"
#include "rstscope/analysis/reset_classifier.h"

namespace rstscope {
namespace {

using C = ResetCause;
using K = Confidence;
using E = Evidence;

// An established connection whose responder sent an exact RST, nothing else known.
ResetFacts established(std::initializer_list<Evidence> evidence = {},
                       SeqCheck check = SeqCheck::exact) {
    ResetFacts f;
    f.orig_syn_seen = true;
    f.synack_seen = true;
    f.established = true;
    f.seq_check = check;
    for (Evidence e : evidence)
        f.evidence |= evidence_bit(e);
    return f;
}

// The originator sent a SYN; the responder answered with a RST and nothing else.
ResetFacts syn_sent(SeqCheck check, bool ack_matches_syn) {
    ResetFacts f;
    f.orig_syn_seen = true;
    f.seq_check = check;
    f.ack_matches_syn = ack_matches_syn;
    return f;
}

void expect_verdict(const ResetFacts& f, ResetCause cause, Confidence confidence) {
    Verdict v = classify_reset(f);
    EXPECT_EQ(v.cause, cause);
    EXPECT_EQ(v.confidence, confidence);
}

TEST(Classifier, RstOnNoKnownFlowIsUnsolicited) {
    ResetFacts f;
    f.started_with_rst = true;
    expect_verdict(f, C::unsolicited, K::medium);
    // Nothing else is judged on a flow that began with the RST.
    f.seq_check = SeqCheck::out_of_window;
    f.evidence = evidence_bit(E::data_after_rst) | evidence_bit(E::challenge_ack);
    f.idle = true;
    f.established = true;
    expect_verdict(f, C::unsolicited, K::medium);
}

TEST(Classifier, OutOfWindowIsIgnoredByTheReceiver) {
    expect_verdict(established({}, SeqCheck::out_of_window), C::out_of_window, K::medium);
    expect_verdict(established({E::challenge_ack}, SeqCheck::out_of_window), C::out_of_window,
                   K::high);
    // Ahead of idle timeouts and injection signs alike.
    ResetFacts f = established({E::data_after_rst, E::ttl_mismatch}, SeqCheck::out_of_window);
    f.idle = true;
    expect_verdict(f, C::out_of_window, K::medium);
}

TEST(Classifier, InWindowWithChallengeAckDidNotReset) {
    expect_verdict(established({E::challenge_ack}, SeqCheck::in_window), C::out_of_window,
                   K::medium);
    // Without the challenge ACK an in-window RST is judged by the other rules.
    expect_verdict(established({}, SeqCheck::in_window), C::resp_abort, K::medium);
    // A challenge ACK after an exact RST means nothing (exact RSTs are accepted).
    expect_verdict(established({E::challenge_ack}, SeqCheck::exact), C::resp_abort, K::high);
}

TEST(Classifier, IdleTimeoutNeedsAnEstablishedConnectionWithoutFin) {
    // An exact sequence number corroborates nothing: every RST a stack accepts is exact.
    ResetFacts exact = established({E::seq_exact});
    exact.idle = true;
    expect_verdict(exact, C::idle_timeout, K::medium);

    ResetFacts in_window = established({}, SeqCheck::in_window);
    in_window.idle = true;
    expect_verdict(in_window, C::idle_timeout, K::medium);

    ResetFacts with_ttl = established({E::ttl_mismatch}, SeqCheck::unknown);
    with_ttl.idle = true;
    expect_verdict(with_ttl, C::idle_timeout, K::high);

    ResetFacts unknown = established({}, SeqCheck::unknown);
    unknown.idle = true;
    expect_verdict(unknown, C::idle_timeout, K::medium);

    ResetFacts after_fin = established({E::fin_before});
    after_fin.idle = true;
    expect_verdict(after_fin, C::after_close, K::high);

    ResetFacts handshake = syn_sent(SeqCheck::exact, true);
    handshake.idle = true;
    expect_verdict(handshake, C::refused, K::high);

    ResetFacts midstream = established({}, SeqCheck::exact);
    midstream.established = false;
    midstream.orig_syn_seen = midstream.synack_seen = false;
    midstream.idle = true;
    expect_verdict(midstream, C::resp_abort, K::high);
}

TEST(Classifier, IdleTimeoutExplainsTtlAndIpIdShifts) {
    // A middlebox answering for a flow it forgot: its TTL and IP-ID are expected, not forged.
    ResetFacts f = established({E::ttl_mismatch, E::ipid_mismatch});
    f.idle = true;
    expect_verdict(f, C::idle_timeout, K::high);
}

TEST(Classifier, IdleTimeoutOfThePathIsHighOfTheEndpointMediumAtMost) {
    ResetFacts path = established({E::ttl_mismatch, E::ttl_on_path, E::seq_exact});
    path.idle = true;
    expect_verdict(path, C::idle_timeout, K::high);
    EXPECT_EQ(rst_origin_of(path, C::idle_timeout), RstOrigin::path);

    // The application's own idle timer: its TTL and IP-ID continue the endpoint's.
    ResetFacts own = established({E::ttl_match, E::ipid_continues, E::seq_exact});
    own.idle = true;
    expect_verdict(own, C::idle_timeout, K::medium);
    EXPECT_EQ(rst_origin_of(own, C::idle_timeout), RstOrigin::endpoint);

    // A TTL change the endpoint's IP-ID contradicts is not the path's either.
    ResetFacts mixed = established({E::ttl_mismatch, E::ipid_continues});
    mixed.idle = true;
    expect_verdict(mixed, C::idle_timeout, K::medium);
}

TEST(Classifier, ListenOverflowIsOverloadNotAnAbort) {
    // tcp_abort_on_overflow: the kernel's bare RST at ISN + 1 after the handshake (history ShAr).
    expect_verdict(established({E::listen_overflow, E::seq_exact, E::ttl_match, E::socketless_rst}),
                   C::overload, K::high);
    expect_verdict(established({E::listen_overflow, E::seq_exact}), C::overload, K::medium);
    EXPECT_EQ(rst_origin_of(established({E::listen_overflow, E::socketless_rst}), C::overload),
              RstOrigin::endpoint);
}

TEST(Classifier, SocketlessRstIsTheEndpointNotInjection) {
    // The tracker reports neither mismatch for a socketless RST (one fact, not two): what is
    // left is the endpoint's kernel closing a closed socket's connection.
    ResetFacts after_close = established({E::socketless_rst, E::fin_before, E::seq_exact});
    expect_verdict(after_close, C::after_close, K::high);
    EXPECT_EQ(rst_origin_of(after_close, C::after_close), RstOrigin::endpoint);
}

TEST(Classifier, PathTtlMidConnectionIsAPolicyReset) {
    ResetFacts f = established({E::ttl_mismatch, E::ttl_on_path, E::seq_exact});
    expect_verdict(f, C::policy_reset, K::medium);
    EXPECT_EQ(rst_origin_of(f, C::policy_reset), RstOrigin::path);
    // A path TTL and a broken IP-ID: two facts about the same device, not a forger.
    expect_verdict(established({E::ttl_mismatch, E::ttl_on_path, E::ipid_mismatch}),
                   C::policy_reset, K::high);
    // The race still convicts, whatever the TTL says.
    expect_verdict(established({E::ttl_mismatch, E::ttl_on_path, E::data_after_rst}), C::injected,
                   K::medium);
    // Before establishment a path RST keeps its handshake verdict (a firewall refusal).
    ResetFacts refusal = syn_sent(SeqCheck::exact, true);
    refusal.evidence = evidence_bit(E::ttl_on_path);
    expect_verdict(refusal, C::refused, K::high);
    EXPECT_EQ(rst_origin_of(refusal, C::refused), RstOrigin::path);
}

TEST(Classifier, OriginIsUnknownWithoutTtlOrIpIdFacts) {
    EXPECT_EQ(rst_origin_of(established({E::seq_exact}), C::resp_abort), RstOrigin::unknown);
    EXPECT_EQ(rst_origin_of(established({E::ttl_mismatch}), C::resp_abort), RstOrigin::unknown);
    EXPECT_EQ(rst_origin_of(established({E::ttl_mismatch, E::ipid_mismatch}), C::injected),
              RstOrigin::path);
}

TEST(Classifier, DataAfterRstIsInjection) {
    expect_verdict(established({E::data_after_rst}), C::injected, K::medium);
    expect_verdict(established({E::data_after_rst, E::ttl_mismatch}), C::injected, K::high);
    expect_verdict(established({E::data_after_rst, E::ipid_mismatch}), C::injected, K::high);
    expect_verdict(established({E::data_after_rst, E::rst_seq_change}), C::injected, K::high);
    // An ACK change alone does not raise the race to high.
    expect_verdict(established({E::data_after_rst, E::rst_ack_change}), C::injected, K::medium);
}

TEST(Classifier, TwoWeakSignalsWithARepeatChangeAreMediumInjection) {
    expect_verdict(established({E::rst_seq_change, E::rst_ack_change}), C::injected, K::medium);
    expect_verdict(established({E::rst_seq_change, E::ttl_mismatch}), C::injected, K::medium);
    expect_verdict(established({E::rst_ack_change, E::ipid_mismatch}), C::injected, K::medium);
    expect_verdict(established({E::ttl_mismatch, E::ipid_mismatch, E::rst_seq_change}), C::injected,
                   K::medium);
}

TEST(Classifier, TtlAndIpIdTogetherAreLowInjection) {
    expect_verdict(established({E::ttl_mismatch, E::ipid_mismatch}), C::injected, K::low);
}

TEST(Classifier, OneWeakSignalNeverConvicts) {
    // Load balancers, route changes and NAT shift TTL and IP-ID; stacks resend RSTs differently.
    expect_verdict(established({E::ttl_mismatch}), C::resp_abort, K::high);
    expect_verdict(established({E::ipid_mismatch}), C::resp_abort, K::high);
    expect_verdict(established({E::rst_seq_change}), C::resp_abort, K::high);
    expect_verdict(established({E::rst_ack_change}), C::resp_abort, K::high);
    ResetFacts by_orig = established({E::ttl_mismatch}, SeqCheck::in_window);
    by_orig.rst_by_orig = true;
    expect_verdict(by_orig, C::orig_abort, K::medium);
}

TEST(Classifier, RefusedSyn) {
    expect_verdict(syn_sent(SeqCheck::exact, true), C::refused, K::high);
    expect_verdict(syn_sent(SeqCheck::unknown, false), C::refused, K::medium);
    // A refusal whose ACK is wrong must be ignored by the client (RFC 9293 3.10.7.3).
    expect_verdict(syn_sent(SeqCheck::out_of_window, false), C::out_of_window, K::medium);
    // The originator resetting its own attempt is no refusal.
    ResetFacts own = syn_sent(SeqCheck::unknown, false);
    own.rst_by_orig = true;
    expect_verdict(own, C::handshake_abort, K::low);
    // Injection signs win over a refusal.
    ResetFacts raced = syn_sent(SeqCheck::exact, true);
    raced.evidence = evidence_bit(E::data_after_rst);
    expect_verdict(raced, C::injected, K::medium);
    // A refusal after a FIN is still a refusal (the handshake rules come first).
    ResetFacts fin = syn_sent(SeqCheck::exact, true);
    fin.evidence = evidence_bit(E::fin_before);
    expect_verdict(fin, C::refused, K::high);
}

TEST(Classifier, HandshakeAbortAfterTheSynAck) {
    ResetFacts f = syn_sent(SeqCheck::exact, false);
    f.synack_seen = true;
    expect_verdict(f, C::handshake_abort, K::high);
    f.rst_by_orig = true;
    f.seq_check = SeqCheck::in_window;
    expect_verdict(f, C::handshake_abort, K::medium);
    f.seq_check = SeqCheck::unknown;
    expect_verdict(f, C::handshake_abort, K::low);
    // Only the SYN-ACK seen (the originator's SYN was missed).
    ResetFacts synack_only;
    synack_only.synack_seen = true;
    synack_only.seq_check = SeqCheck::exact;
    expect_verdict(synack_only, C::handshake_abort, K::high);
    // Handshake rules come before the FIN and zero-window rules.
    synack_only.evidence = evidence_bit(E::fin_before) | evidence_bit(E::zero_window_before);
    expect_verdict(synack_only, C::handshake_abort, K::high);
}

TEST(Classifier, AfterClose) {
    expect_verdict(established({E::fin_before}), C::after_close, K::high);
    expect_verdict(established({E::fin_before}, SeqCheck::in_window), C::after_close, K::medium);
    expect_verdict(established({E::fin_before}, SeqCheck::unknown), C::after_close, K::low);
    ResetFacts by_orig = established({E::fin_before, E::zero_window_before});
    by_orig.rst_by_orig = true;
    expect_verdict(by_orig, C::after_close, K::high);
    // After a FIN comes before overload.
    expect_verdict(established({E::fin_before, E::zero_window_before}), C::after_close, K::high);
}

TEST(Classifier, OverloadIsAZeroWindowResponder) {
    expect_verdict(established({E::zero_window_before}), C::overload, K::medium);
    expect_verdict(established({E::zero_window_before}, SeqCheck::unknown), C::overload, K::medium);
    ResetFacts by_orig = established({E::zero_window_before});
    by_orig.rst_by_orig = true;
    expect_verdict(by_orig, C::orig_abort, K::high);
}

TEST(Classifier, AbortConfidenceFollowsTheSequenceCheck) {
    for (bool by_orig : {false, true}) {
        SCOPED_TRACE(by_orig);
        ResetCause cause = by_orig ? C::orig_abort : C::resp_abort;
        ResetFacts f = established();
        f.rst_by_orig = by_orig;
        expect_verdict(f, cause, K::high);
        f.seq_check = SeqCheck::in_window;
        expect_verdict(f, cause, K::medium);
        f.seq_check = SeqCheck::unknown;
        expect_verdict(f, cause, K::low);
    }
}

TEST(Classifier, EvidenceWithoutAVerdictRuleChangesNothing) {
    expect_verdict(established({E::payload_in_rst, E::retransmits_before, E::mptcp_reset_reason,
                                E::rst_retransmitted, E::seq_exact, E::rst_storm}),
                   C::resp_abort, K::high);
}

}  // namespace
}  // namespace rstscope
