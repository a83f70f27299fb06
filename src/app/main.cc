// rstscope: wiring. Parses options, probes the capture, starts EAL, sets up ports, rings and one
// FlowTracker per worker, launches the workers and runs management on the main lcore.
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_ring.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <memory>
#include <thread>

#include <unistd.h>
#include <vector>

#include <fmt/format.h>

#include "../mgmt/management.h"
#include "../capture/capture_probe.h"
#include "eal_args.h"
#include "../capture/pcapng_rewrite.h"
#include "ports.h"
#include "rstscope/config/options.h"
#include "worker.h"

using namespace rstscope;

namespace {

constexpr int exit_runtime_error = 1;
constexpr int exit_usage = 2;

RunControl* signal_target = nullptr;

void on_signal(int) {
    if (signal_target) signal_target->stop.store(true, std::memory_order_relaxed);
}

// A file removed when it goes out of scope (the rewritten copy of a pcapng capture).
class TemporaryFile {
  public:
    bool create() {
        char name[] = "/tmp/rstscope-capture-XXXXXX";
        int fd = mkstemp(name);
        if (fd < 0) return false;
        close(fd);
        path_ = name;
        return true;
    }
    ~TemporaryFile() {
        if (!path_.empty()) unlink(path_.c_str());
    }
    const std::string& path() const { return path_; }

