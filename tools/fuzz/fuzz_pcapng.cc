// SPDX-License-Identifier: BSD-3-Clause
// Fuzz target: the pcapng → pcap rewrite (src/capture/pcapng_rewrite.h), the one parser of
// untrusted files rstscope implements itself. The input is the pcapng file. When the rewrite
// succeeds, its output must be a pcap that libpcap reads to the end without error, with at least
// one record, nanosecond fields below 10^9 and records within libpcap's snapshot limit.
#include <pcap/pcap.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "capture/pcapng_rewrite.h"
#include "scratch_file.h"

namespace {

[[noreturn]] void fail(const char* what, const std::string& detail) {
    std::fprintf(stderr, "fuzz_pcapng: %s: %s\n", what, detail.c_str());
    std::abort();
}

void check_rewritten(const std::string& path) {
    char errbuf[PCAP_ERRBUF_SIZE] = {};
    pcap_t* handle =
        pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, errbuf);
    if (handle == nullptr) fail("libpcap refuses the rewritten file", errbuf);
    pcap_pkthdr* header;
    const u_char* data;
    int status;
    uint64_t records = 0;
    while ((status = pcap_next_ex(handle, &header, &data)) == 1) {
        ++records;
        if (header->ts.tv_sec < 0 || header->ts.tv_usec < 0 || header->ts.tv_usec >= 1'000'000'000)
            fail("record time out of range",
                 std::to_string(header->ts.tv_sec) + "." + std::to_string(header->ts.tv_usec));
        if (header->caplen > 262144) fail("record too long", std::to_string(header->caplen));
    }
    if (status != PCAP_ERROR_BREAK)
        fail("rewritten file does not read to its end", pcap_geterr(handle));
    if (records == 0) fail("rewrite succeeded without a packet", path);
    pcap_close(handle);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using rstscope::fuzz::ScratchDir;
    static const std::string in = ScratchDir::instance().path("in.pcapng");
    static const std::string out = ScratchDir::instance().path("out.pcap");
    ScratchDir::write(in, data, size);
    std::remove(out.c_str());
    std::string error;
    bool ok = rstscope::rewrite_pcapng_as_pcap(in, out, error);
    if (ok != error.empty()) fail("error text does not match the result", error);
    if (ok && !rstscope::is_pcapng_file(in)) fail("rewrote a file that is not pcapng", in);
    if (ok) check_rewritten(out);
    return 0;
}
