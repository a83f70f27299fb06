// SPDX-License-Identifier: BSD-3-Clause
// Flight recorder, the worker's half: every TCP packet's first bytes appended to a per-worker ring
// (FlightStore), each record linked to its flow's previous one, and the hand-over of a reset
// connection's packets to management (EvidenceArena). Management writes them to pcapng (src/mgmt/
// flight_recorder.h); docs/recorder.md explains what is kept and why.
//
// Why a ring written in order and not a store per flow: at a million flows every packet would
// write its record at a random place of a store as large as the flow table, two or three cache
// lines the packet path waits for (the worker path ran at 0.6 of its speed without the recorder);
// a ring is written line after line, which the memory system absorbs at little cost. The price:
// the ring holds the latest `capacity` packets of the worker, whatever flow they belong to, so a
// flow's packets older than that are gone (counted: recorder_packets_overwritten).
//
// Per flow: 4 bytes in its flow entry (FlowEntry::flight_last, the number of its latest record).
// A record carries its own number, the flow's slot and generation, and its flow's previous
// record's number: a reset's packets are found by walking back from the flow's latest, and a
// record overwritten meanwhile (by any flow) no longer carries the number, slot and generation
// the walk expects. The walk gives the event the flow's latest `packets` packets and, when it
// reaches the flow's first packet within `walk_limit` records, its handshake in their place.
// Once the connection's reset event is drafted, at most `after_rst()` packets after the RST are
// kept (the linger window: challenge ACKs, data after the RST, repeats), so the RST and the
// packets before it survive a peer that keeps sending; further ones are counted
// (recorder_packets_skipped).
//
// Thread contract: a FlightStore belongs to one worker (the tracker that owns the flow table).
// An EvidenceArena has one writer, that worker, and one reader, management: a ring of blocks the
// worker overwrites oldest first without ever waiting, each guarded by a sequence stamp (a seqlock)
// so that management detects a block overwritten before it read it and counts it as lost.
// Hot path: append/seal/write are noexcept, allocate nothing, lock nothing.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

#include "rstscope/common/fixed_memory.h"

namespace rstscope {

struct FlightConfig {
    // A reset connection's packets given to its event; 0: the recorder is off.
    uint32_t packets = 8;
    uint32_t snap = 160;  // bytes kept of each frame (headers first, then payload)
    uint64_t ring_bytes = uint64_t{1} << 30;  // per worker: the ring of every packet's record
    static constexpr uint32_t max_packets = 16;
    static constexpr uint32_t max_snap = 2048;
    // Reset connections whose packets wait for management at once, per worker: management reads
    // them when it writes the event, so this covers the events between a worker and the log (its
    // ring, the storm window).
    uint32_t evidence_blocks = 32768;
    Paging paging = Paging::up_front;  // of the ring and the arena (fixed_memory.h)
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

class EvidenceArena {
  public:
    // Setup: `blocks` (rounded up to a power of two) of up to `max_records` records.
    EvidenceArena(uint32_t blocks, uint32_t max_records, uint32_t record_bytes,
                  Paging paging = Paging::up_front);

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
    // Records a walk reads back from a flow's latest one, looking for the flow's first packets.
    static constexpr uint32_t walk_limit = 64;

    // Setup: the ring per `config`; packets 0 allocates nothing and every call below does nothing.
    explicit FlightStore(const FlightConfig& config);

    bool enabled() const noexcept { return packets_ != 0; }
    uint32_t packets_per_flow() const noexcept { return packets_; }
    uint64_t capacity() const noexcept { return capacity_; }
    // Packets kept after a drafted reset's RST.
    uint32_t after_rst() const noexcept { return after_rst_; }
    // Bytes of one record in an evidence block (FlightRecordHeader and the frame's bytes).
    uint32_t record_bytes() const noexcept { return evidence_record_bytes(snap_); }
    static uint32_t evidence_record_bytes(uint32_t snap) noexcept;
    // Bytes of one record in the ring: a Link, the FlightRecordHeader and the frame's bytes, in
    // whole cache lines.
    static size_t ring_record_bytes(uint32_t snap) noexcept;
    // Bytes of the ring `config` asks for (0 when off).
    static size_t memory_for(const FlightConfig& config) noexcept;

    // Appends the frame as the latest packet of the flow in `slot` (of `generation`); `last` is
    // the flow's FlowEntry::flight_last, 0 for a flow with no record yet, updated.
    void append(uint32_t& last, uint32_t slot, uint32_t generation, const FrameRef& frame,
                uint64_t ts_ns, uint16_t link) noexcept {
        if (packets_ != 0) last = append_record(last, slot, generation, frame, ts_ns, link);
    }

    struct Sealed {
        uint64_t block = 0;        // the evidence block's number; 0: no packet kept
        uint32_t overwritten = 0;  // of the packets the event should have had, overwritten
    };
    // Copies the flow's packets, in order, into the arena's next block. `flow_packets`: the
    // packets the flow has seen (to tell a short flow from one whose older packets are gone).
    Sealed seal(uint32_t last, uint32_t slot, uint32_t generation, uint64_t flow_packets,
                EvidenceArena& arena) const noexcept;

    // Tests only: numbers the next record as if `records` had been written (the 32-bit wrap).
    void skip_numbers_for_test(uint64_t records) noexcept {
        written_ += records;
        position_ = written_ % capacity_;
    }

  private:
    // Before each record's FlightRecordHeader: which record it is and whose.
    struct Link {
        uint32_t number;  // low 32 bits of the record's number (never 0)
        uint32_t slot;
        uint32_t generation;
        uint32_t previous;  // the flow's previous record's number; 0: none
    };
    static_assert(sizeof(Link) == 16);

    uint32_t append_record(uint32_t previous, uint32_t slot, uint32_t generation,
                           const FrameRef& frame, uint64_t ts_ns, uint16_t link) noexcept;
    // The next record's number; the record numbered n sits at n % capacity_, kept by counting
    // rather than dividing on the packet path.
    uint64_t advance() noexcept {
        if (++position_ == capacity_) position_ = 0;
        return ++written_;
    }
    // The record `low` (a record number's low 32 bits) names, if the ring still holds it for the
    // flow in `slot` of `generation`; null otherwise.
    const Link* find(uint32_t low, uint32_t slot, uint32_t generation) const noexcept;

    uint32_t packets_ = 0;
    uint32_t head_ = 0;  // the handshake's packets, given when the walk reaches them
    uint32_t after_rst_ = 0;
    uint32_t snap_ = 0;
    size_t stride_ = 0;                    // a record's bytes in the ring: whole cache lines
    uint64_t capacity_ = 0;                // records
    uint64_t written_ = 0;                 // the latest record's number
    uint64_t position_ = 0;                // its place: written_ % capacity_
    std::unique_ptr<FixedMemory> memory_;  // null when off
    uint8_t* records_ = nullptr;
};

}  // namespace rstscope
