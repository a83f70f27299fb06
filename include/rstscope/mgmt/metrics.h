// SPDX-License-Identifier: BSD-3-Clause
// Prometheus text exposition (format 0.0.4) of every counter and tally management reports: the
// control socket's `metrics` answer and the body --metrics-listen serves. Management thread only,
// on request: it allocates and formats, never per event.
//
// Names: rstscope_<counter>_total for each worker and management counter (summed over workers),
// rstscope_drops_total{reason=..} for each drop reason, rstscope_resets_total{cause=..} and
// rstscope_resets_by_conn_state_total{conn_state=..} for the verdict tallies, and the gauges
// rstscope_workers, rstscope_events_lost and rstscope_dropped; with signatures,
// rstscope_signature_matches_total{id=..} for each rule; with a findings engine,
// rstscope_findings_open{kind=..} (gauge) and rstscope_findings_raised_total{kind=..}. Every family
// has HELP and TYPE lines made from the same lists as the docs (counters.h, stats.h, verdict.h).
#pragma once

#include <string>

#include "rstscope/mgmt/findings.h"
#include "rstscope/mgmt/stats.h"

namespace rstscope {

std::string metrics_text(const CounterTotals& totals, const ResetStatistics& resets,
                         std::span<const SignatureMatches> signatures = {},
                         const FindingsEngine* findings = nullptr);

}  // namespace rstscope
