// SPDX-License-Identifier: BSD-3-Clause
// The reset verdict as a pure function of what the flow tracker observed: no state, no I/O, so
// every rule is unit-tested on its own. docs/causes.md explains the rules to an operator.
#pragma once

#include "rstscope/analysis/verdict.h"

namespace rstscope {

struct ResetFacts {
    bool rst_by_orig = false;
    bool started_with_rst = false;  // the RST was the first packet of the flow seen
    bool orig_syn_seen = false;
    bool synack_seen = false;
    bool established = false;      // handshake completed, or traffic both ways midstream
    bool ack_matches_syn = false;  // a refusal acknowledging exactly the SYN (ISN + 1)
    bool idle = false;             // idle gap at least the configured threshold
    SeqCheck seq_check = SeqCheck::unknown;
    EvidenceSet evidence = 0;
    // Causes named by signatures (signature_rules.h), ResetCause::count for none: the RST
    // payload's reason (with Evidence::rst_reason) and the latest error reply before the RST
    // (with Evidence::server_error).
    ResetCause rst_reason_cause = ResetCause::count;
    ResetCause reply_cause = ResetCause::count;

    bool has(Evidence e) const noexcept { return evidence & evidence_bit(e); }
};

struct Verdict {
    ResetCause cause;
    Confidence confidence;
};

// Rules in order, the first that applies wins (see docs/causes.md for the why of each).
Verdict classify_reset(const ResetFacts& facts) noexcept;

// Who sent the RST: the path when its TTL places a sender nearer than the endpoint or the verdict
// is injection; the endpoint when its TTL, IP-ID or kernel fingerprint continue the endpoint's;
// otherwise unknown.
RstOrigin rst_origin_of(const ResetFacts& facts, ResetCause cause) noexcept;

}  // namespace rstscope
