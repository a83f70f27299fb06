// SPDX-License-Identifier: BSD-3-Clause
// gen_big_pcap: writes traffic_model.h's mix (or a reset storm) as a classic pcap file, with the
// exact number of RST segments it contains, for the side-by-side with tshark and tcpdump.
//
// usage: gen_big_pcap OUT.pcap [--flows N] [--storm | --reset-heavy | --rst-flood]
//   --flows N    connections (10 packets each); default 120000, i.e. 1.2 M packets
//   --storm      every connection is refused: (SYN, RST-ACK) five times, five resets per flow
//   --reset-heavy  every connection ends in one reset: one in five refused, the others handshake,
//                request, response and a RST from either side (traffic_model.h: 5.2 packets a
//                connection; --flows 200000 makes issue 9's 1.04 M-packet capture)
//   --rst-flood  10 x N bare RSTs, each from another pseudo-random source address and port to
//                one server: the spoofed flood (or backscatter) a SPAN port sees in an attack
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
    std::fprintf(stderr,
                 "usage: gen_big_pcap OUT.pcap [--flows N] [--storm | --reset-heavy | "
                 "--rst-flood]\n");
    return 2;
}

uint32_t mix(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return static_cast<uint32_t>(x);
}

// An Ethernet/IPv4/TCP RST of packet `index` of a flood from random sources to 203.0.113.80:443.
uint32_t write_flood_rst(uint64_t index, uint8_t* f) {
    std::memset(f, 0, 54);
    f[12] = 0x08;  // IPv4
    uint8_t* ip = f + 14;
    ip[0] = 0x45;
    ip[3] = 40;  // total length
    ip[8] = 64;  // TTL
    ip[9] = 6;   // TCP
    uint32_t source = mix(index);
    std::memcpy(ip + 12, &source, 4);
    const uint8_t server[4] = {203, 0, 113, 80};
    std::memcpy(ip + 16, server, 4);
    uint8_t* tcp = ip + 20;
    uint16_t source_port = static_cast<uint16_t>(1024 + mix(index ^ 0x5eed) % 60000);
    tcp[0] = static_cast<uint8_t>(source_port >> 8);
    tcp[1] = static_cast<uint8_t>(source_port);
    tcp[2] = 443 >> 8;
    tcp[3] = 443 & 0xff;
    uint32_t seq = mix(index ^ 0xabcdef);
    std::memcpy(tcp + 4, &seq, 4);
    tcp[12] = 5 << 4;
    tcp[13] = 0x04;  // RST
    return 54;
}

}  // namespace

int main(int argc, char** argv) {
    // An option in the output's place (--help) is a usage error, not a file name to write.
    if (argc < 2 || argv[1][0] == '-') return usage();
    std::string out_path = argv[1];
    uint64_t flows = 120'000;
    Mix traffic = Mix::standard;
    bool flood = false;
    for (int i = 2; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg == "--flows" && i + 1 < argc) {
            flows = std::stoull(argv[++i]);
        } else if (arg == "--storm") {
            traffic = Mix::storm;
        } else if (arg == "--reset-heavy") {
            traffic = Mix::reset_heavy;
        } else if (arg == "--rst-flood") {
            flood = true;
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

    TrafficModel model(static_cast<uint32_t>(flows), 0, traffic);
    uint64_t packets = 0;
    uint64_t rst = 0, rst_plain_v4 = 0, rst_v6 = 0, rst_vlan = 0;
    uint8_t frame[frame_stride];
    for (uint64_t i = 0; i < model.packets_per_pass(); ++i) {
        uint8_t flags = 0;
        uint32_t length = flood ? write_flood_rst(i, frame) : model.write_frame(i, frame, &flags);
        if (length == 0) continue;
        ++packets;
        if (flood) flags = 0x04;
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
