// SPDX-License-Identifier: BSD-3-Clause
// Unit tests for parse_options(): defaults, the EAL split, the configuration file beneath the
// command line, and a one-line error naming the option for every invalid value.

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <ostream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "rstscope/analysis/reset_event.h"
#include "rstscope/config/ctl_options.h"
#include "rstscope/config/duration.h"
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
    EXPECT_EQ(o.iface_ring_frames, 8192u);
    EXPECT_EQ(o.mode, Mode::monitor);
    EXPECT_EQ(o.workers, 1u);
    EXPECT_EQ(o.burst, 32u);
    EXPECT_EQ(o.mbufs, 8191u);
    EXPECT_EQ(o.eal_memory_mb, "512");
    EXPECT_EQ(o.log, "-");
    EXPECT_EQ(o.control, "/run/rstscope/control.sock");
    EXPECT_EQ(o.summary_json, "");
    EXPECT_FALSE(o.quiet);
    EXPECT_FALSE(o.vlan_in_key);  // Zeek's key: VLANs do not separate connections
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
                              "--vlan-in-key",
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
                              "pcap",
                              "--iface-ring-frames",
                              "1024"});
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
    EXPECT_TRUE(o.vlan_in_key);
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
    EXPECT_EQ(o.iface_ring_frames, 1024u);
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
    expect_error({"--mbufs", "511"}, "invalid value '511' for --mbufs: expected 512 to 2^24");
    expect_error({"--linger=-1"}, "invalid value '-1' for --linger: expected 0 to 3600 seconds");
    expect_error({"--linger", "3601"},
                 "invalid value '3601' for --linger: expected 0 to 3600 seconds");
    expect_error({"--idle-threshold", "0"},
                 "invalid value '0' for --idle-threshold: expected 0.001 to 10000000 seconds");
    expect_error({"--half-open-timeout", "0"},
                 "invalid value '0' for --half-open-timeout: expected 0.001 to 10000000 seconds");
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
                 "invalid value '1' for --storm-threshold: expected 2 to 2^20");
    expect_error({"--storm-window", "0"},
                 "invalid value '0' for --storm-window: expected 0.001 to 3600 seconds");
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

    // A bad value from the file names the file; the command line's value wins over it.
    TempFile bad_value("workers = 99\n");
    out = parse({"--config", bad_value.path()});
    EXPECT_EQ(out.status, Status::error);
    EXPECT_EQ(out.message,
              bad_value.path() + ": invalid value '99' for --workers: expected 1 to 64");
    EXPECT_EQ(parse({"--config", bad_value.path(), "--workers", "2"}).status, Status::run);
    expect_error({"--workers", "0", "--config", bad_value.path()},
                 "invalid value '0' for --workers: expected 1 to 64");
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

// --recent-events states the memory each kept event costs: the event's real size.
TEST(Options, HelpStatesTheRealSizeOfAKeptEvent) {
    ParseOutcome out = parse({"--help"});
    ASSERT_EQ(out.status, Status::exit_ok);
    std::string each = "(" + std::to_string(sizeof(ResetEvent)) + " bytes each)";
    EXPECT_NE(out.message.find(each), std::string::npos) << each;
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
                             "--zeek-close-delay",
                             "--zeek-attempt-delay",
                             "--zeek-handshake-inactivity",
                             "--zeek-inactivity",
                             "--zeek-long-inactivity",
                             "--vlan-in-key",
                             "--flow-table-size",
                             "--linger-capacity",
                             "--event-ring-size",
                             "--storm-threshold",
                             "--storm-window",
                             "--storm-max-pending",
                             "--storm-max-hosts",
                             "--top-hosts",
                             "--shutdown-timeout",
                             "--log-buffer",
                             "--control-idle-timeout",
                             "--control-max-clients",
                             "--export",
                             "--export-ring",
                             "--export-batch",
                             "--export-in-flight",
                             "--export-timeout"}) {
        EXPECT_TRUE(mentions(out.message, name)) << name;
    }
    EXPECT_EQ(parse({"-h"}).status, Status::exit_ok);
    // Help wins over errors elsewhere on the line.
    EXPECT_EQ(parse({"--workers", "0", "--help"}).status, Status::exit_ok);
}

// ---------------------------------------------------------------------------------------------
// Bounded parsing: Boost.Program_options 1.74 substitutes %placeholders% in its error messages in
// a loop that never ends when the substituted text contains the placeholder again, so a user
// value such as "%value%" used to spin at 100% CPU. Each batch of parses below runs first in a
// child process that is killed after a deadline (a hang fails the test instead of stalling the
// suite), then again in this process to check the outcomes.

constexpr std::chrono::seconds parse_deadline{10};

