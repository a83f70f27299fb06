// SPDX-License-Identifier: BSD-3-Clause
// Command line and configuration file (INI, Boost.Program_options): one description per
// subsystem, every option documented in --help. Setup only: may allocate and throw internally,
// reports problems as a one-line message.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rstscope/config/build_facts.h"

namespace rstscope {

enum class Mode { monitor, inline_forward };

// --workers' bound: a worker holds a burst's frames for each of the others (worker.cc).
inline constexpr unsigned max_workers = 64;

// Every setting has a validated range, listed once in src/config/options.cc (settings_table) and
// shown by --help; parse_options() returns only Options within those ranges. Durations are
// seconds; convert them with seconds_to_ns() (rstscope/config/duration.h), never by hand.
struct Options {
    // Input
    std::vector<std::string> eal_args;  // given before "--": passed to DPDK unchanged
    std::string pcap;                   // offline capture through net_pcap
    std::string pcap_out;               // inline mode with --pcap: forwarded packets go here
    std::string iface;                  // live interface through net_pcap or net_af_packet
    std::string iface_driver = "af_packet";
    // Frames in each receive ring of net_af_packet (--iface): what the kernel holds while a worker
    // is away; DPDK's own default, 512, is 6 ms of a saturated gigabit link of full frames.
    unsigned iface_ring_frames = 8192;
    Mode mode = Mode::monitor;
    unsigned workers = 1;  // 1 to max_workers
    unsigned burst = 32;
    unsigned mbufs = 8191;
    // Bytes of frame an mbuf holds (DPDK's default data room); not an option: a capture's
    // sizing lowers it to its longest frame (capture_sizes.h). Longer frames arrive as chains.
    uint32_t mbuf_data_room = 2048;
    // MiB for EAL's -m with --pcap/--iface: the decimal text of a validated 64 to 1048576, kept
    // as text because it is only ever an EAL argument.
    std::string eal_memory_mb = "512";
    // Output
    std::string log = "-";
    uint32_t log_buffer_kib = 4096;                // the event log's write buffer
    std::string control = default_control_socket;  // "none" disables the socket
    double control_idle_timeout_s = 5.0;  // a client without a complete request is disconnected
    uint32_t control_max_clients = 64;
    std::string control_group;   // empty: the socket file's group
    std::string metrics_listen;  // ADDR:PORT of the Prometheus HTTP endpoint; empty: none
    std::string summary_json;
    std::string report;              // the HTML report's path; empty: no report
    uint32_t report_events = 10000;  // rows of the report's events table at most
    bool quiet = false;
    // Fleet export (docs/fleet.md): nats://HOST:PORT[,...]; empty: no export.
    std::string export_urls;
    std::string export_subject_prefix = "rstscope.events";
    std::string export_site = "default";
    std::string export_appliance;       // empty: the host name
    uint32_t export_ring_kib = 16384;   // management -> exporter thread
    uint32_t export_batch = 64;         // lines per JetStream message at most
    double export_linger_s = 0.1;       // a batch waits at most this long for more lines
    uint32_t export_in_flight = 64;     // batches published and not yet acknowledged, at most
    double export_ack_timeout_s = 5.0;  // an unacknowledged batch is resent after this
    double export_timeout_s = 10.0;     // at the end of a run, wait this long for the stream
    // Shutdown waits this long for workers to hand over pending resets and for the event log to
    // drain, then counts what is left as lost.
    double shutdown_timeout_s = 10.0;
    // Analysis
    double linger_s = 3.0;
    double idle_threshold_s = 180.0;
    double established_timeout_s = 7200.0;
    double half_open_timeout_s = 60.0;
    double closed_timeout_s = 60.0;
    // Zeek's record timers (docs/events.md, "Zeek records"), Zeek's defaults.
    double zeek_close_delay_s = 5.0;
    double zeek_attempt_delay_s = 5.0;
    double zeek_handshake_inactivity_s = 60.0;
    double zeek_inactivity_s = 300.0;
    double zeek_long_inactivity_s = 3600.0;
    bool vlan_in_key = false;
    uint32_t flow_table_size = 1u << 20;
    uint32_t linger_capacity = 65536;
    // IP fragment reassembly: datagrams in flight per worker (0: off), table associativity, and
    // how long an incomplete datagram waits (Linux's ipfrag_time).
    uint32_t frag_datagrams = 512;
    uint32_t frag_bucket_entries = 8;
    double frag_timeout_s = 30.0;
    uint32_t event_ring_size = 16384;
    uint32_t storm_threshold = 20;
    double storm_window_s = 1.0;
    uint32_t storm_max_pending = 65536;  // events waiting in the RST-storm window at most
    uint32_t storm_max_hosts = 65536;    // resetting hosts the storm window tracks at most
    uint32_t top_hosts_capacity = 1024;  // counters of each top-hosts sketch
    uint32_t recent_events = 10000;      // events management keeps for `events` and `top` queries
    // Findings (docs/findings.md): thresholds of FindingThresholds, as options.
    double findings_window_s = 60.0;
    double findings_hold_s = 600.0;
    uint32_t findings_max_keys = 4096;
    uint32_t findings_storm_resets = 100;
    uint32_t findings_storm_rise = 4;
    uint32_t findings_storm_share_pct = 20;
    uint32_t findings_farm_hosts = 4;
    uint32_t findings_scan_ports = 20;
    uint32_t findings_scan_hosts = 20;
    uint32_t findings_backscatter_resets = 20;
    uint32_t findings_timer_resets = 5;
    double findings_timer_spread_s = 5.0;
    uint32_t findings_injector_resets = 5;
    // Signature rules (conf/signatures.conf); empty: signatures.conf beside the configuration
    // file when it exists; "none": no signatures.
    std::string signatures;
    // Flight recorder (docs/recorder.md): off while recorder_dir is empty.
    std::string recorder_dir;
    uint32_t recorder_packets = 8;      // a reset connection's packets in its pcap; 0: off
    uint32_t recorder_snap = 160;       // bytes of each frame kept
    uint32_t recorder_ring_mib = 1024;  // per worker
    uint32_t recorder_blocks = 32768;
    uint32_t recorder_file_mib = 64;
    uint32_t recorder_files = 16;
    std::string config_file;
    // The settings given on the command line or in the configuration file (their option names),
    // the others being at their defaults: a capture sizes some bounds from what it holds unless
    // they were given (src/app/capture_sizes.h).
    std::vector<std::string> given;
    bool was_given(std::string_view name) const noexcept {
        return std::find(given.begin(), given.end(), name) != given.end();
    }
};

struct ParseOutcome {
    enum class Status { run, exit_ok, error } status = Status::run;
    std::string message;  // help text (exit_ok) or the error line (error)
    Options options;
};

// Splits "EAL args -- app args" and parses the application part with the config file beneath
// the command line. `default_config` (the installed one, see build_facts.h) is read when present
// and no --config is given. --help and --version end with Status::exit_ok and their text. A
// configuration file must be a regular file of at most 1 MiB (or /dev/null). Any argument or
// configuration line holding a control character is refused.
ParseOutcome parse_options(int argc, const char* const* argv,
                           const std::string& default_config = installed_config_path);

// The effective configuration as one JSON object, every setting by its option name (numbers as
// numbers, switches as booleans), plus "config" (the file read) and "eal_args": the control
// socket's `config` answer.
std::string options_json(const Options& options);

}  // namespace rstscope
