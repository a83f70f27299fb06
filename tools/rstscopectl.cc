// SPDX-License-Identifier: BSD-3-Clause
// rstscopectl: asks a running rstscope over its control socket and prints the answer.
//   rstscopectl [--socket PATH] [--json] [--timeout SECONDS] COMMAND   (`rstscopectl help` lists
//   the commands rstscope serves)
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>

#include "rstscope/config/ctl_options.h"

namespace {

// Indents a one-line JSON answer for people; strings are copied untouched.
std::string pretty(const std::string& json) {
    std::string out;
    int depth = 0;
    bool in_string = false, escaped = false;
    auto newline = [&] { out += '\n' + std::string(static_cast<size_t>(depth) * 2, ' '); };
    for (char c : json) {
        if (in_string) {
            out += c;
            if (escaped)
                escaped = false;
            else if (c == '\\')
                escaped = true;
            else if (c == '"')
                in_string = false;
            continue;
        }
        switch (c) {
            case '"':
                in_string = true;
                out += c;
                break;
            case '{':
            case '[':
                out += c;
                ++depth;
                newline();
                break;
            case '}':
            case ']':
                --depth;
                newline();
                out += c;
                break;
            case ',':
                out += c;
                newline();
                break;
            case ':':
                out += ": ";
                break;
            default:
                out += c;
        }
    }
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    rstscope::CtlParseOutcome parsed = rstscope::parse_ctl_options(argc, argv);
    if (parsed.status == rstscope::CtlParseOutcome::Status::exit_ok) {
        std::cout << parsed.message;
        return 0;
    }
    if (parsed.status == rstscope::CtlParseOutcome::Status::error) {
        std::cerr << "rstscopectl: error: " << parsed.message << "\n";
        return 2;
    }
    const std::string& socket_path = parsed.options.socket_path;
    const std::string& command = parsed.options.command;
    const double timeout_s = parsed.options.timeout_s;
    const bool raw_json = parsed.options.json;

    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (socket_path.size() >= sizeof address.sun_path) {
        std::cerr << "rstscopectl: error: socket path too long\n";
        return 2;
    }
    std::memcpy(address.sun_path, socket_path.c_str(), socket_path.size() + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
        std::cerr << "rstscopectl: error: cannot connect to " << socket_path << ": "
                  << std::strerror(errno) << " (is rstscope running with --control " << socket_path
                  << "?)\n";
        return 1;
    }
    std::string request = command + "\n";
    if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
        static_cast<ssize_t>(request.size())) {
        std::cerr << "rstscopectl: error: cannot send request: " << std::strerror(errno) << "\n";
        return 1;
    }
    std::string answer;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    while (answer.find('\n') == std::string::npos) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            std::cerr << "rstscopectl: error: no answer within " << timeout_s << " s\n";
            return 1;
        }
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
        char buffer[4096];
        ssize_t n = recv(fd, buffer, sizeof buffer, 0);
        if (n <= 0) break;
        answer.append(buffer, static_cast<size_t>(n));
    }
    close(fd);
    if (answer.empty()) {
        std::cerr << "rstscopectl: error: connection closed without an answer\n";
        return 1;
    }
    answer = answer.substr(0, answer.find('\n'));
    std::cout << (raw_json ? answer : pretty(answer)) << "\n";
    return answer.rfind("{\"error\"", 0) == 0 ? 1 : 0;
}
