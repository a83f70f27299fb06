// SPDX-License-Identifier: BSD-3-Clause
#include "nats_exporter.h"

#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include <fmt/format.h>

#include "rstscope/common/monotonic_clock.h"
#include "rstscope/config/duration.h"

namespace rstscope {
namespace {

// Connection settings that keep every library call bounded: reconnect forever (a server that
// comes back is found again), a reconnect buffer for what is published meanwhile, pings that
// notice a server that stopped answering, and a write deadline so a stuck socket cannot hold a
// publish forever.
constexpr int64_t connect_timeout_ms = 2000;
constexpr int64_t reconnect_wait_ms = 250;
constexpr int reconnect_buffer_bytes = 8 << 20;
constexpr int64_t ping_interval_ms = 2000;
constexpr int max_pings_out = 2;
constexpr int64_t write_deadline_ms = 2000;
constexpr int64_t stall_wait_ms = 20;
constexpr size_t batch_bytes = 256 * 1024;  // well under NATS' default 1 MB max_payload
constexpr uint64_t max_backoff_ns = 2'000'000'000;
constexpr uint64_t first_backoff_ns = 100'000'000;

uint64_t thread_cpu_ns() {
    return clock_ns(CLOCK_THREAD_CPUTIME_ID);
}

uint64_t wall_now_us() {
    timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return static_cast<uint64_t>(t.tv_sec) * 1'000'000u + static_cast<uint64_t>(t.tv_nsec) / 1000;
}

// The host name as a subject token: anything outside [A-Za-z0-9_-] becomes '-'.
std::string host_token() {
    char name[256] = {};
    if (gethostname(name, sizeof name - 1) != 0 || name[0] == 0) return "rstscope";
    std::string token(name);
    if (size_t dot = token.find('.'); dot != std::string::npos) token.resize(dot);
    for (char& c : token)
        if (!valid_export_token(std::string_view(&c, 1))) c = '-';
    if (token.size() > 64) token.resize(64);
    return token;
}

std::vector<std::string> split_urls(const std::string& text) {
    std::vector<std::string> urls;
    size_t start = 0;
    for (;;) {
        size_t comma = text.find(',', start);
        urls.push_back(text.substr(start, comma - start));
        if (comma == std::string::npos) return urls;
        start = comma + 1;
    }
}

bool valid_url(const std::string& url) {
    constexpr std::string_view scheme = "nats://";
    if (url.rfind(scheme, 0) != 0) return false;
    std::string_view rest = std::string_view(url).substr(scheme.size());
    size_t colon = rest.rfind(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == rest.size()) return false;
    std::string_view port = rest.substr(colon + 1);
    if (port.size() > 5 ||
        !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return false;
    int value = std::atoi(std::string(port).c_str());
    return value > 0 && value < 65536;
}

uint64_t backoff_ns(uint32_t attempts) {
    uint64_t b = first_backoff_ns << std::min<uint32_t>(attempts, 5);
    return std::min(b, max_backoff_ns);
}

}  // namespace

std::unique_ptr<NatsExporter> NatsExporter::start(const Options& options, std::string& error) {
    ExportIdentity identity;
    identity.prefix = options.export_subject_prefix;
    identity.site = options.export_site;
    identity.appliance = options.export_appliance.empty() ? host_token() : options.export_appliance;
    identity.boot = wall_now_us();
    if (!valid_export_prefix(identity.prefix)) {
        error = "--export-subject-prefix must be dot-separated tokens of [A-Za-z0-9_-]";
        return nullptr;
    }
    if (!valid_export_token(identity.site) || !valid_export_token(identity.appliance)) {
        error = "--export-site and --export-appliance must be 1 to 64 of [A-Za-z0-9_-]";
        return nullptr;
    }
    for (const std::string& url : split_urls(options.export_urls)) {
        if (!valid_url(url)) {
            error = fmt::format("--export: '{}' is not nats://HOST:PORT", url);
            return nullptr;
        }
    }
    std::unique_ptr<NatsExporter> exporter(new NatsExporter(options, std::move(identity)));
    exporter->urls_ = split_urls(options.export_urls);
    if (!exporter->connect(error)) return nullptr;
    exporter->thread_ = std::thread([e = exporter.get()] { e->thread_main(); });
    return exporter;
}

NatsExporter::NatsExporter(const Options& options, ExportIdentity identity)
    : ring_(size_t{options.export_ring_kib} * 1024),
      batcher_(std::move(identity), options.export_batch, batch_bytes,
               seconds_to_ns(options.export_linger_s)),
      max_in_flight_(options.export_in_flight),
      ack_timeout_ms_(static_cast<int64_t>(options.export_ack_timeout_s * 1000)),
      finish_timeout_ns_(seconds_to_ns(options.export_timeout_s)) {}

NatsExporter::~NatsExporter() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
    if (js_) jsCtx_Destroy(js_);
    if (nc_) {
        natsConnection_Close(nc_);
        natsConnection_Destroy(nc_);
    }
    for (const Ack& ack : acks_)  // answers that came after the thread's last look
        natsMsg_Destroy(ack.msg);
    nats_CloseAndWait(2000);
}

// Connects without waiting for the server: a server that is down is retried in the background,
// forever, and what is published meanwhile waits in the batches (and the ring).
bool NatsExporter::connect(std::string& error) {
    natsOptions* opts = nullptr;
    std::vector<const char*> servers;
    for (const std::string& u : urls_)
        servers.push_back(u.c_str());
    std::string name = "rstscope-" + batcher_.identity().appliance;
    natsStatus s = natsOptions_Create(&opts);
    if (s == NATS_OK)
        s = natsOptions_SetServers(opts, servers.data(), static_cast<int>(servers.size()));
    if (s == NATS_OK) s = natsOptions_SetName(opts, name.c_str());
    if (s == NATS_OK) s = natsOptions_SetTimeout(opts, connect_timeout_ms);
    if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts, -1);
    if (s == NATS_OK) s = natsOptions_SetReconnectWait(opts, reconnect_wait_ms);
    if (s == NATS_OK) s = natsOptions_SetReconnectBufSize(opts, reconnect_buffer_bytes);
    if (s == NATS_OK) s = natsOptions_SetPingInterval(opts, ping_interval_ms);
    if (s == NATS_OK) s = natsOptions_SetMaxPingsOut(opts, max_pings_out);
    if (s == NATS_OK) s = natsOptions_SetWriteDeadline(opts, write_deadline_ms);
    if (s == NATS_OK) s = natsOptions_SetDisconnectedCB(opts, on_disconnected, this);
    if (s == NATS_OK) s = natsOptions_SetReconnectedCB(opts, on_reconnected, this);
    if (s == NATS_OK) s = natsOptions_SetRetryOnFailedConnect(opts, true, on_reconnected, this);
    if (s == NATS_OK) {
        s = natsConnection_Connect(&nc_, opts);
        if (s == NATS_OK) connected_.store(1);
        if (s == NATS_NOT_YET_CONNECTED) s = NATS_OK;
    }
    if (s == NATS_OK) {
        jsOptions jo;
        jsOptions_Init(&jo);
        jo.Wait = ack_timeout_ms_;
        jo.PublishAsync.MaxPending = int64_t{max_in_flight_} * 2;
        jo.PublishAsync.AckHandler = on_ack;
        jo.PublishAsync.AckHandlerClosure = this;
        jo.PublishAsync.StallWait = stall_wait_ms;
        s = natsConnection_JetStream(&js_, nc_, &jo);
    }
    natsOptions_Destroy(opts);
    if (s != NATS_OK) {
        error =
            fmt::format("--export: cannot set up the NATS connection: {}", natsStatus_GetText(s));
        return false;
    }
    return true;
}

