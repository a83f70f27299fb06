// SPDX-License-Identifier: BSD-3-Clause
#include "rstscope/analysis/connection_windows.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "rstscope/common/mix64.h"

namespace rstscope {

// Little-endian words: the address's first k bytes are a word's low 8k bits.
static_assert(std::endian::native == std::endian::little);

uint64_t connection_key_hash(const IpAddress& address, IpFamily family, uint16_t port,
                             uint8_t prefix_length) noexcept {
    uint64_t w[2];
    std::memcpy(w, address.bytes, 16);
    if (prefix_length != 0) {
        // Whole bytes of the prefix only, as the findings engine's prefix keys.
        unsigned bits = prefix_length / 8u * 8u;
        w[0] &= bits >= 64 ? ~uint64_t{0} : (uint64_t{1} << bits) - 1;
        w[1] &= bits <= 64 ? 0 : bits >= 128 ? ~uint64_t{0} : (uint64_t{1} << (bits - 64)) - 1;
    }
    uint64_t tail = uint64_t{port} | uint64_t{static_cast<uint8_t>(family)} << 16 |
                    uint64_t{prefix_length} << 24;
    return mix64(w[0] ^ mix64(w[1] ^ (tail << 32 | tail)));
}

ConnectionWindows::ConnectionWindows(uint64_t window_ns, uint32_t slots)
    : window_ns_(window_ns == 0 ? 1 : window_ns),
      slots_(std::bit_ceil(std::clamp(slots, min_slots, max_slots))),
      slot_(std::make_unique<Slot[]>(slots_)) {}

uint32_t ConnectionWindows::slots_for(uint64_t window_ns, uint64_t linger_ns) noexcept {
    if (window_ns == 0) return max_slots;
    // The window being read, the lag of the linger (in windows, rounded up), the window the
    // workers are in and one spare for management's own delay.
    uint64_t lag = (linger_ns + window_ns - 1) / window_ns;
    return static_cast<uint32_t>(std::min<uint64_t>(lag + 3, max_slots));
}

ConnectionWindows::Slot& ConnectionWindows::slot_for(uint64_t window) noexcept {
    return slot_[window & (slots_ - 1)];
}

void ConnectionWindows::bump(Slot& s, uint64_t hash) noexcept {
    // One writer: a relaxed load and store is an increment nobody else races with.
    auto add = [](std::atomic<uint32_t>& c) {
        c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    };
    static_assert(depth == 4);
    add(s.cells[0][hash & (width - 1)]);
    add(s.cells[1][(hash >> 16) & (width - 1)]);
    add(s.cells[2][(hash >> 32) & (width - 1)]);
    add(s.cells[3][(hash >> 48) & (width - 1)]);
}

void ConnectionWindows::count(uint64_t ts_ns, const IpAddress& server, IpFamily family,
                              uint16_t port, uint8_t farm_prefix_length) noexcept {
    const uint64_t stamp = ts_ns / window_ns_ + 1;
    Slot& s = slot_for(stamp - 1);
    if (stamp > current_) {
        // The first connection of a newer window: its copy is cleared and stamped (seqlock).
        s.stamp.store(busy, std::memory_order_relaxed);
        std::atomic_thread_fence(std::memory_order_release);
        for (auto& row : s.cells)
            for (auto& c : row)
                c.store(0, std::memory_order_relaxed);
        s.stamp.store(stamp, std::memory_order_release);
        current_ = stamp;
    } else if (s.stamp.load(std::memory_order_relaxed) != stamp) {
        // Older than what its copy holds now (or a window skipped long ago): not counted.
        late_.store(late_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
        return;
    }
    bump(s, connection_key_hash(server, family, port, 0));
    bump(s, connection_key_hash(server, family, port, farm_prefix_length));
}

bool ConnectionWindows::add_cells(uint64_t window, uint64_t key_hash,
                                  uint64_t (&cells)[depth]) const noexcept {
    const Slot& s = slot_[window & (slots_ - 1)];
    const uint64_t want = window + 1;
    uint64_t before = s.stamp.load(std::memory_order_acquire);
    if (before != busy && before < want) return true;  // the worker never reached it here
    if (before != want) return false;
    uint32_t read[depth];
    for (unsigned row = 0; row < depth; ++row)
        read[row] =
            s.cells[row][(key_hash >> (row * 16)) & (width - 1)].load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (s.stamp.load(std::memory_order_relaxed) != want) return false;
    for (unsigned row = 0; row < depth; ++row)
        cells[row] += read[row];
    return true;
}

}  // namespace rstscope
