// SPDX-License-Identifier: BSD-3-Clause
#include "rstscope/mgmt/recent_events.h"

#include <arpa/inet.h>

#include <charconv>
#include <iterator>

#include <fmt/format.h>

#include "rstscope/mgmt/event_json.h"

namespace rstscope {

std::optional<HostPrefix> HostPrefix::parse(std::string_view text) {
    size_t slash = text.find('/');
    std::string address(text.substr(0, slash));
    HostPrefix prefix;
    if (inet_pton(AF_INET, address.c_str(), prefix.address.bytes) == 1) {
        prefix.family = IpFamily::v4;
        prefix.length = 32;
    } else if (inet_pton(AF_INET6, address.c_str(), prefix.address.bytes) == 1) {
        prefix.family = IpFamily::v6;
        prefix.length = 128;
    } else {
        return std::nullopt;
    }
    if (slash != std::string_view::npos) {
        std::string_view digits = text.substr(slash + 1);
        unsigned length = 0;
        auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), length);
        if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() ||
            length > prefix.length)
            return std::nullopt;
        prefix.length = static_cast<uint8_t>(length);
    }
    return prefix;
}

bool HostPrefix::contains(const IpAddress& other, IpFamily other_family) const noexcept {
    if (other_family != family) return false;
    size_t whole = length / 8;
    if (std::memcmp(address.bytes, other.bytes, whole) != 0) return false;
    unsigned rest = length % 8;
    if (rest == 0) return true;
    uint8_t mask = static_cast<uint8_t>(0xFF << (8 - rest));
    return (address.bytes[whole] & mask) == (other.bytes[whole] & mask);
}

bool EventFilter::matches(const ResetEvent& e) const noexcept {
    if (cause && e.cause != *cause) return false;
    if (confidence && e.confidence != *confidence) return false;
    if (conn_state && e.conn_state != *conn_state) return false;
    if (port && e.orig_p != *port && e.resp_p != *port) return false;
    if (host && !host->contains(e.orig_h, e.family) && !host->contains(e.resp_h, e.family))
        return false;
    return e.ts_ns >= since_ns && e.ts_ns < until_ns;
}

RecentEvents::RecentEvents(uint32_t capacity)
    : ring_(capacity, "the recent events", Paging::on_use) {}

std::string recent_events_json(const RecentEvents& events, const EventFilter& filter, size_t limit,
                               SignatureRules rules) {
    fmt::memory_buffer out;
    fmt::format_to(std::back_inserter(out), "{{\"events\":[");
    size_t matched = 0;
    events.visit_newest_first([&](const ResetEvent& e) {
        if (!filter.matches(e)) return true;
        if (matched < limit) {
            if (matched) out.push_back(',');
            append_event_json(out, e, rules);
        }
        ++matched;
        return true;
    });
    fmt::format_to(std::back_inserter(out), "],\"matched\":{},\"kept\":{},\"capacity\":{}}}",
                   matched, events.size(), events.capacity());
    return fmt::to_string(out);
}

}  // namespace rstscope
