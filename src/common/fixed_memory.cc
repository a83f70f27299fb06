// SPDX-License-Identifier: BSD-3-Clause
#include "rstscope/common/fixed_memory.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstring>
#include <string>

namespace rstscope {

FixedMemory::FixedMemory(size_t bytes, const char* what, Paging paging) : bytes_(bytes) {
    if (bytes == 0) return;
    void* memory = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED)
        throw std::runtime_error("cannot allocate " + std::to_string(bytes >> 20) + " MiB for " +
                                 what);
    madvise(memory, bytes, MADV_HUGEPAGE);
    // Asking the kernel to populate writes the memory once, where a memset after the faults
    // wrote it twice; memset stays for kernels before 5.14, which lack MADV_POPULATE_WRITE.
    if (paging == Paging::up_front && madvise(memory, bytes, MADV_POPULATE_WRITE) != 0)
        std::memset(memory, 0, bytes);
    data_ = static_cast<uint8_t*>(memory);
}

void FixedMemory::populate(size_t bytes) noexcept {
    bytes = std::min(bytes, bytes_);
    if (bytes == 0) return;
    // The kernel rounds the length up to whole pages, which the mapping has.
    if (madvise(data_, bytes, MADV_POPULATE_WRITE) != 0) std::memset(data_, 0, bytes);
}

FixedMemory::~FixedMemory() {
    if (data_) munmap(data_, bytes_);
}

}  // namespace rstscope
