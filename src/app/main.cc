// SPDX-License-Identifier: BSD-3-Clause
// rstscope: the composition root, one named step per call: signals, options, the capture, the
// outputs, EAL, the pipeline, management, the report. Each step either succeeds or returns a
// one-line error; everything set up is torn down in reverse by the objects that own it.
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <bit>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <memory>
#include <new>
#include <optional>
#include <system_error>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "../capture/capture_probe.h"
#include "../capture/pcapng_rewrite.h"
#include "../datapath/capture_feed.h"
#include "../datapath/ports.h"
#include "../export/nats_exporter.h"
#include "../mgmt/management.h"
#include "capture_sizes.h"
#include "driver_loading.h"
#include "eal_args.h"
#include "eal_cpu_scan.h"
#include "pipeline.h"
#include "progress.h"
#include "rstscope/config/duration.h"
#include "rstscope/config/options.h"
#include "rstscope/datapath/packet_sockets.h"
#include "rstscope/flow/flow_table.h"
#include "rstscope/mgmt/event_log.h"
#include "rstscope/mgmt/flight_recorder.h"
#include "rstscope/mgmt/html_report.h"
#include "tsc_calibration.h"

using namespace rstscope;

namespace {

constexpr int exit_runtime_error = 1;
constexpr int exit_usage = 2;
constexpr int exit_events_lost = 3;

// The one object signal handlers touch; it lives as long as the process.
RunControl run_control;

void on_stop_signal(int signal) {
    run_control.stop_signal.store(signal, std::memory_order_relaxed);
    run_control.stop.store(true, std::memory_order_relaxed);
}

void on_hangup(int) {
    run_control.reopen_log.store(true, std::memory_order_relaxed);
}

// First thing in main: a SIGTERM during start-up ends the run cleanly, SIGHUP (logrotate) reopens
// the log instead of killing the process, and a log reader that leaves is an error to count
// (EPIPE), not a SIGPIPE death.
void install_signal_handlers() {
    struct sigaction action {};
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    action.sa_handler = on_stop_signal;
    sigaction(SIGINT, &action, nullptr);
    sigaction(SIGTERM, &action, nullptr);
    action.sa_handler = on_hangup;
    sigaction(SIGHUP, &action, nullptr);
    action.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &action, nullptr);
}

int fail(int code, const std::string& message) {
    std::fprintf(stderr, "rstscope: error: %s\n", message.c_str());
    return code;
}

bool stopped_during_startup() {
    if (!run_control.stop.load()) return false;
    std::fprintf(stderr, "rstscope: stopped by signal %d before the analysis started\n",
                 run_control.stop_signal.load());
    return true;
}

uint64_t wall_clock_ns() {
    timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return static_cast<uint64_t>(now.tv_sec) * ns_per_second + static_cast<uint64_t>(now.tv_nsec);
}

// A private directory for the files DPDK must be given by name. Paths reach net_pcap through
// DPDK's kvargs, where ',' and '=' separate arguments: a user's path goes in as a link with a
// plain name here, so no path can smuggle in device arguments. Removed with its content.
class PrivateDirectory {
  public:
    ~PrivateDirectory() {
        if (!path_.empty()) {
            std::error_code ec;
            std::filesystem::remove_all(path_, ec);
        }
    }
    // A link named `name` here that points to `target`; empty with `error` set on failure.
    std::string link(const std::string& name, const std::string& target, std::string& error) {
        std::string link_path = file(name, error);
        if (link_path.empty()) return {};
        std::error_code ec;
        std::filesystem::path absolute = std::filesystem::absolute(target, ec);
        if (ec || symlink(absolute.c_str(), link_path.c_str()) != 0) {
            error = "cannot link " + target + " for DPDK: " + std::strerror(errno);
            return {};
        }
        return link_path;
    }
    // A path named `name` here (not created); empty with `error` set on failure.
    std::string file(const std::string& name, std::string& error) {
        if (path_.empty()) {
            char pattern[] = "/tmp/rstscope-XXXXXX";
            if (!mkdtemp(pattern)) {
                error = std::string("cannot create a temporary directory: ") + std::strerror(errno);
                return {};
            }
            path_ = pattern;
        }
        return path_ + "/" + name;
    }

