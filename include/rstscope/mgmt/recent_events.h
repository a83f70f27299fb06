// SPDX-License-Identifier: BSD-3-Clause
// The last N reset events, as management settled them (storm verdict applied), for the control
// socket's `events` and windowed `top` queries. Management thread only.
//
// Memory: capacity * sizeof(ResetEvent) (456 bytes; the default 10 000 events: 4.3 MiB), all
// allocated by the constructor. The events are kept compact, as the workers made them, and
// formatted only when a query returns them: push() is one copy, no allocation, no formatting.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rstscope/analysis/reset_event.h"
#include "rstscope/common/fixed_memory.h"
#include "rstscope/common/prefetch.h"
#include "rstscope/mgmt/event_json.h"

namespace rstscope {

// An address or a CIDR prefix, v4 or v6 (a bare address is a /32 or /128).
struct HostPrefix {
    IpAddress address{};
    IpFamily family = IpFamily::v4;
    uint8_t length = 0;

    // "203.0.113.7", "203.0.113.0/24", "2001:db8::/32"; nothing for anything else.
    static std::optional<HostPrefix> parse(std::string_view text);
    bool contains(const IpAddress& address, IpFamily family) const noexcept;
};

// What an `events` query asks for; an empty optional matches everything.
struct EventFilter {
    std::optional<ResetCause> cause;
    std::optional<Confidence> confidence;
    std::optional<ConnState> conn_state;
    std::optional<HostPrefix> host;  // either side
    std::optional<uint16_t> port;    // either side
    uint64_t since_ns = 0;           // packet time of the first RST: at or after
    uint64_t until_ns = UINT64_MAX;  // before

    bool matches(const ResetEvent& event) const noexcept;
};

class RecentEvents {
  public:
    // Keeps the last `capacity` events; 0 keeps none (queries then find nothing).
    explicit RecentEvents(uint32_t capacity);

    // O(1), no allocation: overwrites the oldest once full. Kept whole, from its two parts.
    void push(const ResetEventCore& event, const ResetEventExtras& extras) noexcept {
        if (ring_.size() == 0) return;
        assemble_event(ring_[next_], event, extras);
        next_ = next_ + 1 == ring_.size() ? 0 : next_ + 1;
        // A slot was last written a turn of the ring ago (4.3 MiB by default): the one a few
        // pushes ahead is asked for now, for writing, so that push does not wait for its lines.
        size_t ahead = next_ + write_ahead;
        prefetch_whole<true>(ring_[ahead < ring_.size() ? ahead : ahead % ring_.size()]);
        if (size_ < ring_.size()) ++size_;
        ++pushed_;
    }
    void push(const ResetEvent& event) noexcept { push(event, event); }

    // Calls visit(event) from the newest to the oldest until it returns false.
    template <typename Visit>
    void visit_newest_first(Visit&& visit) const {
        size_t at = next_;
        for (size_t n = 0; n < size_; ++n) {
            at = at == 0 ? ring_.size() - 1 : at - 1;
            if (!visit(ring_[at])) return;
        }
    }

    // Faults in the slots the first `events` pushes take (at most all of them) now. Setup only.
    void populate(uint64_t events) noexcept { ring_.populate(events); }

    size_t size() const noexcept { return size_; }
    size_t capacity() const noexcept { return ring_.size(); }
    uint64_t pushed() const noexcept { return pushed_; }
    static size_t memory_for(uint32_t capacity) noexcept {
        return size_t{capacity} * sizeof(ResetEvent);
    }

  private:
    static constexpr size_t write_ahead = 4;
    FixedArray<ResetEvent> ring_;  // pages taken as the ring first fills (fixed_memory.h)
    size_t next_ = 0;
    size_t size_ = 0;
    uint64_t pushed_ = 0;
};

// The `events` answer's members: {"events":[newest first, as in the event log],"matched":n,
// "kept":n,"capacity":n}. At most `limit` events; `matched` counts them all.
// `rules`: what the events' signature hits name (SignatureRules in event_json.h), so that each
// event reads exactly as its log line.
std::string recent_events_json(const RecentEvents& events, const EventFilter& filter, size_t limit,
                               SignatureRules rules = {});

}  // namespace rstscope
