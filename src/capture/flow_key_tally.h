// SPDX-License-Identifier: BSD-3-Clause
// How many connections (and reset segments) a capture holds, told before DPDK reads it: the
// capture's flow table is sized from this (capture_sizes.h). Sized from the packet count alone, the
// table of a capture with several packets per connection was mostly empty, yet faulted in whole at
// start (the packet path must not take page faults), which cost more than the capture's analysis.
//
// One pass over the frames the probe already walks, fixed memory: a HyperLogLog (DistinctSketch)
// over the flow table's own key and hash, 2^14 one-byte registers (16 KiB), relative standard
// error 1.04 / 2^7 = 0.8 %. Frames that can never reach the flow table (not TCP) are not
// counted; a TCP fragment (its ports are in the first fragment only, or in none) counts as a
// connection of its own, so the estimate errs high, never low by more than the sketch's error.
// Pure logic: setup only.
#pragma once

#include <cstdint>

#include "reset_peaks.h"
#include "rstscope/common/distinct_sketch.h"
#include "rstscope/decode/packet_decoder.h"

namespace rstscope {

class FlowKeyTally {
  public:
    FlowKeyTally(LinkType link, bool vlan_in_key) noexcept
        : link_(link), vlan_in_key_(vlan_in_key) {}

    // A frame of the capture, `captured` bytes of it present, recorded at `ts_ns`. `record_id`:
    // a number no other record of the capture has (its byte offset in a classic pcap file, its
    // position in libpcap's reading), which names a fragment's connection.
    void add_frame(const uint8_t* frame, uint32_t captured, uint64_t ts_ns,
                   uint64_t record_id) noexcept;
    // One key's 64-bit hash (FlowTable::hash), which feeds bucket, signature and worker fields:
    // the tally mixes it (mix64) so that every bit the sketch reads depends on all of them.
    void add_hash(uint64_t hash) noexcept { sketch_.add(mix64(hash)); }
    // Adds what `other` saw, so shares of a capture tallied apart give one pass's estimate.
    void merge(const FlowKeyTally& other) noexcept {
        sketch_.merge(other.sketch_);
        reset_senders_.merge(other.reset_senders_);
        reset_peaks_.merge(other.reset_peaks_);
    }

    // Distinct keys seen, estimated (linear counting below 2.5 x 2^14 keys).
    uint64_t estimate() const noexcept { return sketch_.estimate(); }
    // Frames that are a TCP segment with RST, or a fragment reassembly may make one: a bound on
    // the reset events the capture can raise (one at most per reset segment, flow_tracker.h),
    // which sizes the tables only those fill (capture_sizes.h).
    uint64_t reset_segments() const noexcept { return reset_peaks_.total(); }
    // When those segments were recorded.
    const ResetPeaks& reset_peaks() const noexcept { return reset_peaks_; }
    // The distinct addresses those segments came from, estimated (2^12 registers: 1.6 %): the
    // hosts management's storm window will keep (StormWindow::populate).
    uint64_t reset_senders() const noexcept { return reset_senders_.estimate(); }

  private:
    LinkType link_;
    bool vlan_in_key_;
    DistinctSketch<14> sketch_;
    DistinctSketch<12> reset_senders_;
    ResetPeaks reset_peaks_;
    DecodedPacket scratch_;  // add_frame's decode (decode_frame_key), kept between frames
};

}  // namespace rstscope
