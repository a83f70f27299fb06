// SPDX-License-Identifier: BSD-3-Clause
#include "rstscope/config/options.h"

#include <fcntl.h>
#include <net/if.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <filesystem>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <variant>

#include <fmt/format.h>
#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>

#include "option_list.h"
#include "option_text.h"
#include "rstscope/analysis/flow_tracker.h"
#include "rstscope/config/build_facts.h"
#include "rstscope/mgmt/vocabulary.h"

namespace po = boost::program_options;

namespace rstscope {
namespace {

using option_text::shield;
using option_text::unshield;

// ---- Every setting, once: its name (command line and configuration key), its field, its range
// ---- and its help. The descriptions, the --help text and the checks are all made from here.

enum class Group { input, output, analysis };

enum class Kind {
    text,          // a string; `needs` set: it may not be empty
    count,         // an unsigned integer from min to max
    power_of_two,  // a count that is a power of two
    seconds,       // a duration from min to max seconds (finite, so seconds_to_ns never saturates)
    mebibytes,     // a count kept as its decimal text (the EAL -m argument)
    mode,          // monitor or inline
    flag,          // a switch without value
};

using Field = std::variant<std::string Options::*, uint32_t Options::*, double Options::*,
                           bool Options::*, Mode Options::*>;

struct Setting {
    Group group;
    const char* name;
    Kind kind;
    Field field;
    double min = 0;
    double max = 0;
    const char* needs = nullptr;   // text: what an empty value lacks ("a path")
    const char* unit = nullptr;    // shown after counts: "MiB", "KiB"
    const char* value_name = "N";  // shown in --help: "--workers N"
    const char* help = "";
};

// Timeouts up to 1e7 s (115 days) outlast any middlebox timer; the linger and storm windows are
// held in memory and meant to be short, so an hour is plenty.
constexpr double max_timeout_s = 1e7;
constexpr double max_window_s = 3600;
constexpr double min_duration_s = 0.001;
// The tracker takes a burst in one pass through arrays of this size.
constexpr double max_burst = FlowTracker::max_burst;

// clang-format off
const Setting settings_table[] = {
    {.group = Group::input, .name = "pcap", .kind = Kind::text, .field = &Options::pcap,
     .needs = "a path", .value_name = "FILE",
     .help = "read a capture file (pcap or pcapng) through the net_pcap vdev"},
    {.group = Group::input, .name = "iface", .kind = Kind::text, .field = &Options::iface,
     .needs = "an interface name", .value_name = "NAME",
     .help = "capture live from a network interface (e.g. lo)"},
    {.group = Group::input, .name = "iface-driver", .kind = Kind::text,
     .field = &Options::iface_driver, .value_name = "DRIVER",
     .help = "vdev for --iface: af_packet or pcap"},
    {.group = Group::input, .name = "iface-ring-frames", .kind = Kind::power_of_two,
     .field = &Options::iface_ring_frames, .min = 512, .max = 1 << 18,
     .help = "frames in each af_packet receive ring (--iface), what the kernel holds while a "
             "worker is away: 2 KiB each, as much again for the transmit ring"},
    {.group = Group::input, .name = "mode", .kind = Kind::mode, .field = &Options::mode,
     .value_name = "MODE",
     .help = "monitor (receive only) or inline (forward every packet between port pairs)"},
    {.group = Group::input, .name = "pcap-out", .kind = Kind::text, .field = &Options::pcap_out,
     .needs = "a path", .value_name = "FILE",
     .help = "inline mode with --pcap: write forwarded packets here"},
    {.group = Group::input, .name = "workers", .kind = Kind::count, .field = &Options::workers,
     .min = 1, .max = max_workers, .help = "worker lcores"},
    {.group = Group::input, .name = "burst", .kind = Kind::count, .field = &Options::burst,
     .min = 1, .max = max_burst, .help = "receive burst size"},
    {.group = Group::input, .name = "mbufs", .kind = Kind::count, .field = &Options::mbufs,
     .min = 512, .max = 1 << 24, .help = "mbufs per worker pool"},
    {.group = Group::input, .name = "memory", .kind = Kind::mebibytes,
     .field = &Options::eal_memory_mb, .min = 64, .max = 1048576, .unit = "MiB",
     .value_name = "MIB", .help = "DPDK memory for the --pcap/--iface shortcuts (-m)"},

    {.group = Group::output, .name = "log", .kind = Kind::text, .field = &Options::log,
     .needs = "a path or -", .value_name = "FILE", .help = "event log, JSON lines; - for stdout"},
    {.group = Group::output, .name = "log-buffer", .kind = Kind::count,
     .field = &Options::log_buffer_kib, .min = 64, .max = 1048576, .unit = "KiB",
     .value_name = "KIB",
     .help = "write buffer of the event log, two halves: one filled while the other is written"},
    {.group = Group::output, .name = "control", .kind = Kind::text, .field = &Options::control,
     .needs = "a path or none", .value_name = "PATH",
     .help = "control socket path (Unix domain); none to disable"},
    {.group = Group::output, .name = "control-idle-timeout", .kind = Kind::seconds,
     .field = &Options::control_idle_timeout_s, .min = 0.1, .max = 3600, .value_name = "SECONDS",
     .help = "a control client without a complete request for this long is disconnected"},
    {.group = Group::output, .name = "control-max-clients", .kind = Kind::count,
     .field = &Options::control_max_clients, .min = 1, .max = 4096,
     .help = "control clients connected at once"},
    {.group = Group::output, .name = "control-group", .kind = Kind::text,
     .field = &Options::control_group, .value_name = "GROUP",
     .help = "group whose members may use the control socket besides root and rstscope's own "
             "user (default: the socket file's group)"},
    {.group = Group::output, .name = "metrics-listen", .kind = Kind::text,
     .field = &Options::metrics_listen, .value_name = "ADDR:PORT",
     .help = "serve Prometheus metrics over HTTP at ADDR:PORT (127.0.0.1:9100, [::1]:9100); "
             "none when empty"},
    {.group = Group::output, .name = "summary-json", .kind = Kind::text,
     .field = &Options::summary_json, .needs = "a path", .value_name = "FILE",
     .help = "write the final statistics as JSON here"},
    {.group = Group::output, .name = "report", .kind = Kind::text, .field = &Options::report,
     .needs = "a path", .value_name = "FILE",
     .help = "write a self-contained HTML report of the run here at its end (docs/report.md)"},
    // About 1 KiB of memory per row during the run and in the page.
    {.group = Group::output, .name = "report-events", .kind = Kind::count,
     .field = &Options::report_events, .min = 0, .max = 100000,
     .help = "rows of the report's events table at most (the first events of the run; the "
             "tallies, timeline and tops count every event)"},
    {.group = Group::output, .name = "quiet", .kind = Kind::flag, .field = &Options::quiet,
     .help = "no human summary at the end"},
    {.group = Group::output, .name = "export", .kind = Kind::text, .field = &Options::export_urls,
     .value_name = "nats://HOST:PORT[,...]",
     .help = "publish every reset event to NATS JetStream (docs/fleet.md); none when empty"},
    {.group = Group::output, .name = "export-subject-prefix", .kind = Kind::text,
     .field = &Options::export_subject_prefix, .needs = "a subject prefix", .value_name = "PREFIX",
     .help = "subjects are PREFIX.SITE.APPLIANCE.CAUSE (tokens of [A-Za-z0-9_-], up to 128 "
             "characters)"},
    {.group = Group::output, .name = "export-site", .kind = Kind::text,
     .field = &Options::export_site, .needs = "a site name", .value_name = "NAME",
     .help = "site token of the export subjects (1 to 64 of [A-Za-z0-9_-])"},
    {.group = Group::output, .name = "export-appliance", .kind = Kind::text,
     .field = &Options::export_appliance, .value_name = "NAME",
     .help = "this appliance's name in exported lines and subjects (1 to 64 of [A-Za-z0-9_-]); "
             "the host name when empty"},
    {.group = Group::output, .name = "export-ring", .kind = Kind::count,
     .field = &Options::export_ring_kib, .min = 64, .max = 1048576, .unit = "KiB",
     .value_name = "KIB", .help = "ring of event lines from management to the exporter thread"},
    {.group = Group::output, .name = "export-batch", .kind = Kind::count,
     .field = &Options::export_batch, .min = 1, .max = 1024,
     .help = "event lines per JetStream message at most (256 KiB at most)"},
    {.group = Group::output, .name = "export-linger", .kind = Kind::seconds,
     .field = &Options::export_linger_s, .min = 0.001, .max = 60, .value_name = "SECONDS",
     .help = "a batch that is not full is published this long after its first line"},
    {.group = Group::output, .name = "export-in-flight", .kind = Kind::count,
     .field = &Options::export_in_flight, .min = 1, .max = 4096,
     .help = "batches published and not yet acknowledged, at most"},
    {.group = Group::output, .name = "export-ack-timeout", .kind = Kind::seconds,
     .field = &Options::export_ack_timeout_s, .min = 0.1, .max = 600, .value_name = "SECONDS",
     .help = "a batch not acknowledged within this is published again, identical"},
    {.group = Group::output, .name = "export-timeout", .kind = Kind::seconds,
     .field = &Options::export_timeout_s, .min = 0.1, .max = 3600, .value_name = "SECONDS",
     .help = "at the end of a run, wait this long for the stream to acknowledge what is left; "
             "the rest is counted as export_dropped"},
    {.group = Group::output, .name = "shutdown-timeout", .kind = Kind::seconds,
     .field = &Options::shutdown_timeout_s, .min = 0.1, .max = 3600, .value_name = "SECONDS",
     .help = "at shutdown, wait this long for workers to hand over pending resets and for the "
             "event log to drain; what is left then is counted as lost"},

    {.group = Group::analysis, .name = "linger", .kind = Kind::seconds, .field = &Options::linger_s,
     .min = 0, .max = max_window_s, .value_name = "SECONDS",
     .help = "seconds (packet time) a reset waits for more evidence before its verdict"},
    {.group = Group::analysis, .name = "idle-threshold", .kind = Kind::seconds,
     .field = &Options::idle_threshold_s, .min = min_duration_s, .max = max_timeout_s,
     .value_name = "SECONDS", .help = "silence in seconds before a RST that points to an idle timeout"},
    {.group = Group::analysis, .name = "established-timeout", .kind = Kind::seconds,
     .field = &Options::established_timeout_s, .min = min_duration_s, .max = max_timeout_s,
     .value_name = "SECONDS", .help = "seconds an idle established flow is remembered"},
    {.group = Group::analysis, .name = "half-open-timeout", .kind = Kind::seconds,
     .field = &Options::half_open_timeout_s, .min = min_duration_s, .max = max_timeout_s,
     .value_name = "SECONDS", .help = "seconds an idle half-open flow is remembered"},
    {.group = Group::analysis, .name = "closed-timeout", .kind = Kind::seconds,
     .field = &Options::closed_timeout_s, .min = min_duration_s, .max = max_timeout_s,
     .value_name = "SECONDS", .help = "seconds a closed or reset flow is remembered"},
    {.group = Group::analysis, .name = "zeek-close-delay", .kind = Kind::seconds,
     .field = &Options::zeek_close_delay_s, .min = min_duration_s, .max = max_window_s,
     .value_name = "SECONDS",
     .help = "a Zeek record ends this long after a complete close (Zeek's tcp_close_delay)"},
    {.group = Group::analysis, .name = "zeek-attempt-delay", .kind = Kind::seconds,
     .field = &Options::zeek_attempt_delay_s, .min = min_duration_s, .max = max_window_s,
     .value_name = "SECONDS",
     .help = "a Zeek record ends this long after an unanswered SYN (Zeek's tcp_attempt_delay)"},
    {.group = Group::analysis, .name = "zeek-handshake-inactivity", .kind = Kind::seconds,
     .field = &Options::zeek_handshake_inactivity_s, .min = min_duration_s, .max = max_timeout_s,
     .value_name = "SECONDS",
     .help = "a Zeek record still in its handshake ends after this much silence"},
    {.group = Group::analysis, .name = "zeek-inactivity", .kind = Kind::seconds,
     .field = &Options::zeek_inactivity_s, .min = min_duration_s, .max = max_timeout_s,
     .value_name = "SECONDS",
     .help = "a Zeek record past its handshake ends after this much silence "
             "(Zeek's tcp_inactivity_timeout)"},
    {.group = Group::analysis, .name = "zeek-long-inactivity", .kind = Kind::seconds,
     .field = &Options::zeek_long_inactivity_s, .min = min_duration_s, .max = max_timeout_s,
     .value_name = "SECONDS",
     .help = "the same for responder ports 21, 22, 23 and 513 (Zeek's port_inactivity_timeouts)"},
    {.group = Group::analysis, .name = "vlan-in-key", .kind = Kind::flag,
     .field = &Options::vlan_in_key,
     .help = "the VLAN tags are part of the flow key: the same addresses and ports on two VLANs "
             "are two connections (without it, as Zeek's key, one)"},
    {.group = Group::analysis, .name = "flow-table-size", .kind = Kind::count,
     .field = &Options::flow_table_size, .min = 64, .max = 1 << 30,
     .help = "flow entries per worker (rounded up to a multiple of 8)"},
    // IP fragment reassembly (docs/architecture.md, "Fragments"): rte_ip_frag, a table per worker.
    {.group = Group::analysis, .name = "frag-datagrams", .kind = Kind::count,
     .field = &Options::frag_datagrams, .min = 0, .max = 65536,
     .help = "IP datagrams per worker being reassembled at once (0: no reassembly, fragments "
             "counted as ip_fragment); at most a sixteenth of the worker's mbufs"},
    {.group = Group::analysis, .name = "frag-bucket-entries", .kind = Kind::power_of_two,
     .field = &Options::frag_bucket_entries, .min = 1, .max = 64,
     .help = "entries per bucket of the reassembly table (its associativity)"},
    {.group = Group::analysis, .name = "frag-timeout", .kind = Kind::seconds,
     .field = &Options::frag_timeout_s, .min = min_duration_s, .max = max_window_s,
     .value_name = "SECONDS",
     .help = "seconds (packet time) a datagram's fragments wait for the rest before they are "
             "dropped and counted"},
    {.group = Group::analysis, .name = "linger-capacity", .kind = Kind::count,
     .field = &Options::linger_capacity, .min = 16, .max = 1 << 24,
     .help = "resets per worker that can wait for their verdict at once (a capture, unless "
             "given: as many as its busiest --linger span holds, up to 262144)"},
    {.group = Group::analysis, .name = "event-ring-size", .kind = Kind::power_of_two,
     .field = &Options::event_ring_size, .min = 64, .max = 1 << 24,
     .help = "events per worker ring to management"},
    {.group = Group::analysis, .name = "storm-threshold", .kind = Kind::count,
     .field = &Options::storm_threshold, .min = 2, .max = 1 << 20,
     .help = "resets by one host within --storm-window that make a RST storm"},
    {.group = Group::analysis, .name = "storm-window", .kind = Kind::seconds,
     .field = &Options::storm_window_s, .min = min_duration_s, .max = max_window_s,
     .value_name = "SECONDS", .help = "seconds of the RST-storm window"},
    {.group = Group::analysis, .name = "storm-max-pending", .kind = Kind::count,
     .field = &Options::storm_max_pending, .min = 1024, .max = 4194304,
     .help = "events waiting in the RST-storm window at most (a capture, unless given: as many "
             "as its busiest span of two windows and a linger holds, up to 262144)"},
    {.group = Group::analysis, .name = "storm-max-hosts", .kind = Kind::count,
     .field = &Options::storm_max_hosts, .min = 1024, .max = 4194304,
     .help = "resetting hosts the RST-storm window tracks at most (a capture, unless given: "
             "grown as --storm-max-pending)"},
    {.group = Group::analysis, .name = "top-hosts", .kind = Kind::count,
     .field = &Options::top_hosts_capacity, .min = 16, .max = 65536,
     .help = "counters of each heavy-hitter sketch behind `top` (resetters, servers, clients)"},
    // 1e6 events: 435 MiB, a stated upper bound an operator can afford on purpose.
    {.group = Group::analysis, .name = "recent-events", .kind = Kind::count,
     .field = &Options::recent_events, .min = 0, .max = 1000000,
     .help = "reset events kept in memory for the control socket's `events` and `top` queries "
             "(456 bytes each); none kept with --control none"},
    // Findings: patterns across resets (docs/findings.md), judged on packet time.
    {.group = Group::analysis, .name = "findings-window", .kind = Kind::seconds,
     .field = &Options::findings_window_s, .min = 1, .max = max_window_s, .value_name = "SECONDS",
     .help = "window of the findings' rates (storms, scans, backscatter)"},
    {.group = Group::analysis, .name = "findings-hold", .kind = Kind::seconds,
     .field = &Options::findings_hold_s, .min = 1, .max = max_timeout_s, .value_name = "SECONDS",
     .help = "a middlebox_timer or injector finding clears after this long without a matching "
             "reset"},
    {.group = Group::analysis, .name = "findings-max-keys", .kind = Kind::count,
     .field = &Options::findings_max_keys, .min = 256, .max = 1 << 18,
     .help = "entries of each finding kind's table (6 tables, 582 bytes an entry on average: "
             "13.6 MiB at 4096)"},
    {.group = Group::analysis, .name = "findings-storm-resets", .kind = Kind::count,
     .field = &Options::findings_storm_resets, .min = 5, .max = 1 << 24,
     .help = "resets of one service (or farm) within a findings window that make a rst_storm"},
    {.group = Group::analysis, .name = "findings-storm-rise", .kind = Kind::count,
     .field = &Options::findings_storm_rise, .min = 1, .max = 1000,
     .help = "a rst_storm also needs this many times the service's usual resets per window"},
    {.group = Group::analysis, .name = "findings-storm-share", .kind = Kind::count,
     .field = &Options::findings_storm_share_pct, .min = 1, .max = 100, .value_name = "PERCENT",
     .help = "a rst_storm also needs this share of the service's connections in the window reset"},
    {.group = Group::analysis, .name = "findings-farm-hosts", .kind = Kind::count,
     .field = &Options::findings_farm_hosts, .min = 2, .max = 65536,
     .help = "distinct servers of one /24 (/64) and port that make a farm-wide rst_storm"},
    {.group = Group::analysis, .name = "findings-scan-ports", .kind = Kind::count,
     .field = &Options::findings_scan_ports, .min = 3, .max = 65536,
     .help = "distinct ports refused to one source within a window: a vertical scan"},
    {.group = Group::analysis, .name = "findings-scan-hosts", .kind = Kind::count,
     .field = &Options::findings_scan_hosts, .min = 3, .max = 1 << 24,
     .help = "distinct hosts refusing one source within a window: a horizontal scan"},
    {.group = Group::analysis, .name = "findings-backscatter-resets", .kind = Kind::count,
     .field = &Options::findings_backscatter_resets, .min = 3, .max = 1 << 24,
     .help = "unsolicited resets or SYN-ACKs toward one /24 (/64) within a window: backscatter"},
    {.group = Group::analysis, .name = "findings-timer-resets", .kind = Kind::count,
     .field = &Options::findings_timer_resets, .min = 3, .max = 64,
     .help = "idle-timeout resets from the path toward one server:port that make a "
             "middlebox_timer"},
    {.group = Group::analysis, .name = "findings-timer-spread", .kind = Kind::seconds,
     .field = &Options::findings_timer_spread_s, .min = min_duration_s, .max = max_window_s,
     .value_name = "SECONDS",
     .help = "a middlebox_timer's idle gaps lie within this much (10th to 90th percentile)"},
    {.group = Group::analysis, .name = "findings-injector-resets", .kind = Kind::count,
     .field = &Options::findings_injector_resets, .min = 2, .max = 1 << 24,
     .help = "injected resets sharing one fingerprint (over 2 servers or more) that make an "
             "injector"},
    {.group = Group::analysis, .name = "signatures", .kind = Kind::text,
     .field = &Options::signatures, .needs = "a path or none", .value_name = "FILE",
     .help = "signature rules (format: conf/signatures.conf); by default signatures.conf beside "
             "the configuration file read, when it exists; none for no signatures"},

    {.group = Group::output, .name = "recorder-dir", .kind = Kind::text,
     .field = &Options::recorder_dir, .value_name = "DIR",
     .help = "flight recorder: write each reset connection's packets to rolling pcapng files "
             "here (created if missing); off when empty"},
    {.group = Group::output, .name = "recorder-packets", .kind = Kind::count,
     .field = &Options::recorder_packets, .min = 0, .max = 16,
     .help = "flight recorder: a reset connection's packets written for it (its latest ones, and "
             "its handshake while the ring holds it); 0: off"},
    {.group = Group::output, .name = "recorder-snap", .kind = Kind::count,
     .field = &Options::recorder_snap, .min = 64, .max = 2048, .unit = "bytes",
     .value_name = "BYTES",
     .help = "flight recorder: bytes kept of each packet, headers first; each takes 32 + "
             "recorder-snap bytes of the ring, rounded up to 64"},
    {.group = Group::output, .name = "recorder-ring", .kind = Kind::count,
     .field = &Options::recorder_ring_mib, .min = 16, .max = 1 << 20, .unit = "MiB",
     .value_name = "MIB",
     .help = "flight recorder: per worker, the ring holding every packet's record (the latest "
             "ring / (32 + recorder-snap) packets); a capture's ring is sized to the capture"},
    {.group = Group::output, .name = "recorder-blocks", .kind = Kind::count,
     .field = &Options::recorder_blocks, .min = 1024, .max = 1 << 20,
     .help = "flight recorder: reset connections per worker whose packets can wait for "
             "management at once (rounded up to a power of two)"},
    {.group = Group::output, .name = "recorder-file-size", .kind = Kind::count,
     .field = &Options::recorder_file_mib, .min = 1, .max = 4096, .unit = "MiB",
     .value_name = "MIB", .help = "flight recorder: a new pcapng file once one reaches this size"},
    {.group = Group::output, .name = "recorder-files", .kind = Kind::count,
     .field = &Options::recorder_files, .min = 2, .max = 100000,
     .help = "flight recorder: files kept in --recorder-dir, the oldest deleted beyond them"},
};
// clang-format on

// 2^k for the large powers of two of plain counts, as people write them; decimal otherwise.
std::string count_text(double value, const char* unit) {
    auto n = static_cast<uint64_t>(value);
    if (!unit && n >= (1u << 20) && (n & (n - 1)) == 0)
        return fmt::format("2^{}", std::countr_zero(n));
    return fmt::format("{}", n);
}

// What a valid value looks like, for --help and for error messages.
std::string range_text(const Setting& s) {
    std::string unit = s.unit ? std::string(" ") + s.unit : "";
    switch (s.kind) {
        case Kind::count:
        case Kind::mebibytes:
            return count_text(s.min, s.unit) + " to " + count_text(s.max, s.unit) + unit;
        case Kind::power_of_two:
            return "a power of two from " + count_text(s.min, s.unit) + " to " +
                   count_text(s.max, s.unit);
        case Kind::seconds:
            return fmt::format("{} to {} seconds", s.min, s.max);
        default:
            return {};
    }
}

std::string default_text(const Setting& s) {
    static const Options defaults;
    return std::visit(
        [](auto member) -> std::string {
            const auto& value = defaults.*member;
            using T = std::decay_t<decltype(value)>;
            if constexpr (std::is_same_v<T, Mode>)
                return value == Mode::monitor ? "monitor" : "inline";
            else if constexpr (std::is_same_v<T, bool>)
                return {};
            else
                return fmt::format("{}", value);
        },
        s.field);
}

po::options_description describe(Group group, const char* caption) {
    po::options_description d(caption);
    for (const Setting& s : settings_table) {
        if (s.group != group) continue;
        std::string help = s.help;
        std::string range = range_text(s);
        if (!range.empty()) help += " (" + range + ")";
        if (s.kind == Kind::flag) {
            d.add_options()(s.name, po::bool_switch(), help.c_str());
            continue;
        }
        // Values stay text here and are converted by apply_setting(): Boost's own conversion
        // takes "-1" as a huge unsigned and puts the raw value into its placeholder messages.
        auto* value = po::value<std::string>()->value_name(s.value_name);
        std::string fallback = default_text(s);
        if (!fallback.empty()) value->default_value(fallback);
        d.add_options()(s.name, value, help.c_str());
    }
    return d;
}

std::string invalid(const Setting& s, const std::string& text) {
    return fmt::format("invalid value '{}' for --{}: expected {}", text, s.name, range_text(s));
}

// Converts and checks one setting given on the command line or in the configuration file;
// returns the error line, or "".
std::string apply_setting(const Setting& s, const po::variable_value& given, Options& o) {
    if (s.kind == Kind::flag) {
        o.*std::get<bool Options::*>(s.field) = given.as<bool>();
        return {};
    }
    const std::string text = unshield(given.as<std::string>());
    switch (s.kind) {
        case Kind::text:
            if (s.needs && text.empty()) return fmt::format("--{} needs {}", s.name, s.needs);
            o.*std::get<std::string Options::*>(s.field) = text;
            return {};
        case Kind::mode:
            if (text == "monitor")
                o.mode = Mode::monitor;
            else if (text == "inline")
                o.mode = Mode::inline_forward;
            else
                return fmt::format("invalid value '{}' for --mode: expected monitor or inline",
                                   text);
            return {};
        case Kind::count:
        case Kind::power_of_two:
        case Kind::mebibytes: {
            uint64_t n = 0;
            if (!option_text::parse_count(text, n) || n < s.min || n > s.max ||
                (s.kind == Kind::power_of_two && (n & (n - 1)) != 0))
                return invalid(s, text);
            if (s.kind == Kind::mebibytes)
                o.*std::get<std::string Options::*>(s.field) = std::to_string(n);
            else
                o.*std::get<uint32_t Options::*>(s.field) = static_cast<uint32_t>(n);
            return {};
        }
        case Kind::seconds: {
            double seconds = 0;
            // NaN fails both comparisons; infinity and 1e30 fail the upper bound.
            if (!option_text::parse_seconds(text, seconds) ||
                !(seconds >= s.min && seconds <= s.max))
                return invalid(s, text);
            o.*std::get<double Options::*>(s.field) = seconds;
            return {};
        }
        case Kind::flag:
            break;
    }
    return {};
}

// Checks between settings and limits of the system, after each setting is valid on its own.
std::string check_combinations(const Options& o) {
    if (o.iface_driver != "af_packet" && o.iface_driver != "pcap")
        return fmt::format("invalid value '{}' for --iface-driver: expected af_packet or pcap",
                           o.iface_driver);
    if (!o.pcap.empty() && !o.iface.empty()) return "--pcap and --iface exclude each other";
    if (!o.pcap_out.empty() && o.mode != Mode::inline_forward)
        return "--pcap-out needs --mode inline";
    // --iface goes to DPDK inside a comma-separated device argument list
    // ("net_af_packet0,iface=NAME"): a comma would end the value and start another argument.
    // Capture paths may hold any character: main hands them to DPDK as links with plain names.
    if (o.iface.find_first_of(",=") != std::string::npos)
        return fmt::format(
            "invalid value '{}' for --iface: ',' and '=' cannot be passed in DPDK device arguments",
            o.iface);
    if (o.iface.size() >= IFNAMSIZ)
        return fmt::format("invalid value '{}' for --iface: interface names have at most {} bytes",
                           o.iface, IFNAMSIZ - 1);
    if (o.control != "none" && o.control.size() >= sizeof(sockaddr_un::sun_path))
        return fmt::format("invalid value '{}' for --control: a socket path has at most {} bytes",
                           o.control, sizeof(sockaddr_un::sun_path) - 1);
    return {};
}

// ---- Configuration file

constexpr size_t config_size_limit = 1 << 20;
constexpr size_t config_read_chunk = 1 << 16;
// Linux's /dev/null: character device 1:3 (Documentation/admin-guide/devices.txt).
constexpr unsigned dev_null_major = 1;
constexpr unsigned dev_null_minor = 3;

const char* file_type_name(mode_t mode) {
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISFIFO(mode)) return "a FIFO";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    if (S_ISSOCK(mode)) return "a socket";
    return "not a regular file";
}

std::string too_large(const std::string& path, const std::string& size) {
    return fmt::format("config file {} is {} bytes, more than the limit of {} bytes (1 MiB)", path,
                       size, config_size_limit);
}

// Reads a configuration file; throws std::runtime_error with the message. Only a regular file
// (or /dev/null, the usual "no configuration") of at most 1 MiB: /dev/zero would be read forever
// and a FIFO or terminal would block. O_NONBLOCK keeps open() itself from waiting for a FIFO's
// writer; fstat() then refuses anything but a regular file before the first read.
std::string read_config_file(const std::string& path) {
    int fd = open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) throw std::runtime_error("cannot read config file " + path);
    struct Closer {
        int fd;
        ~Closer() { close(fd); }
    } closer{fd};
    struct stat st {};
    if (fstat(fd, &st) != 0) throw std::runtime_error("cannot read config file " + path);
    if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(dev_null_major, dev_null_minor)) return {};
    if (!S_ISREG(st.st_mode))
        throw std::runtime_error(fmt::format("config file {} is {}, not a regular file", path,
                                             file_type_name(st.st_mode)));
    if (static_cast<uint64_t>(st.st_size) > config_size_limit)
        throw std::runtime_error(too_large(path, std::to_string(st.st_size)));
    // A regular file may still grow while read, or report size 0 (/proc): stop reading once past
    // the limit.
    std::string text;
    char chunk[config_read_chunk];
    while (text.size() <= config_size_limit) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw std::runtime_error("cannot read config file " + path);
        if (n == 0) break;
        text.append(chunk, static_cast<size_t>(n));
    }
    if (text.size() > config_size_limit)
        throw std::runtime_error(too_large(path, "more than " + std::to_string(config_size_limit)));
    return text;
}

