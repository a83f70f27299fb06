// SPDX-License-Identifier: BSD-3-Clause
// A pcapng file that libpcap refuses (its interfaces differ in snapshot length, a limit of
// libpcap 1.10, though Wireshark writes such files) is rewritten as a classic nanosecond pcap
// before the net_pcap vdev reads it. Setup only: file I/O, allocation.
#pragma once

#include <cstdint>
#include <string>

namespace rstscope {

// True when the file starts with a pcapng section header block.
bool is_pcapng_file(const std::string& path);

// Converts `pcapng_path` to a pcap at `pcap_path`. Fails (with a one-line reason) when the file is
// not pcapng, is malformed (a block length that is too small, not a multiple of 4, above 64 MiB,
// past the end of the file or unequal to its trailing copy; a section of another major version; a
// packet before any interface, naming an unknown one or claiming more data than its block holds),
// or its interfaces have different link types (one pcap file holds one). Enhanced and simple
// packet blocks are kept in file order; other blocks are skipped. Times past what libpcap reads
// back from a pcap (2^31 s, in 2038) are clamped to its last nanosecond. On failure `pcap_path` may
// hold a partial file.
bool rewrite_pcapng_as_pcap(const std::string& pcapng_path, const std::string& pcap_path,
                            std::string& error);

// An enhanced packet block's timestamp in ns: `units` of the interface's resolution (the raw
// if_tsresol byte: 10^-n s, or 2^-n s with the high bit set; 6 when the option is absent), exact
// and rounded down; clamped to 2^64-1 ns.
uint64_t pcapng_timestamp_ns(uint64_t units, uint8_t if_tsresol);

}  // namespace rstscope
