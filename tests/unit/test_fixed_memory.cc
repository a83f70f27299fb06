// SPDX-License-Identifier: BSD-3-Clause
// FixedMemory and FixedArray: zero until written, pages faulted in up front or only where
// written (checked with mincore), and refused for element types that are not zero when
// value-initialised.

#include <gtest/gtest.h>

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include "resident_memory.h"
#include "rstscope/analysis/flow_tracker.h"
#include "rstscope/common/fixed_memory.h"
#include "rstscope/common/monotonic_clock.h"

namespace rstscope {
namespace {

TEST(FixedMemory, UpFrontFaultsEveryPageInAndOnUseNone) {
    constexpr size_t bytes = 8 << 20;
    const size_t pages = bytes / static_cast<size_t>(sysconf(_SC_PAGESIZE));
    FixedMemory up_front(bytes, "a test", Paging::up_front);
    FixedMemory on_use(bytes, "a test", Paging::on_use);
    ASSERT_EQ(up_front.size(), bytes);
    ASSERT_EQ(on_use.size(), bytes);
    EXPECT_EQ(resident_pages(up_front.data(), bytes), pages);
    EXPECT_EQ(resident_pages(on_use.data(), bytes), 0u);
    // One write takes one 4 KiB page, even in a table reached at random: memory faulted in on
    // use never asks for huge pages, so a sparse first write does not clear 2 MiB.
    on_use.data()[bytes / 2] = 1;
    EXPECT_EQ(resident_pages(on_use.data(), bytes), 1u);
}

// A buffer written front to back takes 4 KiB pages, whatever the system's huge-page policy: its
// first bytes take one page, not a 2 MiB one.
TEST(FixedMemory, SequentialMemoryTakesSmallPages) {
    constexpr size_t bytes = 8 << 20;
    FixedMemory buffer(bytes, "a test", Paging::on_use, Access::sequential);
    buffer.data()[0] = 1;
    EXPECT_EQ(resident_pages(buffer.data(), bytes), 1u);
    buffer.populate(3 * 4096);
    EXPECT_EQ(resident_pages(buffer.data(), bytes), 3u);
}

// populate() faults in the prefix asked for (what a capture's resets will take of a linger
// queue or event ring), at most the whole, and leaves the rest to be faulted in on use.
TEST(FixedMemory, PopulateFaultsInThePrefixOnly) {
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    constexpr size_t bytes = 16 << 20;
    FixedMemory memory(bytes, "a test", Paging::on_use);
    memory.populate((1 << 20) + 1);  // one byte into the page after the first MiB
    EXPECT_EQ(resident_pages(memory.data(), (1 << 20) + page), ((1 << 20) + page) / page);
    // Beyond the prefix's last page, nothing (4 KiB pages: memory taken on use).
    EXPECT_EQ(resident_pages(memory.data() + (1 << 20) + page, bytes - (1 << 20) - page), 0u);
    EXPECT_EQ(memory.data()[1 << 20], 0);  // zero, as the kernel hands pages over
    memory.populate(2 * bytes);            // clamped to the whole
    EXPECT_EQ(resident_pages(memory.data(), bytes), bytes / page);
    FixedMemory().populate(100);  // none: nothing to do
}

// Large up-front regions are faulted in by several threads, a share each: every page, the last
// (shorter) share's too. A populated prefix (one thread) is exactly the prefix, across as many
// shares' worth of bytes.
TEST(FixedMemory, LargeRegionsAreFaultedInWholeInShares) {
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    const size_t share = FixedMemory::fault_in_share_bytes;
    for (size_t bytes : {2 * share, 3 * share + 5 * page + 17}) {
        FixedMemory up_front(bytes, "a test", Paging::up_front);
        const size_t pages = (bytes + page - 1) / page;
        EXPECT_EQ(resident_pages(up_front.data(), bytes), pages) << bytes << " bytes";
        EXPECT_EQ(up_front.data()[bytes - 1], 0);
    }
    const size_t bytes = 4 * share;
    FixedMemory on_use(bytes, "a test", Paging::on_use);
    const size_t prefix = 2 * share + share / 2 + 1;  // into the third share
    on_use.populate(prefix);
    const size_t prefix_pages = (prefix + page - 1) / page;
    EXPECT_EQ(resident_pages(on_use.data(), prefix), prefix_pages);
    const size_t beyond = prefix_pages * page + (4 << 20);  // past a huge page holding the end
    EXPECT_EQ(resident_pages(on_use.data() + beyond, bytes - beyond), 0u);
}

// populate() runs while the workers do, so it faults in on the calling thread alone: a helper
// would take time from a worker's CPU. Every CPU second the process spends on it is the calling
// thread's (with a helper per usable CPU, about half of it was the helper's on two CPUs).
TEST(FixedMemory, PopulateFaultsInOnTheCallingThreadAlone) {
    const size_t bytes = 16 * FixedMemory::fault_in_share_bytes;  // 128 MiB
    FixedMemory memory(bytes, "a test", Paging::on_use);
    const uint64_t process_before = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
    const uint64_t thread_before = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    memory.populate(bytes);
    const uint64_t thread = clock_ns(CLOCK_THREAD_CPUTIME_ID) - thread_before;
    const uint64_t process = clock_ns(CLOCK_PROCESS_CPUTIME_ID) - process_before;
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    EXPECT_EQ(resident_pages(memory.data(), bytes), bytes / page);
    EXPECT_GE(thread, process * 9 / 10)
        << "thread " << thread << " ns of the process's " << process;
}

// The flags /proc/self/smaps gives the mapping holding `address` ("hg": huge pages asked for,
// "nh": 4 KiB pages asked for), empty when none holds it.
std::string mapping_flags(const void* address) {
    const auto at = reinterpret_cast<uintptr_t>(address);
    std::ifstream smaps("/proc/self/smaps");
    bool holding = false;
    for (std::string line; std::getline(smaps, line);) {
        uintptr_t start = 0, end = 0;
        char dash = 0;
        std::istringstream range(line);
        if (range >> std::hex >> start >> dash >> end && dash == '-' &&
            line.find(':') > line.find(' ')) {
            holding = start <= at && at < end;
        } else if (holding && line.rfind("VmFlags:", 0) == 0) {
            return line + " ";
        }
    }
    return {};
}

// A region of `bytes` asking for huge pages, as FixedMemory makes the tables it faults in up front.
struct HugePageRegion {
    explicit HugePageRegion(size_t size) : bytes(size) {
        void* memory =
            mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        EXPECT_NE(memory, MAP_FAILED);
        data = static_cast<uint8_t*>(memory);
        asked = madvise(data, bytes, MADV_HUGEPAGE) == 0;
    }
    ~HugePageRegion() { munmap(data, bytes); }
    size_t bytes;
    uint8_t* data;
    bool asked;  // false: a kernel built without transparent huge pages (EINVAL)
};

// HugePages::while_cheap: huge pages up to the first whole one that cost more than the limit, 4
// KiB pages asked for the rest, and every page faulted in, zero. The cost is the machine's, so the
// limits are the two extremes: none (the first whole huge page is too slow) and no limit.
TEST(FixedMemory, HugePagesWhileCheapSwitchesAfterTheFirstSlowHugePage) {
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    const size_t huge = FixedMemory::huge_page_bytes;
    const size_t bytes = 8 * huge + 5 * page;
    {
        HugePageRegion region(bytes);
        if (!region.asked) GTEST_SKIP() << "this kernel has no transparent huge pages to ask for";
        // The first chunk ends on a huge page's boundary; the first whole huge page after it is
        // the one judged.
        const auto start = reinterpret_cast<uintptr_t>(region.data);
        const size_t to_boundary = ((start + huge - 1) & ~uintptr_t{huge - 1}) - start;
        const size_t cheap = FixedMemory::fault_in_while_cheap(region.data, bytes, 0);
        EXPECT_EQ(cheap, to_boundary + huge);
        EXPECT_EQ(resident_pages(region.data, bytes), bytes / page);
        EXPECT_NE(mapping_flags(region.data + cheap - 1).find(" hg "), std::string::npos);
        EXPECT_NE(mapping_flags(region.data + cheap).find(" nh "), std::string::npos);
        EXPECT_NE(mapping_flags(region.data + bytes - 1).find(" nh "), std::string::npos);
        for (size_t i = 0; i < bytes; i += page / 2)
            ASSERT_EQ(region.data[i], 0) << i;
    }
    {
        HugePageRegion region(bytes);
        EXPECT_EQ(FixedMemory::fault_in_while_cheap(region.data, bytes, UINT64_MAX), bytes);
        EXPECT_EQ(resident_pages(region.data, bytes), bytes / page);
        EXPECT_NE(mapping_flags(region.data + bytes - 1).find(" hg "), std::string::npos);
    }
    // Through the constructor, on every share's thread: the whole region, whatever it cost.
    const size_t large = 2 * FixedMemory::fault_in_share_bytes + 3 * page;
    FixedMemory table(large, "a test", Paging::up_front, Access::random, HugePages::while_cheap);
    EXPECT_EQ(resident_pages(table.data(), large), (large + page - 1) / page);
    EXPECT_EQ(table.data()[large - 1], 0);
}

TEST(FixedArray, PopulateFaultsInTheFirstElements) {
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    FixedArray<PendingReset> queue(32768, "a test", Paging::on_use, Elements::written_before_read);
    const size_t first = 1000;
    queue.populate(first);
    const size_t prefix = first * sizeof(PendingReset);
    EXPECT_EQ(resident_pages(queue.data(), prefix), (prefix + page - 1) / page);
    const size_t bytes = queue.size() * sizeof(PendingReset);
    EXPECT_EQ(
        resident_pages(reinterpret_cast<uint8_t*>(queue.data()) + (4 << 20), bytes - (4 << 20)),
        0u);
}

TEST(FixedMemory, MovesItsPagesAndNoneIsEmpty) {
    FixedMemory none;
    EXPECT_EQ(none.data(), nullptr);
    EXPECT_EQ(FixedMemory(0, "a test", Paging::up_front).data(), nullptr);
    FixedMemory first(4096, "a test", Paging::on_use);
    uint8_t* data = first.data();
    data[0] = 7;
    FixedMemory second = std::move(first);
    EXPECT_EQ(first.data(), nullptr);
    EXPECT_EQ(second.data(), data);
    EXPECT_EQ(second.data()[0], 7);
    none = std::move(second);
    EXPECT_EQ(none.data(), data);
    EXPECT_EQ(none.size(), 4096u);
}

// The element types rstscope keeps in FixedArrays read as value-initialised ones, whichever
// the paging.
template <class T>
void expect_value_initialised(Paging paging) {
    ASSERT_TRUE(value_initialised_is_zero<T>());
    FixedArray<T> array(1000, "a test", paging);
    ASSERT_EQ(array.size(), 1000u);
    const auto* bytes = reinterpret_cast<const unsigned char*>(array.data());
    for (size_t i = 0; i < array.size() * sizeof(T); ++i)
        ASSERT_EQ(bytes[i], 0) << i;
}

TEST(FixedArray, ElementsStartValueInitialised) {
    for (Paging paging : {Paging::up_front, Paging::on_use}) {
        expect_value_initialised<uint8_t>(paging);
        expect_value_initialised<uint64_t>(paging);
        expect_value_initialised<ResetEvent>(paging);
    }
}

TEST(FixedArray, WritesStayAndTheArrayMoves) {
    FixedArray<uint64_t> array(100000, "a test", Paging::on_use);
    for (size_t i = 0; i < array.size(); i += 997)
        array[i] = i + 1;
    FixedArray<uint64_t> moved = std::move(array);
    EXPECT_EQ(array.size(), 0u);
    for (size_t i = 0; i < moved.size(); ++i)
        ASSERT_EQ(moved[i], i % 997 == 0 ? i + 1 : 0u) << i;
}

struct NotZeroWhenFresh {
    uint32_t slot = UINT32_MAX;
};

TEST(FixedArray, RefusesElementsThatAreNotZeroWhenValueInitialised) {
    EXPECT_FALSE(value_initialised_is_zero<NotZeroWhenFresh>());
    EXPECT_FALSE(value_initialised_is_zero<PendingReset>());  // its facts name no cause
    EXPECT_THROW(FixedArray<NotZeroWhenFresh>(16, "a test", Paging::on_use), std::logic_error);
    // Unless the user writes each element before reading it (the linger queue): zero bytes.
    FixedArray<NotZeroWhenFresh> scratch(16, "a test", Paging::on_use,
                                         Elements::written_before_read);
    EXPECT_EQ(scratch[15].slot, 0u);
}

}  // namespace
}  // namespace rstscope