// The configuration text ready for Boost: CRLF line ends accepted, no control character but
// tab, every '%' shielded. Throws with "path:line: ..." otherwise.
std::string prepare_config_text(const std::string& path, const std::string& text) {
    std::string out;
    out.reserve(text.size());
    size_t line_number = 1;
    for (size_t start = 0; start < text.size(); ++line_number) {
        size_t end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        std::string_view line(text.data() + start, end - start);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        for (char c : line) {
            if (option_text::is_control(c) && c != '\t')
                throw std::runtime_error(fmt::format(
                    "{}:{}: control character 0x{:02x} (a configuration file holds printable text)",
                    path, line_number, static_cast<unsigned char>(c)));
        }
        out += shield(line);
        out += '\n';
        start = end + 1;
    }
    return out;
}

// Arguments before the first "--" go to DPDK unchanged; the others come back shielded for Boost.
std::vector<std::string> split_eal_arguments(int argc, const char* const* argv, Options& o) {
    int separator = -1;
    for (int i = 1; i < argc && separator < 0; ++i) {
        if (std::string_view(argv[i]) == "--") separator = i;
    }
    std::vector<std::string> app_args;
    for (int i = 1; i < argc; ++i) {
        if (i < separator)
            o.eal_args.emplace_back(argv[i]);
        else if (i != separator)
            app_args.push_back(shield(argv[i]));
    }
    return app_args;
}

