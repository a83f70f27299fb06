// SPDX-License-Identifier: BSD-3-Clause
// Hot path (see flight_store.h): append, seal, begin_write and commit are noexcept, allocate
// nothing and lock nothing. Setup (the constructors) allocates and may throw.
#include "rstscope/analysis/flight_store.h"

#include "rstscope/common/stream_store.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace rstscope {
namespace {

// The handshake: SYN, SYN-ACK, ACK.
constexpr uint32_t head_packets = 3;
// The fewest records a ring holds, however small --recorder-ring: a block's worth and more.
constexpr uint64_t min_ring_records = 1024;

size_t round_up_8(size_t n) {
    return (n + 7) & ~size_t{7};
}

}  // namespace

size_t EvidenceArena::memory_for(uint32_t blocks, uint32_t max_records, uint32_t record_bytes) {
    uint64_t count = 1;
    while (count < blocks)
        count <<= 1;
    return count * (sizeof(BlockHeader) + size_t{max_records} * record_bytes);
}

EvidenceArena::EvidenceArena(uint32_t blocks, uint32_t max_records, uint32_t record_bytes,
                             Paging paging)
    : max_records_(max_records),
      record_bytes_(record_bytes),
      block_bytes_(sizeof(BlockHeader) + size_t{max_records} * record_bytes),
      mask_(0),
      memory_(memory_for(blocks, max_records, record_bytes), "the flight recorder", paging) {
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

uint32_t FlightStore::evidence_record_bytes(uint32_t snap) noexcept {
    return static_cast<uint32_t>(round_up_8(sizeof(FlightRecordHeader) + size_t{snap}));
}

size_t FlightStore::ring_record_bytes(uint32_t snap) noexcept {
    return round_up_to_line(sizeof(Link) + sizeof(FlightRecordHeader) +
                            size_t{std::min(snap, FlightConfig::max_snap)});
}

namespace {

uint64_t records_for(const FlightConfig& config) {
    return std::max(min_ring_records,
                    config.ring_bytes / FlightStore::ring_record_bytes(config.snap));
}

}  // namespace

size_t FlightStore::memory_for(const FlightConfig& config) noexcept {
    if (config.packets == 0) return 0;
    return records_for(config) * ring_record_bytes(config.snap);
}

FlightStore::FlightStore(const FlightConfig& config)
    : packets_(std::min(config.packets, FlightConfig::max_packets)) {
    if (packets_ == 0) return;
    head_ = std::min(head_packets, packets_ / 2);
    after_rst_ = std::max(1u, packets_ / 4);
    snap_ = std::min(config.snap, FlightConfig::max_snap);
    stride_ = ring_record_bytes(snap_);
    capacity_ = records_for(config);
    memory_ =
        std::make_unique<FixedMemory>(capacity_ * stride_, "the flight recorder", config.paging);
    records_ = memory_->data();
}

uint32_t FlightStore::append_record(uint32_t previous, uint32_t slot, uint32_t generation,
                                    const FrameRef& frame, uint64_t ts_ns, uint16_t link) noexcept {
    uint64_t number = advance();
    if (static_cast<uint32_t>(number) == 0) number = advance();  // 0 means "no record"
    // Written as whole lines that bypass the cache (stream_store.h): the ring is written once
    // and read only for a reset.
    struct alignas(16) Head {
        Link link;
        FlightRecordHeader header;
    } head;
    head.link = {static_cast<uint32_t>(number), slot, generation, previous};
    head.header.ts_ns = ts_ns;
    head.header.length = frame.length;
    head.header.captured = static_cast<uint16_t>(std::min(frame.captured, snap_));
    head.header.link = link;
    static_assert(sizeof(Head) == 32);
    const size_t used = sizeof(Head) + head.header.captured;
    stream_lines(records_ + position_ * stride_, round_up_to_line(used) / cache_line_bytes, &head,
                 sizeof(head), frame.data, head.header.captured);
    return static_cast<uint32_t>(number);
}

const FlightStore::Link* FlightStore::find(uint32_t low, uint32_t slot,
                                           uint32_t generation) const noexcept {
    if (low == 0) return nullptr;
    // The latest record whose number ends in `low`; older than the ring's capacity: overwritten.
    const uint64_t age = static_cast<uint32_t>(static_cast<uint32_t>(written_) - low);
    if (age >= capacity_ || age >= written_) return nullptr;
    // A division, but per record of a sealed reset, not per packet.
    const auto* l =
        reinterpret_cast<const Link*>(records_ + ((written_ - age) % capacity_) * stride_);
    if (l->number != low || l->slot != slot || l->generation != generation) return nullptr;
    return l;
}

FlightStore::Sealed FlightStore::seal(uint32_t last, uint32_t slot, uint32_t generation,
                                      uint64_t flow_packets, EvidenceArena& arena) const noexcept {
    Sealed sealed;
    if (packets_ == 0 || last == 0) return sealed;
    // Newest first: the flow's records the ring still holds, up to walk_limit.
    const Link* chain[walk_limit];
    uint32_t found = 0;
    bool reached_first = false;
    for (uint32_t low = last; found < walk_limit;) {
        const Link* l = find(low, slot, generation);
        if (!l) break;
        chain[found++] = l;
        low = l->previous;
        if (low == 0) {
            reached_first = true;
            break;
        }
    }
    const uint32_t wanted = static_cast<uint32_t>(std::min<uint64_t>(packets_, flow_packets));
    if (found < wanted && !reached_first) sealed.overwritten = wanted - found;
    if (found == 0) return sealed;
    // Which of them: all when they fit; the handshake and the latest when the walk reached the
    // flow's first packet; otherwise the latest.
    const uint32_t room = std::min(packets_, arena.max_records());
    const uint32_t head = reached_first && found > room ? std::min(head_, room) : 0;
    const uint32_t tail = std::min(found, room) - head;
    uint8_t* out = arena.begin_write(sealed.block);
    uint32_t count = 0;
    auto copy = [&](const Link* l) {
        std::memcpy(out + size_t{count} * arena.record_bytes(),
                    reinterpret_cast<const uint8_t*>(l) + sizeof(Link),
                    std::min(record_bytes(), arena.record_bytes()));
        ++count;
    };
    for (uint32_t i = 0; i < head; ++i)
        copy(chain[found - 1 - i]);
    for (uint32_t i = tail; i > 0; --i)
        copy(chain[i - 1]);
    arena.commit(sealed.block, count);
    return sealed;
}

}  // namespace rstscope
