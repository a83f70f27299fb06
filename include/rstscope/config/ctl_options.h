// SPDX-License-Identifier: BSD-3-Clause
// rstscopectl's command line: the control socket, the output form, the answer timeout and one
// command. Setup only, like options.h: a plain function over argv so tests and the fuzz driver
// can run it without a socket.
#pragma once

#include <string>

#include "rstscope/config/build_facts.h"

namespace rstscope {

struct CtlOptions {
    std::string socket_path = default_control_socket;
    std::string command;  // one control request (control_protocol.h registers them)
    double timeout_s = 5.0;
    bool json = false;  // print the answer as one line of JSON
};

struct CtlParseOutcome {
    enum class Status { run, exit_ok, error } status = Status::run;
    std::string message;  // help text (exit_ok) or the error line (error)
    CtlOptions options;
};

CtlParseOutcome parse_ctl_options(int argc, const char* const* argv);

}  // namespace rstscope
