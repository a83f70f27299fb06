// SPDX-License-Identifier: BSD-3-Clause
// Memory of fixed size taken at setup straight from the kernel (mmap), which hands it over
// zeroed, for the tables and rings that are sized once and never grow. Setup only: the
// constructors allocate and may throw; indexing allocates nothing and locks nothing.
//
// Why paging is a choice: live traffic wants every page faulted in at setup so that the packet
// path never takes a page fault (Paging::up_front). A capture has no line rate to keep, and its
// tables are sized for the most it could need (capture_sizes.h) yet mostly left untouched: there
// the kernel faults a page in when it is first written (Paging::on_use), and a run pays for the
// memory it uses, not for the memory it might. On this project's VM a page fault costs about
// 10 us: zeroing the storm window, linger queue and findings tables up front took 0.3 s of a
// 1.2 M-packet capture's 0.9 s (docs/performance.md, "Setup that pays for what it uses").
// on_use suits memory that is written before it is read and filled from one end (rings, pools,
// tables handing out ids in order): memory read first maps the kernel's shared zero page, and
// the first write then costs a second fault (the flow table stays up_front for that reason).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <new>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace rstscope {

enum class Paging : uint8_t {
    up_front,  // faulted in by the constructor
    on_use,    // faulted in where first written
};

// How the memory is reached, which decides its page size.
enum class Access : uint8_t {
    random,  // tables: transparent huge pages are asked for (a hint) where Paging::up_front, fewer
             // TLB misses; on use, 4 KiB pages (a first write faults in only what it touches)
    sequential,  // buffers written front to back: 4 KiB pages, so a short run takes little
};

// What huge pages may cost memory faulted in up front and reached at random. On this project's VM
// a huge page's first touch costs 0.14 ms a MiB when the kernel has a 2 MiB block at hand and
// 1.2-6.4 ms when it has not (the host backing again what the guest gave back, seconds after the
// last run freed it), where 4 KiB pages cost 0.2-0.65 ms a MiB either way (tools/bench/
// populate_cost; docs/performance.md, "Huge pages while they are cheap").
enum class HugePages : uint8_t {
    always,       // whatever their first touch costs: live traffic's tables, whose lookups save
                  // the TLB's misses for as long as the run lasts
    while_cheap,  // a huge page at a time; once one costs more than slow_huge_pages_ns_per_mib,
                  // the rest takes 4 KiB pages: a capture's, whose start is much of its run
};

