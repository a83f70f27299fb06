#include "rstscope/mgmt/control_protocol.h"

#include <array>
#include <utility>

#include <fmt/format.h>

#include "rstscope/mgmt/event_json.h"

namespace rstscope {
namespace {

struct CommandInfo {
    std::string_view name;
    ControlCommand command;
    std::string_view help;
};

constexpr std::array<CommandInfo, 4> commands{{
    {"stats", ControlCommand::stats, "every counter, drop reason and verdict tally, as JSON"},
    {"help", ControlCommand::help, "this list"},
    {"version", ControlCommand::version, "rstscope version"},
    {"ping", ControlCommand::ping, "liveness check"},
}};

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() &&
           (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
        s.remove_suffix(1);
    return s;
}

}  // namespace

ControlRequest parse_control_request(std::string_view line) {
    std::string_view word = trim(line);
    if (!word.empty() && word.front() == '/') word.remove_prefix(1);  // DPDK telemetry style
    if (word.empty()) return {ControlCommand::invalid, "empty request; try help"};
    for (const CommandInfo& c : commands) {
        if (word == c.name) return {c.command, {}};
    }
    fmt::memory_buffer shown;
    append_json_string(shown, word.substr(0, 64));
    return {ControlCommand::invalid,
            fmt::format("unknown command {}; try help", fmt::to_string(shown))};
}

std::string control_help_json() {
    fmt::memory_buffer out;
    auto it = std::back_inserter(out);
    fmt::format_to(it, "{{\"commands\":{{");
    bool first = true;
    for (const CommandInfo& c : commands) {
        fmt::format_to(it, "{}\"{}\":\"{}\"", first ? "" : ",", c.name, c.help);
        first = false;
    }
    fmt::format_to(it, "}}}}");
    return fmt::to_string(out);
}

std::string control_error_json(std::string_view message) {
    fmt::memory_buffer out;
    fmt::format_to(std::back_inserter(out), "{{\"error\":");
    append_json_string(out, message);
    out.push_back('}');
    return fmt::to_string(out);
}

}  // namespace rstscope
