// SPDX-License-Identifier: BSD-3-Clause
#include "rstscope/mgmt/control_protocol.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <iterator>
#include <stdexcept>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "rstscope/analysis/verdict.h"
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

std::string shown_json(std::string_view text) {
    fmt::memory_buffer shown;
    append_json_string(shown, text.substr(0, shown_request_bytes));
    return fmt::to_string(shown);
}

std::string_view type_name(ArgType type) {
    switch (type) {
        case ArgType::integer:
            return "integer";
        case ArgType::number:
            return "number";
        case ArgType::text:
            return "text";
        case ArgType::choice:
            return "choice";
    }
    return "?";
}

// What a valid value looks like, for error messages and `help`.
std::string expected_text(const ArgSpec& spec) {
    switch (spec.type) {
        case ArgType::integer:
        case ArgType::number:
            return fmt::format("{} from {} to {}",
                               spec.type == ArgType::integer ? "an integer" : "a number", spec.min,
                               spec.max);
        case ArgType::text:
            return fmt::format("a string of at most {} bytes", spec.max);
        case ArgType::choice:
            return fmt::format("one of {}", fmt::join(spec.choices, ", "));
    }
    return {};
}

std::string bad_value(const std::string& command, const ArgSpec& spec) {
    return fmt::format("invalid value for {} of {}: expected {}", spec.name, command,
                       expected_text(spec));
}

// Checks a value already of the right kind against its range or choices; "" when it is good.
std::string check_value(const std::string& command, const ArgSpec& spec,
                        const ControlArgs::Value& value) {
    if (const auto* text = std::get_if<std::string>(&value)) {
        if (spec.type == ArgType::text && text->size() <= spec.max) return {};
        for (std::string_view choice : spec.choices)
            if (choice == *text) return {};
        return bad_value(command, spec);
    }
    double v = std::holds_alternative<int64_t>(value)
                   ? static_cast<double>(std::get<int64_t>(value))
                   : std::get<double>(value);
    if (!std::isfinite(v) || v < spec.min || v > spec.max) return bad_value(command, spec);
    return {};
}

// The path style's text converted to the argument's type, or nothing.
std::optional<ControlArgs::Value> from_text(const ArgSpec& spec, std::string_view text) {
    if (spec.type == ArgType::text || spec.type == ArgType::choice) return std::string(text);
    if (spec.type == ArgType::integer) {
        int64_t n = 0;
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
        if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
        return n;
    }
    std::string copy(text);
    char* end = nullptr;
    double d = std::strtod(copy.c_str(), &end);
    if (copy.empty() || end != copy.c_str() + copy.size()) return std::nullopt;
    return d;
}

std::optional<ControlArgs::Value> from_json(const ArgSpec& spec, const nlohmann::json& value) {
    switch (spec.type) {
        case ArgType::integer:
            if (value.is_number_integer()) {
                if (value.is_number_unsigned() && value.get<uint64_t>() > INT64_MAX)
                    return std::nullopt;
                return value.get<int64_t>();
            }
            return std::nullopt;
        case ArgType::number:
            if (value.is_number()) return value.get<double>();
            return std::nullopt;
        case ArgType::text:
        case ArgType::choice:
            if (value.is_string()) return value.get<std::string>();
            return std::nullopt;
    }
    return std::nullopt;
}

const ArgSpec* find_spec(const ControlCommands::Command& command, std::string_view name) {
    for (const ArgSpec& spec : command.args)
        if (spec.name == name) return &spec;
    return nullptr;
}

// Adds one named value to `args`, checking name, uniqueness, type and range; "" when accepted.
template <typename Convert>
std::string add_argument(const ControlCommands::Command& command, std::string_view name,
                         Convert convert, ControlArgs& args) {
    const ArgSpec* spec = find_spec(command, name);
    if (!spec)
        return fmt::format("unknown argument {} for {}; try help", shown_json(name), command.name);
    if (args.has(name)) return fmt::format("argument {} given twice", spec->name);
    std::optional<ControlArgs::Value> value = convert(*spec);
    if (!value) return bad_value(command.name, *spec);
    if (std::string problem = check_value(command.name, *spec, *value); !problem.empty())
        return problem;
    args.set(spec->name, std::move(*value));
    return {};
}

// A request reduced to its command and its arguments' source, before the schema is known.
struct ParsedRequest {
    std::string command;
    std::string error;
    nlohmann::json object;         // the JSON style: the whole object
    std::string_view path_params;  // the path style: what follows the first ','
    bool is_json = false;
};

