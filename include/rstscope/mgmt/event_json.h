// SPDX-License-Identifier: BSD-3-Clause
// Formats a ResetEvent as one JSON object (one line of the event log). docs/events.md documents
// every field. Management thread only.
//
// write_event_json() is management's per-event path: a hand-rolled writer into a caller's fixed
// buffer, no format string parsed at run time, no allocation, each address formatted once. Measured
// with callgrind on the same events (docs/performance.md): fmt with runtime format strings and
// inet_ntop about 16 000 instructions a line, fmt's compile-time formats (FMT_COMPILE) 3 100, this
// writer 1 000 to 1 500 (fmt writes integers two digits a step; this writer eight at once).
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "rstscope/analysis/reset_event.h"
#include "rstscope/analysis/signature_rules.h"

namespace rstscope {

// Room write_event_json() may need, newline excluded: every field at its widest, every evidence
// name, history and payload bytes all escaped, and the 32 bytes of a name's fixed-width copy past
// the text (event_json.cc checks the sum at compile time).
inline constexpr size_t event_json_max_length = 3104;

// The rules an event's signature hits refer to (by index + 1); a hit beyond them is left out.
using SignatureRules = std::span<const SignatureRule>;

// Writes the event's line (without newline) to `out`, which has room for event_json_max_length
// bytes; returns the end of the text. An event kept in two parts (storm_window.h) is written from
// both; a whole one is both at once.
char* write_event_json(const ResetEventCore& event, const ResetEventExtras& extras, char* out,
                       SignatureRules rules = {}) noexcept;
inline char* write_event_json(const ResetEvent& event, char* out,
                              SignatureRules rules = {}) noexcept {
    return write_event_json(event, event, out, rules);
}

// The same line appended to a buffer, and as a string: for tests, tools and the fuzz target.
void append_event_json(fmt::memory_buffer& out, const ResetEventCore& event,
                       const ResetEventExtras& extras, SignatureRules rules = {});
inline void append_event_json(fmt::memory_buffer& out, const ResetEvent& event,
                              SignatureRules rules = {}) {
    append_event_json(out, event, event, rules);
}
std::string event_json(const ResetEventCore& event, const ResetEventExtras& extras,
                       SignatureRules rules = {});
inline std::string event_json(const ResetEvent& event, SignatureRules rules = {}) {
    return event_json(event, event, rules);
}

// Appends `text` as a JSON string literal; bytes outside printable ASCII become \u00XX so the log
// stays valid JSON (and valid UTF-8) whatever a packet carried.
void append_json_string(fmt::memory_buffer& out, std::string_view text);

std::string ip_text(const IpAddress& address, IpFamily family);

}  // namespace rstscope
