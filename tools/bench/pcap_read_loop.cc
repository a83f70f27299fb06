// SPDX-License-Identifier: BSD-3-Clause
// pcap_read_loop: the read limit of the capture path. Reads every record of a capture with
// libpcap's pcap_next_ex and touches the TCP flags byte where an untagged IPv4 frame keeps it,
// nothing more: what any libpcap-based reader (tcpdump, tshark, DPDK's net_pcap) pays before it
// does its own work.
//
// usage: pcap_read_loop FILE   prints: packets=N bytes=B seconds=S mpps=M
#include <pcap/pcap.h>

#include <chrono>
#include <cstdint>
#include <cstdio>

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: pcap_read_loop FILE\n");
        return 2;
    }
    char errbuf[PCAP_ERRBUF_SIZE] = {};
    auto t0 = std::chrono::steady_clock::now();
    pcap_t* p = pcap_open_offline(argv[1], errbuf);
    if (!p) {
        std::fprintf(stderr, "pcap_read_loop: %s\n", errbuf);
        return 1;
    }
    pcap_pkthdr* header;
    const u_char* data;
    uint64_t packets = 0, bytes = 0, flags_sum = 0;
    int rc;
    while ((rc = pcap_next_ex(p, &header, &data)) == 1) {
        ++packets;
        bytes += header->caplen;
        if (header->caplen > 47) flags_sum += data[47];
    }
    pcap_close(p);
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("packets=%llu bytes=%llu seconds=%.3f mpps=%.2f checksum=%llu\n",
                static_cast<unsigned long long>(packets), static_cast<unsigned long long>(bytes),
                seconds, static_cast<double>(packets) / seconds / 1e6,
                static_cast<unsigned long long>(flags_sum));
    return rc == -2 ? 0 : 1;
}