ParsedRequest parse_request(std::string_view line) {
    ParsedRequest request;
    std::string_view text = trim(line);
    if (text.empty()) {
        request.error = "empty request; try help";
        return request;
    }
    if (text.front() == '{') {
        request.is_json = true;
        request.object = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
        if (request.object.is_discarded() || !request.object.is_object()) {
            request.error = "invalid JSON request: expected one object such as {\"cmd\":\"stats\"}";
            return request;
        }
        auto cmd = request.object.find("cmd");
        if (cmd == request.object.end() || !cmd->is_string()) {
            request.error = "JSON request without a \"cmd\" string; try {\"cmd\":\"help\"}";
            return request;
        }
        request.command = cmd->get<std::string>();
        return request;
    }
    if (text.front() == '/') text.remove_prefix(1);  // DPDK telemetry style
    size_t comma = text.find(',');
    request.command = std::string(text.substr(0, comma));
    if (comma != std::string_view::npos) request.path_params = text.substr(comma + 1);
    if (request.command.empty()) request.error = "empty request; try help";
    return request;
}

std::string parse_arguments(const ControlCommands::Command& command, const ParsedRequest& request,
                            ControlArgs& args) {
    if (request.is_json) {
        for (const auto& item : request.object.items()) {
            // Not a structured binding: clang 14 (the fuzz build) cannot capture one.
            const nlohmann::json& value = item.value();
            if (item.key() == "cmd") continue;
            std::string problem = add_argument(
                command, item.key(), [&](const ArgSpec& spec) { return from_json(spec, value); },
                args);
            if (!problem.empty()) return problem;
        }
        return {};
    }
    std::string_view rest = request.path_params;
    while (!rest.empty()) {
        size_t comma = rest.find(',');
        std::string_view pair = rest.substr(0, comma);
        rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
        size_t equals = pair.find('=');
        if (equals == std::string_view::npos)
            return fmt::format("argument {} of {} needs a value: name=value", shown_json(pair),
                               command.name);
        std::string_view value = pair.substr(equals + 1);
        std::string problem = add_argument(
            command, pair.substr(0, equals),
            [&](const ArgSpec& spec) { return from_text(spec, value); }, args);
        if (!problem.empty()) return problem;
    }
    return {};
}

template <typename Names>
std::vector<std::string_view> choices_of(const Names& names) {
    return std::vector<std::string_view>(names.begin(), names.end());
}

ControlCommands::Handler or_unavailable(ControlCommands::Handler handler, std::string name) {
    if (handler) return handler;
    return [name = std::move(name)](const ControlArgs&) {
        return control_error_json(name + " is not available in this process");
    };
}

}  // namespace

const ControlArgs::Value* ControlArgs::find(std::string_view name) const {
    for (const auto& [n, v] : values_)
        if (n == name) return &v;
    return nullptr;
}

std::optional<int64_t> ControlArgs::integer(std::string_view name) const {
    const Value* v = find(name);
    if (v && std::holds_alternative<int64_t>(*v)) return std::get<int64_t>(*v);
    return std::nullopt;
}

std::optional<double> ControlArgs::number(std::string_view name) const {
    const Value* v = find(name);
    if (!v) return std::nullopt;
    if (std::holds_alternative<double>(*v)) return std::get<double>(*v);
    if (std::holds_alternative<int64_t>(*v)) return static_cast<double>(std::get<int64_t>(*v));
    return std::nullopt;
}

std::optional<std::string> ControlArgs::text(std::string_view name) const {
    const Value* v = find(name);
    if (v && std::holds_alternative<std::string>(*v)) return std::get<std::string>(*v);
    return std::nullopt;
}

std::string control_error_json(std::string_view message) {
    fmt::memory_buffer out;
    fmt::format_to(std::back_inserter(out), "{{\"error\":");
    append_json_string(out, message);
    out.push_back('}');
    return fmt::to_string(out);
}

void ControlCommands::add(Command command) {
    for (const Command& c : commands_) {
        if (c.name == command.name)
            throw std::logic_error(fmt::format("control command {} registered twice", c.name));
    }
    commands_.push_back(std::move(command));
}

ControlCommands::Answer ControlCommands::answer(std::string_view line) const {
    ParsedRequest request = parse_request(line);
    if (!request.error.empty()) return {control_error_json(request.error), false};
    for (const Command& c : commands_) {
        if (request.command != c.name) continue;
        ControlArgs args;
        if (std::string problem = parse_arguments(c, request, args); !problem.empty())
            return {control_error_json(problem), false};
        std::string json = c.handler(args);
        if (json.empty()) return {std::string(), true};  // answered later (control_socket.h)
        // Every answer says ok or carries an error; handlers write only their own members.
        if (json.rfind("{\"error\":", 0) == 0) return {std::move(json), true};
        bool empty = json.size() <= 2;
        return {"{\"ok\":true" + std::string(empty ? "" : ",") + json.substr(1), true};
    }
    return {control_error_json(
                fmt::format("unknown command {}; try help", shown_json(request.command))),
            false};
}