class FixedMemory {
  public:
    FixedMemory() = default;
    // Throws std::runtime_error naming `what` when it cannot. `huge_pages` counts only where huge
    // pages are asked for (Paging::up_front, Access::random).
    FixedMemory(size_t bytes, const char* what, Paging paging, Access access = Access::random,
                HugePages huge_pages = HugePages::always);
    ~FixedMemory();
    FixedMemory(FixedMemory&& other) noexcept
        : data_(std::exchange(other.data_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}
    FixedMemory& operator=(FixedMemory&& other) noexcept {
        std::swap(data_, other.data_);
        std::swap(bytes_, other.bytes_);
        return *this;
    }
    uint8_t* data() const noexcept { return data_; }
    size_t size() const noexcept { return bytes_; }

    // Faults in the first `bytes` (at most size()) now, zeroed, on the calling thread alone: for
    // memory taken Paging::on_use of which a known part will be written for certain, so that
    // its faults are taken here and not where it is first written (a worker's packet path).
    // Called while the workers run (management's thread, off their path); a helper thread there
    // would take its time from a worker's CPU (docs/performance.md).
    void populate(size_t bytes) noexcept;

    // Regions faulted in up front from this size up are faulted in by several threads, one share
    // each (at most one a usable CPU): on a VM the host backs a page at its first touch, and
    // that, more than the zeroing, is the cost (a fresh 128 MiB on this project's VM: 226-263 ms
    // on one thread, 131-161 ms on two; docs/performance.md). Setup, before any worker runs.
    static constexpr size_t fault_in_share_bytes = size_t{8} << 20;
    static constexpr size_t max_fault_in_threads = 8;
    // The transparent huge page Access::random asks for up front: a share to fault in is whole
    // ones.
    static constexpr size_t huge_page_bytes = size_t{2} << 20;

    // HugePages::while_cheap: the CPU time of the faulting thread a MiB of a huge page may take
    // (each is timed on its own: without a block at hand, one's first touch alone took 25 ms
    // here). The threshold lies between the two costs measured here (a huge page's
    // first touch with a block at hand and without), near where huge pages stop paying for
    // themselves in a capture: a MiB of 4 KiB pages costs about 0.25 ms to fault in plus
    // 0.3-0.45 ms of the worker's TLB misses (23-35 ms for the reset-heavy capture's 80 MiB
    // table). The first slow huge page ends them: Linux puts the blocks it reported to the host
    // back at the tail of its free lists, so the ones after a slow one are most likely slow too (an
    // allowance of 1 ms a MiB for the whole region, letting a few slow ones through, was no faster
    // where fast ones followed and 26 ms slower where none did; docs/performance.md).
    static constexpr uint64_t slow_huge_pages_ns_per_mib = 1'000'000;

    // Faults in [data, data + bytes) (page aligned, huge pages asked for on all of it) a huge page
    // at a time, on the calling thread; once a huge page took more than `slow_ns_per_mib` of its
    // CPU time a MiB, asks 4 KiB pages for the rest and faults that in. Returns the bytes faulted
    // in while huge pages were asked for: all of them, or those up to the slow page. Setup only.
    static size_t fault_in_while_cheap(uint8_t* data, size_t bytes,
                                       uint64_t slow_ns_per_mib) noexcept;

  private:
    // Faults in and zeroes [data, data + bytes), in shares (see fault_in_share_bytes). Setup only.
    static void fault_in(uint8_t* data, size_t bytes, bool huge_pages_while_cheap) noexcept;

    uint8_t* data_ = nullptr;
    size_t bytes_ = 0;
};

// Whether a value-initialised T is all zero bytes, as the kernel's pages are: then an array of T
// in fresh FixedMemory needs no constructor run (its elements begin their lifetime implicitly).
template <class T>
bool value_initialised_is_zero() {
    alignas(T) unsigned char bytes[sizeof(T)] = {};
    ::new (static_cast<void*>(bytes)) T();
    return std::all_of(bytes, bytes + sizeof(T), [](unsigned char b) { return b == 0; });
}

// What a FixedArray's elements hold before they are first written.
enum class Elements : uint8_t {
    value_initialised,    // T(), which must be zero bytes (checked)
    written_before_read,  // zero bytes, whatever T() is: the user writes an element first
};

// `count` Ts in FixedMemory: a std::vector<T>(count) that is not written at setup. With
// Elements::value_initialised (the default) T() must be zero bytes: the constructor checks and
// throws std::logic_error otherwise, a programming error the unit tests of each user meet.
template <class T>
class FixedArray {
    static_assert(std::is_trivially_destructible_v<T> &&
                      (std::is_aggregate_v<T> || std::is_trivially_default_constructible_v<T>),
                  "FixedArray holds implicit-lifetime types only");

  public:
    FixedArray() = default;
    FixedArray(size_t count, const char* what, Paging paging,
               Elements elements = Elements::value_initialised)
        : memory_(check(count, elements) * sizeof(T), what, paging), count_(count) {}
    FixedArray(FixedArray&& other) noexcept
        : memory_(std::move(other.memory_)), count_(std::exchange(other.count_, 0)) {}
    FixedArray& operator=(FixedArray&& other) noexcept {
        memory_ = std::move(other.memory_);
        std::swap(count_, other.count_);
        return *this;
    }

    T* data() const noexcept { return reinterpret_cast<T*>(memory_.data()); }
    size_t size() const noexcept { return count_; }
    T& operator[](size_t i) const noexcept { return data()[i]; }
    // FixedMemory::populate() for the first `count` elements.
    void populate(size_t count) noexcept { memory_.populate(std::min(count, count_) * sizeof(T)); }
    T* begin() const noexcept { return data(); }
    T* end() const noexcept { return data() + count_; }

  private:
    static size_t check(size_t count, Elements elements) {
        if (elements == Elements::value_initialised && !value_initialised_is_zero<T>())
            throw std::logic_error("FixedArray: a value-initialised element is not zero");
        return count;
    }

    FixedMemory memory_;
    size_t count_ = 0;
};

}  // namespace rstscope