  private:
    std::string path_;
};

// What the capture step hands on: the probe's findings and the paths DPDK and the capture clock
// read (the user's file, or its rewritten copy).
struct CaptureInput {
    std::string user_path;  // as given, for messages
    CaptureProbe probe;
    std::string read_path;  // for libpcap (capture clock) and the capture feed: any path
    std::string vdev_path;  // for net_pcap's kvargs: a plain link
    // The capture feed reads it (src/datapath/capture_feed.h): a monitor run on records the
    // probe found plain, with EAL arguments of rstscope's own. Otherwise net_pcap does.
    bool fed = false;
};

std::optional<CaptureInput> prepare_capture(const Options& options, PrivateDirectory& private_dir,
                                            std::string& error) {
    CaptureInput input;
    input.user_path = options.pcap;
    input.read_path = options.pcap;
    std::optional<CaptureProbe> probe = probe_capture(options.pcap, error, options.vlan_in_key);
    if (!probe && is_pcapng_file(options.pcap)) {
        // libpcap 1.10 refuses pcapng files whose interfaces differ in snapshot length.
        std::string rewrite_error;
        std::string copy = private_dir.file("rewritten.pcap", rewrite_error);
        if (!copy.empty() && rewrite_pcapng_as_pcap(options.pcap, copy, rewrite_error)) {
            probe = probe_capture(copy, error, options.vlan_in_key);
            input.read_path = copy;
        } else if (!rewrite_error.empty()) {
            error += " (" + rewrite_error + ")";
        }
    }
    if (!probe) return std::nullopt;
    if (probe->packets == 0) {
        error = fmt::format("capture {} holds no complete packet{}", options.pcap,
                            probe->truncated ? " (" + probe->truncation_error + ")" : "");
        return std::nullopt;
    }
    input.probe = *probe;
    input.fed = probe->plain_layout && options.mode == Mode::monitor && options.eal_args.empty();
    input.vdev_path = private_dir.link("capture", input.read_path, error);
    if (input.vdev_path.empty()) return std::nullopt;
    return input;
}

// The outputs are opened (or, for the summary, checked) before any analysis: a run never works
// for minutes and then fails to write its results. The control socket comes first, so that an
// instance refused because another one serves that socket creates no file.
struct Outputs {
    std::unique_ptr<ControlSocket> control;
    std::unique_ptr<MetricsHttp> metrics_http;
    std::unique_ptr<EventLog> log;
    std::unique_ptr<NatsExporter> exporter;  // --export; null without
};

bool output_writable(const char* what, const std::string& path, std::string& error) {
    std::filesystem::path file(path);
    std::filesystem::path dir = file.has_parent_path() ? file.parent_path() : ".";
    bool ok = access(path.c_str(), F_OK) == 0 ? access(path.c_str(), W_OK) == 0
                                              : access(dir.c_str(), W_OK | X_OK) == 0;
    if (!ok) error = fmt::format("cannot write the {} {}: {}", what, path, std::strerror(errno));
    return ok;
}

std::optional<Outputs> open_outputs(const Options& options, std::string& error) {
    Outputs out;
    if (options.control != "none") {
        ControlSocketConfig config;
        config.max_clients = options.control_max_clients;
        config.group = options.control_group;
        config.idle_timeout =
            std::chrono::nanoseconds(seconds_to_ns(options.control_idle_timeout_s));
        out.control = ControlSocket::open(options.control, config, error);
        if (!out.control) return std::nullopt;
    }
    if (!options.metrics_listen.empty()) {
        out.metrics_http = MetricsHttp::open(options.metrics_listen, error);
        if (!out.metrics_http) return std::nullopt;
    }
    if (!options.summary_json.empty() && !output_writable("summary", options.summary_json, error))
        return std::nullopt;
    if (!options.report.empty() && !output_writable("report", options.report, error))
        return std::nullopt;
    out.log = EventLog::open(options.log, size_t{options.log_buffer_kib} * 1024, error);
    if (!out.log) return std::nullopt;
    // Started before EAL pins this thread: it may run on any CPU the process may use until
    // analyse() says otherwise.
    try {
        out.log->start_writer();
    } catch (const std::system_error& e) {
        error = fmt::format("cannot start the event log's writer thread: {}", e.what());
        return std::nullopt;
    }
    if (!options.export_urls.empty()) {
        out.exporter = NatsExporter::start(options, error);
        if (!out.exporter) return std::nullopt;
    }
    return out;
}

