// Command line and configuration file (INI, Boost.Program_options): one description per
// subsystem, every option documented in --help. Setup only: may allocate and throw internally,
// reports problems as a one-line message.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace rstscope {

enum class Mode { monitor, inline_forward };

struct Options {
    // Input
    std::vector<std::string> eal_args;  // given before "--": passed to DPDK unchanged
    std::string pcap;                   // offline capture through net_pcap
    std::string pcap_out;               // inline mode with --pcap: forwarded packets go here
    std::string iface;                  // live interface through net_pcap or net_af_packet
    std::string iface_driver = "af_packet";
    Mode mode = Mode::monitor;
    unsigned workers = 1;
    unsigned burst = 32;
    unsigned mbufs = 8191;
    std::string eal_memory_mb = "512";
    // Output
    std::string log = "-";
    std::string control = "/run/rstscope/control.sock";  // "none" disables the socket
    std::string summary_json;
    bool quiet = false;
    // Analysis
    double linger_s = 3.0;
    double idle_threshold_s = 180.0;
    double established_timeout_s = 7200.0;
    double half_open_timeout_s = 60.0;
    double closed_timeout_s = 60.0;
    uint32_t flow_table_size = 1u << 20;
    uint32_t linger_capacity = 65536;
    uint32_t event_ring_size = 16384;
    uint32_t storm_threshold = 20;
    double storm_window_s = 1.0;
    std::string config_file;
};

struct ParseOutcome {
    enum class Status { run, exit_ok, error } status = Status::run;
    std::string message;  // help text (exit_ok) or the error line (error)
    Options options;
};

// Splits "EAL args -- app args" and parses the application part with the config file beneath
// the command line. `default_config` is read when present and no --config is given.
ParseOutcome parse_options(int argc, const char* const* argv,
                           const std::string& default_config = "conf/rstscope.conf");

}  // namespace rstscope
