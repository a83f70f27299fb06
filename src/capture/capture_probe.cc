// SPDX-License-Identifier: BSD-3-Clause
#include "capture_probe.h"

#include <pcap/pcap.h>

#include <fmt/format.h>

namespace rstscope {

CaptureClock::~CaptureClock() {
    if (handle_) pcap_close(handle_);
}

bool CaptureClock::open(const std::string& path, std::string& error) {
    char errbuf[PCAP_ERRBUF_SIZE] = {};
    handle_ =
        pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, errbuf);
    if (handle_ == nullptr) error = fmt::format("cannot read capture {}: {}", path, errbuf);
    return handle_ != nullptr;
}

uint64_t CaptureClock::next_ns() noexcept {
    pcap_pkthdr* header;
    const u_char* data;
    if (pcap_next_ex(handle_, &header, &data) == 1) {
        last_ns_ = static_cast<uint64_t>(header->ts.tv_sec) * 1'000'000'000ull +
                   static_cast<uint64_t>(header->ts.tv_usec);  // nanoseconds at this precision
    }
    return last_ns_;
}

std::optional<CaptureProbe> probe_capture(const std::string& path, std::string& error) {
    char errbuf[PCAP_ERRBUF_SIZE] = {};
    pcap_t* handle = pcap_open_offline(path.c_str(), errbuf);
    if (handle == nullptr) {
        error = fmt::format("cannot read capture {}: {}", path, errbuf);
        return std::nullopt;
    }
    CaptureProbe probe;
    int dlt = pcap_datalink(handle);
    auto link = link_type_from_dlt(dlt);
    if (!link) {
        const char* name = pcap_datalink_val_to_name(dlt);
        error = fmt::format(
            "capture {} has link type {} ({}), which rstscope does not decode; "
            "supported: EN10MB, RAW, NULL, LOOP, LINUX_SLL, LINUX_SLL2, IPV4, IPV6, PPP, "
            "PPP_SERIAL, FDDI, IEEE802_11, IEEE802_11_RADIO, NFLOG",
            path, dlt, name ? name : "unknown");
        pcap_close(handle);
        return std::nullopt;
    }
    probe.link = *link;
    pcap_pkthdr* header;
    const u_char* data;
    int status;
    while ((status = pcap_next_ex(handle, &header, &data)) == 1)
        ++probe.packets;
    if (status == PCAP_ERROR) {
        std::string reason = pcap_geterr(handle);
        if (probe.packets == 0 && reason.find("truncated") == std::string::npos) {
            // libpcap could open the file but not read its first record: refuse it whole.
            error = fmt::format("cannot read capture {}: {}", path, reason);
            pcap_close(handle);
            return std::nullopt;
        }
        probe.truncated = true;
        probe.truncation_error = reason;
    }
    pcap_close(handle);
    return probe;
}

}  // namespace rstscope
