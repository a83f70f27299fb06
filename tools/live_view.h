// SPDX-License-Identifier: BSD-3-Clause
// `rstscopectl top --watch` / `--once`: the operator's live view. Each refresh asks the control
// socket for `stats`, `top` by servers and by clients, and `findings`, and draws one screen:
// resets per second by cause (the difference of two `stats` answers over the time between them),
// the top reset servers and clients, open findings, drops and losses, and the event rings'
// occupancy. The screen's text is made by live_view_lines(), a pure function over the answers,
// so it is tested without a socket (tests/unit/test_live_view.cc); the loop around it (tools/
// live_view.cc) only polls, draws and restores the terminal.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace rstscope {

// One refresh's answers. A member is null when the daemon did not answer it (an older rstscope
// without `findings`, say); `error` says why the daemon could not be asked at all.
struct LiveSample {
    double at_s = 0;  // CLOCK_MONOTONIC when the stats answer arrived
    nlohmann::json stats;
    nlohmann::json servers;   // `top` by servers
    nlohmann::json clients;   // `top` by clients
    nlohmann::json findings;  // `findings`
    std::string error;
};

struct LiveHeading {
    std::string socket;
    std::string clock;  // wall clock text (UTC) of the latest sample
    double interval_s = 1;
    std::string window = "1m";  // of the top tables
    bool watching = true;       // says how to quit
};

// The screen, one string per line, no escape sequences; each line cut to `width` columns and at
// most `height` lines (0: no limit). `previous` is the sample before `now` (null stats: no rates
// yet, shown as "-").
std::vector<std::string> live_view_lines(const LiveHeading& heading, const LiveSample& previous,
                                         const LiveSample& now, size_t width, size_t height);

// Runs the view against the socket until stopped (watch) or after one refresh measured over one
// interval (once); returns rstscopectl's exit status.
struct LiveViewOptions {
    std::string socket;
    double interval_s = 1;
    double timeout_s = 5;
    bool once = false;
    std::string window = "1m";
    int limit = 10;
};
int run_live_view(const LiveViewOptions& options);

}  // namespace rstscope
