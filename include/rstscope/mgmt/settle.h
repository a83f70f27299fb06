// SPDX-License-Identifier: BSD-3-Clause
// The management lcore's per-event steps between the storm window and the log: settling a judged
// event, and writing its line. Management and tools/bench/mgmt_bench both call these, so the
// bench measures what the product runs. EAL-free; management thread only.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
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
// `findings_out`. Returns whether the storm verdict upgraded the event. `planned`: the event's
// findings lookups as SettleAhead planned them, or null.
bool settle_event(StormWindow::Judged& judged, uint64_t id, const SettleTargets& to,
                  std::vector<FindingRecord>& findings_out,
                  const FindingLookups* planned = nullptr);

// Works ahead of a loop that settles judged events in order (Management::settle_judged,
// mgmt_bench), so that an event's lines are in the cache when its turn comes. A judged event
// waited a storm window in the pool and the findings engine's tables outgrow the L2 cache, so
// without it each event waits for its own lines, one after another. Three steps, each a few
// events after the one it depends on: every line of the event `judged_ahead` ahead, the findings
// lookups of the one `plan_ahead` ahead (its key's index slots: plan_lookups() reads the event),
// the entries those slots name for the one `lookups_ahead` ahead. One per loop: construct it
// where the loop starts, at `from`.
class SettleAhead {
  public:
    static constexpr size_t judged_ahead = 12, plan_ahead = 8, lookups_ahead = 4;

    SettleAhead(std::span<const StormWindow::Judged> judged, size_t from,
                const FindingsEngine& findings) noexcept
        : judged_(judged), findings_(findings) {
        for (size_t i = from; i < std::min(judged.size(), from + judged_ahead); ++i) {
            prefetch_judged(judged[i]);
            if (i < from + plan_ahead) findings.plan_lookups(judged[i].event(), planned(i));
        }
        for (size_t i = from; i < std::min(judged.size(), from + lookups_ahead); ++i)
            findings.prefetch_lookups(planned(i));
    }

    // Call before settling judged[i], for i = from, from + 1, ...: works on the events ahead and
    // returns the lookups planned for judged[i], for settle_event().
    const FindingLookups* next(size_t i) noexcept {
        if (i + judged_ahead < judged_.size()) prefetch_judged(judged_[i + judged_ahead]);
        if (i + plan_ahead < judged_.size())
            findings_.plan_lookups(judged_[i + plan_ahead].event(), planned(i + plan_ahead));
        if (i + lookups_ahead < judged_.size())
            findings_.prefetch_lookups(planned(i + lookups_ahead));
        return &planned(i);
    }

  private:
    [[gnu::always_inline]] static void prefetch_judged(const StormWindow::Judged& judged) noexcept {
        prefetch_whole(judged.event());
        if (judged.pooled_extras) prefetch_whole(*judged.pooled_extras);
    }
    FindingLookups& planned(size_t i) noexcept { return ring_[i & (ring_.size() - 1)]; }

    std::span<const StormWindow::Judged> judged_;
    const FindingsEngine& findings_;
    // judged[i]'s lookups at i % size: a power of two above plan_ahead, so no division.
    std::array<FindingLookups, std::bit_ceil(plan_ahead + 1)> ring_;
};

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
