// SPDX-License-Identifier: BSD-3-Clause
#include "rstscope/config/ctl_options.h"

#include <sys/un.h>

#include <sstream>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>
#include <boost/program_options.hpp>

#include "option_text.h"

namespace po = boost::program_options;

namespace rstscope {
namespace {

// Up to an hour: rstscopectl waits with poll() in milliseconds held in an int, and no answer
// takes longer than a stats dump.
constexpr double min_timeout_s = 0.001;
constexpr double max_timeout_s = 3600;

}  // namespace

CtlParseOutcome parse_ctl_options(int argc, const char* const* argv) {
    using option_text::unshield;
    CtlParseOutcome out;
    CtlOptions& o = out.options;
    std::vector<std::string> args(argv + 1, argv + argc);
    if (std::string problem = option_text::check_arguments(args); !problem.empty()) {
        out.status = CtlParseOutcome::Status::error;
        out.message = problem;
        return out;
    }
    // Boost never sees a '%' of the user's: see option_text.h.
    for (std::string& arg : args)
        arg = option_text::shield(arg);

    po::options_description options(
        "usage: rstscopectl [options] COMMAND (`rstscopectl help` lists the commands)");
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
    hidden.add_options()("command", po::value<std::vector<std::string>>());
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
    } catch (const std::exception& e) {
        out.status = CtlParseOutcome::Status::error;
        out.message = unshield(e.what());
    }
    return out;
}

}  // namespace rstscope
