// SPDX-License-Identifier: BSD-3-Clause
// probe_time: how long the capture probe (src/capture/capture_probe.h: the record count and the
// connection tally that size a capture's tables before EAL starts) takes on a capture, the file
// already in the page cache (a first probe reads it in and is not counted). The probe is on a
// capture run's critical path: nothing is sized, so nothing is set up, before it ends.
//
// usage: probe_time FILE [RUNS]   prints one line a run: seconds=S packets=N flows=F resets=R
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "capture/capture_probe.h"

int main(int argc, char** argv) {
    if (argc < 2 || argc > 3) {
        std::fprintf(stderr, "usage: probe_time FILE [RUNS]\n");
        return 2;
    }
    const std::string path = argv[1];
    const int runs = argc == 3 ? std::atoi(argv[2]) : 5;
    if (runs < 1 || runs > 1000) {
        std::fprintf(stderr, "probe_time: RUNS must be 1 to 1000\n");
        return 2;
    }
    std::string error;
    for (int run = 0; run <= runs; ++run) {
        const auto start = std::chrono::steady_clock::now();
        std::optional<rstscope::CaptureProbe> probe = rstscope::probe_capture(path, error, false);
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (!probe) {
            std::fprintf(stderr, "probe_time: %s\n", error.c_str());
            return 1;
        }
        if (run == 0) continue;  // reads the file into the page cache
        std::printf("seconds=%.4f packets=%llu flows=%llu resets=%llu\n", seconds,
                    static_cast<unsigned long long>(probe->packets),
                    static_cast<unsigned long long>(probe->flows),
                    static_cast<unsigned long long>(probe->reset_segments));
    }
    return 0;
}