// --config, else the default configuration when it exists, else none ("").
std::string config_to_read(const po::variables_map& vm, const std::string& default_config) {
    if (vm.count("config")) {
        std::string path = unshield(vm["config"].as<std::string>());
        if (path.empty()) throw std::runtime_error("--config needs a path");
        return path;
    }
    std::error_code ec;
    if (!default_config.empty() && std::filesystem::exists(default_config, ec))
        return default_config;
    return {};
}

// Stores the file's settings beneath those already in `vm` (the command line's).
void store_config_file(const std::string& path, const po::options_description& settings,
                       po::variables_map& vm) {
    std::istringstream file(prepare_config_text(path, read_config_file(path)));
    try {
        po::store(po::parse_config_file(file, settings, false), vm);
    } catch (const po::error& e) {
        throw std::runtime_error(path + ": " + e.what());
    }
}

void apply_settings(const po::variables_map& vm, const std::set<std::string>& on_command_line,
                    const std::string& config_path, Options& o) {
    for (const Setting& s : settings_table) {
        const po::variable_value& given = vm[s.name];
        if (given.empty() || given.defaulted()) continue;
        std::string problem = apply_setting(s, given, o);
        if (problem.empty()) {
            o.given.emplace_back(s.name);
            continue;
        }
        // A value that is not from the command line came from the configuration file.
        if (!on_command_line.count(s.name)) problem = config_path + ": " + problem;
        throw std::runtime_error(problem);
    }
    std::string problem = check_combinations(o);
    if (!problem.empty()) throw std::runtime_error(problem);
}

