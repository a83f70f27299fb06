// SPDX-License-Identifier: BSD-3-Clause
// Hot path (see flight_store.h): record, seal, begin_write and commit are noexcept, allocate
// nothing and lock nothing. Setup (the constructors) allocates and may throw.
#include "rstscope/analysis/flight_store.h"

#include <sys/mman.h>

#include <algorithm>
#include <stdexcept>
#include <string>

namespace rstscope {
namespace {

// The handshake: SYN, SYN-ACK, ACK.
constexpr uint32_t head_packets = 3;

size_t round_up_8(size_t n) {
    return (n + 7) & ~size_t{7};
}

}  // namespace

FixedMemory::FixedMemory(size_t bytes, const char* what) : bytes_(bytes) {
    if (bytes == 0) return;
    void* memory = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED)
        throw std::runtime_error("cannot allocate " + std::to_string(bytes >> 20) + " MiB for " +
                                 what);
    // Transparent huge pages, as the flow table: every packet writes a record at a random place
    // of the store, and on 4 KiB pages nearly each one missed the TLB. A hint, not a requirement.
    madvise(memory, bytes, MADV_HUGEPAGE);
    // Faulted in now, like the flow table, so the packet path never takes a page fault.
    if (madvise(memory, bytes, MADV_POPULATE_WRITE) != 0) std::memset(memory, 0, bytes);
    data_ = static_cast<uint8_t*>(memory);
}

FixedMemory::~FixedMemory() {
    if (data_) munmap(data_, bytes_);
}

size_t EvidenceArena::memory_for(uint32_t blocks, uint32_t max_records, uint32_t record_bytes) {
    uint64_t count = 1;
    while (count < blocks)
        count <<= 1;
    return count * (sizeof(BlockHeader) + size_t{max_records} * record_bytes);
}

EvidenceArena::EvidenceArena(uint32_t blocks, uint32_t max_records, uint32_t record_bytes)
    : max_records_(max_records),
      record_bytes_(record_bytes),
      block_bytes_(sizeof(BlockHeader) + size_t{max_records} * record_bytes),
      mask_(0),
      memory_(memory_for(blocks, max_records, record_bytes)) {
    uint64_t count = memory_.size() / block_bytes_;
    mask_ = count - 1;
}

uint8_t* EvidenceArena::begin_write(uint64_t& number) noexcept {
    number = ++written_;
    BlockHeader& b = block(number);
    b.stamp.store(2 * number - 1, std::memory_order_relaxed);
    // The odd stamp is visible before any byte of the new content.
    std::atomic_thread_fence(std::memory_order_release);
    return reinterpret_cast<uint8_t*>(&b) + sizeof(BlockHeader);
}

void EvidenceArena::commit(uint64_t number, uint32_t count) noexcept {
    BlockHeader& b = block(number);
    b.count = count;
    b.stamp.store(2 * number, std::memory_order_release);
}

bool EvidenceArena::read(uint64_t number, uint8_t* out, EvidenceView& view) const noexcept {
    if (number == 0) return false;
    const BlockHeader& b = block(number);
    if (b.stamp.load(std::memory_order_acquire) != 2 * number) return false;
    uint32_t count = std::min(b.count, max_records_);
    std::memcpy(out, reinterpret_cast<const uint8_t*>(&b) + sizeof(BlockHeader),
                size_t{count} * record_bytes_);
    // A seqlock's read side: the copy is good only if the stamp did not move meanwhile.
    std::atomic_thread_fence(std::memory_order_acquire);
    if (b.stamp.load(std::memory_order_relaxed) != 2 * number) return false;
    view.count = count;
    view.record_bytes = record_bytes_;
    view.records = out;
    return true;
}

size_t FlightStore::memory_per_flow(const FlightConfig& config) noexcept {
    if (config.packets == 0) return 0;
    return sizeof(Meta) +
           size_t{config.packets} * round_up_8(sizeof(FlightRecordHeader) + size_t{config.snap});
}

FlightStore::FlightStore(uint32_t flows, const FlightConfig& config) : packets_(config.packets) {
    if (packets_ == 0) return;
    head_ = std::min(head_packets, packets_ / 2);
    tail_ = packets_ - head_;
    tail_magic_ = UINT64_MAX / tail_ + 1;
    after_rst_ = tail_ / 2;
    snap_ = config.snap;
    record_bytes_ = static_cast<uint32_t>(round_up_8(sizeof(FlightRecordHeader) + snap_));
    size_t meta_bytes = round_up_8(size_t{flows} * sizeof(Meta));
    memory_ = std::make_unique<FixedMemory>(meta_bytes +
                                            size_t{flows} * packets_ * size_t{record_bytes_});
    meta_ = reinterpret_cast<Meta*>(memory_->data());
    records_ = memory_->data() + meta_bytes;
}

bool FlightStore::record(uint32_t slot, const FrameRef& frame, uint64_t ts_ns,
                         uint16_t link) noexcept {
    if (packets_ == 0) return false;
    Meta& m = meta_[slot];
    const uint32_t i = m.seen;
    if (m.rst_index != 0 && i - (m.rst_index - 1) > after_rst_) return false;
    uint8_t* at = record_at(slot, index_of(i));
    FlightRecordHeader header;
    header.ts_ns = ts_ns;
    header.length = frame.length;
    header.captured = static_cast<uint16_t>(std::min(frame.captured, snap_));
    header.link = link;
    std::memcpy(at, &header, sizeof(header));
    std::memcpy(at + sizeof(header), frame.data, header.captured);
    m.seen = i + 1;
    return true;
}

uint64_t FlightStore::seal(uint32_t slot, EvidenceArena& arena) const noexcept {
    if (packets_ == 0) return 0;
    const Meta& m = meta_[slot];
    if (m.seen == 0) return 0;
    uint64_t number;
    uint8_t* out = arena.begin_write(number);
    const uint32_t room = arena.max_records();
    uint32_t count = 0;
    auto copy = [&](uint32_t index) {
        if (count == room) return;
        std::memcpy(out + size_t{count} * arena.record_bytes(), record_at(slot, index),
                    std::min(record_bytes_, arena.record_bytes()));
        ++count;
    };
    const uint32_t head = std::min(m.seen, head_);
    for (uint32_t i = 0; i < head; ++i)
        copy(i);
    // The tail ring holds packets max(head, seen - tail) .. seen - 1.
    uint32_t first = std::max(head_, m.seen > tail_ ? m.seen - tail_ : 0);
    for (uint32_t i = first; i < m.seen; ++i)
        copy(index_of(i));
    arena.commit(number, count);
    return number;
}

}  // namespace rstscope
