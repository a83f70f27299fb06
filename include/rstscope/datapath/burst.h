// SPDX-License-Identifier: BSD-3-Clause
// The body of a worker's burst, EAL-free: decode every frame, let the shell dispatch the ones
// another worker owns, track the rest, and hand the tracker's events to the shell's event ring.
// The worker loop (src/datapath/worker.cc), the benchmark (tools/bench/worker_bench.cc) and the
// decoder fuzz target run this same code; each supplies only what differs, as a small class whose
// inline members the template calls directly (no virtual call, no function pointer: after
// inlining, the code is what a hand-written loop would be).
//
// Hot path: noexcept, no allocation, no lock, no system call of its own; what a shell's members
// do is the shell's (the worker's are listed in src/datapath/worker.cc). One BurstPath per worker
// lcore, used by that lcore only.
//
// A Frames shell describes one burst:
//   bool arriving() const             frames fresh from a port: counted in packets and bytes,
//                                     stamped, and offered to dispatch (false: frames another
//                                     worker dispatched here, already counted there)
//   void prefetch(uint32_t i)         warm frame i while the one before it is decoded
//   void arrived(uint32_t i)          frame i came in (arriving only): stamp its time if needed
//   const uint8_t* data(uint32_t i)   its headers, contiguous
//   uint32_t data_length(uint32_t i)  how many bytes `data` holds
//   uint32_t packet_length(uint32_t i) its whole length, for the bytes counter
//   bool stays(uint32_t i, const DecodedPacket& p)   arriving TCP only: false once the shell has
//                                     handed frame i to the worker that owns its flow
//   uint64_t time_ns(uint32_t i)      its packet time
//   void keep(uint32_t i)             frame i stays with this worker (tracked or dropped)
// and, if it reassembles IP fragments (the fuzz target and the benchmark do not):
//   FragmentFate reassemble(uint32_t i, const DecodeResult& r)   arriving frame i is a fragment
//                                     decode_frame() found reassemblable (`r`): the reassembler
//                                     holds or dropped it (`held`: frame i is gone), or it
//                                     completed a datagram, which is frame i from now on (its
//                                     `data` contiguous); `not_taken`: reassembly is off
// An EventSink shell is the event ring:
//   uint32_t enqueue(const ResetEvent* events, uint32_t count)   how many it took
//   bool abandoned() const            the shutdown deadline passed: waiting is over
//   void pause()                      between two tries while waiting for room
#pragma once

#include <atomic>
#include <cstdint>

#include "rstscope/analysis/flow_tracker.h"
#include "rstscope/common/counters.h"
#include "rstscope/decode/packet_decoder.h"

namespace rstscope {

// Packets in flight from a reader to one peer worker (the ring each worker receives dispatched
// frames on): a few bursts' worth per worker keeps the hand-off smooth; the reader's pool, not
// this ring, bounds what a capture lends out.
inline constexpr unsigned dispatch_ring_size = 8192;

enum class FragmentFate : uint8_t { not_taken, held, datagram };

class BurstPath {
  public:
    // The longest burst a shell may hand over at once; the tracker takes bursts of that size.
    static constexpr uint32_t max_burst = FlowTracker::max_burst;

    BurstPath(FlowTracker& tracker, WorkerCounters& counters) noexcept
        : tracker_(tracker), counters_(counters) {}

