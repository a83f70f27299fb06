// Unit tests for parse_options(): defaults, the EAL split, the configuration file beneath the
// command line, and a one-line error naming the option for every invalid value.

#include <gtest/gtest.h>

#include <unistd.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <string>
#include <vector>

#include "rstscope/config/options.h"

namespace rstscope {
namespace {

using Status = ParseOutcome::Status;

}  // namespace

// Names the status in failure messages (found by argument-dependent lookup, hence not in the
// unnamed namespace).
inline void PrintTo(ParseOutcome::Status s, std::ostream* os) {
    *os << (s == ParseOutcome::Status::run       ? "run"
            : s == ParseOutcome::Status::exit_ok ? "exit_ok"
                                                 : "error");
}

namespace {

ParseOutcome parse(const std::vector<std::string>& args, const std::string& default_config = "") {
    std::vector<const char*> argv{"rstscope"};
    for (const std::string& a : args)
        argv.push_back(a.c_str());
    return parse_options(static_cast<int>(argv.size()), argv.data(), default_config);
}

// A file in the temporary directory, removed with the object.
class TempFile {
  public:
    explicit TempFile(const std::string& text) {
        static int counter = 0;
        path_ = (std::filesystem::temp_directory_path() /
                 ("rstscope_test_options_" + std::to_string(getpid()) + "_" +
                  std::to_string(counter++) + ".conf"))
                    .string();
        std::ofstream(path_) << text;
    }
    ~TempFile() { std::filesystem::remove(path_); }
    TempFile(const TempFile&) = delete;
    TempFile& operator=(const TempFile&) = delete;
    const std::string& path() const { return path_; }

