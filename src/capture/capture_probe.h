// SPDX-License-Identifier: BSD-3-Clause
// Reads a capture file once with libpcap before DPDK touches it: the net_pcap vdev hands over raw
// frames whatever the file's link type, so the link type must be known (or the file refused) up
// front, and the packet count tells the workers when the capture has ended. Setup only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "rstscope/decode/packet_decoder.h"

struct pcap;

namespace rstscope {

struct CaptureProbe {
    LinkType link = LinkType::ethernet;
    uint64_t packets = 0;    // complete records libpcap can read
    bool truncated = false;  // the file ends inside a record
    std::string truncation_error;
};

// Packet times of a capture, read in step with the net_pcap vdev: Debian's DPDK 22.11 net_pcap
// cannot hand over the file's timestamps (it registers the timestamp field but does not
// advertise the offload, so ethdev refuses to enable it). The worker that polls the capture's only
// queue reads the next record header here for every frame the vdev gives it: same file, same
// order, nanosecond precision. Reading the file is what the vdev does on that lcore anyway.
class CaptureClock {
  public:
    CaptureClock() = default;
    ~CaptureClock();
    CaptureClock(const CaptureClock&) = delete;
    CaptureClock& operator=(const CaptureClock&) = delete;

    bool open(const std::string& path, std::string& error);
    // The next record's time in ns since the epoch; the last time again past the end.
    uint64_t next_ns() noexcept;
    uint64_t last_ns() const noexcept { return last_ns_; }

  private:
    struct pcap* handle_ = nullptr;
    uint64_t last_ns_ = 0;
};

// Returns the probe, or sets `error` to a one-line reason (missing file, not a capture, link type
// the decoder does not read, a pcapng libpcap cannot read).
std::optional<CaptureProbe> probe_capture(const std::string& path, std::string& error);

}  // namespace rstscope
