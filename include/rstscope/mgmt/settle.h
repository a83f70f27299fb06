// SPDX-License-Identifier: BSD-3-Clause
// The management lcore's per-event steps between the storm window and the log: settling a judged
// event, and writing its line. Management and tools/bench/mgmt_bench both call these, so the
// bench measures what the product runs. EAL-free; management thread only.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "rstscope/common/prefetch.h"
#include "rstscope/mgmt/event_json.h"
#include "rstscope/mgmt/event_log.h"
#include "rstscope/mgmt/findings.h"
#include "rstscope/mgmt/recent_events.h"
#include "rstscope/mgmt/record_observer.h"
#include "rstscope/mgmt/stats.h"
#include "rstscope/mgmt/storm_window.h"
#include "rstscope/mgmt/top_queries.h"

namespace rstscope {

// What a settled event updates. Observers are told in this order. `recent` and `tops` answer only
// the control socket's queries: null in a run without one, where nothing could read them.
struct SettleTargets {
    ResetStatistics& resets;
    RecentEvents* recent;
    TopTables* tops;
    FindingsEngine& findings;
    std::span<RecordObserver* const> observers;
};

// Gives the judged event `id`, applies its storm verdict and tallies it, tells the observers, keeps
// it for the control socket's queries when there are any (as settled, so a query says what the
// log says) and feeds it to the findings engine, whose records for it are appended to
// `findings_out`. Returns whether the storm verdict upgraded the event.
bool settle_event(StormWindow::Judged& judged, uint64_t id, const SettleTargets& to,
                  std::vector<FindingRecord>& findings_out);

// A judged event waited a storm window in the pool, so it is cold when it is settled: the loops
// that settle judged events (Management::settle_judged, mgmt_bench) bring in every line of the one
// `settle_prefetch_distance` ahead while they settle the current one.
inline constexpr size_t settle_prefetch_distance = 4;
[[gnu::always_inline]] inline void prefetch_judged(const StormWindow::Judged& judged) noexcept {
    prefetch_whole(judged.event());
    if (judged.pooled_extras) prefetch_whole(*judged.pooled_extras);
}

// Writes the event's line, ending in its newline, straight into the log's buffer and returns it;
// empty, writing nothing, when the buffer lacks room for the longest line now (the caller then
// formats it with format_event_line() and appends it as any record, which may still fit).
std::string_view write_event_line(EventLog& log, const ResetEventCore& event,
                                  const ResetEventExtras& extras, SignatureRules rules = {});
// The same line formatted into `out` instead (cleared first), for when write_event_line() found no
// room: the caller appends it as any record.
std::string_view format_event_line(fmt::memory_buffer& out, const ResetEventCore& event,
                                   const ResetEventExtras& extras, SignatureRules rules = {});

}  // namespace rstscope
