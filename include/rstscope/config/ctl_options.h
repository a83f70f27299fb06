// SPDX-License-Identifier: BSD-3-Clause
// rstscopectl's command line: the control socket, the output form, the answer timeout and one
// command. Setup only, like options.h: a plain function over argv so tests and the fuzz driver
// can run it without a socket.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "rstscope/config/build_facts.h"

namespace rstscope {

struct CtlOptions {
    std::string socket_path = default_control_socket;
    std::string command;  // one control command (control_protocol.h registers them)
    // The command's arguments, given after it as `--name value` (or --name=value; '-' in a name
    // becomes '_'), in order. `--since`/`--until` with a unit (90s, 10m, 2h, 1d) are made
    // absolute here (Unix seconds, that long before now); a bare number is already absolute.
    std::vector<std::pair<std::string, std::string>> args;
    double timeout_s = 5.0;
    bool json = false;  // print the answer as one line of JSON
    // `top --watch` (a live view redrawn every interval) or `top --once` (the same view as plain
    // text, its rates measured over one interval): tools/live_view.h. `args` then holds only
    // `window` and `limit`, for the view's top tables.
    enum class Live { none, watch, once } live = Live::none;
    double interval_s = 1.0;  // --interval, min_interval_s to max_interval_s
    static constexpr double min_interval_s = 0.2;
    static constexpr double max_interval_s = 60;
};

struct CtlParseOutcome {
    enum class Status { run, exit_ok, error } status = Status::run;
    std::string message;  // help text (exit_ok) or the error line (error)
    CtlOptions options;
};

// `now_unix_s`: the clock relative times are counted back from (tests pass their own).
CtlParseOutcome parse_ctl_options(int argc, const char* const* argv, double now_unix_s);

// The request line for `options` (without newline): DPDK telemetry's path style,
// `/command,name=value,...`, which the daemon checks against the command's schema.
std::string ctl_request(const CtlOptions& options);

}  // namespace rstscope