// Live traffic: the log's writer keeps to the management lcore's CPU, where EAL pinned this
// thread, and never takes a worker's. A capture's may run on any CPU the process may use: once the
// workers are done, its writes overlap management's last events.
void keep_log_writer_beside_management(EventLog& log) {
    cpu_set_t cpus;
    if (pthread_getaffinity_np(pthread_self(), sizeof(cpus), &cpus) == 0) log.confine_writer(cpus);
}

// Per-worker sizes as the options give them (a capture's already fitted to its packet count by
// prepare_inputs).
TrackerConfig tracker_config(const Options& o) {
    TrackerConfig c;
    c.flow_capacity = o.flow_table_size;
    c.linger_capacity = o.linger_capacity;
    c.linger_ns = seconds_to_ns(o.linger_s);
    c.idle_threshold_ns = seconds_to_ns(o.idle_threshold_s);
    c.established_timeout_ns = seconds_to_ns(o.established_timeout_s);
    c.half_open_timeout_ns = seconds_to_ns(o.half_open_timeout_s);
    c.closed_timeout_ns = seconds_to_ns(o.closed_timeout_s);
    c.zeek_close_delay_ns = seconds_to_ns(o.zeek_close_delay_s);
    c.zeek_attempt_delay_ns = seconds_to_ns(o.zeek_attempt_delay_s);
    c.zeek_handshake_inactivity_ns = seconds_to_ns(o.zeek_handshake_inactivity_s);
    c.zeek_inactivity_ns = seconds_to_ns(o.zeek_inactivity_s);
    c.zeek_long_inactivity_ns = seconds_to_ns(o.zeek_long_inactivity_s);
    c.vlan_in_key = o.vlan_in_key;
    c.flight.packets = o.recorder_dir.empty() ? 0 : o.recorder_packets;
    c.flight.snap = o.recorder_snap;
    c.flight.ring_bytes = uint64_t{o.recorder_ring_mib} << 20;
    c.flight.evidence_blocks = o.recorder_blocks;
    // Connections per service and findings window, for the rst_storm share (docs/findings.md).
    c.connection_window_ns = seconds_to_ns(o.findings_window_s);
    c.connection_slots = ConnectionWindows::slots_for(c.connection_window_ns, c.linger_ns);
    // A capture has no line rate to keep: its tables take the pages its packets reach.
    c.paging = o.pcap.empty() ? Paging::up_front : Paging::on_use;
    c.flight.paging = c.paging;
    // Nor a run long enough for its tables' huge pages to repay a slow first touch.
    c.table_huge_pages = o.pcap.empty() ? HugePages::always : HugePages::while_cheap;
    return c;
}

uint64_t available_memory_bytes() {
    std::ifstream meminfo("/proc/meminfo");
    std::string key;
    uint64_t kib = 0;
    std::string unit;
    while (meminfo >> key >> kib >> unit) {
        if (key == "MemAvailable:") return kib * 1024;
    }
    return UINT64_MAX;
}

