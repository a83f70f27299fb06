// SPDX-License-Identifier: BSD-3-Clause
// findings_bench: the findings engine's cost per reset event, EAL-free. N events (default 1 M) of
// a mixed stream at 500 events/s of packet time: aborts over 50 servers of one /24, refusals,
// idle-timeout resets from the path at scattered gaps, injected resets with varying TTLs. Prints
// events, records written, ns/event and the engine's memory. For a stable figure run it under
// `valgrind --tool=callgrind` (instructions / N; docs/findings.md).
//
// usage: findings_bench [N]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "rstscope/mgmt/findings.h"

using namespace rstscope;

int main(int argc, char** argv) {
    uint64_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1000000;
    FindingsEngine engine{FindingThresholds{}};
    std::vector<FindingRecord> out;
    ResetEvent e{};
    e.family = IpFamily::v4;
    uint8_t client[4] = {198, 51, 100, 0}, server[4] = {203, 0, 113, 0};
    const uint64_t t0 = 1'700'000'000ull * 1'000'000'000ull;
    size_t records = 0;
    auto start = std::chrono::steady_clock::now();
    for (uint64_t i = 0; i < n; ++i) {
        client[3] = static_cast<uint8_t>(i % 200);
        server[3] = static_cast<uint8_t>(1 + i * 7 % 50);
        e.orig_h = IpAddress::from_v4(client);
        e.resp_h = IpAddress::from_v4(server);
        e.orig_p = static_cast<uint16_t>(10000 + i % 50000);
        e.resp_p = i % 3 ? 443 : 80;
        e.id = i + 1;
        e.ts_ns = t0 + i * 2'000'000;
        switch (i % 10) {
            case 0:
                e.cause = ResetCause::refused;
                break;
            case 1:
                e.cause = ResetCause::idle_timeout;
                e.rst_origin = RstOrigin::path;
                e.evidence = evidence_bit(Evidence::idle_before);
                e.idle_before_ms = static_cast<uint32_t>(200000 + i % 100000);
                break;
            case 2:
                e.cause = ResetCause::injected;
                e.rst_ttl = static_cast<uint8_t>(i % 64);
                break;
            default:
                e.cause = ResetCause::resp_abort;
                e.rst_origin = RstOrigin::endpoint;
                e.evidence = 0;
        }
        engine.add(e, out);
        records += out.size();
        out.clear();
    }
    engine.finish(out);
    double ns =
        std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count();
    std::printf("events=%llu records=%zu ns_per_event=%.1f memory_bytes=%zu\n",
                static_cast<unsigned long long>(n), records + out.size(),
                ns / static_cast<double>(n), engine.memory_bytes());
    return 0;
}