// Calls work(i) for i from 0 to count - 1 in a child process, telling the parent through a pipe
// which call it starts. Returns -1 when every call returned within `parse_deadline` (all of them
// together), otherwise the index of the call that hung or crashed (the child is killed).
template <class Work>
long stuck_call(size_t count, Work work) {
    int progress[2];
    if (pipe(progress) != 0) return 0;
    pid_t child = fork();
    if (child < 0) return 0;
    if (child == 0) {
        close(progress[0]);
        for (size_t i = 0; i < count; ++i) {
            if (write(progress[1], &i, sizeof i) != sizeof i) _exit(1);
            work(i);
        }
        _exit(0);
    }
    close(progress[1]);
    auto deadline = std::chrono::steady_clock::now() + parse_deadline;
    int status = 0;
    while (waitpid(child, &status, WNOHANG) == 0) {
        if (std::chrono::steady_clock::now() > deadline) {
            kill(child, SIGKILL);
            waitpid(child, &status, 0);
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    long last = 0;
    for (size_t i = 0; read(progress[0], &i, sizeof i) == sizeof i;)
        last = static_cast<long>(i);
    close(progress[0]);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? -1 : last;
}

using Args = std::vector<std::string>;

std::string shown(const Args& args) {
    std::string text;
    for (const std::string& a : args)
        text += "'" + a + "' ";
    return text;
}

CtlParseOutcome parse_ctl(const Args& args) {
    std::vector<const char*> argv{"rstscopectl"};
    for (const std::string& a : args)
        argv.push_back(a.c_str());
    return parse_ctl_options(static_cast<int>(argv.size()), argv.data(), 1'700'000'000.0);
}

// Parses every command line of `batch` in a child first; a hang (or crash) there fails the test
// naming the command line, and returns false so that the caller does not parse in this process.
bool batch_finishes(const std::vector<Args>& batch, const std::string& default_config = "") {
    long stuck = stuck_call(batch.size(), [&](size_t i) { parse(batch[i], default_config); });
    EXPECT_EQ(stuck, -1) << "parse_options hangs (or crashes) on " << shown(batch.at(stuck));
    return stuck == -1;
}

ParseOutcome parse_bounded(const Args& args, const std::string& default_config = "") {
    if (!batch_finishes({args}, default_config)) {
        ParseOutcome hung;
        hung.status = Status::error;
        hung.message = "<hung>";
        return hung;
    }
    return parse(args, default_config);
}

bool ctl_batch_finishes(const std::vector<Args>& batch) {
    long stuck = stuck_call(batch.size(), [&](size_t i) { parse_ctl(batch[i]); });
    EXPECT_EQ(stuck, -1) << "parse_ctl_options hangs (or crashes) on " << shown(batch.at(stuck));
    return stuck == -1;
}

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

// Every placeholder Boost 1.74 substitutes (errors.hpp and the templates in the library:
// canonical_option, option, original_token, prefix, value, invalid_line), a few near misses, and
// placeholders inside other text.
const std::vector<std::string> placeholders{"%value%",
                                            "%option%",
                                            "%canonical_option%",
                                            "%original_token%",
                                            "%prefix%",
                                            "%invalid_line%",
                                            "%prefix_option%",
                                            "%%",
                                            "%",
                                            "a%value%b",
                                            "%value%%value%",
                                            "%canonical_option%x",
                                            "x%original_token%"};

const std::vector<std::string> value_options{
    "--workers", "--linger",       "--memory",    "--storm-window",    "--flow-table-size",
    "--mode",    "--iface-driver", "--top-hosts", "--shutdown-timeout"};

TEST(OptionsPlaceholders, ValuesAreShownAsGiven) {
    std::vector<Args> batch;
    for (const std::string& p : placeholders) {
        for (const std::string& option : value_options) {
            batch.push_back({option, p});
            batch.push_back({option + "=" + p});
        }
    }
    ASSERT_TRUE(batch_finishes(batch));
    for (const std::string& p : placeholders) {
        for (const std::string& option : value_options) {
            for (const Args& args : {Args{option, p}, Args{option + "=" + p}}) {
                ParseOutcome out = parse(args);
                EXPECT_EQ(out.status, Status::error) << shown(args);
                EXPECT_TRUE(contains(out.message, option + ":")) << out.message;
                EXPECT_TRUE(contains(out.message, "invalid value '" + p + "'")) << out.message;
            }
        }
    }
    // The exact message, for one of each kind.
    expect_error({"--workers", "%value%"},
                 "invalid value '%value%' for --workers: expected 1 to 64");
    expect_error({"--linger=%canonical_option%"},
                 "invalid value '%canonical_option%' for --linger: expected 0 to 3600 seconds");
    expect_error({"--mode", "%original_token%"},
                 "invalid value '%original_token%' for --mode: expected monitor or inline");
}

TEST(OptionsPlaceholders, OptionNamesAndStrayWords) {
    auto refused = [](const std::string& p) {
        return std::vector<Args>{{"--" + p}, {"-" + p},      {"--" + p + "=1"},
                                 {p},        {"--quiet", p}, {"--workers", "2", p}};
    };
    std::vector<Args> batch;
    for (const std::string& p : placeholders) {
        for (const Args& args : refused(p))
            batch.push_back(args);
        batch.push_back({"--quiet=" + p});
        batch.push_back({p, "--"});
    }
    ASSERT_TRUE(batch_finishes(batch));
    for (const std::string& p : placeholders) {
        for (const Args& args : refused(p)) {
            ParseOutcome out = parse(args);
            EXPECT_EQ(out.status, Status::error) << shown(args);
            EXPECT_TRUE(contains(out.message, p)) << shown(args) << " -> " << out.message;
        }
        // Boost's message for a value given to a switch names the switch, not the value.
        EXPECT_EQ(parse({"--quiet=" + p}).message, "option '--quiet' does not take any arguments");
        // Before "--" it is an EAL argument, passed on unchanged.
        ParseOutcome eal = parse({p, "--"});
        ASSERT_EQ(eal.status, Status::run) << p << " -> " << eal.message;
        EXPECT_EQ(eal.options.eal_args, Args{p});
    }
    expect_error({"--%value%"}, "unrecognised option '--%value%'");
    expect_error({"%canonical_option%"},
                 "unexpected argument '%canonical_option%' (options take the form --name value)");
}

TEST(OptionsPlaceholders, ConfigFileLines) {
    std::vector<std::unique_ptr<TempFile>> files;  // files[0] serves as the default configuration
    for (const std::string& p : placeholders) {
        for (const std::string& text :
             {"workers = " + p + "\n", "linger = " + p + "\n", p + " = 1\n", p + "\n",
              "[" + p + "]\nworkers = 2\n", "workers = 1\n" + p + "\n", "mode = " + p + "\n",
              "memory = " + p + "\n", "control-idle-timeout = " + p + "\n"}) {
            files.push_back(std::make_unique<TempFile>(text));
        }
    }
    std::vector<Args> batch;
    for (const auto& file : files)
        batch.push_back({"--config", file->path()});
    for (const std::string& p : placeholders)
        batch.push_back({"--config", "/nonexistent/" + p});
    ASSERT_TRUE(batch_finishes(batch));
    for (const auto& file : files) {
        ParseOutcome out = parse({"--config", file->path()});
        EXPECT_EQ(out.status, Status::error) << file->path();
        EXPECT_EQ(out.message.rfind(file->path() + ": ", 0), 0u) << out.message;
        EXPECT_TRUE(contains(out.message, "%")) << out.message;
        EXPECT_EQ(out.message.find('\n'), std::string::npos) << out.message;
    }
    for (const std::string& p : placeholders) {
        TempFile as_default("workers = " + p + "\n");
        ASSERT_TRUE(batch_finishes({{}}, as_default.path()));
        EXPECT_EQ(
            parse({}, as_default.path()).message,
            as_default.path() + ": invalid value '" + p + "' for --workers: expected 1 to 64");
        EXPECT_EQ(parse({"--config", "/nonexistent/" + p}).message,
                  "cannot read config file /nonexistent/" + p);
    }
    TempFile line("workers = 1\n%value%\n");
    expect_error(
        {"--config", line.path()},
        line.path() + ": the options configuration file contains an invalid line '%value%'");
}

// '%' is ordinary text: paths that contain it, even a whole placeholder, arrive unchanged.
TEST(OptionsPlaceholders, PercentInLegitimateValues) {
    const Args args{
        "--pcap",         "/tmp/100%.pcap",      "--log",     "/tmp/%value%.jsonl",
        "--summary-json", "/tmp/%option%%.json", "--control", "/tmp/%canonical_option%.sock"};
    TempFile config("pcap = /tmp/50%.pcap\nlog = %original_token%\n");
    // A configuration file whose name holds a placeholder is read like any other.
    std::string odd = (std::filesystem::temp_directory_path() /
                       ("rstscope_%value%_" + std::to_string(getpid()) + ".conf"))
                          .string();
    std::ofstream(odd) << "workers = 3\n";
    if (!batch_finishes({args, {"--config", config.path()}, {"--config", odd}})) {
        std::filesystem::remove(odd);
        return;
    }
    ParseOutcome out = parse(args);
    ASSERT_EQ(out.status, Status::run) << out.message;
    EXPECT_EQ(out.options.pcap, "/tmp/100%.pcap");
    EXPECT_EQ(out.options.log, "/tmp/%value%.jsonl");
    EXPECT_EQ(out.options.summary_json, "/tmp/%option%%.json");
    EXPECT_EQ(out.options.control, "/tmp/%canonical_option%.sock");

    ParseOutcome from_file = parse({"--config", config.path()});
    ASSERT_EQ(from_file.status, Status::run) << from_file.message;
    EXPECT_EQ(from_file.options.pcap, "/tmp/50%.pcap");
    EXPECT_EQ(from_file.options.log, "%original_token%");

    ParseOutcome odd_name = parse({"--config", odd});
    std::filesystem::remove(odd);
    ASSERT_EQ(odd_name.status, Status::run) << odd_name.message;
    EXPECT_EQ(odd_name.options.workers, 3u);
    EXPECT_EQ(odd_name.options.config_file, odd);
}

TEST(OptionsPlaceholders, Rstscopectl) {
    auto refused = [](const std::string& p) {
        return std::vector<Args>{{"--timeout", p, "stats"},
                                 {"--timeout=" + p, "stats"},
                                 {"--" + p, "stats"},
                                 {"-" + p, "stats"},
                                 {"stats", p},
                                 {"--socket", p, "--" + p}};
    };
    std::vector<Args> batch;
    for (const std::string& p : placeholders) {
        for (const Args& args : refused(p))
            batch.push_back(args);
        batch.push_back({"--json=" + p, "stats"});
        batch.push_back({"--socket", "/tmp/" + p + ".sock", p});
    }
    ASSERT_TRUE(ctl_batch_finishes(batch));
    for (const std::string& p : placeholders) {
        for (const Args& args : refused(p)) {
            CtlParseOutcome out = parse_ctl(args);
            EXPECT_EQ(out.status, CtlParseOutcome::Status::error) << shown(args);
            EXPECT_TRUE(contains(out.message, p)) << shown(args) << " -> " << out.message;
            EXPECT_EQ(out.message.find('\n'), std::string::npos) << out.message;
        }
        EXPECT_EQ(parse_ctl({"--timeout", p, "stats"}).message,
                  "invalid value '" + p + "' for --timeout: expected 0.001 to 3600 seconds");
        EXPECT_EQ(
            parse_ctl({"stats", p}).message,
            "unexpected argument '" + p +
                "' after the command 'stats': give its arguments as --name value (rstscopectl "
                "help lists them)");
        EXPECT_EQ(parse_ctl({"--json=" + p, "stats"}).message,
                  "option '--json' does not take any arguments");
        // A placeholder is a word like any other: as a command the server answers it with an
        // error; in a socket path it stays as given.
        CtlParseOutcome plain = parse_ctl({"--socket", "/tmp/" + p + ".sock", p});
        ASSERT_EQ(plain.status, CtlParseOutcome::Status::run) << plain.message;
        EXPECT_EQ(plain.options.command, p);
        EXPECT_EQ(plain.options.socket_path, "/tmp/" + p + ".sock");
    }
}

// ---------------------------------------------------------------------------------------------
// Configuration files: a regular file of at most 1 MiB. /dev/zero used to be read until memory
// ran out, a FIFO without writer blocked in open(), a directory gave an empty configuration.

TEST(OptionsConfigFile, OnlyRegularFiles) {
    // Bounded: an unchecked read of /dev/zero runs until memory is exhausted.
    EXPECT_EQ(parse_bounded({"--config", "/dev/zero"}).message,
              "config file /dev/zero is a character device, not a regular file");
    EXPECT_EQ(parse_bounded({"--config", "/dev/urandom"}).message,
              "config file /dev/urandom is a character device, not a regular file");

    std::string dir = std::filesystem::temp_directory_path().string();
    EXPECT_EQ(parse_bounded({"--config", dir}).message,
              "config file " + dir + " is a directory, not a regular file");
    // The default configuration is refused the same way, not skipped.
    EXPECT_EQ(parse_bounded({}, dir).message,
              "config file " + dir + " is a directory, not a regular file");

    std::string fifo = (std::filesystem::temp_directory_path() /
                        ("rstscope_test_options_fifo_" + std::to_string(getpid())))
                           .string();
    ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
    ParseOutcome from_fifo = parse_bounded({"--config", fifo});
    std::filesystem::remove(fifo);
    EXPECT_EQ(from_fifo.message, "config file " + fifo + " is a FIFO, not a regular file");

    // /dev/null is the usual "no configuration" (the live integration test passes it).
    ParseOutcome null = parse_bounded({"--config", "/dev/null"});
    ASSERT_EQ(null.status, Status::run) << null.message;
    EXPECT_EQ(null.options.config_file, "/dev/null");
    EXPECT_EQ(null.options.workers, 1u);
}

TEST(OptionsConfigFile, AtMostOneMebibyte) {
    std::string padding = "# " + std::string(1023, 'x') + "\n";
    std::string text;
    while (text.size() + padding.size() <= (1u << 20) - 12)
        text += padding;
    text += "workers = 3\n";
    ASSERT_LE(text.size(), 1u << 20);
    TempFile at_limit(text);
    ParseOutcome ok = parse_bounded({"--config", at_limit.path()});
    ASSERT_EQ(ok.status, Status::run) << ok.message;
    EXPECT_EQ(ok.options.workers, 3u);

    TempFile too_large(std::string((1u << 20) + 1, '#'));
    expect_error({"--config", too_large.path()},
                 "config file " + too_large.path() +
                     " is 1048577 bytes, more than the limit of 1048576 bytes (1 MiB)");
}

TEST(OptionsConfigFile, MissingOrUnreadable) {
    expect_error({"--config", "/nonexistent/rstscope.conf"},
                 "cannot read config file /nonexistent/rstscope.conf");
    expect_error({"--config", ""}, "--config needs a path");
    TempFile locked("workers = 2\n");
    std::filesystem::permissions(locked.path(), std::filesystem::perms::none);
    if (access(locked.path().c_str(), R_OK) != 0)  // root reads it anyway
        expect_error({"--config", locked.path()}, "cannot read config file " + locked.path());
}

TEST(OptionsConfigFile, ControlCharactersAndLineEnds) {
    TempFile crlf("workers = 4\r\nlog = /tmp/events.jsonl\r\n\tlinger = 2\n");
    ParseOutcome ok = parse_bounded({"--config", crlf.path()});
    ASSERT_EQ(ok.status, Status::run) << ok.message;
    EXPECT_EQ(ok.options.workers, 4u);
    EXPECT_EQ(ok.options.log, "/tmp/events.jsonl");
    EXPECT_EQ(ok.options.linger_s, 2.0);

    TempFile control(
        "workers = 2\nlog = /tmp/a\x01"
        "b\n");
    expect_error(
        {"--config", control.path()},
        control.path() + ":2: control character 0x01 (a configuration file holds printable text)");
    TempFile nul(std::string("workers = 2\0\n", 13));
    expect_error({"--config", nul.path()},
                 nul.path() +
                     ":1: control character 0x00 (a configuration file holds printable "
                     "text)");
}

// ---------------------------------------------------------------------------------------------
// Ranges: every numeric option refuses what is out of range, NaN, infinity and garbage, with one
// message naming the option, the value as given and the range.

struct Range {
    const char* option;
    std::vector<std::string> refused;
    std::string expected;  // the message's tail after "for --option: expected "
};

TEST(OptionsRanges, EveryNumericOption) {
    const std::vector<Range> ranges{
        {"workers", {"0", "65", "-1", "abc", "1.5", " 2", "+2", "0x10", ""}, "1 to 64"},
        {"burst", {"0", "65", "18446744073709551616"}, "1 to 64"},
        {"mbufs", {"511", "16777217", "-1", "4294967295"}, "512 to 2^24"},
        {"iface-ring-frames", {"256", "1000", "524288"}, "a power of two from 512 to 262144"},
        {"memory", {"abc", "0", "63", "1048577", "-512", "512M", ""}, "64 to 1048576 MiB"},
        {"log-buffer", {"63", "1048577", "1e3"}, "64 to 1048576 KiB"},
        {"control-max-clients", {"0", "4097"}, "1 to 4096"},
        {"flow-table-size", {"63", "1073741825", "4294967296"}, "64 to 2^30"},
        {"linger-capacity", {"15", "16777217"}, "16 to 2^24"},
        {"event-ring-size", {"32", "1000", "33554432"}, "a power of two from 64 to 2^24"},
        {"storm-threshold", {"1", "1048577"}, "2 to 2^20"},
        {"storm-max-pending", {"1023", "4194305"}, "1024 to 2^22"},
        {"storm-max-hosts", {"1023", "4194305"}, "1024 to 2^22"},
        {"top-hosts", {"15", "65537"}, "16 to 65536"},
        {"findings-window", {"0", "0.5", "3601", "nan"}, "1 to 3600 seconds"},
        {"findings-hold", {"0", "1e8", "inf"}, "1 to 10000000 seconds"},
        {"findings-max-keys", {"255", "262145"}, "256 to 262144"},
        {"findings-storm-resets", {"4", "16777217"}, "5 to 2^24"},
        {"findings-storm-rise", {"0", "1001"}, "1 to 1000"},
        {"findings-storm-share", {"0", "101"}, "1 to 100"},
        {"findings-farm-hosts", {"1", "65537"}, "2 to 65536"},
        {"findings-scan-ports", {"2", "65537"}, "3 to 65536"},
        {"findings-scan-hosts", {"2", "16777217"}, "3 to 2^24"},
        {"findings-backscatter-resets", {"2", "16777217"}, "3 to 2^24"},
        {"findings-timer-resets", {"2", "65"}, "3 to 64"},
        {"findings-timer-spread", {"0", "3601"}, "0.001 to 3600 seconds"},
        {"findings-injector-resets", {"1", "16777217"}, "2 to 2^24"},
        {"linger", {"-1", "3600.5", "nan", "inf", "1e30", "soon", ""}, "0 to 3600 seconds"},
        {"storm-window", {"0", "3601", "1e30", "nan", "-inf", "1e400"}, "0.001 to 3600 seconds"},
        {"idle-threshold",
         {"0", "0.0009", "1e7.5", "10000001", "inf"},
         "0.001 to 10000000 seconds"},
        {"established-timeout", {"0", "1e30", "NaN", "-5"}, "0.001 to 10000000 seconds"},
        {"half-open-timeout", {"0", "1e8"}, "0.001 to 10000000 seconds"},
        {"closed-timeout", {"-0.5", "infinity"}, "0.001 to 10000000 seconds"},
        {"zeek-close-delay", {"0", "3601", "nan"}, "0.001 to 3600 seconds"},
        {"zeek-attempt-delay", {"-1", "1e30"}, "0.001 to 3600 seconds"},
        {"zeek-handshake-inactivity", {"0", "1e8"}, "0.001 to 10000000 seconds"},
        {"zeek-inactivity", {"0.0001", "inf"}, "0.001 to 10000000 seconds"},
        {"zeek-long-inactivity", {"-5", "10000001"}, "0.001 to 10000000 seconds"},
        {"shutdown-timeout", {"0", "0.09", "3601", "nan"}, "0.1 to 3600 seconds"},
        {"control-idle-timeout", {"0", "0.05", "3601", "inf"}, "0.1 to 3600 seconds"},
        {"export-ring", {"63", "1048577"}, "64 to 1048576 KiB"},
        {"export-batch", {"0", "1025"}, "1 to 1024"},
        {"export-linger", {"0", "61", "nan"}, "0.001 to 60 seconds"},
        {"export-in-flight", {"0", "4097"}, "1 to 4096"},
        {"export-ack-timeout", {"0.05", "601"}, "0.1 to 600 seconds"},
        {"export-timeout", {"0", "3601"}, "0.1 to 3600 seconds"},
    };
    for (const Range& r : ranges) {
        for (const std::string& value : r.refused) {
            std::string option = std::string("--") + r.option;
            // Boost refuses "--name=" itself; an empty value is given as a separate argument.
            expect_error(
                value.empty() ? Args{option, value} : Args{option + "=" + value},
                "invalid value '" + value + "' for " + option + ": expected " + r.expected);
        }
    }
}

TEST(OptionsRanges, BoundsAreIncluded) {
    ParseOutcome low = parse(
        {"--workers=1", "--memory=64", "--log-buffer=64", "--linger=0", "--storm-window=0.001",
         "--established-timeout=0.001", "--shutdown-timeout=0.1", "--control-idle-timeout=0.1",
         "--control-max-clients=1", "--storm-max-pending=1024", "--storm-max-hosts=1024",
         "--top-hosts=16", "--event-ring-size=64", "--iface-ring-frames=512"});
    ASSERT_EQ(low.status, Status::run) << low.message;
    EXPECT_EQ(low.options.linger_s, 0.0);
    EXPECT_EQ(low.options.eal_memory_mb, "64");
    ParseOutcome high = parse(
        {"--workers=64", "--memory=1048576", "--log-buffer=1048576", "--linger=3600",
         "--storm-window=3600", "--established-timeout=1e7", "--shutdown-timeout=3600",
         "--control-idle-timeout=3600", "--control-max-clients=4096", "--storm-max-pending=4194304",
         "--storm-max-hosts=4194304", "--top-hosts=65536", "--event-ring-size=16777216",
         "--flow-table-size=1073741824", "--mbufs=16777216", "--iface-ring-frames=262144"});
    ASSERT_EQ(high.status, Status::run) << high.message;
    EXPECT_EQ(high.options.established_timeout_s, 1e7);
    EXPECT_EQ(high.options.eal_memory_mb, "1048576");
    EXPECT_EQ(high.options.iface_ring_frames, 262144u);
}

// --memory used to be any text, passed to DPDK's -m as given ("abc" and "0" were ignored there).
TEST(OptionsRanges, MemoryIsANumberOfMebibytes) {
    ParseOutcome out = parse({"--memory", "0256"});
    ASSERT_EQ(out.status, Status::run) << out.message;
    EXPECT_EQ(out.options.eal_memory_mb, "256");  // canonical decimal, ready for -m
    TempFile config("memory = 1024\n");
    ParseOutcome from_file = parse({"--config", config.path()});
    ASSERT_EQ(from_file.status, Status::run) << from_file.message;
    EXPECT_EQ(from_file.options.eal_memory_mb, "1024");
}

// Every bound of a duration fits in 64-bit nanoseconds, and the one conversion saturates.
TEST(OptionsRanges, SecondsToNanoseconds) {
    EXPECT_EQ(seconds_to_ns(1.5), 1'500'000'000u);
    EXPECT_EQ(seconds_to_ns(0.3), 300'000'000u);  // nearest, not truncated to 299999999
    EXPECT_EQ(seconds_to_ns(1e-9), 1u);
    EXPECT_EQ(seconds_to_ns(0), 0u);
    EXPECT_EQ(seconds_to_ns(-1), 0u);
    EXPECT_EQ(seconds_to_ns(std::numeric_limits<double>::quiet_NaN()), 0u);
    EXPECT_EQ(seconds_to_ns(-std::numeric_limits<double>::infinity()), 0u);
    constexpr uint64_t max = std::numeric_limits<uint64_t>::max();
    EXPECT_EQ(seconds_to_ns(std::numeric_limits<double>::infinity()), max);
    EXPECT_EQ(seconds_to_ns(1e30), max);
    EXPECT_EQ(seconds_to_ns(18446744073.709553), max);
    EXPECT_LT(seconds_to_ns(18446744073.0), max);
    EXPECT_EQ(seconds_to_ns(1e7), 10'000'000'000'000'000u);
    static_assert(seconds_to_ns(2) == 2'000'000'000u);
}

TEST(OptionsRanges, EmptyValues) {
    expect_error({"--pcap", ""}, "--pcap needs a path");
    expect_error({"--iface", ""}, "--iface needs an interface name");
    expect_error({"--pcap-out", ""}, "--pcap-out needs a path");
    expect_error({"--summary-json", ""}, "--summary-json needs a path");
    expect_error({"--control", ""}, "--control needs a path or none");
    expect_error({"--log", ""}, "--log needs a path or -");
    expect_error({"--signatures", ""}, "--signatures needs a path or none");
    EXPECT_EQ(parse({"--signatures", "none"}).options.signatures, "none");
    EXPECT_EQ(parse({"--signatures", "/etc/x.conf"}).options.signatures, "/etc/x.conf");
    expect_error({"--iface-driver", ""},
                 "invalid value '' for --iface-driver: expected af_packet or pcap");
    TempFile config("pcap =\n");
    expect_error({"--config", config.path()}, config.path() + ": --pcap needs a path");
}

TEST(OptionsRanges, SystemLimitsOfTexts) {
    expect_error({"--iface", "abcdefghijklmnop"},
                 "invalid value 'abcdefghijklmnop' for --iface: interface names have at most 15 "
                 "bytes");
    EXPECT_EQ(parse({"--iface", "abcdefghijklmno"}).status, Status::run);
    std::string long_path = "/tmp/" + std::string(103, 's');  // 108 bytes
    expect_error({"--control", long_path}, "invalid value '" + long_path +
                                               "' for --control: a socket path has at most "
                                               "107 bytes");
    EXPECT_EQ(parse({"--control", long_path.substr(1)}).status, Status::run);
    expect_error({"--iface", "lo,x=y"},
                 "invalid value 'lo,x=y' for --iface: ',' and '=' cannot be passed in DPDK device "
                 "arguments");
    // Capture paths are not parsed by DPDK (main links them under plain names): any is fine.
    EXPECT_EQ(parse({"--pcap", "a.pcap,tx_pcap=/etc/x"}).status, Status::run);
}

TEST(OptionsRanges, ControlCharactersInArguments) {
    expect_error({"--pcap", "a\nb.pcap"},
                 "invalid argument 'a\\x0ab.pcap' for --pcap: control character 0x0a (arguments "
                 "must be printable text)");
    expect_error({"--log=x\ty"},
                 "invalid argument '--log=x\\x09y' for --log: control character 0x09 (arguments "
                 "must be printable text)");
    expect_error({std::string("cap\x1b[0m")},
                 "invalid argument 'cap\\x1b[0m': control character 0x1b (arguments must be "
                 "printable text)");
    // EAL arguments too, and the value of any option; 0x7f and UTF-8 are text.
    EXPECT_EQ(parse({"-l", "0\x01", "--"}).status, Status::error);
    EXPECT_EQ(parse({"--pcap", "caf\xc3\xa9\x7f.pcap"}).status, Status::run);
    CtlParseOutcome ctl = parse_ctl({"stats\nversion"});
    EXPECT_EQ(ctl.status, CtlParseOutcome::Status::error);
    EXPECT_EQ(ctl.message,
              "invalid argument 'stats\\x0aversion': control character 0x0a (arguments must be "
              "printable text)");
}

// ---------------------------------------------------------------------------------------------
// Options for the shutdown, the event log, the storm window, the top-hosts sketch and the
// control socket.

TEST(OptionsNew, DefaultsCommandLineAndConfigFile) {
    ParseOutcome defaults = parse({});
    ASSERT_EQ(defaults.status, Status::run) << defaults.message;
    const Options& d = defaults.options;
    EXPECT_EQ(d.shutdown_timeout_s, 10.0);
    EXPECT_EQ(d.log_buffer_kib, 4096u);
    EXPECT_EQ(d.storm_max_pending, 65536u);
    EXPECT_EQ(d.storm_max_hosts, 65536u);
    EXPECT_EQ(d.top_hosts_capacity, 1024u);
    EXPECT_EQ(d.control_idle_timeout_s, 5.0);
    EXPECT_EQ(d.control_max_clients, 64u);
    // Nothing given: a capture may grow the bounds that hold resets (capture_sizes.h).
    EXPECT_TRUE(d.given.empty());
    EXPECT_FALSE(d.was_given("storm-max-pending"));

    ParseOutcome given =
        parse({"--shutdown-timeout", "2.5", "--log-buffer", "128", "--storm-max-pending", "2048",
               "--storm-max-hosts", "4096", "--top-hosts", "32", "--control-idle-timeout", "0.5",
               "--control-max-clients", "8"});
    ASSERT_EQ(given.status, Status::run) << given.message;
    const Options& g = given.options;
    EXPECT_EQ(g.shutdown_timeout_s, 2.5);
    EXPECT_EQ(g.log_buffer_kib, 128u);
    EXPECT_EQ(g.storm_max_pending, 2048u);
    EXPECT_EQ(g.storm_max_hosts, 4096u);
    EXPECT_EQ(g.top_hosts_capacity, 32u);
    EXPECT_EQ(g.control_idle_timeout_s, 0.5);
    EXPECT_EQ(g.control_max_clients, 8u);
    EXPECT_TRUE(g.was_given("storm-max-pending"));
    EXPECT_TRUE(g.was_given("storm-max-hosts"));
    EXPECT_FALSE(g.was_given("linger-capacity"));

    TempFile config(
        "shutdown-timeout = 30\nlog-buffer = 8192\nstorm-max-pending = 100000\n"
        "storm-max-hosts = 5000\ntop-hosts = 2048\ncontrol-idle-timeout = 60\n"
        "control-max-clients = 4\n");
    ParseOutcome from_file = parse({"--config", config.path(), "--top-hosts", "64"});
    ASSERT_EQ(from_file.status, Status::run) << from_file.message;
    const Options& f = from_file.options;
    EXPECT_EQ(f.shutdown_timeout_s, 30.0);
    EXPECT_EQ(f.log_buffer_kib, 8192u);
    EXPECT_EQ(f.storm_max_pending, 100000u);
    EXPECT_EQ(f.storm_max_hosts, 5000u);
    EXPECT_EQ(f.top_hosts_capacity, 64u);           // the command line wins
    EXPECT_TRUE(f.was_given("storm-max-pending"));  // in the file: given as well
    EXPECT_TRUE(f.was_given("top-hosts"));
    EXPECT_FALSE(f.was_given("linger-capacity"));
    EXPECT_EQ(f.control_idle_timeout_s, 60.0);
    EXPECT_EQ(f.control_max_clients, 4u);

    TempFile bad("top-hosts = 8\n");
    expect_error({"--config", bad.path()},
                 bad.path() + ": invalid value '8' for --top-hosts: expected 16 to 65536");
}

// The shipped configuration parses and repeats the defaults, new options included.
TEST(OptionsNew, ShippedConfigurationHoldsTheDefaults) {
    std::filesystem::path config;
    std::filesystem::path source_dir = std::filesystem::path(__FILE__).parent_path();
    for (const char* base : {".", "..", "../.."}) {
        std::filesystem::path candidate = base / source_dir / "../../conf/rstscope.conf";
        if (std::filesystem::exists(candidate)) config = candidate;
    }
    if (config.empty()) GTEST_SKIP() << "conf/rstscope.conf not found from " << __FILE__;
    ParseOutcome shipped = parse({"--config", config.string()});
    ASSERT_EQ(shipped.status, Status::run) << shipped.message;
    const Options& o = shipped.options;
    const Options d;
    EXPECT_EQ(o.workers, d.workers);
    EXPECT_EQ(o.log_buffer_kib, d.log_buffer_kib);
    EXPECT_EQ(o.control_idle_timeout_s, d.control_idle_timeout_s);
    EXPECT_EQ(o.control_max_clients, d.control_max_clients);
    EXPECT_EQ(o.shutdown_timeout_s, d.shutdown_timeout_s);
    EXPECT_EQ(o.storm_window_s, d.storm_window_s);
    EXPECT_EQ(o.storm_max_pending, d.storm_max_pending);
    EXPECT_EQ(o.storm_max_hosts, d.storm_max_hosts);
    // Left out, so that a capture grows them to what its storms need (capture_sizes.h).
    EXPECT_FALSE(o.was_given("storm-max-pending"));
    EXPECT_FALSE(o.was_given("storm-max-hosts"));
    EXPECT_FALSE(o.was_given("linger-capacity"));
    EXPECT_EQ(o.top_hosts_capacity, d.top_hosts_capacity);
    EXPECT_EQ(o.flow_table_size, d.flow_table_size);
    EXPECT_EQ(o.control, d.control);
    EXPECT_EQ(o.findings_window_s, d.findings_window_s);
    EXPECT_EQ(o.findings_hold_s, d.findings_hold_s);
    EXPECT_EQ(o.findings_max_keys, d.findings_max_keys);
    EXPECT_EQ(o.findings_storm_resets, d.findings_storm_resets);
    EXPECT_EQ(o.findings_storm_rise, d.findings_storm_rise);
    EXPECT_EQ(o.findings_storm_share_pct, d.findings_storm_share_pct);
    EXPECT_EQ(o.findings_farm_hosts, d.findings_farm_hosts);
    EXPECT_EQ(o.findings_scan_ports, d.findings_scan_ports);
    EXPECT_EQ(o.findings_scan_hosts, d.findings_scan_hosts);
    EXPECT_EQ(o.findings_backscatter_resets, d.findings_backscatter_resets);
    EXPECT_EQ(o.findings_timer_resets, d.findings_timer_resets);
    EXPECT_EQ(o.findings_timer_spread_s, d.findings_timer_spread_s);
    EXPECT_EQ(o.findings_injector_resets, d.findings_injector_resets);
}

TEST(OptionsNew, HelpShowsEveryRange) {
    ParseOutcome out = parse({"--help"});
    ASSERT_EQ(out.status, Status::exit_ok);
    // Boost wraps the descriptions: compare with every run of white space as one space.
    std::string flat;
    for (char c : out.message) {
        if (!std::isspace(static_cast<unsigned char>(c)))
            flat += c;
        else if (!flat.empty() && flat.back() != ' ')
            flat += ' ';
    }
    out.message = flat;
    for (const char* text :
         {"--shutdown-timeout SECONDS (=10)", "(0.1 to 3600 seconds)", "--log-buffer KIB (=4096)",
          "(64 to 1048576 KiB)", "--storm-max-pending N (=65536)", "(1024 to 2^22)",
          "--storm-max-hosts N (=65536)", "--top-hosts N (=1024)", "(16 to 65536)",
          "--control-idle-timeout SECONDS (=5)", "--control-max-clients N (=64)", "(1 to 4096)",
          "--memory MIB (=512)", "(64 to 1048576 MiB)", "(0 to 3600 seconds)",
          "(0.001 to 10000000 seconds)", "(a power of two from 64 to 2^24)", "--workers N (=1)",
          "(1 to 64)"}) {
        EXPECT_TRUE(contains(out.message, text)) << text << "\n" << out.message;
    }
}

TEST(OptionsNew, RstscopectlOptions) {
    CtlParseOutcome out =
        parse_ctl({"--socket", "/tmp/c.sock", "--json", "--timeout", "0.5", "stats"});
    ASSERT_EQ(out.status, CtlParseOutcome::Status::run) << out.message;
    EXPECT_EQ(out.options.socket_path, "/tmp/c.sock");
    EXPECT_TRUE(out.options.json);
    EXPECT_EQ(out.options.timeout_s, 0.5);
    EXPECT_EQ(out.options.command, "stats");

    CtlParseOutcome defaults = parse_ctl({"ping"});
    ASSERT_EQ(defaults.status, CtlParseOutcome::Status::run) << defaults.message;
    EXPECT_EQ(defaults.options.socket_path, "/run/rstscope/control.sock");
    EXPECT_EQ(defaults.options.timeout_s, 5.0);
    EXPECT_FALSE(defaults.options.json);

    for (const char* timeout : {"0", "-1", "nan", "inf", "1e30", "3601", "soon", ""}) {
        EXPECT_EQ(parse_ctl({"--timeout", timeout, "stats"}).message,
                  std::string("invalid value '") + timeout +
                      "' for --timeout: expected 0.001 to 3600 seconds");
    }
    EXPECT_EQ(parse_ctl({"--socket", "", "stats"}).message, "--socket needs a path");
    std::string long_path = "/tmp/" + std::string(103, 's');
    EXPECT_EQ(
        parse_ctl({"--socket", long_path, "stats"}).message,
        "invalid value '" + long_path + "' for --socket: a socket path has at most 107 bytes");
    EXPECT_EQ(parse_ctl({}).message,
              "no command given (`rstscopectl help` asks rstscope for the list); rstscopectl "
              "--help lists the options");
    CtlParseOutcome help = parse_ctl({"--help"});
    EXPECT_EQ(help.status, CtlParseOutcome::Status::exit_ok);
    EXPECT_TRUE(contains(help.message, "--timeout SECONDS (=5)")) << help.message;
}

// A command's arguments follow it as flags and become the path-style request the daemon checks.
TEST(OptionsNew, RstscopectlCommandArguments) {
    CtlParseOutcome out =
        parse_ctl({"--socket", "/tmp/c.sock", "events", "--cause", "refused", "--host=203.0.113.7",
                   "--since", "10m", "--conn-state", "REJ", "--until", "1699999999.5", "--json"});
    ASSERT_EQ(out.status, CtlParseOutcome::Status::run) << out.message;
    EXPECT_TRUE(out.options.json);
    EXPECT_EQ(ctl_request(out.options),
              "/events,cause=refused,host=203.0.113.7,since=1699999400.000,conn_state=REJ,"
              "until=1699999999.5");
    EXPECT_EQ(ctl_request(parse_ctl({"stats"}).options), "/stats");
    EXPECT_EQ(parse_ctl({"top", "--by", "servers", "--window", "1m"}).options.args.size(), 2u);
    // Relative times in every unit; never before the epoch.
    EXPECT_EQ(parse_ctl({"events", "--since", "90s"}).options.args[0].second, "1699999910.000");
    EXPECT_EQ(parse_ctl({"events", "--since", "2h"}).options.args[0].second, "1699992800.000");
    EXPECT_EQ(parse_ctl({"events", "--since", "1d"}).options.args[0].second, "1699913600.000");
    EXPECT_EQ(parse_ctl({"events", "--since", "100000d"}).options.args[0].second, "0.000");
    EXPECT_EQ(parse_ctl({"events", "--port"}).message, "--port needs a value");
    EXPECT_EQ(parse_ctl({"events", "--host", "a,b"}).message,
              "invalid value 'a,b' for --host: a value is not empty and holds no ',' or '='");
    EXPECT_EQ(parse_ctl({"events", "--host", ""}).status, CtlParseOutcome::Status::error);
    EXPECT_EQ(parse_ctl({"events", "cause"}).status, CtlParseOutcome::Status::error);
    EXPECT_EQ(parse_ctl({"ev,ents"}).message,
              "invalid command 'ev,ents' (`rstscopectl help` lists them)");
}

// The build's facts, each from one place (build_facts.h, meson.build): the test is given meson's
// own values.
std::string from_meson(const char* name) {
    const char* value = std::getenv(name);
    return value ? value : "";
}

TEST(BuildFacts, VersionIsMesonsProjectVersion) {
    std::string version = from_meson("RSTSCOPE_MESON_VERSION");
    if (version.empty()) GTEST_SKIP() << "RSTSCOPE_MESON_VERSION not set (run through meson test)";
    EXPECT_EQ(std::string(rstscope_version), version);
    ParseOutcome out = parse({"--version"});
    EXPECT_EQ(out.status, Status::exit_ok) << out.message;
    EXPECT_EQ(out.message, "rstscope " + version + "\n");
    CtlParseOutcome ctl = parse_ctl({"--version"});
    EXPECT_EQ(ctl.status, CtlParseOutcome::Status::exit_ok) << ctl.message;
    EXPECT_EQ(ctl.message, "rstscopectl " + version + "\n");
    // --help does not list the hidden --list-vocabulary, and --version is listed.
    ParseOutcome help = parse({"--help"});
    EXPECT_TRUE(contains(help.message, "--version")) << help.message;
    EXPECT_FALSE(contains(help.message, "list-vocabulary")) << help.message;
}

TEST(BuildFacts, RstscopeAndRstscopectlAgreeOnTheSocket) {
    ParseOutcome daemon = parse({});
    CtlParseOutcome client = parse_ctl({"ping"});
    ASSERT_EQ(daemon.status, Status::run) << daemon.message;
    ASSERT_EQ(client.status, CtlParseOutcome::Status::run) << client.message;
    EXPECT_EQ(daemon.options.control, client.options.socket_path);
    EXPECT_EQ(daemon.options.control, default_control_socket);
}

// Changes the working directory for the object's lifetime.
class WorkingDirectory {
  public:
    explicit WorkingDirectory(const std::filesystem::path& dir)
        : previous_(std::filesystem::current_path()) {
        std::filesystem::current_path(dir);
    }
    ~WorkingDirectory() { std::filesystem::current_path(previous_); }

  private:
    std::filesystem::path previous_;
};

// Without --config the installed file (prefix/sysconfdir/rstscope/rstscope.conf) is read, never
// a conf/rstscope.conf that happens to lie in the working directory.
TEST(BuildFacts, DefaultConfigurationIsTheInstalledOne) {
    std::string installed = from_meson("RSTSCOPE_MESON_INSTALLED_CONFIG");
    if (installed.empty())
        GTEST_SKIP() << "RSTSCOPE_MESON_INSTALLED_CONFIG not set (run through meson test)";
    EXPECT_EQ(std::string(installed_config_path), installed);
    if (std::filesystem::exists(installed_config_path))
        GTEST_SKIP() << installed_config_path << " exists on this machine";

    std::filesystem::path dir =
        std::filesystem::temp_directory_path() / ("rstscope_test_cwd_" + std::to_string(getpid()));
    std::filesystem::create_directories(dir / "conf");
    std::ofstream(dir / "conf" / "rstscope.conf") << "workers = 7\n";
    {
        WorkingDirectory inside(dir);
        const char* argv[] = {"rstscope"};
        ParseOutcome out = parse_options(1, argv);
        ASSERT_EQ(out.status, Status::run) << out.message;
        EXPECT_EQ(out.options.workers, 1u);
        EXPECT_EQ(out.options.config_file, "");
        ParseOutcome named = parse({"--config", "conf/rstscope.conf"});
        ASSERT_EQ(named.status, Status::run) << named.message;
        EXPECT_EQ(named.options.workers, 7u);
    }
    std::filesystem::remove_all(dir);
}

// --check-config: the effective configuration as JSON, or the one-line error (exit 2).
TEST(Packaging, CheckConfigPrintsTheEffectiveConfiguration) {
    ParseOutcome out = parse({"--check-config", "--workers", "3", "--log", "-"});
    ASSERT_EQ(out.status, Status::exit_ok) << out.message;
    nlohmann::json effective = nlohmann::json::parse(out.message);
    EXPECT_EQ(effective["workers"], 3);
    EXPECT_EQ(effective["log"], "-");
    EXPECT_EQ(effective["config"], "");
    ParseOutcome bad = parse({"--check-config", "--workers", "0"});
    EXPECT_EQ(bad.status, Status::error);
    EXPECT_EQ(bad.message, "invalid value '0' for --workers: expected 1 to 64");
}

// --list-options (the man page and completion's source) lists exactly the options --help shows.
TEST(Packaging, ListOptionsNamesEveryOptionOfHelp) {
    ParseOutcome help = parse({"--help"});
    ParseOutcome listed = parse({"--list-options"}, "/etc/rstscope/rstscope.conf");
    ASSERT_EQ(listed.status, Status::exit_ok);
    nlohmann::json d = nlohmann::json::parse(listed.message);
    EXPECT_EQ(d["config"], "/etc/rstscope/rstscope.conf");
    std::set<std::string> in_list, in_help;
    for (const auto& group : d["groups"])
        for (const auto& o : group["options"]) {
            in_list.insert("--" + o["name"].get<std::string>());
            EXPECT_FALSE(o["help"].get<std::string>().empty()) << o["name"];
        }
    for (size_t at = help.message.find("--"); at != std::string::npos;
         at = help.message.find("--", at + 2)) {
        size_t end = help.message.find_first_not_of("abcdefghijklmnopqrstuvwxyz-", at + 2);
        std::string name = help.message.substr(at, end - at);
        bool starts_option = at == 0 || help.message[at - 1] == ' ' || help.message[at - 1] == '[';
        if (starts_option && name.size() > 2 && help.message.compare(at - 2, 2, "  ") == 0)
            in_help.insert(name);
    }
    for (const std::string& name : in_help)
        EXPECT_TRUE(in_list.count(name)) << name << " in --help, not in --list-options";
    EXPECT_TRUE(in_list.count("--check-config"));
    EXPECT_TRUE(in_list.count("--storm-window"));
    EXPECT_GE(in_list.size(), in_help.size());

    CtlParseOutcome ctl = parse_ctl({"--list-options"});
    ASSERT_EQ(ctl.status, CtlParseOutcome::Status::exit_ok) << ctl.message;
    nlohmann::json c = nlohmann::json::parse(ctl.message);
    EXPECT_TRUE(c["commands"].contains("log-reopen"));
    EXPECT_TRUE(c["commands"].contains("events"));
    EXPECT_EQ(c["groups"][0]["options"].size(), 5u);  // help, version, socket, json, timeout
}

}  // namespace
}  // namespace rstscope