// The per-worker memory the options ask for, checked against the machine before anything is
// allocated: one line that says what does not fit, instead of an allocation failure (or the OOM
// killer) halfway through start-up.
std::string check_memory(const Options& o, const TrackerConfig& c) {
    uint64_t table = FlowTable::memory_for(c.flow_capacity);
    // The queue and its extras beside it (flow_tracker.h): all of it, as live traffic takes it.
    uint64_t linger = uint64_t{std::bit_ceil(c.linger_capacity)} *
                      (sizeof(PendingReset) + sizeof(ResetEventExtras));
    uint64_t ring = uint64_t{o.event_ring_size} * sizeof(ResetEvent);
    uint64_t apps = c.app_capacity ? uint64_t{std::bit_ceil(c.app_capacity)} * sizeof(AppSlot) : 0;
    // The flight recorder's ring and evidence blocks, when it is on.
    uint64_t recorder = FlightStore::memory_for(c.flight);
    if (c.flight.packets)
        recorder += EvidenceArena::memory_for(c.flight.evidence_blocks, c.flight.packets,
                                              FlightStore::evidence_record_bytes(c.flight.snap));
    uint64_t needed =
        o.workers * (table + linger + ring + apps + recorder) + uint64_t{o.log_buffer_kib} * 1024;
    uint64_t available = available_memory_bytes();
    if (needed <= available) return {};
    auto mib = [](uint64_t bytes) { return bytes >> 20; };
    return fmt::format(
        "the configuration needs {} MiB ({} workers x (flow table {} MiB + linger queue {} MiB + "
        "event ring {} MiB + app table {} MiB + flight recorder {} MiB)) but only {} MiB are "
        "available: lower --flow-table-size, --linger-capacity, --event-ring-size or "
        "--recorder-ring",
        mib(needed), o.workers, mib(table), mib(linger), mib(ring), mib(apps), mib(recorder),
        mib(available));
}

// DPDK's EAL for this process: initialised once, cleaned up when the run ends.
class Eal {
  public:
    bool start(const Options& options, const char* program, bool capture_fed, std::string& error) {
        // A shortcut run (no EAL arguments of the user's) loads only the drivers it names.
        bool shortcut = options.eal_args.empty();
        std::string drivers = shortcut ? shared_driver_directory() : std::string();
        std::vector<std::string> args = build_eal_args(
            options, program, std::thread::hardware_concurrency(), drivers, capture_fed);
        if (!drivers.empty()) load_only_named_drivers();
        std::vector<char*> argv;
        for (auto& a : args)
            argv.push_back(a.data());
        argv.push_back(nullptr);
        ShortTscCalibration short_calibration;
        ShortCpuScan short_cpu_scan;
        if (rte_eal_init(static_cast<int>(args.size()), argv.data()) < 0) {
            error = fmt::format("DPDK EAL initialisation failed: {}", rte_strerror(rte_errno));
            return false;
        }
        started_ = true;
        return true;
    }
    ~Eal() {
        if (started_) rte_eal_cleanup();
    }

  private:
    bool started_ = false;
};

// Management's view of the ports: the datapath's receive losses over every port, the frames the
// kernel dropped at an af_packet port's socket among the missed. Made once the ports are set up
// (their sockets are found then) and used while they are open.
class EthdevPortStats final : public PortStatsSource {
  public:
    EthdevPortStats() : socket_drops_(packet_sockets_bound_to(af_packet_interfaces())) {}

    PortDropTotals drop_totals() const override {
        PortDropTotals totals;
        port_drop_totals(totals.missed, totals.errors);
        totals.missed += socket_drops_.total();
        return totals;
    }

  private:
    // Reading the kernel's counts resets them: the total since the start is kept here.
    mutable PacketSocketDrops socket_drops_;
};

// What the run reads, prepared before DPDK starts: the capture (probed, perhaps rewritten), the
// forwarded capture's path, and per-worker sizes checked against the machine's memory.
struct Inputs {
    std::optional<CaptureInput> capture;
    std::unique_ptr<SignatureDatabase> signatures;  // tracker.signatures points here
    TrackerConfig tracker;
};

// The signatures file the options name, or signatures.conf next to the configuration file read
// when that exists; "none" or neither: no signatures.
std::string signatures_path(const Options& o) {
    if (o.signatures == "none") return {};
    if (!o.signatures.empty()) return o.signatures;
    if (o.config_file.empty()) return {};
    std::filesystem::path beside =
        std::filesystem::path(o.config_file).parent_path() / "signatures.conf";
    std::error_code ignored;
    return std::filesystem::is_regular_file(beside, ignored) ? beside.string() : std::string();
}

