// Fuzz target: every link type's decoder, then the flow tracker, on arbitrary bytes.
// libFuzzer: build with clang and -Dfuzz=true (see tools/fuzz/README.md); with any other compiler
// the same target is linked with replay_main.cc and replays files given on the command line.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "rstscope/analysis/flow_tracker.h"
#include "rstscope/decode/packet_decoder.h"

namespace {

rstscope::FlowTracker& tracker() {
    static rstscope::WorkerCounters counters;
    static rstscope::FlowTracker instance(
        [] {
            rstscope::TrackerConfig c;
            c.flow_capacity = 1024;
            c.linger_capacity = 64;
            c.linger_ns = 0;
            return c;
        }(),
        counters);
    return instance;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace rstscope;
    if (size < 1) return 0;
    // The first byte picks the link type; the rest is the frame, copied to an exact-size buffer
    // so that any read past its end is caught by ASan.
    static constexpr LinkType links[] = {
        LinkType::ethernet,  LinkType::raw_ip,     LinkType::null_bsd, LinkType::loop,
        LinkType::linux_sll, LinkType::linux_sll2, LinkType::ipv4,     LinkType::ipv6};
    LinkType link = links[data[0] % (sizeof links / sizeof links[0])];
    std::vector<uint8_t> frame(data + 1, data + size);
    DecodedPacket packet;
    DecodeResult result =
        decode_frame(link, frame.data(), static_cast<uint32_t>(frame.size()), packet);
    if (result.is_tcp) {
        packet.ts_ns = 1'000'000'000ull * (frame.size() + 1);
        tracker().process(packet);
        tracker().advance(packet.ts_ns);
        tracker().clear_events();
    }
    return 0;
}
