// SPDX-License-Identifier: BSD-3-Clause
#include "rstscope/common/fixed_memory.h"

#include <sys/mman.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <string>
#include <thread>

#include "rstscope/common/usable_cpus.h"

namespace rstscope {
namespace {

// Asking the kernel to populate writes the memory once, where a memset after the faults wrote it
// twice; memset stays for kernels before 5.14, which lack MADV_POPULATE_WRITE. The kernel rounds
// the length up to whole pages, which the mapping has.
void fault_in_here(uint8_t* data, size_t bytes) noexcept {
    if (madvise(data, bytes, MADV_POPULATE_WRITE) != 0) std::memset(data, 0, bytes);
}

}  // namespace

void FixedMemory::fault_in(uint8_t* data, size_t bytes) noexcept {
    const size_t shares = std::min<size_t>(
        {usable_cpus(), max_fault_in_threads, std::max<size_t>(1, bytes / fault_in_share_bytes)});
    // Shares of whole huge pages from `data`, the last one shorter.
    const size_t share =
        ((bytes + shares - 1) / shares + huge_page_bytes - 1) & ~(huge_page_bytes - 1);
    {
        std::array<std::jthread, max_fault_in_threads> helpers;
        for (size_t s = 1; s < shares && s * share < bytes; ++s) {
            const size_t start = s * share;
            try {
                helpers[s] =
                    std::jthread(fault_in_here, data + start, std::min(share, bytes - start));
            } catch (const std::exception&) {  // no thread to be had: this one does it
                fault_in_here(data + start, std::min(share, bytes - start));
            }
        }
        fault_in_here(data, std::min(share, bytes));
    }  // the helpers joined
}

FixedMemory::FixedMemory(size_t bytes, const char* what, Paging paging, Access access)
    : bytes_(bytes) {
    if (bytes == 0) return;
    void* memory = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED)
        throw std::runtime_error("cannot allocate " + std::to_string(bytes >> 20) + " MiB for " +
                                 what);
    // Explicitly either way: a system whose transparent huge pages are "always" would otherwise
    // give a buffer's first line a 2 MiB page. Memory faulted in on use takes 4 KiB pages even
    // where reached at random: there a first write faults in only what it touches, where a huge
    // page made it clear 2 MiB (a capture's storm window, findings tables and extras are touched
    // sparsely), and a 2 MiB page's fault is the one whose cost swings, by ten times on this
    // project's VM (tools/bench/populate_cost; docs/performance.md, "Huge pages only where taken
    // up front").
    const bool huge_pages = access == Access::random && paging == Paging::up_front;
    madvise(memory, bytes, huge_pages ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
    data_ = static_cast<uint8_t*>(memory);
    if (paging == Paging::up_front) fault_in(data_, bytes);
}

void FixedMemory::populate(size_t bytes) noexcept {
    bytes = std::min(bytes, bytes_);
    if (bytes == 0) return;
    fault_in_here(data_, bytes);
}

FixedMemory::~FixedMemory() {
    if (data_) munmap(data_, bytes_);
}

}  // namespace rstscope
