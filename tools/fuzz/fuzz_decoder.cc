// SPDX-License-Identifier: BSD-3-Clause
// Fuzz target: every link type's decoder, then the flow tracker, on arbitrary bytes, through the
// worker's own burst body (BurstPath, include/rstscope/datapath/burst.h). Each frame is also
// decoded by decode_frame(), its fast path alone and decode_frame_general(): they must agree in
// every field (tests/unit/decoder_paths.h), or the target aborts.
// libFuzzer: build with clang and -Dfuzz=true (see tools/fuzz/README.md); with any other compiler
// the same target is linked with replay_main.cc and replays files given on the command line.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "../../tests/unit/decoder_paths.h"
#include "rstscope/analysis/flow_tracker.h"
#include "rstscope/datapath/burst.h"
#include "rstscope/decode/packet_decoder.h"

namespace {

using namespace rstscope;

struct Worker {
    WorkerCounters counters;
    FlowTracker tracker{[] {
                            TrackerConfig c;
                            c.flow_capacity = 1024;
                            c.linger_capacity = 64;
                            c.linger_ns = 0;
                            return c;
                        }(),
                        counters};
    BurstPath path{tracker, counters};
};

Worker& worker() {
    static Worker instance;
    return instance;
}

// One frame, fresh from a port, timed by its length so that time moves.
struct OneFrame {
    const std::vector<uint8_t>& frame;

    static constexpr bool arriving() noexcept { return true; }
    static void prefetch(uint32_t) noexcept {}
    static void arrived(uint32_t) noexcept {}
    const uint8_t* data(uint32_t) const noexcept { return frame.data(); }
    uint32_t data_length(uint32_t) const noexcept { return static_cast<uint32_t>(frame.size()); }
    uint32_t packet_length(uint32_t) const noexcept { return static_cast<uint32_t>(frame.size()); }
    static bool stays(uint32_t, const DecodedPacket&) noexcept { return true; }
    uint64_t time_ns(uint32_t) const noexcept { return 1'000'000'000ull * (frame.size() + 1); }
    static void keep(uint32_t) noexcept {}
};

// Takes every event, as an event ring with room would.
struct DiscardingSink {
    static uint32_t enqueue(const ResetEvent*, uint32_t count) noexcept { return count; }
    static bool abandoned() noexcept { return false; }
    static void pause() noexcept {}
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    // The first byte picks the link type; the rest is the frame, copied to an exact-size buffer
    // so that any read past its end is caught by ASan.
    LinkType link = decoded_link_types[data[0] % std::size(decoded_link_types)];
    std::vector<uint8_t> frame(data + 1, data + size);
    // Link-type bytes with the high bit set pick Ethernet, the only link the fast path reads.
    if (data[0] & 0x80) link = LinkType::ethernet;
    std::string difference =
        rstscope::test::compare_decoder_paths(link, frame.data(), static_cast<uint32_t>(size - 1))
            .difference;
    if (!difference.empty()) {
        std::fprintf(stderr, "fuzz_decoder: %s\n", difference.c_str());
        std::abort();
    }
    OneFrame burst{frame};
    DiscardingSink sink;
    Worker& w = worker();
    w.path.track(link, burst, 1);
    w.path.hand_over(sink, false);
    w.path.advance(w.tracker.now_ns());
    w.path.hand_over(sink, false);
    return 0;
}
