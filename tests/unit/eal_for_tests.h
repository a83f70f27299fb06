// SPDX-License-Identifier: BSD-3-Clause
// EAL for a test program: one lcore, no hugepages, no PCI, no shared config (tests run side by
// side), 64 MiB, errors only. EAL starts once per process, so each EAL test is its own program.
#pragma once

#include <rte_eal.h>

#include <vector>

namespace rstscope {

// rte_eal_init's result for `program` with the tests' arguments.
inline int start_eal_for_tests(const char* program) {
    const char* args[] = {program,         "--lcores", "0",  "--no-huge",   "--no-pci",
                          "--no-shconf",   "-m",       "64", "--log-level", "*:error",
                          "--no-telemetry"};
    std::vector<char*> argv;
    for (const char* a : args)
        argv.push_back(const_cast<char*>(a));
    return rte_eal_init(static_cast<int>(argv.size()), argv.data());
}

}  // namespace rstscope