// The library closes a connection for good in some states (a server that accepted the TCP
// connection and then stopped answering during the handshake): a closed connection is replaced,
// at most once a second, and every batch it had in flight is published again.
void NatsExporter::replace_closed_connection(uint64_t now_ns) {
    if (!nc_ || !natsConnection_IsClosed(nc_) || now_ns < next_connect_ns_) return;
    next_connect_ns_ = now_ns + 1'000'000'000;
    if (js_) jsCtx_Destroy(js_);
    natsConnection_Destroy(nc_);
    js_ = nullptr;
    nc_ = nullptr;
    connected_.store(0);
    for (auto& [seq, f] : flights_) {
        if (!f.in_flight) continue;
        f.in_flight = false;
        f.retry_at_ns = now_ns;
    }
    in_flight_ = 0;
    std::string error;
    if (!connect(error)) errors_.fetch_add(1, std::memory_order_relaxed);
}

void NatsExporter::on_disconnected(natsConnection*, void* closure) {
    static_cast<NatsExporter*>(closure)->connected_.store(0);
}

void NatsExporter::on_reconnected(natsConnection*, void* closure) {
    static_cast<NatsExporter*>(closure)->connected_.store(1);
}

// On a NATS library thread: hands the outcome, and the message, to the exporter thread. The
// message is destroyed there, not here: libnats 3.4 may time a publish out (MaxWait) while
// js_PublishMsgAsync is still writing that message on the exporter thread, and freeing it here
// then would pull it from under that write.
void NatsExporter::on_ack(jsCtx*, natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae, void* closure) {
    auto* self = static_cast<NatsExporter*>(closure);
    Ack ack{UINT64_MAX, pa != nullptr && pae == nullptr, pa != nullptr && pa->Duplicate, msg};
    const char* id = nullptr;
    if (msg && natsMsgHeader_Get(msg, "Nats-Msg-Id", &id) == NATS_OK && id) {
        if (const char* dash = std::strrchr(id, '-'))
            ack.first_seq = std::strtoull(dash + 1, nullptr, 10);
    }
    {
        std::lock_guard lock(self->acks_mutex_);
        self->acks_.push_back(ack);
    }
    self->wake_.notify_one();
}