constexpr const char* usage =
    "usage: rstscope [EAL options --] [options]\n"
    "Finds TCP resets and explains who reset which connection, when and why.\n"
    "Shortcuts --pcap/--iface set up DPDK without EAL options; for a NIC give EAL\n"
    "options (e.g. -l 0-2 -a 0000:03:00.0) before --. Every value must lie in\n"
    "the range shown (bounds included); durations are seconds.\n\n";

// --list-options: the program, its usage, files and every visible option by group; a setting
// with fixed values (--mode) lists them as "choices".
std::string options_list_json(const po::options_description& generic,
                              const std::string& default_config) {
    nlohmann::json groups = nlohmann::json::array();
    groups.push_back(option_list::group("General", generic));
    groups.push_back(option_list::group("Input", describe(Group::input, "Input")));
    groups.push_back(option_list::group("Output", describe(Group::output, "Output")));
    groups.push_back(option_list::group("Analysis", describe(Group::analysis, "Analysis")));
    for (auto& group : groups) {
        for (auto& option : group["options"]) {
            for (const Setting& s : settings_table) {
                if (s.kind == Kind::mode && option["name"] == s.name)
                    option["choices"] = {"monitor", "inline"};
            }
        }
    }
    nlohmann::json out = {{"program", "rstscope"},
                          {"version", rstscope_version},
                          {"usage", usage},
                          {"config", default_config},
                          {"control_socket", default_control_socket},
                          {"groups", std::move(groups)}};
    return out.dump(1);
}

}  // namespace

