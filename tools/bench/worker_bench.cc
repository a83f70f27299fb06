// SPDX-License-Identifier: BSD-3-Clause
// worker_bench: the worker's per-packet path, timed on frames built in memory (no I/O).
//
// Default mode (no EAL): the worker's own burst body, BurstPath
// (include/rstscope/datapath/burst.h), as src/datapath/worker.cc runs it per receive burst, minus
// rte_eth_rx_burst and the mbuf free: decode_frame() for each frame, FlowTracker::process_burst()
// on the burst, the event outbox copied out as the ring enqueue would, then the per-poll advance()
// on packet time. Frames come from traffic_model.h in chunks written just before they are timed (so
// they sit in the cache as a NIC's DDIO writes would put them); only the processing of each chunk
// is inside the TSC reads.
//
// --dpdk: the real worker loop, src/datapath/worker.cc's worker_main() on its own lcore, polling a
// net_ring port (rte_eth_from_rings). The main lcore plays the NIC (--feed replay or copy, see
// run_dpdk) and drains the event ring as management would.
//
// --callgrind: a fixed small workload (10 000 flows, one warm pass, then 200 000 packets) with
// callgrind's collection switched on only around the processing of the measured chunks; the
// bench script divides the instruction count by the packets printed here.
//
// Management's cost per event is tools/bench/mgmt_bench's to measure.
#include <pthread.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <sched.h>
#include <x86intrin.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <boost/program_options.hpp>

#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#else
#define CALLGRIND_TOGGLE_COLLECT
#endif

#include "datapath/worker.h"  // the real worker loop, for --dpdk
#include "rstscope/analysis/flow_tracker.h"
#include "rstscope/datapath/burst.h"
#include "rstscope/decode/packet_decoder.h"
#include "traffic_model.h"

namespace po = boost::program_options;
using namespace rstscope;
using namespace rstscope::bench;

namespace {

constexpr uint32_t burst_size = 32;  // rstscope's default --burst
constexpr uint32_t chunk_frames = 2048;
constexpr uint32_t event_sink_capacity = 16384;  // rstscope's default --event-ring-size
// The timed packets are played in this many equal segments; the table reports the fastest (the
// machine is shared: the best segment is the path's cost, the mean includes the neighbours).
constexpr uint32_t segments = 10;

struct Settings {
    std::vector<uint64_t> flow_counts;
    uint64_t packets = 30'000'000;  // timed, per flow count, after one warm pass
    unsigned threads = 1;
    bool callgrind = false;
};

// TSC ticks per second, measured against CLOCK_MONOTONIC over 100 ms.
uint64_t measure_tsc_hz() {
    auto t0 = std::chrono::steady_clock::now();
    uint64_t c0 = __rdtsc();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    uint64_t c1 = __rdtsc();
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return static_cast<uint64_t>(static_cast<double>(c1 - c0) / seconds);
}

void pin_to_cpu(unsigned cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu % std::max(1u, std::thread::hardware_concurrency()), &set);
    pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

// --signatures: compiled once in main() before any tracker exists, read-only afterwards.
const SignatureDatabase* bench_signatures = nullptr;
// --recorder N: the flight recorder giving each reset N packets (--recorder-snap bytes each, in a
// ring of --recorder-ring MiB).
FlightConfig bench_flight{.packets = 0};
uint32_t bench_ring_mib = 1024;
// --connections-window S: each worker counts connections per service and findings window (the
// rst_storm share, connection_windows.h) as rstscope does with --findings-window S; 0: off.
double bench_connections_window_s = 0;

TrackerConfig tracker_config_for(uint64_t flows) {
    TrackerConfig config;  // rstscope's defaults, except the table sized for ~50 % load
    config.flow_capacity = static_cast<uint32_t>(std::max<uint64_t>(2 * flows, 64));
    config.signatures = bench_signatures;
    if (bench_signatures) config.app_capacity = app_capacity_with_signatures;  // as rstscope
    config.flight = bench_flight;
    if (bench_connections_window_s > 0) {
        config.connection_window_ns = static_cast<uint64_t>(bench_connections_window_s * 1e9);
        config.connection_slots =
            ConnectionWindows::slots_for(config.connection_window_ns, config.linger_ns);
    }
    return config;
}

// A chunk of frames as a NIC would have left them: contiguous slots, lengths and packet times.
struct Chunk {
    std::unique_ptr<uint8_t[]> frames{new uint8_t[size_t{chunk_frames} * frame_stride]};
    uint32_t lengths[chunk_frames];
    uint64_t times[chunk_frames];
    uint32_t count = 0;

    void fill(const TrafficModel& model, uint64_t first_index, uint32_t n) {
        count = n;
        for (uint32_t i = 0; i < n; ++i) {
            lengths[i] = model.write_frame(first_index + i, &frames[size_t{i} * frame_stride]);
            times[i] = model.time_ns(first_index + i);
        }
    }
    const uint8_t* frame(uint32_t i) const { return &frames[size_t{i} * frame_stride]; }
};

// Hot path under test: one worker's tracker, counters and event hand-over, run by the worker's
// own BurstPath: one receive burst, then the per-poll tail of WorkerLoop::run().
class WorkerPath {
  public:
    explicit WorkerPath(const TrackerConfig& config)
        : tracker_(config, counters_), path_(tracker_, counters_) {}