    // Decode → dispatch → track: `count` (≤ max_burst) frames of link type `link`.
    template <class Frames>
    void track(LinkType link, Frames& frames, uint32_t count) noexcept {
        const bool arriving = frames.arriving();
        uint32_t tcp = 0;
        uint64_t bytes = 0;
        for (uint32_t i = 0; i < count; ++i) {
            if (i + 1 < count) frames.prefetch(i + 1);
            if (arriving) {
                bytes += frames.packet_length(i);
                frames.arrived(i);
            }
            DecodedPacket& p = packets_[tcp];
            // Read once: a reassembled datagram's data() is a copy of its whole chain.
            const uint8_t* data = frames.data(i);
            uint32_t data_length = frames.data_length(i);
            DecodeResult r = decode_frame(link, data, data_length, p);
            if constexpr (requires { frames.reassemble(i, r); }) {
                // A fragment that completes a datagram: the datagram takes its place.
                if (arriving && !r.is_tcp && r.reason == DropReason::ip_fragment &&
                    r.fragment_l3_length != 0) {
                    FragmentFate fate = frames.reassemble(i, r);
                    if (fate == FragmentFate::held) continue;
                    if (fate == FragmentFate::datagram) {
                        data = frames.data(i);
                        data_length = frames.data_length(i);
                        r = decode_frame(link, data, data_length, p);
                    }
                }
            }
            if (!r.is_tcp) {
                counters_.drop(r.reason);
                frames.keep(i);
                continue;
            }
            if (arriving && !frames.stays(i, p)) continue;
            p.ts_ns = frames.time_ns(i);
            // The flight recorder keeps the frame's first bytes (the tracker ignores them when
            // it is off): three stores a segment.
            frame_refs_[tcp] = {data, data_length, frames.packet_length(i)};
            ++tcp;
            frames.keep(i);
        }
        if (arriving) {
            counters_.bump(WorkerCounter::packets, count);
            counters_.bump(WorkerCounter::bytes, bytes);
        }
        tracker_.process_burst(packets_, tcp, frame_refs_, static_cast<uint16_t>(link));
    }

    // Moves the tracker's time forward (expiry, linger): once per poll, burst or not.
    void advance(uint64_t now_ns) noexcept { tracker_.advance(now_ns); }

    // The tracker's events into the sink. `may_wait`: wait for room until the sink says the
    // shutdown deadline passed (a capture, a shutdown); otherwise what does not fit is dropped
    // and counted as events_ring_full. What is left after the deadline is events_lost_shutdown.
    template <class EventSink>
    void hand_over(EventSink& sink, bool may_wait) noexcept {
        const uint32_t count = tracker_.event_count();
        if (count == 0) return;
        uint32_t queued = sink.enqueue(tracker_.events(), count);
        while (may_wait && queued < count && !sink.abandoned()) {
            sink.pause();
            queued += sink.enqueue(tracker_.events() + queued, count - queued);
        }
        counters_.bump(WorkerCounter::events_emitted, queued);
        if (queued < count) {
            counters_.bump(sink.abandoned() ? WorkerCounter::events_lost_shutdown
                                            : WorkerCounter::events_ring_full,
                           count - queued);
        }
        tracker_.clear_events();
    }

    // End of input or shutdown: every pending reset gets its verdict now, in queue order, `batch`
    // at a time, each batch handed over as hand_over(sink, true) does. After each batch the floor
    // under the pending resets' deadlines (FlowTracker::pending_deadline_floor) goes to `progress`
    // (WorkerChannel::progress_ns), as if the clock had reached it: no later event has a RST
    // older than that less the linger, so management judges and writes the events before it while
    // the rest are flushed. (A capture shorter than the linger has every reset pending at its end:
    // without this, management's writing would start only once the last one was flushed.)
    template <class EventSink>
    void flush(EventSink& sink, uint32_t batch, std::atomic<uint64_t>& progress) noexcept {
        while (!tracker_.flush_pending(batch)) {
            hand_over(sink, true);
            uint64_t floor = tracker_.pending_deadline_floor();  // some remain
            if (floor > progress.load(std::memory_order_relaxed))
                progress.store(floor, std::memory_order_release);
        }
        hand_over(sink, true);
    }

    FlowTracker& tracker() noexcept { return tracker_; }
    const FlowTracker& tracker() const noexcept { return tracker_; }

  private:
    FlowTracker& tracker_;
    WorkerCounters& counters_;
    DecodedPacket packets_[max_burst];
    FrameRef frame_refs_[max_burst];
};

}  // namespace rstscope
