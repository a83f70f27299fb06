// SPDX-License-Identifier: BSD-3-Clause
// The hand-over from management to the fleet exporter's thread: a bounded single-producer /
// single-consumer ring of variable-length records (an event line and its cause), in one block of
// memory allocated once. The producer (management) never waits: a record that does not fit is
// refused and the caller counts it (export_ring_full). Neither side allocates or locks.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

namespace rstscope {

class ExportRing {
  public:
    // `capacity_bytes` rounded up to a power of two (at least 4 KiB); records longer than a
    // quarter of it are refused as too long.
    explicit ExportRing(size_t capacity_bytes);

    // Producer: copies `line` with its one-byte `tag`; false (nothing written) when full or when
    // the line is longer than max_record().
    bool push(std::string_view line, uint8_t tag) noexcept;

    // Consumer: the oldest record, valid until pop(); false when empty.
    bool peek(std::string_view& line, uint8_t& tag) const noexcept;
    void pop() noexcept;

    // Bytes in use (approximate from either side), the capacity and the longest record.
    size_t used() const noexcept;
    size_t capacity() const noexcept { return mask_ + 1; }
    size_t max_record() const noexcept { return capacity() / 4 - header_bytes; }

  private:
    static constexpr size_t header_bytes = 8;  // length (4), tag (1), padding (3)
    static constexpr uint32_t wrap_marker = UINT32_MAX;
    static size_t padded(size_t n) noexcept { return (n + 7) & ~size_t{7}; }

    std::unique_ptr<char[]> buffer_;
    size_t mask_;
    alignas(64) std::atomic<uint64_t> head_{0};  // written by the producer
    alignas(64) std::atomic<uint64_t> tail_{0};  // written by the consumer
};

}  // namespace rstscope
