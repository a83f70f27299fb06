// SPDX-License-Identifier: BSD-3-Clause
// Which DPDK drivers a run loads. Debian builds DPDK as shared libraries, and EAL then dlopens
// every plugin of its driver directory (RTE_EAL_PMD_PATH: 128 PMDs and their dependencies, 243
// shared objects, about half of a small capture's start-up and 16 MiB of its memory) whenever it
// finds librte_eal.so loaded, in addition to any -d. rstscope's shortcut runs (--pcap, --iface:
// no PCI) know the three drivers they use and name them with -d (eal_args.h); EAL's one check for
// a shared build is then answered "no", so it loads those alone. Runs given their own EAL
// arguments (a real NIC) keep EAL's behaviour. Setup only, main thread, before rte_eal_init.
#pragma once

#include <string>

namespace rstscope {

// DPDK's driver directory when this process uses DPDK's shared libraries; empty for a static
// DPDK, which has its drivers linked in and loads no directory anyway.
std::string shared_driver_directory();

// From now on EAL loads only the drivers named with -d. Call only when those name every driver the
// run needs (build_eal_args with the directory above does).
void load_only_named_drivers();

}  // namespace rstscope