  private:
    std::string path_;
};

TEST(Options, Defaults) {
    ParseOutcome out = parse({});
    ASSERT_EQ(out.status, Status::run) << out.message;
    const Options& o = out.options;
    EXPECT_TRUE(o.eal_args.empty());
    EXPECT_EQ(o.pcap, "");
    EXPECT_EQ(o.pcap_out, "");
    EXPECT_EQ(o.iface, "");
    EXPECT_EQ(o.iface_driver, "af_packet");
    EXPECT_EQ(o.mode, Mode::monitor);
    EXPECT_EQ(o.workers, 1u);
    EXPECT_EQ(o.burst, 32u);
    EXPECT_EQ(o.mbufs, 8191u);
    EXPECT_EQ(o.eal_memory_mb, "512");
    EXPECT_EQ(o.log, "-");
    EXPECT_EQ(o.control, "/run/rstscope/control.sock");
    EXPECT_EQ(o.summary_json, "");
    EXPECT_FALSE(o.quiet);
    EXPECT_EQ(o.linger_s, 3.0);
    EXPECT_EQ(o.idle_threshold_s, 180.0);
    EXPECT_EQ(o.established_timeout_s, 7200.0);
    EXPECT_EQ(o.half_open_timeout_s, 60.0);
    EXPECT_EQ(o.closed_timeout_s, 60.0);
    EXPECT_EQ(o.flow_table_size, 1u << 20);
    EXPECT_EQ(o.linger_capacity, 65536u);
    EXPECT_EQ(o.event_ring_size, 16384u);
    EXPECT_EQ(o.storm_threshold, 20u);
    EXPECT_EQ(o.storm_window_s, 1.0);
    EXPECT_EQ(o.config_file, "");
}

TEST(Options, EveryOptionOnTheCommandLine) {
    ParseOutcome out = parse({"--pcap",
                              "in.pcap",
                              "--mode",
                              "inline",
                              "--pcap-out",
                              "out.pcap",
                              "--workers",
                              "4",
                              "--burst",
                              "16",
                              "--mbufs",
                              "4095",
                              "--memory",
                              "256",
                              "--log",
                              "events.json",
                              "--control",
                              "none",
                              "--summary-json",
                              "s.json",
                              "--quiet",
                              "--linger",
                              "0.5",
                              "--idle-threshold",
                              "30",
                              "--established-timeout",
                              "600",
                              "--half-open-timeout",
                              "20",
                              "--closed-timeout",
                              "10",
                              "--flow-table-size",
                              "4096",
                              "--linger-capacity",
                              "64",
                              "--event-ring-size",
                              "1024",
                              "--storm-threshold",
                              "5",
                              "--storm-window",
                              "2.5",
                              "--iface-driver",
                              "pcap"});
    ASSERT_EQ(out.status, Status::run) << out.message;
    const Options& o = out.options;
    EXPECT_EQ(o.pcap, "in.pcap");
    EXPECT_EQ(o.mode, Mode::inline_forward);
    EXPECT_EQ(o.pcap_out, "out.pcap");
    EXPECT_EQ(o.workers, 4u);
    EXPECT_EQ(o.burst, 16u);
    EXPECT_EQ(o.mbufs, 4095u);
    EXPECT_EQ(o.eal_memory_mb, "256");
    EXPECT_EQ(o.log, "events.json");
    EXPECT_EQ(o.control, "none");
    EXPECT_EQ(o.summary_json, "s.json");
    EXPECT_TRUE(o.quiet);
    EXPECT_EQ(o.linger_s, 0.5);
    EXPECT_EQ(o.idle_threshold_s, 30.0);
    EXPECT_EQ(o.established_timeout_s, 600.0);
    EXPECT_EQ(o.half_open_timeout_s, 20.0);
    EXPECT_EQ(o.closed_timeout_s, 10.0);
    EXPECT_EQ(o.flow_table_size, 4096u);
    EXPECT_EQ(o.linger_capacity, 64u);
    EXPECT_EQ(o.event_ring_size, 1024u);
    EXPECT_EQ(o.storm_threshold, 5u);
    EXPECT_EQ(o.storm_window_s, 2.5);
    EXPECT_EQ(o.iface_driver, "pcap");
}

TEST(Options, EalArgumentsBeforeTheSeparator) {
    ParseOutcome out = parse(
        {"-l", "0-2", "--no-huge", "-a", "0000:03:00.0", "--", "--workers", "2", "--linger=1"});
    ASSERT_EQ(out.status, Status::run) << out.message;
    EXPECT_EQ(out.options.eal_args,
              (std::vector<std::string>{"-l", "0-2", "--no-huge", "-a", "0000:03:00.0"}));
    EXPECT_EQ(out.options.workers, 2u);
    EXPECT_EQ(out.options.linger_s, 1.0);

    // Only the first "--" separates; without one, everything is the application's.
    ParseOutcome none = parse({"--workers", "3"});
    ASSERT_EQ(none.status, Status::run) << none.message;
    EXPECT_TRUE(none.options.eal_args.empty());
    EXPECT_EQ(none.options.workers, 3u);

    ParseOutcome only_eal = parse({"--no-huge", "--"});
    ASSERT_EQ(only_eal.status, Status::run) << only_eal.message;
    EXPECT_EQ(only_eal.options.eal_args, (std::vector<std::string>{"--no-huge"}));

    // An EAL option given without the separator is not silently accepted.
    ParseOutcome missing = parse({"-l", "0-2"});
    EXPECT_EQ(missing.status, Status::error);
}

TEST(Options, ConfigFileBeneathTheCommandLine) {
    TempFile config(
        "# rstscope test configuration\n"
        "workers = 4\n"
        "linger = 1.5\n"
        "log = /var/log/rstscope/events.json\n"
        "mode = inline\n"
        "storm-threshold = 7\n");
    ParseOutcome from_file = parse({"--config", config.path()});
    ASSERT_EQ(from_file.status, Status::run) << from_file.message;
    EXPECT_EQ(from_file.options.workers, 4u);
    EXPECT_EQ(from_file.options.linger_s, 1.5);
    EXPECT_EQ(from_file.options.log, "/var/log/rstscope/events.json");
    EXPECT_EQ(from_file.options.mode, Mode::inline_forward);
    EXPECT_EQ(from_file.options.storm_threshold, 7u);
    EXPECT_EQ(from_file.options.burst, 32u);  // not in the file: default
    EXPECT_EQ(from_file.options.config_file, config.path());

    ParseOutcome overridden =
        parse({"--workers", "8", "--config", config.path(), "--mode", "monitor"});
    ASSERT_EQ(overridden.status, Status::run) << overridden.message;
    EXPECT_EQ(overridden.options.workers, 8u);
    EXPECT_EQ(overridden.options.mode, Mode::monitor);
    EXPECT_EQ(overridden.options.linger_s, 1.5);
}

TEST(Options, DefaultConfigIsReadWhenPresent) {
    TempFile config("workers = 5\n");
    ParseOutcome out = parse({}, config.path());
    ASSERT_EQ(out.status, Status::run) << out.message;
    EXPECT_EQ(out.options.workers, 5u);
    EXPECT_EQ(out.options.config_file, config.path());

    // An explicit --config replaces the default one.
    TempFile other("workers = 6\n");
    ParseOutcome explicit_config = parse({"--config", other.path()}, config.path());
    ASSERT_EQ(explicit_config.status, Status::run) << explicit_config.message;
    EXPECT_EQ(explicit_config.options.workers, 6u);

    // A missing default configuration is no error.
    ParseOutcome absent = parse({}, "/nonexistent/rstscope.conf");
    ASSERT_EQ(absent.status, Status::run) << absent.message;
    EXPECT_EQ(absent.options.config_file, "");
}

// The message is one line and names the option (and the value, when there is one).
void expect_error(const std::vector<std::string>& args, const std::string& expected) {
    ParseOutcome out = parse(args);
    std::string shown;
    for (const std::string& a : args)
        shown += a + " ";
    EXPECT_EQ(out.status, Status::error) << shown;
    EXPECT_EQ(out.message, expected) << shown;
    EXPECT_EQ(out.message.find('\n'), std::string::npos) << shown;
}

void expect_error_naming(const std::vector<std::string>& args, const std::string& option) {
    ParseOutcome out = parse(args);
    std::string shown;
    for (const std::string& a : args)
        shown += a + " ";
    EXPECT_EQ(out.status, Status::error) << shown;
    EXPECT_NE(out.message.find(option), std::string::npos) << shown << "-> " << out.message;
    EXPECT_EQ(out.message.find('\n'), std::string::npos) << shown << "-> " << out.message;
}

TEST(Options, InvalidValuesNameTheOption) {
    expect_error({"--workers", "0"}, "invalid value '0' for --workers: expected 1 to 64");
    expect_error({"--workers", "65"}, "invalid value '65' for --workers: expected 1 to 64");
    expect_error({"--burst", "0"}, "invalid value '0' for --burst: expected 1 to 64");
    expect_error({"--mbufs", "511"}, "invalid value '511' for --mbufs: expected at least 512");
    expect_error({"--linger=-1"}, "invalid value '-1' for --linger: expected 0 to 3600 seconds");
    expect_error({"--linger", "3601"},
                 "invalid value '3601' for --linger: expected 0 to 3600 seconds");
    expect_error({"--idle-threshold", "0"},
                 "invalid value '0' for --idle-threshold: expected a positive number of seconds");
    expect_error({"--half-open-timeout", "0"},
                 "invalid value '0' for --half-open-timeout: expected a positive number of "
                 "seconds");
    expect_error({"--flow-table-size", "63"},
                 "invalid value '63' for --flow-table-size: expected 64 to 2^30");
    expect_error({"--linger-capacity", "15"},
                 "invalid value '15' for --linger-capacity: expected 16 to 2^24");
    expect_error({"--event-ring-size", "1000"},
                 "invalid value '1000' for --event-ring-size: expected a power of two from 64 to "
                 "2^24");
    expect_error({"--event-ring-size", "32"},
                 "invalid value '32' for --event-ring-size: expected a power of two from 64 to "
                 "2^24");
    expect_error({"--storm-threshold", "1"},
                 "invalid value '1' for --storm-threshold: expected at least 2");
    expect_error({"--storm-window", "0"},
                 "invalid value '0' for --storm-window: expected a positive number of seconds");
    expect_error({"--iface-driver", "xdp"},
                 "invalid value 'xdp' for --iface-driver: expected af_packet or pcap");
    expect_error({"--mode", "bogus"},
                 "invalid value 'bogus' for --mode: expected monitor or inline");
    expect_error({"--log", ""}, "--log needs a path or -");
}

TEST(Options, UnparsableValuesNameTheOption) {
    expect_error_naming({"--workers", "abc"}, "workers");
    expect_error_naming({"--workers", "-3"}, "workers");
    expect_error_naming({"--linger", "-1"}, "linger");
    expect_error_naming({"--linger", "soon"}, "linger");
    expect_error_naming({"--linger=nan"}, "linger");
    expect_error_naming({"--flow-table-size", "4294967296"}, "flow-table-size");
    expect_error_naming({"--workers"}, "workers");
}

TEST(Options, ConflictingOptions) {
    expect_error({"--pcap", "a.pcap", "--iface", "lo"}, "--pcap and --iface exclude each other");
    expect_error({"--pcap", "a.pcap", "--pcap-out", "b.pcap"}, "--pcap-out needs --mode inline");
}

TEST(Options, UnknownOptionsAndMissingFiles) {
    expect_error_naming({"--bogus"}, "--bogus");
    expect_error({"--config", "/nonexistent/rstscope.conf"},
                 "cannot read config file /nonexistent/rstscope.conf");

    TempFile unknown_key("workers = 2\nbogus-key = 1\n");
    ParseOutcome out = parse({"--config", unknown_key.path()});
    EXPECT_EQ(out.status, Status::error);
    EXPECT_EQ(out.message.rfind(unknown_key.path() + ": ", 0), 0u) << out.message;
    EXPECT_NE(out.message.find("bogus-key"), std::string::npos) << out.message;

    TempFile bad_value("workers = 99\n");
    out = parse({"--config", bad_value.path()});
    EXPECT_EQ(out.status, Status::error);
    EXPECT_EQ(out.message, "invalid value '99' for --workers: expected 1 to 64");
}

// True when `option` appears as a whole name: "--pcap" is not found in "--pcap-out".
bool mentions(const std::string& text, const std::string& option) {
    for (size_t at = text.find(option); at != std::string::npos; at = text.find(option, at + 1)) {
        size_t end = at + option.size();
        if (end == text.size() || !(std::isalnum(static_cast<unsigned char>(text[end])) ||
                                    text[end] == '-' || text[end] == '_'))
            return true;
    }
    return false;
}

// A word that is no option (a capture file given without --pcap, a value after a switch) must
// not be dropped silently: rstscope would then run on other input than the user asked for.
TEST(Options, StrayArgumentsAreRejected) {
    expect_error_naming({"capture.pcap"}, "capture.pcap");
    expect_error_naming({"--pcap", "a.pcap", "b.pcap"}, "b.pcap");
    expect_error_naming({"--quiet", "yes"}, "yes");
}

TEST(Options, HelpMentionsEveryOption) {
    ParseOutcome out = parse({"--help"});
    ASSERT_EQ(out.status, Status::exit_ok);
    EXPECT_EQ(out.message.rfind("usage: rstscope [EAL options --] [options]\n", 0), 0u);
    for (const char* name : {"--help",
                             "--config",
                             "--pcap",
                             "--iface",
                             "--iface-driver",
                             "--mode",
                             "--pcap-out",
                             "--workers",
                             "--burst",
                             "--mbufs",
                             "--memory",
                             "--log",
                             "--control",
                             "--summary-json",
                             "--quiet",
                             "--linger",
                             "--idle-threshold",
                             "--established-timeout",
                             "--half-open-timeout",
                             "--closed-timeout",
                             "--flow-table-size",
                             "--linger-capacity",
                             "--event-ring-size",
                             "--storm-threshold",
                             "--storm-window"}) {
        EXPECT_TRUE(mentions(out.message, name)) << name;
    }
    EXPECT_EQ(parse({"-h"}).status, Status::exit_ok);
    // Help wins over errors elsewhere on the line.
    EXPECT_EQ(parse({"--workers", "0", "--help"}).status, Status::exit_ok);
}

}  // namespace
}  // namespace rstscope
