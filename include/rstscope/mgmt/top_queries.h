// SPDX-License-Identifier: BSD-3-Clause
// The control socket's `top`: who resets the most (resetters: the host that sent the RST), whose
// services are reset (servers: the responder's host:port) and whose connections are (clients:
// the originator). Management thread only.
//
// Two sources, each with what it promises:
// - Since start, all causes: Space-Saving sketches (top_hosts.h), bounded memory whatever the
//   traffic; each row carries its `error` (resets - error <= true count <= resets, and
//   error <= N / capacity after N resets). The resetters' sketch is ResetStatistics'; the servers'
//   and clients' are here (TopTables), same capacity (--top-hosts).
// - A window (1 or 10 minutes of packet time before the newest event) or one cause: counted
//   exactly at query time over the recent-events ring (recent_events.h); `complete` is false when
//   the ring no longer holds the window's (or the run's) oldest events, and the counts then cover
//   only the `scanned` events it holds.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "rstscope/mgmt/recent_events.h"
#include "rstscope/mgmt/top_hosts.h"

namespace rstscope {

enum class TopBy : uint8_t { resetters, servers, clients };

class TopTables {
  public:
    explicit TopTables(uint32_t capacity) : servers_(capacity), clients_(capacity) {}
    // O(1), no allocation (two sketch updates).
    void record(const ResetEventCore& event) noexcept {
        servers_.add(HostKey::server_of(event));
        clients_.add(HostKey::client_of(event));
    }
    const TopHostCounter& servers() const noexcept { return servers_; }
    const TopHostCounter& clients() const noexcept { return clients_; }
    size_t memory_bytes() const noexcept {
        return servers_.memory_bytes() + clients_.memory_bytes();
    }

  private:
    TopHostCounter servers_;
    TopHostCounter clients_;
};

struct TopQuery {
    TopBy by = TopBy::resetters;
    uint64_t window_ns = 0;  // 0: since start
    std::optional<ResetCause> cause;
    size_t limit = 10;
};

// The `top` answer's members: {"by":..,"window":..,"source":"sketch"|"recent_events",
// "complete":bool,...,"top":[{"host":..,"resets":n,"error":n},...]}, highest first.
std::string top_json(const TopQuery& query, const TopHostCounter& resetters,
                     const TopTables& tables, const RecentEvents& recent);

}  // namespace rstscope
