// SPDX-License-Identifier: BSD-3-Clause
// Builds the EAL argument list: the user's own EAL options when given before "--" (a real NIC),
// otherwise the shortcuts (--pcap, --iface) turned into a vdev setup that needs no hugepages, no
// PCI and no shared config, so several instances can run side by side. Setup only.
#pragma once

#include <string>
#include <vector>

#include "rstscope/config/options.h"

namespace rstscope {

bool interface_is_loopback(const std::string& name);

// `driver_directory`: DPDK's shared driver directory (driver_loading.h), or empty. When set, a
// shortcut run names with -d the drivers it uses from there (the vdev bus, the ring mempool
// handler, its one net PMD), so that EAL can be told to load those alone. `capture_fed`: the
// capture feed reads --pcap (src/datapath/capture_feed.h) through a net_ring port it creates
// itself (the executable links net_ring): no net_pcap vdev, no net PMD to load.
std::vector<std::string> build_eal_args(const Options& options, const std::string& program,
                                        unsigned online_cpus, const std::string& driver_directory,
                                        bool capture_fed);

}  // namespace rstscope
