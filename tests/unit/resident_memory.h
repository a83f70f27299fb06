// SPDX-License-Identifier: BSD-3-Clause
// The process's resident memory now (/proc/self/statm), for tests of what a populate() faults in:
// they compare it before and after, with bounds far apart from "nothing" and "everything".
#pragma once

#include <unistd.h>

#include <cstddef>
#include <fstream>

inline size_t resident_bytes() {
    std::ifstream statm("/proc/self/statm");
    size_t size = 0, resident = 0;
    statm >> size >> resident;
    return resident * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

// Transparent huge pages (FixedMemory asks for them) round what is faulted in up to 2 MiB.
inline constexpr size_t huge_page_bytes = size_t{2} << 20;
