// SPDX-License-Identifier: BSD-3-Clause
// The control socket's protocol: one request per line, one JSON answer per line. Requests are
// command words (a leading '/' is accepted, as in DPDK telemetry); anything else gets a JSON
// error, never a dropped connection without an answer (unless the line is longer than
// control_max_request bytes).
//
// Every command is registered once, with its name, its help line and its handler, as
// rte_telemetry_register_cmd() does: register_control_commands() is the one list, and dispatch,
// the `help` answer and the docs test (tests/unit/test_docs.cc) all read it. Management thread
// only: registration at setup, answer() from the management loop.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace rstscope {

inline constexpr size_t control_max_request = 1024;

// One request line reduced to its command word; `error` says why when the line holds none.
struct ControlRequest {
    std::string_view command;  // a view into the line given to parse_control_request
    std::string error;         // "empty request; try help" when there is no word
};

ControlRequest parse_control_request(std::string_view line);

std::string control_error_json(std::string_view message);

class ControlCommands {
  public:
    // Returns one JSON object, without a newline. Runs on the management thread.
    using Handler = std::function<std::string()>;
    struct Command {
        std::string name;
        std::string help;
        Handler handler;
    };
    struct Answer {
        std::string json;
        bool known = false;  // false: an error answer to an empty or unknown request
    };

    // Setup only. A name registered twice is a programming error: std::logic_error.
    void add(std::string_view name, std::string_view help, Handler handler);
    // Parses one request line and runs its command's handler.
    Answer answer(std::string_view line) const;
    // {"commands":{"name":"help",...}} in registration order: the `help` answer.
    std::string help_json() const;
    const std::vector<Command>& commands() const { return commands_; }

  private:
    std::vector<Command> commands_;
};

// rstscope's commands, in the order `help` lists them: `stats` answers with `stats_json`, `ping`
// with `ready` (packets can flow: every reader polls its queues), the others need nothing from
// management. `commands` and `ready` must stay where they are while registered.
void register_control_commands(ControlCommands& commands, ControlCommands::Handler stats_json,
                               const bool& ready);

}  // namespace rstscope