std::optional<Inputs> prepare_inputs(Options& options, PrivateDirectory& private_dir,
                                     std::string& error) {
    Inputs inputs;
    std::optional<Options> before_sizing;  // a capture's options before its sizes were applied
    uint64_t expected_resets = 0;
    // A capture's sizes; `grow`: the bounds that hold resets may grow to its busiest span.
    auto apply_capture_sizes = [&](bool grow) {
        const CaptureProbe& probe = inputs.capture->probe;
        BusiestResets busiest;
        if (grow) {
            busiest = [&times = probe.reset_peaks](uint64_t span_ns) {
                return times.most_within(span_ns);
            };
        }
        CaptureSizes sizes =
            sizes_for_capture(*before_sizing, probe.packets,
                              probe.plain_layout ? probe.plain_layout->largest_record : 0,
                              probe.flows, probe.reset_segments, busiest);
        options.flow_table_size = sizes.flow_capacity;
        options.linger_capacity = sizes.linger_capacity;
        options.mbufs = sizes.mbufs;
        options.mbuf_data_room = sizes.mbuf_data_room;
        options.storm_max_pending = sizes.storm_max_pending;
        options.storm_max_hosts = sizes.storm_max_hosts;
        options.event_ring_size = sizes.event_ring_size;
        options.recent_events = sizes.recent_events;
        options.findings_max_keys = sizes.findings_max_keys;
        options.recorder_ring_mib = sizes.recorder_ring_mib;
        options.eal_memory_mb = std::to_string(sizes.eal_memory_mb);
        expected_resets = sizes.expected_resets;
    };
    if (!options.pcap.empty()) {
        inputs.capture = prepare_capture(options, private_dir, error);
        if (!inputs.capture) return std::nullopt;
        options.pcap = inputs.capture->vdev_path;
        before_sizing = options;
        apply_capture_sizes(true);
    }
    if (!options.pcap_out.empty()) {
        std::string original = options.pcap_out;
        options.pcap_out = private_dir.link("forwarded", original, error);
        if (options.pcap_out.empty()) return std::nullopt;
    }
    if (std::string path = signatures_path(options); !path.empty()) {
        inputs.signatures = SignatureDatabase::compile(load_signature_rules(path), error);
        if (!inputs.signatures) return std::nullopt;
    }
    auto configure_tracker = [&] {
        inputs.tracker = tracker_config(options);
        inputs.tracker.expected_resets = expected_resets;
        if (inputs.signatures) {
            inputs.tracker.signatures = inputs.signatures.get();
            inputs.tracker.app_capacity = app_capacity_with_signatures;
        }
    };
    configure_tracker();
    error = check_memory(options, inputs.tracker);
    if (!error.empty() && inputs.capture) {
        // Room for a capture's busiest span that the machine cannot give: the configured bounds,
        // whose overflow is counted (linger_queue_full, storm_early_judged), as for live traffic.
        apply_capture_sizes(false);
        configure_tracker();
        error = check_memory(options, inputs.tracker);
    }
    if (!error.empty()) return std::nullopt;
    return inputs;
}

// The flight recorder when it is on (--recorder-dir and --recorder-packets), reading each
// worker's evidence blocks.
std::unique_ptr<FlightRecorder> flight_recorder(const Options& o,
                                                const std::vector<WorkerChannel*>& channels) {
    if (o.recorder_dir.empty() || o.recorder_packets == 0) return nullptr;
    std::vector<const EvidenceArena*> arenas;
    for (const WorkerChannel* channel : channels)
        arenas.push_back(channel->evidence);
    FlightFilesConfig files{o.recorder_dir, uint64_t{o.recorder_file_mib} << 20, o.recorder_files};
    return std::make_unique<FlightRecorder>(std::move(files), std::move(arenas));
}