    void receive_burst(const Chunk& chunk, uint32_t first, uint32_t count) noexcept {
        ChunkFrames frames(chunk, first);
        path_.track(LinkType::ethernet, frames, count);
        // One poll of one burst: the worker hands over after the burst and again after advance();
        // with nothing in between, one hand-over after both takes the same events.
        path_.advance(tracker_.now_ns());
        path_.hand_over(sink_, false);
    }

    const FlowTracker& tracker() const { return tracker_; }
    const WorkerCounters& counters() const { return counters_; }

  private:
    // A chunk's frames as BurstPath's Frames: all fresh from the "port", none dispatched.
    struct ChunkFrames {
        const uint8_t* frames;
        const uint32_t* lengths;
        const uint64_t* times;

        ChunkFrames(const Chunk& chunk, uint32_t first) noexcept
            : frames(chunk.frame(first)),
              lengths(chunk.lengths + first),
              times(chunk.times + first) {}
        static constexpr bool arriving() noexcept { return true; }
        void prefetch(uint32_t i) const noexcept { __builtin_prefetch(data(i)); }
        static void arrived(uint32_t) noexcept {}
        const uint8_t* data(uint32_t i) const noexcept { return frames + size_t{i} * frame_stride; }
        uint32_t data_length(uint32_t i) const noexcept { return lengths[i]; }
        uint32_t packet_length(uint32_t i) const noexcept { return lengths[i]; }
        static bool stays(uint32_t, const DecodedPacket&) noexcept { return true; }
        uint64_t time_ns(uint32_t i) const noexcept { return times[i]; }
        static void keep(uint32_t) noexcept {}
    };

    // What EventRing::sp_enqueue costs: the events copied by value into ring slots.
    class RingCopySink {
      public:
        uint32_t enqueue(const ResetEvent* events, uint32_t count) noexcept {
            for (uint32_t i = 0; i < count; ++i)
                slots_[next_++ % event_sink_capacity] = events[i];
            return count;
        }
        static bool abandoned() noexcept { return false; }
        static void pause() noexcept {}

      private:
        std::unique_ptr<ResetEvent[]> slots_{new ResetEvent[event_sink_capacity]};
        uint64_t next_ = 0;
    };

