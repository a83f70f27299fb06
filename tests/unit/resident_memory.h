// SPDX-License-Identifier: BSD-3-Clause
// Resident memory, for tests of what FixedMemory and populate() fault in: the process's now
// (compared before and after, with bounds far apart from "nothing" and "everything") and a
// region's, page by page.
#pragma once

#include <gtest/gtest.h>

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <fstream>
#include <vector>

#include "rstscope/common/fixed_memory.h"

inline size_t resident_bytes() {
    std::ifstream statm("/proc/self/statm");
    size_t size = 0, resident = 0;
    statm >> size >> resident;
    return resident * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

// Pages of [data, data + bytes) the kernel holds in memory (mincore).
inline size_t resident_pages(const void* data, size_t bytes) {
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    std::vector<unsigned char> in_core((bytes + page - 1) / page);
    EXPECT_EQ(mincore(const_cast<void*>(data), bytes, in_core.data()), 0);
    size_t resident = 0;
    for (unsigned char c : in_core)
        resident += c & 1;
    return resident;
}

// Transparent huge pages (FixedMemory asks for them) round what is faulted in up to this.
inline constexpr size_t huge_page_bytes = rstscope::FixedMemory::huge_page_bytes;
