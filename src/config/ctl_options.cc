// SPDX-License-Identifier: BSD-3-Clause
#include "rstscope/config/ctl_options.h"

#include <sys/un.h>

#include <algorithm>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>
#include <boost/program_options.hpp>

#include "option_list.h"
#include "option_text.h"
#include "rstscope/mgmt/control_protocol.h"

namespace po = boost::program_options;

namespace rstscope {
namespace {

// Up to an hour: rstscopectl waits with poll() in milliseconds held in an int, and no answer
// takes longer than a stats dump.
constexpr double min_timeout_s = 0.001;
constexpr double max_timeout_s = 3600;

// Where the command word is: the first word that is neither an option nor the value of one.
size_t command_index(const std::vector<std::string>& args) {
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "--socket" || a == "--timeout") {
            ++i;
            continue;
        }
        if (a.empty() || a.front() != '-') return i;
    }
    return args.size();
}

// "90s", "10m", "2h", "1d": seconds; nothing for anything else (a bare number is absolute).
std::optional<double> relative_seconds(const std::string& text) {
    if (text.size() < 2) return std::nullopt;
    double unit = 0;
    switch (text.back()) {
        case 's':
            unit = 1;
            break;
        case 'm':
            unit = 60;
            break;
        case 'h':
            unit = 3600;
            break;
        case 'd':
            unit = 86400;
            break;
        default:
            return std::nullopt;
    }
    double n = 0;
    if (!option_text::parse_seconds(text.substr(0, text.size() - 1), n) || !(n >= 0) || n > 1e9)
        return std::nullopt;
    return n * unit;
}

// The words after the command: `--name value` pairs (and --json, which may come last too).
void parse_command_args(const std::vector<std::string>& words, double now_unix_s, CtlOptions& o) {
    bool interval_given = false;
    for (size_t i = 0; i < words.size(); ++i) {
        const std::string& word = words[i];
        if (word == "--json") {
            o.json = true;
            continue;
        }
        if (o.command == "top" && (word == "--watch" || word == "--once")) {
            auto live = word == "--watch" ? CtlOptions::Live::watch : CtlOptions::Live::once;
            if (o.live != CtlOptions::Live::none && o.live != live)
                throw std::runtime_error("top takes --watch or --once, not both");
            o.live = live;
            continue;
        }
        if (word.rfind("--", 0) != 0 || word.size() == 2)
            throw std::runtime_error(fmt::format(
                "unexpected argument '{}' after the command '{}': give its arguments as --name "
                "value (rstscopectl help lists them)",
                word, o.command));
        std::string name = word.substr(2), value;
        if (size_t equals = name.find('='); equals != std::string::npos) {
            value = name.substr(equals + 1);
            name.resize(equals);
        } else if (i + 1 < words.size()) {
            value = words[++i];
        } else {
            throw std::runtime_error(fmt::format("--{} needs a value", name));
        }
        std::replace(name.begin(), name.end(), '-', '_');
        if (name.find_first_of(",=") != std::string::npos ||
            value.find_first_of(",=") != std::string::npos || value.empty())
            throw std::runtime_error(fmt::format(
                "invalid value '{}' for --{}: a value is not empty and holds no ',' or '='", value,
                name));
        if (o.command == "top" && name == "interval") {
            if (!option_text::parse_seconds(value, o.interval_s) ||
                !(o.interval_s >= CtlOptions::min_interval_s &&
                  o.interval_s <= CtlOptions::max_interval_s))
                throw std::runtime_error(
                    fmt::format("invalid value '{}' for --interval: expected {} to {} seconds",
                                value, CtlOptions::min_interval_s, CtlOptions::max_interval_s));
            interval_given = true;
            continue;
        }
        if (name == "since" || name == "until") {
            if (auto ago = relative_seconds(value))
                value = fmt::format("{:.3f}", std::max(0.0, now_unix_s - *ago));
        }
        o.args.emplace_back(name, value);
    }
    if (o.live == CtlOptions::Live::none) {
        if (interval_given)
            throw std::runtime_error("--interval goes with top --watch or top --once");
        return;
    }
    for (const auto& [name, value] : o.args)
        if (name != "window" && name != "limit")
            throw std::runtime_error(
                fmt::format("top --{} takes --interval, --window and --limit only, not --{}",
                            o.live == CtlOptions::Live::watch ? "watch" : "once", name));
}

// rstscopectl's options and the control commands with their arguments, from the one list the
// daemon registers (register_control_commands: what `rstscopectl help` asks a running rstscope).
std::string ctl_list_json(const po::options_description& options, const std::string& usage) {
    ControlCommands commands;
    const bool ready = false;
    register_control_commands(commands, ControlHandlers{}, ready);
    nlohmann::json groups = nlohmann::json::array();
    groups.push_back(option_list::group("Options", options));
    // ordered_json: the commands stay in the order `help` lists them.
    nlohmann::ordered_json out = {
        {"program", "rstscopectl"},
        {"version", rstscope_version},
        {"usage", usage},
        {"control_socket", default_control_socket},
        {"groups", nlohmann::ordered_json::parse(groups.dump())},
        {"commands", nlohmann::ordered_json::parse(commands.help_json())["commands"]}};
    return out.dump(1);
}

}  // namespace

std::string ctl_request(const CtlOptions& o) {
    std::string request = "/" + o.command;
    for (const auto& [name, value] : o.args)
        request += "," + name + "=" + value;
    return request;
}