  private:
    std::string path_;
};

int fail(int code, const std::string& message) {
    std::fprintf(stderr, "rstscope: error: %s\n", message.c_str());
    return code;
}

uint64_t wall_clock_ns() {
    timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return static_cast<uint64_t>(now.tv_sec) * 1'000'000'000ull +
           static_cast<uint64_t>(now.tv_nsec);
}

TrackerConfig tracker_config(const Options& o, unsigned worker) {
    TrackerConfig c;
    auto ns = [](double seconds) { return static_cast<uint64_t>(seconds * 1e9); };
    c.flow_capacity = o.flow_table_size;
    c.linger_capacity = o.linger_capacity;
    c.linger_ns = ns(o.linger_s);
    c.idle_threshold_ns = ns(o.idle_threshold_s);
    c.established_timeout_ns = ns(o.established_timeout_s);
    c.half_open_timeout_ns = ns(o.half_open_timeout_s);
    c.closed_timeout_ns = ns(o.closed_timeout_s);
    c.worker_id = static_cast<uint8_t>(worker);
    return c;
}

int run(int argc, char** argv) {
    ParseOutcome parsed = parse_options(argc, argv);
    if (parsed.status == ParseOutcome::Status::exit_ok) {
        std::fputs(parsed.message.c_str(), stdout);
        return 0;
    }
    if (parsed.status == ParseOutcome::Status::error) return fail(exit_usage, parsed.message);
    const Options& options = parsed.options;

    RunControl control;
    std::optional<CaptureProbe> probe;
    Options effective = options;  // the capture actually read may be a rewritten copy
    TemporaryFile rewritten;
    if (!options.pcap.empty()) {
        std::string error;
        probe = probe_capture(options.pcap, error);
        if (!probe && is_pcapng_file(options.pcap)) {
            // libpcap 1.10 refuses pcapng files whose interfaces differ in snapshot length.
            std::string rewrite_error;
            if (rewritten.create() &&
                rewrite_pcapng_as_pcap(options.pcap, rewritten.path(), rewrite_error)) {
                probe = probe_capture(rewritten.path(), error);
                effective.pcap = rewritten.path();
            } else if (!rewrite_error.empty()) {
                error += " (" + rewrite_error + ")";
            }
        }
        if (!probe) return fail(exit_runtime_error, error);
        if (probe->packets == 0) {
            return fail(exit_runtime_error,
                        fmt::format("capture {} holds no complete packet{}", options.pcap,
                                    probe->truncated ? " (" + probe->truncation_error + ")" : ""));
        }
        control.capture = true;
        control.capture_packets = probe->packets;
        control.link = probe->link;
    }

    std::FILE* log = stdout;
    if (options.log != "-") {
        log = std::fopen(options.log.c_str(), "a");
        if (!log)
            return fail(exit_runtime_error, fmt::format("cannot open event log {}: {}", options.log,
                                                        std::strerror(errno)));
    }
    std::unique_ptr<ControlSocket> socket;
    if (options.control != "none") {
        std::string error;
        socket = ControlSocket::open(options.control, error);
        if (!socket) return fail(exit_runtime_error, error);
    }

    unsigned cpus = std::thread::hardware_concurrency();
    std::vector<std::string> eal_args = build_eal_args(effective, argv[0], cpus);
    std::vector<char*> eal_argv;
    for (auto& a : eal_args)
        eal_argv.push_back(a.data());
    eal_argv.push_back(nullptr);
    if (rte_eal_init(static_cast<int>(eal_args.size()), eal_argv.data()) < 0)
        return fail(exit_runtime_error,
                    fmt::format("DPDK EAL initialisation failed: {}", rte_strerror(rte_errno)));

    int status = 0;
    try {
        if (rte_lcore_count() < options.workers + 1) {
            throw std::runtime_error(
                fmt::format("{} lcores available, need {} ({} workers + management)",
                            rte_lcore_count(), options.workers + 1, options.workers));
        }
        PortPlan plan = setup_ports(options);
        control.plan = &plan;
        control.inline_mode = options.mode == Mode::inline_forward;
        control.tsc_hz = rte_get_tsc_hz();
        control.tsc_start = rte_rdtsc();
        control.wall_start_ns = wall_clock_ns();
        if (plan.timestamp_offset < 0)
            throw std::runtime_error("cannot register the mbuf timestamp field");
        CaptureClock capture_clock;
        if (control.capture) {
            std::string error;
            if (!capture_clock.open(effective.pcap, error)) throw std::runtime_error(error);
        }

        const unsigned n = options.workers;
        std::vector<std::unique_ptr<WorkerCounters>> counters;
        std::vector<std::unique_ptr<FlowTracker>> trackers;
        std::vector<std::unique_ptr<EventRing>> rings;
        std::vector<std::unique_ptr<WorkerContext>> contexts;
        std::vector<rte_ring*> dispatch;
        for (unsigned w = 0; w < n; ++w) {
            counters.push_back(std::make_unique<WorkerCounters>());
            trackers.push_back(
                std::make_unique<FlowTracker>(tracker_config(options, w), *counters.back()));
            rings.push_back(std::make_unique<EventRing>(fmt::format("rstscope_events_{}", w),
                                                        options.event_ring_size,
                                                        (int)rte_socket_id()));
            if (plan.needs_dispatch) {
                rte_ring* r = rte_ring_create(fmt::format("rstscope_dispatch_{}", w).c_str(), 8192,
                                              (int)rte_socket_id(), RING_F_SC_DEQ);
                if (!r) throw std::runtime_error("cannot create dispatch ring");
                dispatch.push_back(r);
            }
        }
        for (unsigned w = 0; w < n; ++w) {
            auto ctx = std::make_unique<WorkerContext>();
            ctx->id = w;
            ctx->worker_count = n;
            ctx->burst = options.burst;
            ctx->run = &control;
            ctx->tracker = trackers[w].get();
            ctx->counters = counters[w].get();
            ctx->events = rings[w].get();
            ctx->dispatch = dispatch;
            if (!plan.queues_of_worker[w].empty()) {
                ++control.readers;
                // The capture vdev has one queue: its reader stamps every frame with its time.
                if (control.capture) ctx->capture_clock = &capture_clock;
            }
            contexts.push_back(std::move(ctx));
        }

        signal_target = &control;
        std::signal(SIGINT, on_signal);
        std::signal(SIGTERM, on_signal);

        unsigned launched = 0;
        unsigned lcore;
        RTE_LCORE_FOREACH_WORKER(lcore) {
            if (launched == n) break;
            int rc = rte_eal_remote_launch(worker_main, contexts[launched].get(), lcore);
            if (rc != 0) throw std::runtime_error("cannot launch worker lcore");
            ++launched;
        }
        std::vector<WorkerContext*> views;
        for (auto& c : contexts)
            views.push_back(c.get());
        Management management(options, control, views, log, std::move(socket));
        management.run();
        rte_eal_mp_wait_lcore();

        CounterTotals totals = management.totals();
        if (!options.quiet) std::fputs(summary_text(totals, management.resets()).c_str(), stderr);
        if (!options.summary_json.empty()) {
            std::ofstream out(options.summary_json);
            out << stats_json(totals, management.resets()) << "\n";
            if (!out) throw std::runtime_error("cannot write " + options.summary_json);
        }
        for (rte_ring* r : dispatch)
            rte_ring_free(r);
        rings.clear();
        stop_ports();
        if (probe && probe->truncated) {
            status = fail(exit_runtime_error,
                          fmt::format("capture {} is truncated after {} complete packets ({}); "
                                      "those were analysed",
                                      options.pcap, probe->packets, probe->truncation_error));
        }
    } catch (const std::exception& e) {
        if (signal_target) signal_target->stop.store(true);
        rte_eal_mp_wait_lcore();
        status = fail(exit_runtime_error, e.what());
    }
    signal_target = nullptr;
    if (log != stdout)
        std::fclose(log);
    else
        std::fflush(stdout);
    rte_eal_cleanup();
    return status;
}

}  // namespace

int main(int argc, char** argv) {
    return run(argc, argv);
}
