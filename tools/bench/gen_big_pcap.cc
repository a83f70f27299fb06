// gen_big_pcap: writes traffic_model.h's mix (or a reset storm) as a classic pcap file, with the
// exact number of RST segments it contains, for the side-by-side with tshark and tcpdump.
//
// usage: gen_big_pcap OUT.pcap [--flows N] [--storm]
//   --flows N  connections (10 packets each); default 120000, i.e. 1.2 M packets
//   --storm    every connection is refused: (SYN, RST-ACK) five times, five resets per flow
// Prints one line: packets=... rst=... rst_ipv4_untagged=... rst_ipv6=... rst_vlan=...
//
// Records are written with one buffered fwrite each (no libpcap, no per-packet scapy): about
// 20 M packets/s, so the capture costs less than the tools that read it.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "traffic_model.h"

using namespace rstscope::bench;

namespace {

constexpr uint32_t pcap_magic_usec = 0xA1B2C3D4;
constexpr uint32_t linktype_ethernet = 1;

struct RecordHeader {
    uint32_t ts_sec;
    uint32_t ts_usec;
    uint32_t captured;
    uint32_t original;
};

int usage() {
    std::fprintf(stderr, "usage: gen_big_pcap OUT.pcap [--flows N] [--storm]\n");
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) return usage();
    std::string out_path = argv[1];
    uint64_t flows = 120'000;
    bool storm = false;
    for (int i = 2; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg == "--flows" && i + 1 < argc) {
            flows = std::stoull(argv[++i]);
        } else if (arg == "--storm") {
            storm = true;
        } else {
            return usage();
        }
    }
    if (flows == 0 || flows > 50'000'000) {
        std::fprintf(stderr, "gen_big_pcap: --flows must be 1 to 50000000\n");
        return 2;
    }
    std::FILE* out = std::fopen(out_path.c_str(), "wb");
    if (!out) {
        std::fprintf(stderr, "gen_big_pcap: cannot write %s: %s\n", out_path.c_str(),
                     std::strerror(errno));
        return 1;
    }
    std::vector<char> buffer(1 << 22);
    std::setvbuf(out, buffer.data(), _IOFBF, buffer.size());

    struct {
        uint32_t magic = pcap_magic_usec;
        uint16_t major = 2, minor = 4;
        int32_t zone = 0;
        uint32_t sigfigs = 0, snaplen = 65535, linktype = linktype_ethernet;
    } file_header;
    std::fwrite(&file_header, sizeof(file_header), 1, out);

    TrafficModel model(static_cast<uint32_t>(flows), 0, storm);
    uint64_t packets = model.packets_per_pass();
    uint64_t rst = 0, rst_plain_v4 = 0, rst_v6 = 0, rst_vlan = 0;
    uint8_t frame[frame_stride];
    for (uint64_t i = 0; i < packets; ++i) {
        uint8_t flags = 0;
        uint32_t length = model.write_frame(i, frame, &flags);
        uint64_t us = model.time_ns(i) / 1000;
        RecordHeader h{static_cast<uint32_t>(us / 1'000'000), static_cast<uint32_t>(us % 1'000'000),
                       length, length};
        std::fwrite(&h, sizeof(h), 1, out);
        std::fwrite(frame, 1, length, out);
        if (flags & 0x04) {
            ++rst;
            bool vlan = frame[12] == 0x81 && frame[13] == 0x00;
            bool v6 = vlan ? (frame[16] == 0x86 && frame[17] == 0xDD)
                           : (frame[12] == 0x86 && frame[13] == 0xDD);
            if (vlan) ++rst_vlan;
            if (v6) ++rst_v6;
            if (!vlan && !v6) ++rst_plain_v4;
        }
    }
    if (std::fclose(out) != 0) {
        std::fprintf(stderr, "gen_big_pcap: write to %s failed\n", out_path.c_str());
        return 1;
    }
    std::printf("packets=%llu rst=%llu rst_ipv4_untagged=%llu rst_ipv6=%llu rst_vlan=%llu\n",
                static_cast<unsigned long long>(packets), static_cast<unsigned long long>(rst),
                static_cast<unsigned long long>(rst_plain_v4),
                static_cast<unsigned long long>(rst_v6), static_cast<unsigned long long>(rst_vlan));
    return 0;
}
