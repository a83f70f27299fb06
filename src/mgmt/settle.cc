// SPDX-License-Identifier: BSD-3-Clause
#include "rstscope/mgmt/settle.h"

namespace rstscope {

bool settle_event(StormWindow::Judged& judged, uint64_t id, const SettleTargets& to,
                  std::vector<FindingRecord>& findings_out, const FindingLookups* planned) {
    ResetEventCore& event = judged.event();
    event.id = id;
    bool upgraded = to.resets.settle(judged);
    for (RecordObserver* observer : to.observers)
        observer->event_settled(event);
    if (to.recent) to.recent->push(event, judged.extras());
    if (to.tops) to.tops->record(event);
    to.findings.add(event, findings_out, planned);
    return upgraded;
}

std::string_view write_event_line(EventLog& log, const ResetEventCore& event,
                                  const ResetEventExtras& extras, SignatureRules rules) {
    char* line = log.line_space(event_json_max_length + 1);
    if (!line) return {};
    char* end = write_event_json(event, extras, line, rules);
    *end++ = '\n';
    return log.commit_line(static_cast<size_t>(end - line));
}

std::string_view format_event_line(fmt::memory_buffer& out, const ResetEventCore& event,
                                   const ResetEventExtras& extras, SignatureRules rules) {
    out.clear();
    append_event_json(out, event, extras, rules);
    out.push_back('\n');
    return {out.data(), out.size()};
}

}  // namespace rstscope