CtlParseOutcome parse_ctl_options(int argc, const char* const* argv, double now_unix_s) {
    using option_text::unshield;
    CtlParseOutcome out;
    CtlOptions& o = out.options;
    std::vector<std::string> args(argv + 1, argv + argc);
    // The command's own arguments follow it; Boost sees only rstscopectl's options and the word.
    size_t command_at = command_index(args);
    std::vector<std::string> command_words;
    if (command_at + 1 < args.size()) {
        command_words.assign(args.begin() + static_cast<std::ptrdiff_t>(command_at) + 1,
                             args.end());
        args.resize(command_at + 1);
    }
    if (std::string problem = option_text::check_arguments(args);
        !problem.empty() || !(problem = option_text::check_arguments(command_words)).empty()) {
        out.status = CtlParseOutcome::Status::error;
        out.message = problem;
        return out;
    }
    // Boost never sees a '%' of the user's: see option_text.h.
    for (std::string& arg : args)
        arg = option_text::shield(arg);

    const std::string usage =
        "usage: rstscopectl [options] COMMAND [--ARGUMENT VALUE ...]\n"
        "  (`rstscopectl help` lists the commands and their arguments; e.g.\n"
        "   rstscopectl events --cause refused --host 203.0.113.7 --since 10m)\n"
        "live view: rstscopectl top --watch [--interval SECONDS] [--window 1m|10m|all]\n"
        "  [--limit N]: redrawn in place every interval (0.2 to 60 s, default 1), q or Ctrl-C\n"
        "  quits; top --once: the same view once as plain text (rates over one interval)\n"
        "exit codes: 0 answered, 1 an error answer or no answer in time, 2 a usage error,\n"
        "  3 rstscope is not running on the socket, 4 permission denied";
    po::options_description options(usage);
    const std::string timeout_help =
        fmt::format("seconds to wait for the answer ({} to {})", min_timeout_s, max_timeout_s);
    // clang-format off
    options.add_options()
        ("help,h", "show this help")
        ("version", "show the version and exit")
        ("socket", po::value<std::string>()->value_name("PATH")->default_value(o.socket_path),
         "control socket of rstscope")
        ("json", po::bool_switch(&o.json), "print the answer as one line of JSON")
        ("timeout", po::value<std::string>()->value_name("SECONDS")
                        ->default_value(fmt::format("{}", o.timeout_s)),
         timeout_help.c_str());
    // clang-format on
    po::options_description hidden;
    // --list-options: for tools (the man page and bash completion, tools/packaging/).
    hidden.add_options()("command", po::value<std::vector<std::string>>())("list-options", "");
    po::options_description all;
    all.add(options).add(hidden);
    po::positional_options_description positional;
    positional.add("command", -1);  // more than one word is refused below, naming the extra
    try {
        po::variables_map vm;
        po::store(po::command_line_parser(args).options(all).positional(positional).run(), vm);
        po::notify(vm);
        if (vm.count("help")) {
            std::ostringstream text;
            text << options << "\n";
            out.status = CtlParseOutcome::Status::exit_ok;
            out.message = text.str();
            return out;
        }
        if (vm.count("version")) {
            out.status = CtlParseOutcome::Status::exit_ok;
            out.message = fmt::format("rstscopectl {}\n", rstscope_version);
            return out;
        }
        if (vm.count("list-options")) {
            out.status = CtlParseOutcome::Status::exit_ok;
            out.message = ctl_list_json(options, usage) + "\n";
            return out;
        }
        o.socket_path = unshield(vm["socket"].as<std::string>());
        if (o.socket_path.empty()) throw std::runtime_error("--socket needs a path");
        if (o.socket_path.size() >= sizeof(sockaddr_un::sun_path))
            throw std::runtime_error(
                fmt::format("invalid value '{}' for --socket: a socket path has at most {} bytes",
                            o.socket_path, sizeof(sockaddr_un::sun_path) - 1));
        std::string timeout = unshield(vm["timeout"].as<std::string>());
        if (!option_text::parse_seconds(timeout, o.timeout_s) ||
            !(o.timeout_s >= min_timeout_s && o.timeout_s <= max_timeout_s))
            throw std::runtime_error(
                fmt::format("invalid value '{}' for --timeout: expected {} to {} seconds", timeout,
                            min_timeout_s, max_timeout_s));
        if (vm.count("command")) {
            const auto& words = vm["command"].as<std::vector<std::string>>();
            o.command = unshield(words.front());
            if (words.size() > 1)
                throw std::runtime_error(fmt::format(
                    "unexpected argument '{}' after the command '{}' (one command at a time)",
                    unshield(words[1]), o.command));
        }
        if (o.command.empty())
            throw std::runtime_error(
                "no command given (`rstscopectl help` asks rstscope for the list); rstscopectl "
                "--help lists the options");
        if (o.command.find_first_of(",={} \t") != std::string::npos || o.command.front() == '/')
            throw std::runtime_error(
                fmt::format("invalid command '{}' (`rstscopectl help` lists them)", o.command));
        parse_command_args(command_words, now_unix_s, o);
    } catch (const std::exception& e) {
        out.status = CtlParseOutcome::Status::error;
        out.message = unshield(e.what());
    }
    return out;
}

}  // namespace rstscope
