// SPDX-License-Identifier: BSD-3-Clause
// The fleet exporter (--export, docs/fleet.md): every reset event line management writes is
// copied into a bounded SP/SC ring (ExportRing) without waiting; a thread of its own (never the
// management lcore, never a worker) batches the lines (ExportBatcher) and publishes each batch as
// one JetStream message, asynchronously with at most --export-in-flight unacknowledged. A batch is
// kept until the stream acknowledges it and resent identical, with the same message id, after an
// error or an acknowledgement timeout, so the stream's duplicate window removes a second copy.
// At the end of a run it waits up to --export-timeout for the last acknowledgements; what is
// still unacknowledged then is counted as export_dropped.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nats/nats.h>

#include "rstscope/config/options.h"
#include "rstscope/mgmt/export_batch.h"
#include "rstscope/mgmt/export_ring.h"
#include "rstscope/mgmt/record_observer.h"
#include "rstscope/mgmt/stats.h"

namespace rstscope {

class NatsExporter final : public RecordObserver, public CounterSource {
  public:
    // Connects in the background (a server down at start is retried forever); null with `error`
    // set when the options are unusable.
    static std::unique_ptr<NatsExporter> start(const Options& options, std::string& error);
    ~NatsExporter() override;

    // Management's side: never waits.
    void record_written(std::string_view line, const ResetEventCore* event) override;
    void run_finished() override;
    // Stats and metrics (any thread).
    void add_to(CounterTotals& totals) const override;

  private:
    NatsExporter(const Options& options, ExportIdentity identity);
    bool connect(std::string& error);
    void replace_closed_connection(uint64_t now_ns);
    void thread_main();
    void take_from_ring(uint64_t now_ns);
    void settle_acks(uint64_t now_ns);
    void publish_ready(uint64_t now_ns);
    bool publish(ExportBatch& batch);
    static void on_ack(jsCtx* js, natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae, void* closure);
    static void on_disconnected(natsConnection* nc, void* closure);
    static void on_reconnected(natsConnection* nc, void* closure);

    struct Ack {
        uint64_t first_seq;
        bool ok;
        bool duplicate;
        natsMsg* msg;  // destroyed by the exporter thread
    };
    struct Flight {
        ExportBatch batch;
        bool in_flight = false;
        uint64_t retry_at_ns = 0;
        uint32_t attempts = 0;
    };

    ExportRing ring_;
    ExportBatcher batcher_;
    const uint32_t max_in_flight_;
    const int64_t ack_timeout_ms_;
    const uint64_t finish_timeout_ns_;
    std::thread thread_;
    std::atomic<bool> finishing_{false};
    std::atomic<bool> stop_{false};
    std::atomic<bool> done_{false};  // finishing_ and nothing left, or the deadline passed
    std::vector<std::string> urls_;
    uint64_t next_connect_ns_ = 0;
    natsConnection* nc_ = nullptr;
    jsCtx* js_ = nullptr;

    // The NATS library's threads hand acknowledgements to the exporter thread here.
    std::mutex acks_mutex_;
    std::vector<Ack> acks_;
    std::condition_variable wake_;
    std::mutex wake_mutex_;

    // The exporter thread's own: batches not yet acknowledged, by first sequence number.
    std::map<uint64_t, Flight> flights_;
    std::vector<ExportBatch> closed_;
    uint32_t in_flight_ = 0;

    // Counters (written by one thread each, read by anyone).
    std::atomic<uint64_t> lines_{0}, ring_full_{0};                                  // management
    std::atomic<uint64_t> acked_{0}, batches_acked_{0}, resent_{0}, duplicates_{0};  // exporter
    std::atomic<uint64_t> errors_{0}, dropped_{0}, in_flight_gauge_{0};
    std::atomic<uint64_t> connected_{0};
    std::atomic<uint64_t> cpu_ns_{0};  // the exporter thread's CPU time
};

}  // namespace rstscope