ParseOutcome parse_options(int argc, const char* const* argv, const std::string& default_config) {
    ParseOutcome out;
    Options& o = out.options;
    po::options_description generic("General");
    const std::string config_help =
        "configuration file (INI, at most 1 MiB; command line wins)" +
        (default_config.empty() ? std::string()
                                : "; without it " + default_config + " is read when it exists");
    generic.add_options()("help,h", "show this help and exit")("version",
                                                               "show the version and exit")(
        "config", po::value<std::string>()->value_name("FILE"), config_help.c_str())(
        "check-config",
        "check the configuration file and the command line, print the effective configuration "
        "as one line of JSON and exit (0; a bad value: its one-line error, exit 2)");
    // For tools, not people: the vocabularies and the event schema as JSON (vocabulary.h), and
    // the options below as JSON (option_list.h: the man page and bash completion are made
    // from it).
    po::options_description hidden;
    hidden.add_options()("list-vocabulary", "")("list-options", "");
    po::options_description settings;
    settings.add(describe(Group::input, "Input"))
        .add(describe(Group::output, "Output"))
        .add(describe(Group::analysis, "Analysis"));
    po::options_description visible;
    visible.add(generic).add(settings);
    po::options_description all;
    all.add(visible).add(hidden);
    try {
        std::string problem = option_text::check_arguments({argv + 1, argv + argc});
        if (!problem.empty()) throw std::runtime_error(problem);
        std::vector<std::string> app_args = split_eal_arguments(argc, argv, o);
        po::parsed_options parsed = po::command_line_parser(app_args).options(all).run();
        // No positional arguments: a stray word (a file name without --pcap, a value after a
        // switch) is an error naming it, not silently ignored.
        std::set<std::string> on_command_line;
        for (const po::option& option : parsed.options) {
            if (option.position_key >= 0 && !option.value.empty())
                throw std::runtime_error("unexpected argument '" + option.value.front() +
                                         "' (options take the form --name value)");
            on_command_line.insert(option.string_key);
        }
        po::variables_map vm;
        po::store(parsed, vm);
        if (vm.count("help")) {
            std::ostringstream text;
            text << usage << visible;
            out.status = ParseOutcome::Status::exit_ok;
            out.message = text.str();
            return out;
        }
        if (vm.count("version")) {
            out.status = ParseOutcome::Status::exit_ok;
            out.message = fmt::format("rstscope {}\n", rstscope_version);
            return out;
        }
        if (vm.count("list-vocabulary")) {
            out.status = ParseOutcome::Status::exit_ok;
            out.message = vocabulary_json() + "\n";
            return out;
        }
        if (vm.count("list-options")) {
            out.status = ParseOutcome::Status::exit_ok;
            out.message = options_list_json(generic, default_config) + "\n";
            return out;
        }
        o.config_file = config_to_read(vm, default_config);
        if (!o.config_file.empty()) store_config_file(o.config_file, settings, vm);
        po::notify(vm);
        apply_settings(vm, on_command_line, o.config_file, o);
        if (vm.count("check-config")) {
            out.status = ParseOutcome::Status::exit_ok;
            out.message = options_json(o) + "\n";
            return out;
        }
    } catch (const std::exception& e) {
        out.status = ParseOutcome::Status::error;
        // Every '%' of the user's comes back; Boost's own text has none.
        out.message = unshield(e.what());
    }
    return out;
}

std::string options_json(const Options& o) {
    nlohmann::json out = nlohmann::json::object();
    for (const Setting& s : settings_table) {
        std::visit(
            [&](auto member) {
                const auto& value = o.*member;
                using T = std::decay_t<decltype(value)>;
                if constexpr (std::is_same_v<T, Mode>)
                    out[s.name] = value == Mode::monitor ? "monitor" : "inline";
                else if constexpr (std::is_same_v<T, std::string>)
                    out[s.name] = s.kind == Kind::mebibytes ? nlohmann::json(std::stoull(value))
                                                            : nlohmann::json(value);
                else
                    out[s.name] = value;
            },
            s.field);
    }
    out["config"] = o.config_file;
    out["eal_args"] = o.eal_args;
    // Paths may hold any byte: invalid UTF-8 is replaced, never thrown on.
    return out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace rstscope
