// SPDX-License-Identifier: BSD-3-Clause
#include "rstscope/mgmt/export_ring.h"

#include <bit>
#include <cstring>

namespace rstscope {

ExportRing::ExportRing(size_t capacity_bytes) {
    size_t size = std::bit_ceil(capacity_bytes < 4096 ? size_t{4096} : capacity_bytes);
    buffer_ = std::make_unique<char[]>(size);
    mask_ = size - 1;
}

// A record is a header (length, tag) and the line, padded to 8 bytes, never split across the
// buffer's end: when it would be, a wrap marker fills the rest and the record starts at 0.
bool ExportRing::push(std::string_view line, uint8_t tag) noexcept {
    if (line.size() > max_record()) return false;
    uint64_t head = head_.load(std::memory_order_relaxed);
    uint64_t tail = tail_.load(std::memory_order_acquire);
    size_t need = header_bytes + padded(line.size());
    size_t offset = head & mask_;
    size_t to_end = capacity() - offset;
    size_t skip = to_end < need ? to_end : 0;
    if (head + skip + need - tail > capacity()) return false;
    if (skip) {
        uint32_t marker = wrap_marker;
        std::memcpy(buffer_.get() + offset, &marker, sizeof marker);
        offset = 0;
    }
    auto length = static_cast<uint32_t>(line.size());
    std::memcpy(buffer_.get() + offset, &length, sizeof length);
    buffer_[offset + 4] = static_cast<char>(tag);
    std::memcpy(buffer_.get() + offset + header_bytes, line.data(), line.size());
    head_.store(head + skip + need, std::memory_order_release);
    return true;
}

bool ExportRing::peek(std::string_view& line, uint8_t& tag) const noexcept {
    uint64_t tail = tail_.load(std::memory_order_relaxed);
    uint64_t head = head_.load(std::memory_order_acquire);
    if (tail == head) return false;
    size_t offset = tail & mask_;
    uint32_t length;
    // The marker is written only where a header would not fit... or where one would: either
    // way the first 4 bytes are in the buffer (records are 8-byte aligned).
    std::memcpy(&length, buffer_.get() + offset, sizeof length);
    if (length == wrap_marker) {
        offset = 0;
        std::memcpy(&length, buffer_.get(), sizeof length);
    }
    tag = static_cast<uint8_t>(buffer_[offset + 4]);
    line = std::string_view(buffer_.get() + offset + header_bytes, length);
    return true;
}

void ExportRing::pop() noexcept {
    uint64_t tail = tail_.load(std::memory_order_relaxed);
    size_t offset = tail & mask_;
    uint32_t length;
    std::memcpy(&length, buffer_.get() + offset, sizeof length);
    uint64_t next = tail;
    if (length == wrap_marker) {
        next += capacity() - offset;
        std::memcpy(&length, buffer_.get(), sizeof length);
    }
    next += header_bytes + padded(length);
    tail_.store(next, std::memory_order_release);
}

size_t ExportRing::used() const noexcept {
    return static_cast<size_t>(head_.load(std::memory_order_acquire) -
                               tail_.load(std::memory_order_acquire));
}

}  // namespace rstscope
