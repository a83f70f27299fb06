// SPDX-License-Identifier: BSD-3-Clause
// Management thread, at query time only: allocating here is fine, the per-event path is
// TopTables::record and RecentEvents::push.
#include "rstscope/mgmt/top_queries.h"

#include <algorithm>
#include <cstring>
#include <iterator>
#include <unordered_map>

#include <fmt/format.h>

#include "rstscope/analysis/flow_tracker.h"  // ns_per_second
#include "rstscope/mgmt/event_json.h"

namespace rstscope {
namespace {

constexpr std::string_view by_names[] = {"resetters", "servers", "clients"};

HostKey key_of(TopBy by, const ResetEventCore& event) {
    switch (by) {
        case TopBy::servers:
            return HostKey::server_of(event);
        case TopBy::clients:
            return HostKey::client_of(event);
        case TopBy::resetters:
            break;
    }
    return HostKey::resetter_of(event);
}

struct KeyHash {
    size_t operator()(const HostKey& k) const noexcept {
        uint64_t low, high;
        std::memcpy(&low, k.address.bytes, 8);
        std::memcpy(&high, k.address.bytes + 8, 8);
        return std::hash<uint64_t>{}(low * 31 + high) ^ (size_t{k.port} << 8) ^
               static_cast<size_t>(k.family);
    }
};

void append_rows(fmt::memory_buffer& out, const std::vector<TopHost>& rows) {
    fmt::format_to(std::back_inserter(out), "\"top\":[");
    for (size_t i = 0; i < rows.size(); ++i) {
        fmt::format_to(std::back_inserter(out), "{}{{\"host\":", i ? "," : "");
        append_json_string(out, rows[i].host);
        fmt::format_to(std::back_inserter(out), ",\"resets\":{},\"error\":{}}}", rows[i].resets,
                       rows[i].error);
    }
    out.push_back(']');
}

// Exact counts over the ring's events in the window (and of the cause).
void from_recent(const TopQuery& q, const RecentEvents& recent, fmt::memory_buffer& out) {
    uint64_t newest = 0;
    recent.visit_newest_first([&](const ResetEvent& e) {
        newest = e.ts_ns;
        return false;
    });
    uint64_t start = q.window_ns && newest > q.window_ns ? newest - q.window_ns : 0;
    std::unordered_map<HostKey, uint64_t, KeyHash> counts;
    size_t scanned = 0;
    bool reached_start = false;
    recent.visit_newest_first([&](const ResetEvent& e) {
        if (q.window_ns && e.ts_ns < start) {
            reached_start = true;
            return false;
        }
        ++scanned;
        if (!q.cause || e.cause == *q.cause) ++counts[key_of(q.by, e)];
        return true;
    });
    // Complete: the window began inside the ring, or the ring still holds every event of the run.
    bool complete = reached_start || recent.pushed() == recent.size();
    std::vector<TopHost> rows;
    rows.reserve(counts.size());
    for (const auto& [key, n] : counts)
        rows.push_back({host_text(key), n, 0});
    std::sort(rows.begin(), rows.end(), [](const TopHost& x, const TopHost& y) {
        return x.resets != y.resets ? x.resets > y.resets : x.host < y.host;
    });
    if (rows.size() > q.limit) rows.resize(q.limit);
    fmt::format_to(std::back_inserter(out),
                   "\"source\":\"recent_events\",\"complete\":{},\"scanned\":{},", complete,
                   scanned);
    append_rows(out, rows);
}

}  // namespace

std::string top_json(const TopQuery& q, const TopHostCounter& resetters, const TopTables& tables,
                     const RecentEvents& recent) {
    fmt::memory_buffer out;
    fmt::format_to(std::back_inserter(out),
                   "{{\"by\":\"{}\",\"window\":", by_names[static_cast<size_t>(q.by)]);
    if (q.window_ns)
        fmt::format_to(std::back_inserter(out), "{},", q.window_ns / ns_per_second);
    else
        fmt::format_to(std::back_inserter(out), "\"all\",");
    if (q.cause)
        fmt::format_to(std::back_inserter(out), "\"cause\":\"{}\",",
                       reset_cause_names[static_cast<size_t>(*q.cause)]);
    if (q.window_ns || q.cause) {
        from_recent(q, recent, out);
    } else {
        const TopHostCounter& sketch = q.by == TopBy::servers   ? tables.servers()
                                       : q.by == TopBy::clients ? tables.clients()
                                                                : resetters;
        fmt::format_to(std::back_inserter(out),
                       "\"source\":\"sketch\",\"complete\":{},\"capacity\":{},\"evicted\":{},",
                       sketch.evicted() == 0, sketch.capacity(), sketch.evicted());
        append_rows(out, sketch.top(q.limit));
    }
    out.push_back('}');
    return fmt::to_string(out);
}

}  // namespace rstscope
