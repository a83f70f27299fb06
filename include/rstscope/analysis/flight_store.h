// SPDX-License-Identifier: BSD-3-Clause
// Flight recorder, the worker's half: the last packets of every live flow, kept in fixed slots
// indexed by the flow table's slot (FlightStore), and the hand-over of a reset connection's
// packets to management (EvidenceArena). Management writes them to pcapng (src/mgmt/
// flight_recorder.h); docs/recorder.md explains what is kept and why.
//
// Per flow: the first `head` packets (the handshake) and a ring of the last `tail` ones. Once the
// connection's reset event is drafted, the RST is pinned: at most tail / 2 packets after it (the
// linger window: challenge ACKs, data after the RST, repeats) are kept, so the RST and the packets
// before it survive what follows; further ones are counted (recorder_packets_skipped).
//
// Memory: packets x (16 + snap) bytes per flow plus 8 bytes of bookkeeping, every page touched at
// setup (as the flow table's) so the packet path takes no page fault.
//
// Thread contract: a FlightStore belongs to one worker (the tracker that owns the flow table).
// An EvidenceArena has one writer, that worker, and one reader, management: a ring of blocks the
// worker overwrites oldest first without ever waiting, each guarded by a sequence stamp (a seqlock)
// so that management detects a block overwritten before it read it and counts it as lost.
// Hot path: record/seal/write are noexcept, allocate nothing, lock nothing.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

namespace rstscope {

struct FlightConfig {
    uint32_t packets = 8;  // kept per flow; 0: the recorder is off
    uint32_t snap = 160;   // bytes kept of each frame (headers first, then payload)
    // Reset connections whose packets wait for management at once, per worker: management reads
    // them when it writes the event, so this covers the events between a worker and the log (its
    // ring, the storm window).
    uint32_t evidence_blocks = 32768;
};

// One kept packet: a 16-byte header, then `captured` bytes of the frame (room: snap).
struct FlightRecordHeader {
    uint64_t ts_ns;
    uint32_t length;    // on the wire
    uint16_t captured;  // bytes kept
    uint16_t link;      // pcap link type of the frame
};
static_assert(sizeof(FlightRecordHeader) == 16);

// A frame as the worker saw it: its first bytes, how many of them, its length on the wire.
struct FrameRef {
    const uint8_t* data = nullptr;
    uint32_t captured = 0;
    uint32_t length = 0;
};

// A reset connection's packets as management reads them: records in packet order.
struct EvidenceView {
    uint32_t count = 0;
    uint32_t record_bytes = 0;
    const uint8_t* records = nullptr;

    const FlightRecordHeader& header(uint32_t i) const noexcept {
        return *reinterpret_cast<const FlightRecordHeader*>(records + size_t{i} * record_bytes);
    }
    const uint8_t* data(uint32_t i) const noexcept {
        return records + size_t{i} * record_bytes + sizeof(FlightRecordHeader);
    }
};

// Fixed memory from mmap, populated at setup; released by the destructor.
class FixedMemory {
  public:
    // Throws std::runtime_error naming `what` when it cannot.
    explicit FixedMemory(size_t bytes, const char* what = "the flight recorder");
    ~FixedMemory();
    FixedMemory(const FixedMemory&) = delete;
    FixedMemory& operator=(const FixedMemory&) = delete;
    uint8_t* data() const noexcept { return data_; }
    size_t size() const noexcept { return bytes_; }

  private:
    uint8_t* data_ = nullptr;
    size_t bytes_ = 0;
};

class EvidenceArena {
  public:
    // Setup: `blocks` (rounded up to a power of two) of up to `max_records` records.
    EvidenceArena(uint32_t blocks, uint32_t max_records, uint32_t record_bytes);

    uint32_t record_bytes() const noexcept { return record_bytes_; }
    uint32_t max_records() const noexcept { return max_records_; }
    size_t memory_bytes() const noexcept { return memory_.size(); }
    static size_t memory_for(uint32_t blocks, uint32_t max_records, uint32_t record_bytes);

    // Worker only: the next block to fill (up to max_records records) and its number (from 1);
    // commit() publishes it with its record count. The oldest block is overwritten, never waited
    // for.
    uint8_t* begin_write(uint64_t& number) noexcept;
    void commit(uint64_t number, uint32_t count) noexcept;

    // Management only: copies block `number` into `out` (room: max_records x record_bytes) and
    // says what it holds; false when the worker overwrote it before it was read (or it never was).
    bool read(uint64_t number, uint8_t* out, EvidenceView& view) const noexcept;

