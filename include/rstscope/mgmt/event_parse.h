// SPDX-License-Identifier: BSD-3-Clause
// The way back from an event line to a ResetEvent, for what reads events from elsewhere (the
// fleet consumer feeds other appliances' events to the findings engine). Only the fields the
// findings engine judges on are read: id, ts, endpoints, rst_by, conn_state, cause, seq_check,
// evidence, rst_ttl, rst_origin, hops_from_endpoint, idle_before, rst_count, rst_spacing. Setup or
// consumer thread; allocates (JSON parsing).
#pragma once

#include <string_view>

#include "rstscope/analysis/reset_event.h"

namespace rstscope {

// False, with `event` unspecified, when the line is not a reset event rstscope wrote (not JSON,
// another record type, a missing or unknown field).
bool parse_event_line(std::string_view line, ResetEvent& event);

}  // namespace rstscope
