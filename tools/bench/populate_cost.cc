// SPDX-License-Identifier: BSD-3-Clause
// populate_cost: what faulting in a table at setup costs, the way rstscope's tables are faulted in
// (FixedMemory with Paging::up_front: mmap, a page-size hint, then MADV_POPULATE_WRITE on up to one
// thread a usable CPU), with transparent huge pages asked for (Access::random, the tables) against
// 4 KiB pages (Access::sequential, the buffers). Runs alternate between the two; each is a fresh
// mapping, unmapped before the next. On a VM the first run of a series may have to wait while the
// kernel compacts memory into 2 MiB pages (docs/performance.md).
//
// usage: populate_cost [MIB [RUNS]]   (defaults 100 and 5)
//   prints one line a run: access=huge|small mib=M ms=T ms_per_mib=T/M
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "rstscope/common/fixed_memory.h"

int main(int argc, char** argv) {
    const long mib = argc > 1 ? std::strtol(argv[1], nullptr, 10) : 100;
    const long runs = argc > 2 ? std::strtol(argv[2], nullptr, 10) : 5;
    if (mib < 1 || mib > 65536 || runs < 1 || runs > 1000) {
        std::fprintf(stderr, "usage: populate_cost [MIB (1-65536) [RUNS (1-1000)]]\n");
        return 2;
    }
    for (long run = 0; run < runs; ++run) {
        for (rstscope::Access access : {rstscope::Access::random, rstscope::Access::sequential}) {
            const auto start = std::chrono::steady_clock::now();
            {
                rstscope::FixedMemory memory(static_cast<size_t>(mib) << 20, "populate_cost",
                                             rstscope::Paging::up_front, access);
            }  // unmapped here, within the time: as a run's exit returns it
            const double ms =
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                    .count();
            std::printf("access=%s mib=%ld ms=%.1f ms_per_mib=%.3f\n",
                        access == rstscope::Access::random ? "huge" : "small", mib, ms,
                        ms / static_cast<double>(mib));
        }
    }
    return 0;
}