  private:
    struct BlockHeader {
        std::atomic<uint64_t> stamp;  // 2n: block n complete; 2n - 1: block n being written
        uint32_t count;
        uint32_t padding;
    };
    BlockHeader& block(uint64_t number) const noexcept {
        return *reinterpret_cast<BlockHeader*>(memory_.data() + (number & mask_) * block_bytes_);
    }

    uint32_t max_records_;
    uint32_t record_bytes_;
    size_t block_bytes_;
    uint64_t mask_;
    FixedMemory memory_;
    uint64_t written_ = 0;  // worker side: the last block number begun
};

class FlightStore {
  public:
    // Setup: room for `flows` flow slots (the flow table's capacity) per `config`; packets 0
    // allocates nothing and every call below does nothing.
    FlightStore(uint32_t flows, const FlightConfig& config);

    bool enabled() const noexcept { return packets_ != 0; }
    uint32_t record_bytes() const noexcept { return record_bytes_; }
    uint32_t packets_per_flow() const noexcept { return packets_; }
    // Bytes per flow slot, records and bookkeeping.
    static size_t memory_per_flow(const FlightConfig& config) noexcept;

    // A new flow took `slot`: forget what the slot kept.
    void clear(uint32_t slot) noexcept {
        if (packets_) meta_[slot] = {};
    }
    // Keeps the frame as the flow's latest packet; false (and nothing kept) when the flow's RST is
    // pinned and its share of later packets is used up.
    bool record(uint32_t slot, const FrameRef& frame, uint64_t ts_ns, uint16_t link) noexcept;
    // The flow's reset event was drafted for the packet just recorded: pin it.
    void pin_rst(uint32_t slot) noexcept {
        if (packets_ && meta_[slot].seen != 0) meta_[slot].rst_index = meta_[slot].seen;
    }
    // Copies the flow's packets, in order, into the arena's next block; returns its number, 0 when
    // the flow kept no packet.
    uint64_t seal(uint32_t slot, EvidenceArena& arena) const noexcept;

    // Prefetch stages of a burst (FlowTracker::process_burst); neither changes what is kept. At a
    // large table both the slot's bookkeeping and its records are a cache miss per packet: first
    // the bookkeeping of the slot the flow table's prefetch found...
    void prefetch_meta(uint32_t slot) const noexcept {
        if (packets_) __builtin_prefetch(&meta_[slot]);
    }
    // ...then, its bookkeeping in cache, the lines the next record of that slot will write
    // (`captured`: the frame's bytes), for writing. A guess: a slot taken by a new flow or
    // recorded again meanwhile in the same burst only makes the prefetch useless.
    void prefetch_record(uint32_t slot, uint32_t captured) const noexcept {
        if (!packets_) return;
        const uint8_t* at = record_at(slot, index_of(meta_[slot].seen));
        const uintptr_t last = reinterpret_cast<uintptr_t>(at) + sizeof(FlightRecordHeader) +
                               std::min(captured, snap_) - 1;
        for (uintptr_t line = reinterpret_cast<uintptr_t>(at) & ~uintptr_t{63}; line <= last;
             line += 64)
            __builtin_prefetch(reinterpret_cast<const void*>(line), 1);
    }

  private:
    struct Meta {
        uint32_t seen = 0;       // packets recorded
        uint32_t rst_index = 0;  // 1 + index of the pinned RST; 0: none
    };
    uint8_t* record_at(uint32_t slot, uint32_t index) const noexcept {
        return records_ + (size_t{slot} * packets_ + index) * record_bytes_;
    }
    // Where the packet recorded as the slot's `seen`-th (from 0) goes: the head in order, then
    // the tail ring. t % tail_ by multiplication (Lemire's fastmod, exact for 32-bit t): this is
    // per packet, and a division costs tens of cycles.
    uint32_t index_of(uint32_t seen) const noexcept {
        if (seen < head_) return seen;
        const uint32_t t = seen - head_;
        if (t < tail_) return head_ + t;
        const uint64_t low = tail_magic_ * t;
        return head_ + static_cast<uint32_t>((static_cast<__uint128_t>(low) * tail_) >> 64);
    }

    uint32_t packets_ = 0;
    uint32_t head_ = 0;
    uint32_t tail_ = 0;
    uint64_t tail_magic_ = 0;  // 2^64 / tail_ rounded up, for index_of
    uint32_t after_rst_ = 0;
    uint32_t snap_ = 0;
    uint32_t record_bytes_ = 0;
    std::unique_ptr<FixedMemory> memory_;  // null when off
    Meta* meta_ = nullptr;
    uint8_t* records_ = nullptr;
};

}  // namespace rstscope
