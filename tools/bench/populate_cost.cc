// SPDX-License-Identifier: BSD-3-Clause
// populate_cost: what faulting in a table at setup costs, the way rstscope's tables are faulted in
// (FixedMemory with Paging::up_front: mmap, a page-size hint, then MADV_POPULATE_WRITE on up to one
// thread a usable CPU), three ways: transparent huge pages asked for whatever they cost
// (Access::random, HugePages::always: live traffic's tables), asked for while they are cheap
// (HugePages::while_cheap: a capture's flow table) and 4 KiB pages (Access::sequential, the
// buffers). Runs cycle through the three; each is a fresh mapping, unmapped before the next. On a
// VM a huge page's first touch may wait while the host backs memory the guest freed seconds ago:
// PAUSE seconds before each run (default 0) show that case (docs/performance.md).
//
// usage: populate_cost [MIB [RUNS [PAUSE]]]   (defaults 100, 5 and 0)
//   prints one line a run: access=huge|while_cheap|small mib=M ms=T ms_per_mib=T/M
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "rstscope/common/fixed_memory.h"

int main(int argc, char** argv) {
    const long mib = argc > 1 ? std::strtol(argv[1], nullptr, 10) : 100;
    const long runs = argc > 2 ? std::strtol(argv[2], nullptr, 10) : 5;
    const long pause_s = argc > 3 ? std::strtol(argv[3], nullptr, 10) : 0;
    if (mib < 1 || mib > 65536 || runs < 1 || runs > 1000 || pause_s < 0 || pause_s > 60) {
        std::fprintf(stderr,
                     "usage: populate_cost [MIB (1-65536) [RUNS (1-1000) [PAUSE (0-60 s)]]]\n");
        return 2;
    }
    struct Kind {
        const char* name;
        rstscope::Access access;
        rstscope::HugePages huge_pages;
    };
    constexpr Kind kinds[] = {
        {"huge", rstscope::Access::random, rstscope::HugePages::always},
        {"while_cheap", rstscope::Access::random, rstscope::HugePages::while_cheap},
        {"small", rstscope::Access::sequential, rstscope::HugePages::always},
    };
    for (long run = 0; run < runs; ++run) {
        for (const Kind& kind : kinds) {
            std::this_thread::sleep_for(std::chrono::seconds(pause_s));
            const auto start = std::chrono::steady_clock::now();
            {
                rstscope::FixedMemory memory(static_cast<size_t>(mib) << 20, "populate_cost",
                                             rstscope::Paging::up_front, kind.access,
                                             kind.huge_pages);
            }  // unmapped here, within the time: as a run's exit returns it
            const double ms =
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                    .count();
            std::printf("access=%s mib=%ld ms=%.1f ms_per_mib=%.3f\n", kind.name, mib, ms,
                        ms / static_cast<double>(mib));
            std::fflush(stdout);
        }
    }
    return 0;
}
