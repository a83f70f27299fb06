#include "rstscope/config/options.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string_view>

#include <fmt/format.h>
#include <boost/program_options.hpp>

namespace po = boost::program_options;

namespace rstscope {
namespace {

struct RawOptions {
    std::string mode = "monitor";
};

po::options_description input_options(Options& o, RawOptions& raw) {
    po::options_description d("Input");
    // One option per line reads better than clang-format's wrapping of the chained call.
    // clang-format off
    d.add_options()
        ("pcap", po::value(&o.pcap), "read a capture file (pcap or pcapng) through the net_pcap vdev")
        ("iface", po::value(&o.iface), "capture live from a network interface (e.g. lo)")
        ("iface-driver", po::value(&o.iface_driver)->default_value(o.iface_driver),
         "vdev for --iface: af_packet or pcap")
        ("mode", po::value(&raw.mode)->default_value(raw.mode),
         "monitor (receive only) or inline (forward every packet between port pairs)")
        ("pcap-out", po::value(&o.pcap_out), "inline mode with --pcap: write forwarded packets here")
        ("workers", po::value(&o.workers)->default_value(o.workers), "worker lcores (1-64)")
        ("burst", po::value(&o.burst)->default_value(o.burst), "receive burst size (1-64)")
        ("mbufs", po::value(&o.mbufs)->default_value(o.mbufs), "mbufs per worker pool")
        ("memory", po::value(&o.eal_memory_mb)->default_value(o.eal_memory_mb),
         "DPDK memory in MiB for the --pcap/--iface shortcuts (-m)");
    // clang-format on
    return d;
}

po::options_description output_options(Options& o) {
    po::options_description d("Output");
    // One option per line reads better than clang-format's wrapping of the chained call.
    // clang-format off
    d.add_options()
        ("log", po::value(&o.log)->default_value(o.log), "event log, JSON lines; - for stdout")
        ("control", po::value(&o.control)->default_value(o.control),
         "control socket path (Unix domain); none to disable")
        ("summary-json", po::value(&o.summary_json), "write the final statistics as JSON here")
        ("quiet", po::bool_switch(&o.quiet), "no human summary at the end");
    // clang-format on
    return d;
}

po::options_description analysis_options(Options& o) {
    po::options_description d("Analysis");
    // One option per line reads better than clang-format's wrapping of the chained call.
    // clang-format off
    d.add_options()
        ("linger", po::value(&o.linger_s)->default_value(o.linger_s),
         "seconds (packet time) a reset waits for more evidence before its verdict")
        ("idle-threshold", po::value(&o.idle_threshold_s)->default_value(o.idle_threshold_s),
         "silence in seconds before a RST that points to an idle timeout")
        ("established-timeout", po::value(&o.established_timeout_s)->default_value(o.established_timeout_s),
         "seconds an idle established flow is remembered")
        ("half-open-timeout", po::value(&o.half_open_timeout_s)->default_value(o.half_open_timeout_s),
         "seconds an idle half-open flow is remembered")
        ("closed-timeout", po::value(&o.closed_timeout_s)->default_value(o.closed_timeout_s),
         "seconds a closed or reset flow is remembered")
        ("flow-table-size", po::value(&o.flow_table_size)->default_value(o.flow_table_size),
         "flow entries per worker (rounded up to a power of two)")
        ("linger-capacity", po::value(&o.linger_capacity)->default_value(o.linger_capacity),
         "resets per worker that can wait for their verdict at once")
        ("event-ring-size", po::value(&o.event_ring_size)->default_value(o.event_ring_size),
         "events per worker ring to management (power of two)")
        ("storm-threshold", po::value(&o.storm_threshold)->default_value(o.storm_threshold),
         "resets by one host within --storm-window that make a RST storm")
        ("storm-window", po::value(&o.storm_window_s)->default_value(o.storm_window_s),
         "seconds of the RST-storm window");
    // clang-format on
    return d;
}

std::string check(const Options& o) {
    auto bad = [](std::string_view name, auto value, std::string_view expected) {
        return fmt::format("invalid value '{}' for --{}: expected {}", value, name, expected);
    };
    if (o.workers < 1 || o.workers > 64) return bad("workers", o.workers, "1 to 64");
    if (o.burst < 1 || o.burst > 64) return bad("burst", o.burst, "1 to 64");
    if (o.mbufs < 512) return bad("mbufs", o.mbufs, "at least 512");
    if (!(o.linger_s >= 0 && o.linger_s <= 3600))
        return bad("linger", o.linger_s, "0 to 3600 seconds");
    if (!(o.idle_threshold_s > 0))
        return bad("idle-threshold", o.idle_threshold_s, "a positive number of seconds");
    for (auto [name, value] : {std::pair{"established-timeout", o.established_timeout_s},
                               std::pair{"half-open-timeout", o.half_open_timeout_s},
                               std::pair{"closed-timeout", o.closed_timeout_s}}) {
        if (!(value > 0 && value < 1e9)) return bad(name, value, "a positive number of seconds");
    }
    if (o.flow_table_size < 64 || o.flow_table_size > (1u << 30))
        return bad("flow-table-size", o.flow_table_size, "64 to 2^30");
    if (o.linger_capacity < 16 || o.linger_capacity > (1u << 24))
        return bad("linger-capacity", o.linger_capacity, "16 to 2^24");
    if (o.event_ring_size < 64 || o.event_ring_size > (1u << 24) ||
        (o.event_ring_size & (o.event_ring_size - 1)) != 0)
        return bad("event-ring-size", o.event_ring_size, "a power of two from 64 to 2^24");
    if (o.storm_threshold < 2) return bad("storm-threshold", o.storm_threshold, "at least 2");
    if (!(o.storm_window_s > 0))
        return bad("storm-window", o.storm_window_s, "a positive number of seconds");
    if (o.iface_driver != "af_packet" && o.iface_driver != "pcap")
        return bad("iface-driver", o.iface_driver, "af_packet or pcap");
    if (!o.pcap.empty() && !o.iface.empty()) return "--pcap and --iface exclude each other";
    if (!o.pcap_out.empty() && o.mode != Mode::inline_forward)
        return "--pcap-out needs --mode inline";
    if (o.log.empty()) return "--log needs a path or -";
    return {};
}

}  // namespace

ParseOutcome parse_options(int argc, const char* const* argv, const std::string& default_config) {
    ParseOutcome out;
    Options& o = out.options;
    std::vector<std::string> app_args;
    int separator = -1;
    for (int i = 1; i < argc; ++i) {
        if (std::string_view(argv[i]) == "--") {
            separator = i;
            break;
        }
    }
    for (int i = 1; i < argc; ++i) {
        if (separator >= 0 && i < separator)
            o.eal_args.emplace_back(argv[i]);
        else if (i != separator)
            app_args.emplace_back(argv[i]);
    }

    RawOptions raw;
    std::string config_path;
    po::options_description generic("General");
    generic.add_options()("help,h", "show this help and exit")(
        "config", po::value(&config_path), "configuration file (INI; command line wins)");
    po::options_description settings;
    settings.add(input_options(o, raw)).add(output_options(o)).add(analysis_options(o));
    po::options_description all;
    all.add(generic).add(settings);

    try {
        po::variables_map vm;
        po::parsed_options parsed = po::command_line_parser(app_args).options(all).run();
        // No positional arguments: a stray word (a file name without --pcap, a value after a
        // switch) is an error naming it, not silently ignored.
        for (const po::option& option : parsed.options) {
            if (option.position_key >= 0 && !option.value.empty())
                throw std::runtime_error("unexpected argument '" + option.value.front() +
                                         "' (options take the form --name value)");
        }
        po::store(parsed, vm);
        if (vm.count("help")) {
            std::ostringstream text;
            text << "usage: rstscope [EAL options --] [options]\n"
                    "Finds TCP resets and explains who reset which connection, when and why.\n"
                    "Shortcuts --pcap/--iface set up DPDK without EAL options; for a NIC give EAL\n"
                    "options (e.g. -l 0-2 -a 0000:03:00.0) before --.\n\n"
                 << all;
            out.status = ParseOutcome::Status::exit_ok;
            out.message = text.str();
            return out;
        }
        if (vm.count("config")) {
            config_path = vm["config"].as<std::string>();
        } else if (!default_config.empty() && std::filesystem::exists(default_config)) {
            config_path = default_config;
        }
        if (!config_path.empty()) {
            std::ifstream file(config_path);
            if (!file) throw std::runtime_error("cannot read config file " + config_path);
            try {
                po::store(po::parse_config_file(file, settings, false), vm);
            } catch (const po::error& e) {
                throw std::runtime_error(config_path + ": " + e.what());
            }
        }
        po::notify(vm);
        o.config_file = config_path;
        if (raw.mode == "monitor")
            o.mode = Mode::monitor;
        else if (raw.mode == "inline")
            o.mode = Mode::inline_forward;
        else
            throw std::runtime_error("invalid value '" + raw.mode +
                                     "' for --mode: expected monitor or inline");
        std::string problem = check(o);
        if (!problem.empty()) throw std::runtime_error(problem);
    } catch (const std::exception& e) {
        out.status = ParseOutcome::Status::error;
        out.message = e.what();
    }
    return out;
}

}  // namespace rstscope
