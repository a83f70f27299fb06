// SPDX-License-Identifier: BSD-3-Clause
// The control socket's protocol: one request per line, one JSON object per line in answer.
// A request is either DPDK telemetry's path style, `/command` or `/command,name=value,...` (the
// leading '/' optional), or a JSON object `{"cmd":"command","name":value,...}` (parsed with
// nlohmann::json, never by hand). Every answer carries `"ok":true` or an `"error"`.
//
// Every command is registered once, with its name, its help line, the schema of its arguments
// (name, type, range or allowed values) and its handler, as rte_telemetry_register_cmd() does:
// register_control_commands() is the one list, and dispatch, argument checking, the `help` answer
// and the docs test (tests/unit/test_docs.cc) all read it. Management thread only: registration
// at setup, answer() from the management loop.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace rstscope {

inline constexpr size_t control_max_request = 1024;

// What an argument holds. From the path style every value is text and converted to the type;
// from JSON the value must already have the type (a number for integer, a string for text).
enum class ArgType : uint8_t {
    integer,  // a whole number from min to max
    number,   // a finite number from min to max
    text,     // a string of at most max bytes
    choice,   // one of `choices`
};

struct ArgSpec {
    std::string name;
    ArgType type;
    std::string help;
    double min = 0;
    double max = 0;
    std::vector<std::string_view> choices;  // for ArgType::choice
};

// The checked arguments of one request: only names the command's schema lists, each once, each
// of its type and within its range.
class ControlArgs {
  public:
    using Value = std::variant<int64_t, double, std::string>;
    bool has(std::string_view name) const { return find(name) != nullptr; }
    std::optional<int64_t> integer(std::string_view name) const;
    std::optional<double> number(std::string_view name) const;
    std::optional<std::string> text(std::string_view name) const;  // text and choice arguments
    void set(std::string name, Value value) {
        values_.emplace_back(std::move(name), std::move(value));
    }

  private:
    const Value* find(std::string_view name) const;
    std::vector<std::pair<std::string, Value>> values_;
};

std::string control_error_json(std::string_view message);

class ControlCommands {
  public:
    // Returns one JSON object, without a newline: `{"error":...}`, or the answer's members, to
    // which the dispatcher adds "ok":true. Runs on the management thread.
    using Handler = std::function<std::string(const ControlArgs&)>;
    struct Command {
        std::string name;
        std::string help;
        std::vector<ArgSpec> args;
        Handler handler;
    };
    struct Answer {
        std::string json;
        bool known = false;  // false: an error answer to a malformed or unknown request
    };

    // Setup only. A name registered twice is a programming error: std::logic_error.
    void add(Command command);
    // Parses one request line, checks its arguments against the schema and runs the handler.
    // An empty `json`: the handler will answer later (ControlHandlers::flow).
    Answer answer(std::string_view line) const;
    // {"ok":true,"commands":{"name":{"help":..,"args":[..]},...}} in registration order.
    std::string help_json() const;
    const std::vector<Command>& commands() const { return commands_; }

  private:
    std::vector<Command> commands_;
};

// What management answers with; the protocol adds the schemas. A handler left empty answers
// {"error":"... not available"} (tests and the fuzz target register only what they need).
struct ControlHandlers {
    ControlCommands::Handler stats;
    ControlCommands::Handler events;
    ControlCommands::Handler top;
    ControlCommands::Handler config;
    ControlCommands::Handler log_reopen;
    ControlCommands::Handler shutdown;
    ControlCommands::Handler metrics;
    // May answer "" to answer later (ControlSocket::complete): the workers answer it.
    ControlCommands::Handler flow;
    ControlCommands::Handler findings;
};

// rstscope's commands, in the order `help` lists them; `ping` answers with `ready` (packets can
// flow: every reader polls its queues). `commands` and `ready` must stay where they are while
// registered.
void register_control_commands(ControlCommands& commands, ControlHandlers handlers,
                               const bool& ready);

// Limits of the `events` and `top` answers: their size stays well under the control socket's
// per-client output bound (256 KiB) whatever is asked.
inline constexpr int64_t events_max_limit = 200;
inline constexpr int64_t top_max_limit = 100;

}  // namespace rstscope
