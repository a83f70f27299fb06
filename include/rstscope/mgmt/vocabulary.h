// SPDX-License-Identifier: BSD-3-Clause
// The vocabularies and the event schema as the binary knows them, for tools that must not retype
// them (`rstscope --list-vocabulary`: the scenario checker reads it). Setup only: allocates.
#pragma once

#include <array>
#include <span>
#include <string>
#include <string_view>

namespace rstscope {

// object: one object (tunnel), object_list: an array of objects (signatures); their members
// documented in docs/events.md.
enum class EventFieldType : uint8_t {
    number,
    integer,
    boolean,
    string,
    string_list,
    object,
    object_list
};

// One field of an event log line (src/mgmt/event_json.cc writes them in this order).
struct EventField {
    std::string_view name;
    EventFieldType type;
    bool always;  // false: written only when it applies (docs/events.md: *optional*)
    // The values a string (or each string of a list) may take; empty: free text.
    std::span<const std::string_view> values;
    // An object's members, in the order written (an object's `values` is empty).
    std::span<const EventField> members = {};
};

extern const std::array<EventField, 36> event_fields;

// {"version":..,"event_fields":[{"name":..,"type":..,"always":..,"values":[..]}, ..],
//  "vocabularies":{"cause":[..],"conn_state":[..],"confidence":[..],"seq_check":[..],
//  "evidence":[..],"drop_reason":[..]},"counters":[{"name":..,"kind":..}, ..]}: one line.
std::string vocabulary_json();

std::string_view name_of(EventFieldType type);

}  // namespace rstscope