    WorkerCounters counters_;
    FlowTracker tracker_;
    BurstPath path_;
    RingCopySink sink_;
};

// The measured region: kept out of line so callgrind and perf attribute it cleanly.
__attribute__((noinline)) void process_chunk(WorkerPath& path, const Chunk& chunk) {
    for (uint32_t i = 0; i < chunk.count; i += burst_size)
        path.receive_burst(chunk, i, std::min(burst_size, chunk.count - i));
}

struct RunResult {
    uint64_t flows = 0;
    uint64_t packets = 0;
    uint64_t cycles = 0;
    double best_cycles_per_packet = 0;  // fastest segment
    std::vector<double> segment_mpps;   // each segment's rate, in play order
    size_t table_bytes = 0;
    uint32_t table_capacity = 0;
    uint32_t table_size = 0;
    uint64_t events = 0;
    uint64_t linger_full = 0;
    uint64_t evicted = 0;
    uint64_t expired = 0;
    uint64_t drops = 0;
    uint64_t rst_packets = 0;
};

// One worker: build its path, play one warm pass, then time `packets` more.
RunResult run_worker(uint64_t flows, uint32_t first_flow, uint64_t packets, uint64_t tsc_hz,
                     bool toggle_callgrind, std::barrier<>* sync) {
    TrafficModel model(static_cast<uint32_t>(flows), first_flow);
    auto path = std::make_unique<WorkerPath>(tracker_config_for(flows));
    Chunk chunk;
    uint64_t index = 0;
    auto play = [&](uint64_t count, bool timed, uint64_t& cycles) {
        for (uint64_t done = 0; done < count;) {
            uint32_t n = static_cast<uint32_t>(std::min<uint64_t>(chunk_frames, count - done));
            chunk.fill(model, index, n);
            if (timed && toggle_callgrind) CALLGRIND_TOGGLE_COLLECT;
            uint64_t t0 = __rdtsc();
            process_chunk(*path, chunk);
            uint64_t t1 = __rdtsc();
            if (timed && toggle_callgrind) CALLGRIND_TOGGLE_COLLECT;
            if (timed) cycles += t1 - t0;
            index += n;
            done += n;
        }
    };
    uint64_t ignored = 0, cycles = 0;
    play(model.packets_per_pass(), false, ignored);
    if (sync) sync->arrive_and_wait();  // both workers time the same stretch of wall time
    const WorkerCounters& c = path->counters();
    uint64_t events_before = c.get(WorkerCounter::events_emitted);
    uint64_t rst_before = c.get(WorkerCounter::rst_packets);
    double best = 0;
    std::vector<double> segment_mpps;
    for (uint32_t k = 0; k < segments; ++k) {
        uint64_t segment = packets / segments + (k < packets % segments ? 1 : 0);
        uint64_t segment_cycles = 0;
        // Workers start each segment together, so segment k of one overlaps segment k of the other.
        if (sync) sync->arrive_and_wait();
        play(segment, true, segment_cycles);
        double per_packet = static_cast<double>(segment_cycles) / static_cast<double>(segment);
        if (k == 0 || per_packet < best) best = per_packet;
        segment_mpps.push_back(static_cast<double>(tsc_hz) / per_packet / 1e6);
        cycles += segment_cycles;
    }
    if (sync) sync->arrive_and_wait();

    RunResult r;
    r.flows = flows;
    r.packets = packets;
    r.cycles = cycles;
    r.best_cycles_per_packet = best;
    r.segment_mpps = std::move(segment_mpps);
    const FlowTable& table = path->tracker().table();
    r.table_bytes = table.memory_bytes();
    r.table_capacity = table.capacity();
    r.table_size = table.size();
    r.events = c.get(WorkerCounter::events_emitted) - events_before;
    r.rst_packets = c.get(WorkerCounter::rst_packets) - rst_before;
    r.linger_full = c.get(WorkerCounter::linger_queue_full);
    r.evicted = c.get(WorkerCounter::flows_evicted);
    r.expired = c.get(WorkerCounter::flows_expired);
    r.drops = c.total_drops();
    return r;
}

std::string human_count(uint64_t n) {
    if (n >= 1'000'000 && n % 1'000'000 == 0) return fmt::format("{}M", n / 1'000'000);
    if (n >= 1'000 && n % 1'000 == 0) return fmt::format("{}K", n / 1'000);
    return std::to_string(n);
}

void print_header() {
    std::printf(
        "| mode | flows | workers | Mpps/worker | cycles/pkt | mean cycles/pkt | table MiB | "
        "bytes/flow | events/Mpkt | linger full | evicted |\n");
    std::printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
}

void print_row(const char* mode, const RunResult& r, unsigned workers, uint64_t tsc_hz) {
    double mean = static_cast<double>(r.cycles) / static_cast<double>(r.packets);
    double mpps = static_cast<double>(tsc_hz) / r.best_cycles_per_packet / 1e6;
    std::printf("| %s | %s | %u | %.2f | %.0f | %.0f | %.1f | %.0f | %.0f | %llu | %llu |\n", mode,
                human_count(r.flows).c_str(), workers, mpps, r.best_cycles_per_packet, mean,
                static_cast<double>(r.table_bytes) / (1 << 20),
                r.table_size ? static_cast<double>(r.table_bytes) / r.table_size : 0.0,
                static_cast<double>(r.events) * 1e6 / static_cast<double>(r.packets),
                static_cast<unsigned long long>(r.linger_full),
                static_cast<unsigned long long>(r.evicted));
    std::fflush(stdout);
}

int run_eal_free(const Settings& s, uint64_t tsc_hz) {
    TrackerConfig defaults;
    std::printf(
        "# worker path without EAL: TSC %.3f GHz, sizeof(FlowEntry) %zu B + 4 B signature "
        "per slot, table sized 2 x flows (rounded up to whole 8-way buckets); "
        "per tracker besides: linger queue %u x (%zu B + %zu B of extras), outbox %u x %zu B\n",
        static_cast<double>(tsc_hz) / 1e9, sizeof(FlowEntry), defaults.linger_capacity,
        sizeof(PendingReset), sizeof(ResetEventExtras), FlowTracker::outbox_capacity,
        sizeof(ResetEvent));
    print_header();
    for (uint64_t flows : s.flow_counts) {
        if (s.threads <= 1) {
            pin_to_cpu(1);
            RunResult r = run_worker(flows, 0, s.packets, tsc_hz, false, nullptr);
            print_row("worker path", r, 1, tsc_hz);
            std::fprintf(stderr,
                         "flows %llu: table %u/%u slots used (flight recorder ring %.1f MiB), "
                         "%llu RST packets timed, %llu expired, %llu dropped\n",
                         static_cast<unsigned long long>(flows), r.table_size, r.table_capacity,
                         static_cast<double>(FlightStore::memory_for(bench_flight)) / (1 << 20),
                         static_cast<unsigned long long>(r.rst_packets),
                         static_cast<unsigned long long>(r.expired),
                         static_cast<unsigned long long>(r.drops));
            continue;
        }
        // Shared nothing: each worker thread has its own tracker and its own flows, as worker
        // lcores fed by symmetric RSS would. One worker alone first, then all together, starting
        // every segment at a barrier; the speed-up compares the best single segment with the best
        // concurrent one (on a shared machine, the segments that no neighbour disturbed).
        double one = 0;
        {
            std::thread single([&] {
                pin_to_cpu(1);
                RunResult r = run_worker(flows, 0, s.packets, tsc_hz, false, nullptr);
                print_row("worker path, alone", r, 1, tsc_hz);
                one = static_cast<double>(tsc_hz) / r.best_cycles_per_packet / 1e6;
            });
            single.join();
        }
        std::barrier<> sync(s.threads);
        std::vector<RunResult> results(s.threads);
        std::vector<std::thread> threads;
        for (unsigned t = 0; t < s.threads; ++t) {
            threads.emplace_back([&, t] {
                pin_to_cpu(t);
                results[t] = run_worker(flows, static_cast<uint32_t>(t * flows), s.packets, tsc_hz,
                                        false, &sync);
            });
        }
        for (auto& t : threads)
            t.join();
        for (unsigned t = 0; t < s.threads; ++t)
            print_row(fmt::format("worker path, thread {}", t).c_str(), results[t], s.threads,
                      tsc_hz);
        size_t best_segment = 0;
        double best_total = 0;
        for (size_t k = 0; k < segments; ++k) {
            double total = 0;
            for (const RunResult& r : results)
                total += r.segment_mpps[k];
            if (total > best_total) best_total = total, best_segment = k;
        }
        std::string each;
        for (unsigned t = 0; t < s.threads; ++t)
            each += fmt::format("{}{:.2f}", t ? "+" : "", results[t].segment_mpps[best_segment]);
        std::printf("scaling flows=%s one=%.2f each=%s total=%.2f speedup=%.2f\n",
                    human_count(flows).c_str(), one, each.c_str(), best_total, best_total / one);
    }
    return 0;
}

// ---- --scan-bytes: what one signature scan costs as its length grows ----
//
// The worker path's frames carry 32 payload bytes, so its figures hold Hyperscan's fixed cost per
// scan, not its cost per byte. This mode scans one responder payload of each given length (what
// scan_data hands the scanner: a segment's bytes within the responder's first bytes) `scans`
// times through a worker's SignatureScanner and reports TSC cycles per scan (best of 10 segments)
// and per byte. Two kinds of bytes: "text", an HTTP 200 response with an HTML body (ASCII words,
// none of the default rules' literals), and "binary", pseudo-random bytes as in an encrypted
// stream. Under --callgrind one length and one kind are scanned with collection on, so that
// instructions / scans is the cost of one scan of that many bytes.
void fill_scan_payload(std::vector<uint8_t>& out, bool binary) {
    if (binary) {
        uint64_t x = 0x9e3779b97f4a7c15ull;
        for (auto& b : out) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;  // xorshift64
            b = static_cast<uint8_t>(x >> 24);
        }
        return;
    }
    static constexpr char head[] =
        "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nCache-Control: max-age=60"
        "\r\nContent-Length: 48213\r\nConnection: keep-alive\r\n\r\n<!doctype html><html><head>"
        "<title>Status of the service</title></head><body>";
    static constexpr char body[] =
        "<p>The quarterly report lists every region with its orders, returns and shipping times; "
        "each table links to the archive of earlier quarters and to the contacts of the "
        "team.</p>\n";
    size_t at = 0;
    for (const char* part = head; at < out.size() && *part; ++part)
        out[at++] = static_cast<uint8_t>(*part);
    for (size_t k = 0; at < out.size(); ++at, k = (k + 1) % (sizeof(body) - 1))
        out[at] = static_cast<uint8_t>(body[k]);
}

int run_scan_cost(const std::vector<uint64_t>& lengths, const std::string& kinds, uint64_t scans,
                  bool callgrind) {
    if (!bench_signatures) throw std::invalid_argument("--scan-bytes needs --signatures FILE");
    if (kinds != "text" && kinds != "binary" && kinds != "both")
        throw std::invalid_argument("--scan-kind: text, binary or both");
    if (callgrind && (lengths.size() != 1 || kinds == "both"))
        throw std::invalid_argument("--callgrind --scan-bytes: one length and one --scan-kind");
    if (scans == 0 || scans > 100'000'000) throw std::invalid_argument("--scans: 1 to 10^8");
    SignatureScanner scanner(*bench_signatures);
    if (!callgrind) {
        pin_to_cpu(1);
        std::printf(
            "| bytes | kind | cycles/scan | cycles/byte | matches |\n|---:|---|---:|---:|---:|\n");
    }
    for (const char* kind : {"text", "binary"}) {
        if (kinds != "both" && kinds != kind) continue;
        for (uint64_t length : lengths) {
            std::vector<uint8_t> payload(length);
            fill_scan_payload(payload, kind[0] == 'b');
            uint64_t matched = 0;
            double best = 0;
            for (uint32_t k = 0; k < (callgrind ? 1 : segments); ++k) {
                if (callgrind) CALLGRIND_TOGGLE_COLLECT;
                uint64_t t0 = __rdtsc();
                for (uint64_t i = 0; i < scans; ++i)
                    matched += scanner.scan(payload.data(), static_cast<uint32_t>(length),
                                            SignatureWhere::resp, 0) != 0;
                uint64_t t1 = __rdtsc();
                if (callgrind) CALLGRIND_TOGGLE_COLLECT;
                double per_scan = static_cast<double>(t1 - t0) / static_cast<double>(scans);
                if (k == 0 || per_scan < best) best = per_scan;
            }
            if (callgrind) {
                std::printf("callgrind_scans=%llu bytes=%llu kind=%s matches=%llu\n",
                            static_cast<unsigned long long>(scans),
                            static_cast<unsigned long long>(length), kind,
                            static_cast<unsigned long long>(matched));
                continue;  // one length and kind per callgrind run
            }
            std::printf("| %llu | %s | %.0f | %.2f | %llu |\n",
                        static_cast<unsigned long long>(length), kind, best,
                        best / static_cast<double>(length),
                        static_cast<unsigned long long>(matched));
        }
    }
    return 0;
}

// Past 20 000 flows, 200 000 packets straight after the warm pass would all be one step of the
// connection scripts (a pass plays step 0 of every flow, then step 1, ...): at 1 M flows, the
// SYNs of 200 000 flows. So the whole next pass is played and one chunk (2048 packets) in every
// `every` collected, about 200 000 packets spread evenly over every step of every script.
int run_callgrind_sampled(uint64_t flows) {
    TrafficModel model(static_cast<uint32_t>(flows), 0);
    auto path = std::make_unique<WorkerPath>(tracker_config_for(flows));
    Chunk chunk;
    const uint64_t pass = model.packets_per_pass();
    const uint64_t chunks = (pass + chunk_frames - 1) / chunk_frames;
    const uint64_t every = std::max<uint64_t>(1, chunks * chunk_frames / 200'000);
    uint64_t index = 0, collected = 0, events = 0;
    for (int round = 0; round < 2; ++round) {
        const uint64_t events_before = path->counters().get(WorkerCounter::events_emitted);
        for (uint64_t k = 0; k < chunks; ++k) {
            uint32_t n =
                static_cast<uint32_t>(std::min<uint64_t>(chunk_frames, pass - k * chunk_frames));
            chunk.fill(model, index, n);
            const bool on = round == 1 && k % every == every / 2;
            if (on) CALLGRIND_TOGGLE_COLLECT;
            process_chunk(*path, chunk);
            if (on) CALLGRIND_TOGGLE_COLLECT;
            if (on) collected += n;
            index += n;
        }
        events = path->counters().get(WorkerCounter::events_emitted) - events_before;
    }
    std::printf("callgrind_packets=%llu flows=%llu sampled=1/%llu events_per_pass=%llu\n",
                static_cast<unsigned long long>(collected), static_cast<unsigned long long>(flows),
                static_cast<unsigned long long>(every), static_cast<unsigned long long>(events));
    return 0;
}

int run_callgrind_workload(uint64_t flows) {
    constexpr uint64_t packets = 200'000;
    if (flows * steps_per_connection > packets) return run_callgrind_sampled(flows);
    RunResult r = run_worker(flows, 0, packets, 1, true, nullptr);  // rates unused
    std::printf("callgrind_packets=%llu flows=%llu events=%llu\n",
                static_cast<unsigned long long>(r.packets), static_cast<unsigned long long>(flows),
                static_cast<unsigned long long>(r.events));
    return 0;
}

// ---- --dpdk: the real worker loop behind a net_ring port ----
//
// Two ways to play the NIC, both on the main lcore (the worker has the other CPU):
//   replay  every frame of one pass sits in its own mbuf, written once, with a reference count of
//           65535; the feeder only enqueues pointers, and the worker's rte_pktmbuf_free_bulk()
//           takes one reference (an atomic decrement) instead of returning the mbuf to its pool.
//           What is measured is the loop, rte_eth_rx_burst and the free. Limited to one pass in
//           mbufs: flows x 10 mbufs of about 450 bytes (header, headroom, a 128-byte frame), so
//           at 1 K flows (4.5 MB) the frames stay in the last-level cache, as a NIC's DDIO writes
//           leave fresh frames, but at 100 K flows (450 MB) each mbuf and frame comes from memory,
//           which a NIC would not cost: there the replay understates the loop.
//   copy    the feeder allocates mbufs from the worker's pool and copies each frame in: every
//           mbuf header and frame line then crosses from the feeder's core to the worker's and
//           back, which is what a software hand-off between lcores (the dispatch rings of
//           --workers 2 on a single-queue port) costs.
enum class Feed { replay, copy };

int run_dpdk(const Settings& s, const char* program, Feed feed_mode) {
    std::vector<std::string> args{program,       "--no-huge", "--no-pci",      "--no-shconf",
                                  "-m",          "1024",      "--lcores",      "0@0,1@1",
                                  "--log-level", "*:error",   "--no-telemetry"};
    std::vector<char*> argv;
    for (auto& a : args)
        argv.push_back(a.data());
    argv.push_back(nullptr);
    if (rte_eal_init(static_cast<int>(args.size()), argv.data()) < 0)
        throw std::runtime_error(fmt::format("EAL init failed: {}", rte_strerror(rte_errno)));
    const unsigned worker_lcore = rte_get_next_lcore(-1, 1, 0);
    if (worker_lcore >= RTE_MAX_LCORE) throw std::runtime_error("no worker lcore");
    const int socket = static_cast<int>(rte_socket_id());
    const uint64_t tsc_hz = rte_get_tsc_hz();

    rte_ring* rx = rte_ring_create("bench_rx", 4096, socket, RING_F_SP_ENQ | RING_F_SC_DEQ);
    rte_ring* tx = rte_ring_create("bench_tx", 64, socket, RING_F_SP_ENQ | RING_F_SC_DEQ);
    if (!rx || !tx) throw std::runtime_error(fmt::format("setup: {}", rte_strerror(rte_errno)));
    int port = rte_eth_from_rings("net_ring_bench", &rx, 1, &tx, 1, static_cast<unsigned>(socket));
    if (port < 0) throw std::runtime_error("rte_eth_from_rings failed");
    const uint16_t port_id = static_cast<uint16_t>(port);

    std::printf("# real worker loop (worker_main) on a net_ring port, %s feed: TSC %.3f GHz\n",
                feed_mode == Feed::replay ? "replay" : "copy", static_cast<double>(tsc_hz) / 1e9);
    print_header();
    for (uint64_t flows : s.flow_counts) {
        TrafficModel model(static_cast<uint32_t>(flows));
        const uint64_t pass = model.packets_per_pass();
        if (feed_mode == Feed::replay && (pass > 2'000'000 || (pass + s.packets) / pass > 60'000)) {
            std::fprintf(stderr,
                         "flows %llu: skipped, replay holds one pass in mbufs (at most "
                         "200K flows) and replays it at most 60000 times\n",
                         static_cast<unsigned long long>(flows));
            continue;
        }
        std::vector<uint8_t> frames(pass * frame_stride);
        std::vector<uint16_t> lengths(pass);
        for (uint64_t i = 0; i < pass; ++i)
            lengths[i] = static_cast<uint16_t>(model.write_frame(i, &frames[i * frame_stride]));

        const uint32_t pool_size = feed_mode == Feed::replay ? static_cast<uint32_t>(pass) : 16383;
        rte_mempool* pool = rte_pktmbuf_pool_create(fmt::format("bench_mbufs_{}", flows).c_str(),
                                                    pool_size, feed_mode == Feed::replay ? 0 : 256,
                                                    0, RTE_PKTMBUF_HEADROOM + frame_stride, socket);
        if (!pool) throw std::runtime_error(fmt::format("mbuf pool: {}", rte_strerror(rte_errno)));
        rte_eth_conf conf{};
        if (rte_eth_dev_configure(port_id, 1, 1, &conf) != 0 ||
            rte_eth_rx_queue_setup(port_id, 0, 1024, socket, nullptr, pool) != 0 ||
            rte_eth_tx_queue_setup(port_id, 0, 1024, socket, nullptr) != 0 ||
            rte_eth_dev_start(port_id) != 0)
            throw std::runtime_error("net_ring port setup failed");
        std::vector<rte_mbuf*> replay;
        if (feed_mode == Feed::replay) {
            replay.resize(pass);
            if (rte_pktmbuf_alloc_bulk(pool, replay.data(), static_cast<unsigned>(pass)) != 0)
                throw std::runtime_error("cannot allocate the replay mbufs");
            for (uint64_t k = 0; k < pass; ++k) {
                rte_mbuf* m = replay[k];
                std::memcpy(rte_pktmbuf_mtod(m, uint8_t*), &frames[k * frame_stride], lengths[k]);
                m->data_len = lengths[k];
                m->pkt_len = lengths[k];
                rte_mbuf_refcnt_set(m, UINT16_MAX);
            }
        }

        PortPlan plan;
        plan.queues_of_worker = {{RxQueueRef{port_id, 0}}};
        RunControl control;
        control.readers = 1;
        WorkerSettings settings;
        settings.plan = &plan;
        settings.tsc_hz = tsc_hz;
        settings.tsc_start = rte_rdtsc();
        settings.wall_start_ns = TrafficModel::t0_ns;
        WorkerCounters counters;
        FlowTracker tracker(tracker_config_for(flows), counters);
        EventRing events(fmt::format("bench_events_{}", flows), 16384, Paging::up_front);
        WorkerContext ctx;
        ctx.run = &control;
        ctx.settings = &settings;
        ctx.tracker = &tracker;
        ctx.channel.counters = &counters;
        ctx.channel.events = &events;
        if (rte_eal_remote_launch(worker_main, &ctx, worker_lcore) != 0)
            throw std::runtime_error("cannot launch the worker lcore");

        // Management's way of taking events, each read where it lies; the bench only discards them.
        auto drain = [&events] { return events.sc_consume(256, [](ResetEvent&) {}); };
        uint64_t fed = 0, starved = 0;
        rte_mbuf* burst[burst_size];
        // Feeds frames until `until` have been handed over, then waits for the worker to take
        // them; drains the event ring all along, as management does.
        auto feed = [&](uint64_t until) {
            while (fed < until) {
                drain();
                unsigned room = rte_ring_free_count(rx);
                if (room < burst_size) continue;
                if (rte_ring_count(rx) == 0) ++starved;
                if (feed_mode == Feed::replay) {
                    uint64_t k = fed % pass;
                    unsigned n =
                        static_cast<unsigned>(std::min<uint64_t>({room, pass - k, until - fed}));
                    fed += rte_ring_sp_enqueue_burst(rx, reinterpret_cast<void**>(&replay[k]), n,
                                                     nullptr);
                    continue;
                }
                uint32_t n = static_cast<uint32_t>(std::min<uint64_t>(burst_size, until - fed));
                if (rte_pktmbuf_alloc_bulk(pool, burst, n) != 0) continue;
                for (uint32_t i = 0; i < n; ++i) {
                    uint64_t k = (fed + i) % pass;
                    rte_mbuf* m = burst[i];
                    std::memcpy(rte_pktmbuf_mtod(m, uint8_t*), &frames[k * frame_stride],
                                lengths[k]);
                    m->data_len = lengths[k];
                    m->pkt_len = lengths[k];
                }
                rte_ring_sp_enqueue_bulk(rx, reinterpret_cast<void**>(burst), n, nullptr);
                fed += n;
            }
            while (counters.get(WorkerCounter::packets) < until)
                drain();
        };
        feed(pass);  // warm: every flow in the table
        uint64_t events_before = counters.get(WorkerCounter::events_emitted);
        starved = 0;
        uint64_t cycles = 0, target = pass;
        double best = 0;
        for (uint32_t k = 0; k < segments; ++k) {
            uint64_t segment = s.packets / segments + (k < s.packets % segments ? 1 : 0);
            target += segment;
            uint64_t t0 = rte_rdtsc();
            feed(target);
            uint64_t segment_cycles = rte_rdtsc() - t0;
            double per_packet = static_cast<double>(segment_cycles) / static_cast<double>(segment);
            if (k == 0 || per_packet < best) best = per_packet;
            cycles += segment_cycles;
        }
        control.stop.store(true);
        rte_eal_wait_lcore(worker_lcore);
        while (drain() > 0) {
        }
        rte_eth_dev_stop(port_id);

        RunResult r;
        r.flows = flows;
        r.packets = s.packets;
        r.cycles = cycles;
        r.best_cycles_per_packet = best;
        r.table_bytes = tracker.table().memory_bytes();
        r.table_size = tracker.table().size();
        r.table_capacity = tracker.table().capacity();
        r.events = counters.get(WorkerCounter::events_emitted) - events_before;
        r.linger_full = counters.get(WorkerCounter::linger_queue_full);
        r.evicted = counters.get(WorkerCounter::flows_evicted);
        print_row(feed_mode == Feed::replay ? "worker_main, replay" : "worker_main, copy", r, 1,
                  tsc_hz);
        std::fprintf(
            stderr,
            "flows %llu: receive ring found empty %llu times (feeder behind), "
            "events_ring_full %llu\n",
            static_cast<unsigned long long>(flows), static_cast<unsigned long long>(starved),
            static_cast<unsigned long long>(counters.get(WorkerCounter::events_ring_full)));
        // Replay mbufs hold references on purpose: the pool goes with the EAL at exit.
        if (feed_mode == Feed::copy) rte_mempool_free(pool);
    }
    rte_eth_dev_close(port_id);
    rte_eal_cleanup();
    return 0;
}

std::vector<uint64_t> parse_counts(const std::string& text) {
    std::vector<uint64_t> out;
    size_t start = 0;
    while (start < text.size()) {
        size_t end = text.find(',', start);
        if (end == std::string::npos) end = text.size();
        std::string item = text.substr(start, end - start);
        uint64_t scale = 1;
        if (!item.empty() && (item.back() == 'K' || item.back() == 'k'))
            scale = 1000, item.pop_back();
        else if (!item.empty() && (item.back() == 'M' || item.back() == 'm'))
            scale = 1'000'000, item.pop_back();
        uint64_t value = std::stoull(item) * scale;
        if (value == 0 || value > 100'000'000)
            throw std::invalid_argument("flow count out of range: " + text);
        out.push_back(value);
        start = end + 1;
    }
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        Settings s;
        std::string flows_text = "1K,100K,1M,10M";
        bool dpdk = false;
        std::string feed = "replay";
        std::string signatures;
        uint64_t callgrind_flows = 10'000;
        std::string scan_bytes_text;
        std::string scan_kind = "both";
        uint64_t scans = 100'000;
        po::options_description d("worker_bench: times rstscope's worker path on in-memory frames");
        d.add_options()("help,h", "show this help")(
            "flows", po::value(&flows_text)->default_value(flows_text),
            "flow counts, comma separated (K, M suffixes)")(
            "packets", po::value(&s.packets)->default_value(s.packets),
            "packets timed per flow count, after one warm pass")(
            "threads", po::value(&s.threads)->default_value(s.threads),
            "worker threads, each with its own tracker and flows")(
            "dpdk", po::bool_switch(&dpdk),
            "time the real worker loop (EAL, net_ring port, rte_eth_rx_burst)")(
            "feed", po::value(&feed)->default_value(feed),
            "--dpdk: replay (pointers to pre-filled mbufs) or copy (frames copied into fresh "
            "mbufs)")("callgrind", po::bool_switch(&s.callgrind),
                      "fixed workload for valgrind --tool=callgrind --collect-atstart=no")(
            "signatures", po::value(&signatures),
            "scan with these signature rules (conf/signatures.conf) as rstscope --signatures")(
            "recorder", po::value(&bench_flight.packets)->default_value(0),
            "flight recorder on, keeping this many packets per flow (rstscope --recorder-packets); "
            "0: off")("recorder-snap", po::value(&bench_flight.snap)->default_value(160),
                      "bytes kept of each packet (rstscope --recorder-snap)")(
            "recorder-ring", po::value(&bench_ring_mib)->default_value(bench_ring_mib),
            "MiB of the flight recorder's ring (rstscope --recorder-ring)")(
            "callgrind-flows", po::value(&callgrind_flows)->default_value(callgrind_flows),
            "--callgrind: flows of the fixed workload")(
            "scan-bytes", po::value(&scan_bytes_text),
            "with --signatures: instead of the worker path, the cost of one responder scan of "
            "each of these lengths (comma separated, 1 to 65535)")(
            "scan-kind", po::value(&scan_kind)->default_value(scan_kind),
            "--scan-bytes: text (an HTTP response), binary (random bytes) or both")(
            "scans", po::value(&scans)->default_value(scans), "--scan-bytes: scans per length")(
            "connections-window", po::value(&bench_connections_window_s)->default_value(0),
            "count connections per service and window of this many seconds, as rstscope's "
            "--findings-window (the rst_storm share); 0: off");
        po::variables_map vm;
        po::store(po::parse_command_line(argc, argv, d), vm);
        po::notify(vm);
        if (vm.count("help")) {
            std::cout << d << "\n";
            return 0;
        }
        s.flow_counts = parse_counts(flows_text);
        std::unique_ptr<SignatureDatabase> database;
        if (!signatures.empty()) {
            std::string error;
            database = SignatureDatabase::compile(load_signature_rules(signatures), error);
            if (!database) throw std::invalid_argument(error);
            bench_signatures = database.get();
            std::fprintf(stderr,
                         "signatures: %zu rules, databases %zu B, scanning %u B of the responder; "
                         "a streaming database would keep %zu B per stream\n",
                         database->rules().size(), database->database_bytes(),
                         database->bytes_for(SignatureWhere::resp), database->stream_state_bytes());
            std::fprintf(stderr,
                         "memory: app table %u slots x %zu B (sizeof(AppSlot)) = %zu B per worker, "
                         "whatever the flow count; 0 B added to the flow entry (%zu B)\n",
                         app_capacity_with_signatures, sizeof(AppSlot),
                         size_t{app_capacity_with_signatures} * sizeof(AppSlot), sizeof(FlowEntry));
        }
        if (!scan_bytes_text.empty()) {
            std::vector<uint64_t> lengths = parse_counts(scan_bytes_text);
            for (uint64_t length : lengths)
                if (length > 65535) throw std::invalid_argument("--scan-bytes: 1 to 65535");
            return run_scan_cost(lengths, scan_kind, scans, s.callgrind);
        }
        if (bench_flight.packets > 16 || bench_flight.snap < 64 || bench_flight.snap > 2048 ||
            bench_ring_mib < 16 || bench_ring_mib > (1 << 20))
            throw std::invalid_argument(
                "--recorder: 0 to 16; --recorder-snap: 64 to 2048; --recorder-ring: 16 to 2^20");
        bench_flight.ring_bytes = uint64_t{bench_ring_mib} << 20;
        if (bench_flight.packets)
            std::fprintf(
                stderr,
                "flight recorder: %u packets per reset, %u B per packet; ring %zu B per "
                "worker (%zu B a record: %llu records), 4 B per flow in the flow entry "
                "(0 B added: %zu B), evidence arena %u blocks = %zu B per worker\n",
                bench_flight.packets, bench_flight.snap, FlightStore::memory_for(bench_flight),
                FlightStore::ring_record_bytes(bench_flight.snap),
                static_cast<unsigned long long>(FlightStore::memory_for(bench_flight) /
                                                FlightStore::ring_record_bytes(bench_flight.snap)),
                sizeof(FlowEntry), bench_flight.evidence_blocks,
                EvidenceArena::memory_for(bench_flight.evidence_blocks, bench_flight.packets,
                                          FlightStore::evidence_record_bytes(bench_flight.snap)));
        if (s.callgrind) return run_callgrind_workload(callgrind_flows);
        uint64_t tsc_hz = measure_tsc_hz();
        if (feed != "replay" && feed != "copy")
            throw std::invalid_argument("--feed: replay or copy");
        if (dpdk) return run_dpdk(s, argv[0], feed == "replay" ? Feed::replay : Feed::copy);
        return run_eal_free(s, tsc_hz);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "worker_bench: error: %s\n", e.what());
        return 1;
    }
}
