// Formats a ResetEvent as one JSON object (one line of the event log). docs/events.md documents
// every field. Management thread only: allocates and formats.
#pragma once

#include <string>
#include <string_view>

#include <fmt/format.h>

#include "rstscope/analysis/reset_event.h"

namespace rstscope {

void append_event_json(fmt::memory_buffer& out, const ResetEvent& event);
std::string event_json(const ResetEvent& event);

// Appends `text` as a JSON string literal; bytes outside printable ASCII become \u00XX so the log
// stays valid JSON (and valid UTF-8) whatever a packet carried.
void append_json_string(fmt::memory_buffer& out, std::string_view text);

std::string ip_text(const IpAddress& address, IpFamily family);

}  // namespace rstscope