// What every worker reads: the capture's link type, the mode, and the clock's anchor (TSC and
// wall clock read together, once EAL knows the TSC's rate).
WorkerSettings worker_settings(const Options& options, const std::optional<CaptureInput>& capture) {
    WorkerSettings settings;
    if (capture) settings.link = capture->probe.link;
    settings.inline_mode = options.mode == Mode::inline_forward;
    settings.tsc_hz = rte_get_tsc_hz();
    settings.tsc_start = rte_rdtsc();
    settings.wall_start_ns = wall_clock_ns();
    return settings;
}

void report(const Options& options, Management& management) {
    CounterTotals totals = management.totals();
    if (!options.quiet) std::fputs(summary_text(totals, management.resets()).c_str(), stderr);
    if (!options.summary_json.empty()) {
        std::ofstream out(options.summary_json);
        out << stats_json(totals, management.resets(), management.signature_matches()) << "\n";
        if (!out) throw std::runtime_error("cannot write " + options.summary_json);
    }
}

// --report: follows the log during the run, written after it.
std::unique_ptr<HtmlReport> html_report(const Options& options,
                                        const std::optional<CaptureInput>& capture) {
    if (options.report.empty()) return nullptr;
    HtmlReportLimits limits;
    limits.max_events = options.report_events;
    std::string source = capture                  ? capture->user_path
                         : !options.iface.empty() ? "interface " + options.iface
                                                  : std::string("live ports");
    HtmlReportLinks links;
    if (!options.recorder_dir.empty()) {
        // Relative to the page's folder, so the page and the files can be moved together.
        std::filesystem::path page_dir = std::filesystem::absolute(options.report).parent_path();
        links.recorder_dir =
            std::filesystem::absolute(options.recorder_dir).lexically_proximate(page_dir).string();
    }
    return std::make_unique<HtmlReport>("rstscope report: " + source, limits, std::move(links));
}

// A capture run's progress on standard error, when that is a terminal and --quiet is not given.
std::unique_ptr<ProgressReporter> capture_progress(const Options& options,
                                                   const std::optional<CaptureInput>& capture,
                                                   Pipeline& pipeline) {
    if (!capture || options.quiet || !isatty(STDERR_FILENO)) return nullptr;
    auto started = std::chrono::steady_clock::now();
    return std::make_unique<ProgressReporter>(
        [channels = pipeline.channels(), total = capture->probe.packets, started] {
            ProgressFigures f;
            f.total_packets = total;
            for (const WorkerChannel* w : channels) {
                f.packets += w->counters->get(WorkerCounter::packets);
                f.resets += w->counters->get(WorkerCounter::reset_connections);
            }
            f.elapsed_s =
                std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
            return f;
        },
        [](const std::string& text) {
            std::fputs(text.c_str(), stderr);
            std::fflush(stderr);
        });
}

// A truncated capture is an error even though its complete packets were analysed; lost events
// are exit status 3 (docs/reliability.md).
int exit_status(const std::optional<CaptureInput>& capture, Management& management) {
    if (capture && capture->probe.truncated) {
        return fail(exit_runtime_error,
                    fmt::format("capture {} is truncated after {} complete packets ({}); "
                                "those were analysed",
                                capture->user_path, capture->probe.packets,
                                capture->probe.truncation_error));
    }
    uint64_t lost = events_lost(management.totals());
    if (lost == 0) return 0;
    std::fprintf(stderr,
                 "rstscope: %llu reset event(s) were lost (see the losses in the summary)\n",
                 static_cast<unsigned long long>(lost));
    return exit_events_lost;
}

