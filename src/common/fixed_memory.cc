// SPDX-License-Identifier: BSD-3-Clause
#include "rstscope/common/fixed_memory.h"

#include <sys/mman.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <string>
#include <thread>

#include "rstscope/common/monotonic_clock.h"
#include "rstscope/common/usable_cpus.h"

namespace rstscope {
namespace {

// Asking the kernel to populate writes the memory once, where a memset after the faults wrote it
// twice; memset stays for kernels before 5.14, which lack MADV_POPULATE_WRITE. The kernel rounds
// the length up to whole pages, which the mapping has.
void fault_in_here(uint8_t* data, size_t bytes) noexcept {
    if (madvise(data, bytes, MADV_POPULATE_WRITE) != 0) std::memset(data, 0, bytes);
}

// A share of a region: HugePages::while_cheap's chunks, or the whole at once.
void fault_in_share(uint8_t* data, size_t bytes, bool huge_pages_while_cheap) noexcept {
    if (huge_pages_while_cheap)
        FixedMemory::fault_in_while_cheap(data, bytes, FixedMemory::slow_huge_pages_ns_per_mib);
    else
        fault_in_here(data, bytes);
}

}  // namespace

size_t FixedMemory::fault_in_while_cheap(uint8_t* data, size_t bytes,
                                         uint64_t slow_ns_per_mib) noexcept {
    uint8_t* const end = data + bytes;
    for (uint8_t* at = data; at < end;) {
        // Chunks end on a huge page's boundary, so that the switch splits none; only a whole huge
        // page is judged (a region's first chunk may be a piece before its first boundary, which
        // takes 4 KiB pages in any case).
        const uintptr_t past = reinterpret_cast<uintptr_t>(at) + huge_page_bytes;
        uint8_t* chunk_end =
            std::min(end, reinterpret_cast<uint8_t*>(past & ~uintptr_t{huge_page_bytes - 1}));
        const size_t chunk = static_cast<size_t>(chunk_end - at);
        const bool judged = chunk == huge_page_bytes;
        const uint64_t before = clock_ns(CLOCK_THREAD_CPUTIME_ID);
        fault_in_here(at, chunk);
        // The thread's CPU time, not the wall's: a thread preempted on a busy machine is not slow.
        const double spent = static_cast<double>(clock_ns(CLOCK_THREAD_CPUTIME_ID) - before);
        at = chunk_end;
        if (judged && at < end &&
            spent * (1 << 20) > static_cast<double>(slow_ns_per_mib) * static_cast<double>(chunk)) {
            const size_t rest = static_cast<size_t>(end - at);
            madvise(at, rest, MADV_NOHUGEPAGE);
            // In pieces, not in one call: a populate holds the mapping's lock for its whole
            // length, and another share's switch (the madvise above, which takes that lock to
            // write) would wait for all of it, so two shares that switch would fault in one after
            // the other (tens of ms on this project's VM: docs/performance.md).
            for (size_t done = 0; done < rest; done += huge_page_bytes)
                fault_in_here(at + done, std::min<size_t>(huge_page_bytes, rest - done));
            return static_cast<size_t>(at - data);
        }
    }
    return bytes;
}

void FixedMemory::fault_in(uint8_t* data, size_t bytes, bool huge_pages_while_cheap) noexcept {
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
                helpers[s] = std::jthread(fault_in_share, data + start,
                                          std::min(share, bytes - start), huge_pages_while_cheap);
            } catch (const std::exception&) {  // no thread to be had: this one does it
                fault_in_share(data + start, std::min(share, bytes - start),
                               huge_pages_while_cheap);
            }
        }
        fault_in_share(data, std::min(share, bytes), huge_pages_while_cheap);
    }  // the helpers joined
}

FixedMemory::FixedMemory(size_t bytes, const char* what, Paging paging, Access access,
                         HugePages huge_pages_cost)
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
    if (paging == Paging::up_front)
        fault_in(data_, bytes, huge_pages && huge_pages_cost == HugePages::while_cheap);
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
