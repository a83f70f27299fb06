// SPDX-License-Identifier: BSD-3-Clause
// Fuzz target: the capture probe and capture clock (src/capture/capture_probe.h) on a capture file
// made of the input: pcap or pcapng, whatever libpcap makes of it. The probe either refuses the
// file with a reason or counts its records; a probed file must open for the clock, which then
// reads as many records as the probe counted.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "capture/capture_probe.h"
#include "capture/pcapng_rewrite.h"
#include "scratch_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using rstscope::fuzz::ScratchDir;
    static const std::string path = ScratchDir::instance().path("capture");
    ScratchDir::write(path, data, size);
    (void)rstscope::is_pcapng_file(path);
    std::string error;
    auto probe = rstscope::probe_capture(path, error);
    if (!probe) {
        if (error.empty()) {
            std::fprintf(stderr, "fuzz_probe: refused without a reason\n");
            std::abort();
        }
        return 0;
    }
    if (probe->truncated && probe->truncation_error.empty()) {
        std::fprintf(stderr, "fuzz_probe: truncated without a reason\n");
        std::abort();
    }
    rstscope::CaptureClock clock;
    if (!clock.open(path, error)) {
        std::fprintf(stderr, "fuzz_probe: the probe read the file, the clock cannot: %s\n",
                     error.c_str());
        std::abort();
    }
    for (uint64_t i = 0; i <= probe->packets; ++i)
        (void)clock.next_ns();
    return 0;
}