// The workers and management from launch to report. Anything thrown after the launch unwinds
// through the Pipeline, whose destructor stops and joins the workers before freeing what they use.
int analyse(const Options& options, const Inputs& inputs, Outputs& outputs,
            std::future<WorkerTrackers>& trackers) {
    const std::optional<CaptureInput>& capture = inputs.capture;
    if (capture) {
        run_control.capture = true;
        run_control.capture_packets = capture->probe.packets;
    }
    try {
        std::string error;
        // Declared before the pipeline, so its port is stopped before the feed frees its ring.
        std::unique_ptr<CaptureFeed> capture_feed;
        CaptureClock capture_clock;
        if (capture && capture->fed) {
            std::optional<PlainRecordReader> reader =
                PlainRecordReader::open(capture->read_path, *capture->probe.plain_layout);
            if (!reader) {
                throw std::runtime_error(fmt::format(
                    "capture {} changed or vanished since it was probed", capture->user_path));
            }
            capture_feed =
                std::make_unique<CaptureFeed>(std::move(*reader), capture->probe.packets);
        } else if (capture && !capture_clock.open(capture->read_path, capture->probe, error)) {
            throw std::runtime_error(error);
        }
        if (!capture) keep_log_writer_beside_management(*outputs.log);
        Pipeline pipeline(options, inputs.tracker, trackers.get(), run_control,
                          worker_settings(options, capture), capture_feed.get(),
                          capture && !capture_feed ? &capture_clock : nullptr);
        EthdevPortStats port_stats;
        // Before the launch: a --recorder-dir that cannot be used ends the run before any packet.
        std::unique_ptr<FlightRecorder> recorder = flight_recorder(options, pipeline.channels());
        pipeline.launch();
        pipeline.fault_in_expected_resets();
        Management management(options, run_control, pipeline.channels(), port_stats,
                              std::move(outputs.log), std::move(outputs.control),
                              std::move(outputs.metrics_http));
        // First: the observers after it see the event's pcap reference.
        if (recorder) {
            management.observe(*recorder);
            management.count_from(*recorder);
        }
        if (outputs.exporter) {
            management.observe(*outputs.exporter);
            management.count_from(*outputs.exporter);
        }
        if (capture)
            management.populate(capture->probe.reset_segments, capture->probe.reset_senders);
        std::unique_ptr<HtmlReport> html = html_report(options, capture);
        if (html) management.observe(*html);
        std::unique_ptr<ProgressReporter> progress = capture_progress(options, capture, pipeline);
        management.run();
        progress.reset();
        pipeline.join();
        report(options, management);
        if (html && !html->write(options.report, error)) throw std::runtime_error(error);
        return exit_status(capture, management);
    } catch (const std::bad_alloc&) {
        return fail(exit_runtime_error,
                    "out of memory while setting up the workers: lower --flow-table-size or "
                    "--linger-capacity");
    } catch (const std::exception& e) {
        return fail(exit_runtime_error, e.what());
    }
}

int run(int argc, char** argv) {
    install_signal_handlers();
    ParseOutcome parsed = parse_options(argc, argv);
    if (parsed.status == ParseOutcome::Status::exit_ok) {
        std::fputs(parsed.message.c_str(), stdout);
        return 0;
    }
    if (parsed.status == ParseOutcome::Status::error) return fail(exit_usage, parsed.message);
    Options options = parsed.options;
    std::string error;

    PrivateDirectory private_dir;
    std::optional<Inputs> inputs = prepare_inputs(options, private_dir, error);
    if (!inputs) return fail(exit_runtime_error, error);
    if (stopped_during_startup()) return 0;

    std::optional<Outputs> outputs = open_outputs(options, error);
    if (!outputs) return fail(exit_runtime_error, error);

    // Built while EAL starts (pipeline.h); whatever path leaves run(), the future's destructor
    // waits for the build to end. Without a thread to be had, libstdc++ defers the build to
    // get(), on this thread, as before.
    std::future<WorkerTrackers> trackers =
        std::async(std::launch::async | std::launch::deferred, build_worker_trackers,
                   std::cref(inputs->tracker), options.workers, options.event_ring_size);
    Eal eal;
    const bool capture_fed = inputs->capture && inputs->capture->fed;
    if (!eal.start(options, argv[0], capture_fed, error)) return fail(exit_runtime_error, error);
    if (stopped_during_startup()) return 0;

    return analyse(options, *inputs, *outputs, trackers);
}

}  // namespace

int main(int argc, char** argv) {
    return run(argc, argv);
}