void NatsExporter::record_written(std::string_view line, const ResetEventCore* event) {
    if (!event) return;  // findings and other records stay in the log
    lines_.store(lines_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    if (!ring_.push(line, static_cast<uint8_t>(event->cause)))
        ring_full_.store(ring_full_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

// After the last record: the thread publishes what is left and waits for its acknowledgements,
// up to --export-timeout; management waits for it (the run is over).
void NatsExporter::run_finished() {
    finishing_.store(true);
    wake_.notify_one();
    if (thread_.joinable()) thread_.join();
}

void NatsExporter::add_to(CounterTotals& t) const {
    auto set = [&t](ManagementCounter c, const std::atomic<uint64_t>& v) {
        t.management[static_cast<size_t>(c)] = v.load(std::memory_order_relaxed);
    };
    set(ManagementCounter::export_lines, lines_);
    set(ManagementCounter::export_ring_full, ring_full_);
    set(ManagementCounter::export_acked, acked_);
    set(ManagementCounter::export_batches_acked, batches_acked_);
    set(ManagementCounter::export_resent_batches, resent_);
    set(ManagementCounter::export_duplicates, duplicates_);
    set(ManagementCounter::export_errors, errors_);
    set(ManagementCounter::export_dropped, dropped_);
    uint64_t settled = acked_.load() + ring_full_.load() + dropped_.load();
    uint64_t produced = lines_.load();
    t.exporter.enabled = true;
    t.exporter.connected = connected_.load(std::memory_order_relaxed);
    t.exporter.queue_depth = produced > settled ? produced - settled : 0;
    t.exporter.in_flight = in_flight_gauge_.load(std::memory_order_relaxed);
    t.exporter.cpu_ns = cpu_ns_.load(std::memory_order_relaxed);
}

// Lines move from the ring into batches while the batches waiting for the stream are few: when
// the stream is away, the ring fills and management counts what does not fit.
void NatsExporter::take_from_ring(uint64_t now_ns) {
    size_t limit = size_t{max_in_flight_} * 2;
    std::string_view line;
    uint8_t cause;
    uint32_t taken = 0;
    while (flights_.size() + closed_.size() < limit && taken < 4096 && ring_.peek(line, cause)) {
        batcher_.add(line, cause, now_ns, closed_);
        ring_.pop();
        ++taken;
    }
}

void NatsExporter::settle_acks(uint64_t now_ns) {
    std::vector<Ack> acks;
    {
        std::lock_guard lock(acks_mutex_);
        acks.swap(acks_);
    }
    for (const Ack& ack : acks) {
        natsMsg_Destroy(ack.msg);  // no publish of it can be under way on this thread now
        auto it = flights_.find(ack.first_seq);
        if (it == flights_.end() || !it->second.in_flight) continue;  // a late second answer
        Flight& f = it->second;
        f.in_flight = false;
        --in_flight_;
        if (ack.ok) {
            acked_.fetch_add(f.batch.lines, std::memory_order_relaxed);
            batches_acked_.fetch_add(1, std::memory_order_relaxed);
            if (ack.duplicate) duplicates_.fetch_add(1, std::memory_order_relaxed);
            flights_.erase(it);
        } else {
            errors_.fetch_add(1, std::memory_order_relaxed);
            f.retry_at_ns = now_ns + backoff_ns(f.attempts);
        }
    }
    in_flight_gauge_.store(in_flight_, std::memory_order_relaxed);
}

bool NatsExporter::publish(ExportBatch& batch) {
    natsMsg* msg = nullptr;
    natsStatus s = natsMsg_Create(&msg, batch.subject.c_str(), nullptr, batch.payload.data(),
                                  static_cast<int>(batch.payload.size()));
    if (s != NATS_OK) return false;
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MsgId = batch.msg_id.c_str();
    po.MaxWait = ack_timeout_ms_;
    s = js_PublishMsgAsync(js_, &msg, &po);
    natsMsg_Destroy(msg);  // nothing when the library took it
    return s == NATS_OK;
}

// Oldest first: batches waiting (new, or due for a resend) go out while fewer than
// --export-in-flight are unacknowledged.
void NatsExporter::publish_ready(uint64_t now_ns) {
    for (ExportBatch& b : closed_) {
        uint64_t seq = b.first_seq;
        flights_.emplace(seq, Flight{std::move(b)});
    }
    closed_.clear();
    for (auto& [seq, f] : flights_) {
        if (in_flight_ >= max_in_flight_) break;
        if (f.in_flight || f.retry_at_ns > now_ns) continue;
        if (f.attempts > 0) resent_.fetch_add(1, std::memory_order_relaxed);
        ++f.attempts;
        if (js_ && publish(f.batch)) {
            f.in_flight = true;
            ++in_flight_;
        } else {
            errors_.fetch_add(1, std::memory_order_relaxed);
            f.retry_at_ns = now_ns + backoff_ns(f.attempts);
        }
    }
    in_flight_gauge_.store(in_flight_, std::memory_order_relaxed);
}

void NatsExporter::thread_main() {
    pthread_setname_np(pthread_self(), "rstscope-export");
    uint64_t deadline = 0;
    for (;;) {
        uint64_t now = monotonic_ns();
        bool finishing = finishing_.load();
        if (finishing && deadline == 0) deadline = now + finish_timeout_ns_;
        replace_closed_connection(now);
        take_from_ring(now);
        std::string_view line;
        uint8_t cause;
        bool ring_empty = !ring_.peek(line, cause);
        batcher_.close_due(now, finishing && ring_empty, closed_);
        settle_acks(now);
        publish_ready(now);
        if (finishing && ring_empty && batcher_.open_lines() == 0 && flights_.empty()) break;
        if (stop_.load() || (finishing && now >= deadline)) {
            // Given up: every line not acknowledged is counted, none forgotten.
            uint64_t lost = 0;
            while (ring_.peek(line, cause)) {
                ring_.pop();
                ++lost;
            }
            lost += batcher_.open_lines();
            batcher_.close_due(now, true, closed_);
            closed_.clear();
            for (const auto& [seq, f] : flights_)
                lost += f.batch.lines;
            flights_.clear();
            dropped_.fetch_add(lost, std::memory_order_relaxed);
            break;
        }
        cpu_ns_.store(thread_cpu_ns(), std::memory_order_relaxed);
        std::unique_lock lock(wake_mutex_);
        wake_.wait_for(lock, std::chrono::milliseconds(1));
    }
    cpu_ns_.store(thread_cpu_ns(), std::memory_order_relaxed);
}

}  // namespace rstscope