std::string ControlCommands::help_json() const {
    fmt::memory_buffer out;
    auto it = std::back_inserter(out);
    fmt::format_to(it, "{{\"commands\":{{");
    bool first = true;
    for (const Command& c : commands_) {
        if (!first) out.push_back(',');
        append_json_string(out, c.name);
        fmt::format_to(it, ":{{\"help\":");
        append_json_string(out, c.help);
        fmt::format_to(it, ",\"args\":[");
        for (size_t i = 0; i < c.args.size(); ++i) {
            const ArgSpec& a = c.args[i];
            fmt::format_to(it, "{}{{\"name\":", i ? "," : "");
            append_json_string(out, a.name);
            fmt::format_to(it, ",\"type\":\"{}\",\"expects\":", type_name(a.type));
            append_json_string(out, expected_text(a));
            fmt::format_to(it, ",\"help\":");
            append_json_string(out, a.help);
            out.push_back('}');
        }
        fmt::format_to(it, "]}}");
        first = false;
    }
    fmt::format_to(it, "}}}}");
    return fmt::to_string(out);
}

void register_control_commands(ControlCommands& commands, ControlHandlers h, const bool& ready) {
    const ArgSpec cause{
        "cause", ArgType::choice, "the reset's cause", 0, 0, choices_of(reset_cause_names)};
    const ArgSpec confidence{"confidence",
                             ArgType::choice,
                             "the verdict's confidence",
                             0,
                             0,
                             choices_of(confidence_names)};
    const ArgSpec conn_state{"conn_state",
                             ArgType::choice,
                             "Zeek's conn_state at the reset",
                             0,
                             0,
                             choices_of(conn_state_names)};
    const ArgSpec host{"host",
                       ArgType::text,
                       "an address or a v4/v6 prefix (203.0.113.0/24); either side of the "
                       "connection",
                       0,
                       64,
                       {}};
    const ArgSpec port{"port", ArgType::integer, "a port on either side", 0, 65535, {}};
    const ArgSpec since{"since", ArgType::number, "packet time, Unix seconds: at or after", 0, 1e11,
                        {}};
    const ArgSpec until{"until", ArgType::number, "packet time, Unix seconds: before", 0, 1e11, {}};
    commands.add({"stats",
                  "every counter, drop reason and verdict tally, per worker too",
                  {},
                  or_unavailable(std::move(h.stats), "stats")});
    commands.add({"events",
                  "the most recent resets, newest first, from management's ring of recent events",
                  {cause,
                   confidence,
                   conn_state,
                   host,
                   port,
                   since,
                   until,
                   {"limit",
                    ArgType::integer,
                    "events at most (default 20)",
                    1,
                    static_cast<double>(events_max_limit),
                    {}}},
                  or_unavailable(std::move(h.events), "events")});
    commands.add({"top",
                  "the hosts, servers (host:port) or clients with the most resets",
                  {{"by",
                    ArgType::choice,
                    "what is ranked (default resetters)",
                    0,
                    0,
                    {"resetters", "servers", "clients"}},
                   {"window",
                    ArgType::choice,
                    "1m or 10m before the newest event (from the recent events), or all since "
                    "start (default all)",
                    0,
                    0,
                    {"1m", "10m", "all"}},
                   cause,
                   {"limit",
                    ArgType::integer,
                    "rows at most (default 10)",
                    1,
                    static_cast<double>(top_max_limit),
                    {}}},
                  or_unavailable(std::move(h.top), "top")});
    commands.add(
        {"flow",
         "live flows of a host, host:port or 5-tuple, from the workers that own them (at "
         "most 50 per worker; the answer says when it was cut and which workers did not "
         "answer within 200 ms)",
         {{"host", ArgType::text, "an address, either side of the connection", 0, 64, {}},
          {"port", ArgType::integer, "the host's port (default any)", 1, 65535, {}},
          {"peer", ArgType::text, "the other side's address: a 5-tuple with peer_port", 0, 64, {}},
          {"peer_port", ArgType::integer, "the other side's port (default any)", 1, 65535, {}}},
         or_unavailable(std::move(h.flow), "flow")});
    commands.add({"findings",
                  "open findings (storms, scans, backscatter, middlebox timers, injectors) with "
                  "their latest record, and how many of each kind are open and were raised",
                  {},
                  or_unavailable(std::move(h.findings), "findings")});
    commands.add({"config",
                  "the effective configuration",
                  {},
                  or_unavailable(std::move(h.config), "config")});
    commands.add({"metrics",
                  "every counter and tally in Prometheus text format",
                  {},
                  or_unavailable(std::move(h.metrics), "metrics")});
    commands.add({"log-reopen",
                  "reopen the event log (as SIGHUP does), for logrotate",
                  {},
                  or_unavailable(std::move(h.log_reopen), "log-reopen")});
    commands.add({"shutdown",
                  "stop gracefully: drain, write the log, print the summary, exit 0",
                  {},
                  or_unavailable(std::move(h.shutdown), "shutdown")});
    commands.add({"help", "this list", {}, [&commands](const ControlArgs&) {
                      return commands.help_json();
                  }});
    commands.add({"version", "rstscope version", {}, [](const ControlArgs&) {
                      return fmt::format("{{\"version\":\"{}\"}}", rstscope_version);
                  }});
    commands.add(
        {"ping", "liveness check; ready once packets can flow", {}, [&ready](const ControlArgs&) {
             return std::string(ready ? R"({"pong":true,"ready":true})"
                                      : R"({"pong":true,"ready":false})");
         }});
}

}  // namespace rstscope
