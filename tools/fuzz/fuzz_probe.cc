// SPDX-License-Identifier: BSD-3-Clause
// Fuzz target: the capture probe and capture clock (src/capture/capture_probe.h) on a capture file
// made of the input: pcap or pcapng, whatever libpcap makes of it. The probe either refuses the
// file with a reason or counts its records, exactly as libpcap reading every record does; a probed
// file must open for the clock, which then gives each record's time as libpcap reads it.
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
    std::string read_error;
    auto read = rstscope::probe_capture_by_reading(path, read_error);
    if (!read || read->packets != probe->packets || read->truncated != probe->truncated ||
        read->truncation_error != probe->truncation_error) {
        std::fprintf(stderr, "fuzz_probe: the header walk and libpcap disagree\n");
        std::abort();
    }
    rstscope::CaptureClock clock;
    rstscope::CaptureClock reference;
    if (!clock.open(path, *probe, error) || !reference.open(path, *read, error)) {
        std::fprintf(stderr, "fuzz_probe: the probe read the file, the clock cannot: %s\n",
                     error.c_str());
        std::abort();
    }
    for (uint64_t i = 0; i <= probe->packets; ++i) {
        if (clock.next_ns() != reference.next_ns()) {
            std::fprintf(stderr, "fuzz_probe: record %llu: the clocks disagree\n",
                         static_cast<unsigned long long>(i));
            std::abort();
        }
    }
    return 0;
}
