// SPDX-License-Identifier: BSD-3-Clause
// How many connections a capture holds, told before DPDK reads it: the capture's flow table is
// sized from this (capture_sizes.h). Sized from the packet count alone, the table of a capture
// with several packets per connection was mostly empty, yet faulted in whole at start (the packet
// path must not take page faults), which cost more than the capture's analysis.
//
// One pass over the frames the probe already walks, fixed memory: a HyperLogLog (Flajolet, Fusy,
// Gandouet, Meunier 2007) over the flow table's own key and hash, 2^14 one-byte registers
// (16 KiB), relative standard error 1.04 / 2^7 = 0.8 %. Frames that can never reach the flow
// table (not TCP) are not counted; a TCP fragment (its ports are in the first fragment only, or
// in none) counts as a connection of its own, so the estimate errs high, never low by more than
// the sketch's error. Pure logic: setup only.
#pragma once

#include <array>
#include <cstdint>

#include "rstscope/decode/packet_decoder.h"

namespace rstscope {

class FlowKeyTally {
  public:
    static constexpr unsigned register_bits = 14;
    static constexpr uint32_t register_count = 1u << register_bits;

    // `first_frame`: the capture's record number of the first frame add_frame is given, when the
    // tally takes a share of a capture (merged afterwards) rather than all of it.
    FlowKeyTally(LinkType link, bool vlan_in_key, uint64_t first_frame = 0) noexcept
        : link_(link), vlan_in_key_(vlan_in_key), next_frame_(first_frame) {}

    // The capture's next frame, `captured` bytes of it present.
    void add_frame(const uint8_t* frame, uint32_t captured) noexcept;
    // One key's 64-bit hash (FlowTable::hash); the tally mixes it further.
    void add_hash(uint64_t hash) noexcept;
    // Adds what `other` saw: the sketch of the union of both key sets, exactly (each register
    // keeps the larger rank), so shares of a capture tallied apart give one pass's estimate.
    void merge(const FlowKeyTally& other) noexcept;

    // Distinct keys seen, estimated: HyperLogLog's estimate, or linear counting while registers
    // are still empty (below 2.5 x 2^14 keys, where it is the more exact of the two).
    uint64_t estimate() const noexcept;

  private:
    LinkType link_;
    bool vlan_in_key_;
    uint64_t next_frame_;  // record number of add_frame's next frame
    std::array<uint8_t, register_count> registers_{};
};

}  // namespace rstscope
