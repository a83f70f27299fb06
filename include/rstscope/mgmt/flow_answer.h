// SPDX-License-Identifier: BSD-3-Clause
// The `flow` query's management half: the answer's JSON from what each worker copied out of its
// own table (flow_query.h). Management thread only; formats only when a client asks.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "rstscope/flow/flow_query.h"

namespace rstscope {

// What one worker answered, or that it did not answer in time.
struct WorkerFlows {
    unsigned worker = 0;
    bool answered = false;
    bool cut = false;  // the worker had more matches than it may send
    std::span<const FlowSnapshot> flows;
};

// {"flows":[...],"cut":bool,"unanswered_workers":[...]}: per flow its worker, both endpoints,
// VLANs (null when untagged), Zeek conn_state and history so far, packets and payload bytes and
// the first TTL per side, resets seen, age and idle time in seconds at `now_ns` (the run's clock:
// packet time for a capture).
std::string flow_answer_json(std::span<const WorkerFlows> workers, uint64_t now_ns);

}  // namespace rstscope
