// A pcapng file that libpcap refuses (its interfaces differ in snapshot length, a limit of
// libpcap 1.10, though Wireshark writes such files) is rewritten as a classic nanosecond pcap
// before the net_pcap vdev reads it. Setup only: file I/O, allocation.
#pragma once

#include <string>

namespace rstscope {

// True when the file starts with a pcapng section header block.
bool is_pcapng_file(const std::string& path);

// Converts `pcapng_path` to a pcap at `pcap_path`. Fails (with a one-line reason) when the file is
// not pcapng, is malformed, or its interfaces have different link types (one pcap file holds one).
// Enhanced and simple packet blocks are kept in file order; other blocks are skipped.
bool rewrite_pcapng_as_pcap(const std::string& pcapng_path, const std::string& pcap_path,
                            std::string& error);

}  // namespace rstscope
