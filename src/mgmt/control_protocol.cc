// SPDX-License-Identifier: BSD-3-Clause
#include "rstscope/mgmt/control_protocol.h"

#include <iterator>
#include <stdexcept>
#include <utility>

#include <fmt/format.h>

#include "rstscope/config/build_facts.h"
#include "rstscope/mgmt/event_json.h"

namespace rstscope {
namespace {

// An unknown request is quoted back cut to this many bytes: enough to recognise a typo, and the
// answer stays short whatever was sent.
constexpr size_t shown_request_bytes = 64;

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() &&
           (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
        s.remove_suffix(1);
    return s;
}

std::string unknown_command_error(std::string_view word) {
    fmt::memory_buffer shown;
    append_json_string(shown, word.substr(0, shown_request_bytes));
    return fmt::format("unknown command {}; try help", fmt::to_string(shown));
}

}  // namespace

ControlRequest parse_control_request(std::string_view line) {
    std::string_view word = trim(line);
    if (!word.empty() && word.front() == '/') word.remove_prefix(1);  // DPDK telemetry style
    if (word.empty()) return {{}, "empty request; try help"};
    return {word, {}};
}

std::string control_error_json(std::string_view message) {
    fmt::memory_buffer out;
    fmt::format_to(std::back_inserter(out), "{{\"error\":");
    append_json_string(out, message);
    out.push_back('}');
    return fmt::to_string(out);
}

void ControlCommands::add(std::string_view name, std::string_view help, Handler handler) {
    for (const Command& c : commands_) {
        if (c.name == name)
            throw std::logic_error(fmt::format("control command {} registered twice", name));
    }
    commands_.push_back({std::string(name), std::string(help), std::move(handler)});
}

ControlCommands::Answer ControlCommands::answer(std::string_view line) const {
    ControlRequest request = parse_control_request(line);
    if (!request.error.empty()) return {control_error_json(request.error), false};
    for (const Command& c : commands_) {
        if (request.command == c.name) return {c.handler(), true};
    }
    return {control_error_json(unknown_command_error(request.command)), false};
}

std::string ControlCommands::help_json() const {
    fmt::memory_buffer out;
    fmt::format_to(std::back_inserter(out), "{{\"commands\":{{");
    bool first = true;
    for (const Command& c : commands_) {
        if (!first) out.push_back(',');
        append_json_string(out, c.name);
        out.push_back(':');
        append_json_string(out, c.help);
        first = false;
    }
    fmt::format_to(std::back_inserter(out), "}}}}");
    return fmt::to_string(out);
}

void register_control_commands(ControlCommands& commands, ControlCommands::Handler stats_json,
                               const bool& ready) {
    commands.add("stats", "every counter, drop reason and verdict tally, as JSON",
                 std::move(stats_json));
    commands.add("help", "this list", [&commands] { return commands.help_json(); });
    commands.add("version", "rstscope version",
                 [] { return fmt::format("{{\"version\":\"{}\"}}", rstscope_version); });
    commands.add("ping", "liveness check; ready once packets can flow", [&ready] {
        return std::string(ready ? R"({"pong":true,"ready":true})"
                                 : R"({"pong":true,"ready":false})");
    });
}

}  // namespace rstscope
