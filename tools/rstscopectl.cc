// SPDX-License-Identifier: BSD-3-Clause
// rstscopectl: asks a running rstscope over its control socket and prints the answer, as aligned
// tables for people or as the answer's one line of JSON (--json) for scripts.
//   rstscopectl [--socket PATH] [--json] [--timeout SECONDS] COMMAND [--ARGUMENT VALUE ...]
// Exit codes (docs/control.md): 0 answered; 1 an error answer, or no answer in time; 2 a usage
// error; 3 rstscope is not running on that socket; 4 permission denied.
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "live_view.h"
#include "rstscope/config/ctl_options.h"

namespace {

using nlohmann::json;

enum Exit { answered = 0, error_answer = 1, usage = 2, not_running = 3, permission = 4 };

std::string scalar_text(const json& v) {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_number_float()) return fmt::format("{}", v.get<double>());
    return v.dump();
}

// Rows of cells printed with each column as wide as its widest cell; numbers right-aligned.
void print_table(const std::vector<std::vector<std::string>>& rows,
                 const std::string& indent = "") {
    std::vector<size_t> width;
    for (const auto& row : rows)
        for (size_t c = 0; c < row.size(); ++c) {
            if (width.size() <= c) width.push_back(0);
            width[c] = std::max(width[c], row[c].size());
        }
    for (const auto& row : rows) {
        std::string line = indent;
        for (size_t c = 0; c < row.size(); ++c) {
            bool number =
                !row[c].empty() && row[c].find_first_not_of("0123456789.-") == std::string::npos;
            std::string pad(width[c] - row[c].size(), ' ');
            line += number ? pad + row[c] : row[c] + (c + 1 < row.size() ? pad : "");
            if (c + 1 < row.size()) line += "  ";
        }
        std::cout << line << "\n";
    }
}

// A table of objects: one column per key of the first object.
void print_objects(const json& array, const std::string& indent) {
    if (array.empty()) {
        std::cout << indent << "(none)\n";
        return;
    }
    std::vector<std::vector<std::string>> rows(1);
    for (const auto& [key, value] : array.front().items())
        rows[0].push_back(key);
    for (const json& item : array) {
        std::vector<std::string> row;
        for (const std::string& key : rows[0])
            row.push_back(item.contains(key) ? scalar_text(item[key]) : "");
        rows.push_back(row);
    }
    print_table(rows, indent);
}

// Any answer: its scalars as aligned name/value lines, each object and array as its own section.
void print_generic(const json& answer, const std::string& indent = "") {
    std::vector<std::vector<std::string>> scalars;
    for (const auto& [key, value] : answer.items())
        if (!value.is_structured() && key != "ok") scalars.push_back({key, scalar_text(value)});
    print_table(scalars, indent);
    for (const auto& [key, value] : answer.items()) {
        if (!value.is_structured()) continue;
        std::cout << indent << key << "\n";
        if (value.is_object())
            print_generic(value, indent + "  ");
        else if (!value.empty() && value.front().is_object())
            print_objects(value, indent + "  ");
        else
            for (const json& v : value)
                std::cout << indent << "  " << scalar_text(v) << "\n";
    }
}

std::string utc_time(double unix_s) {
    time_t whole = static_cast<time_t>(unix_s);
    tm t{};
    gmtime_r(&whole, &t);
    char text[32];
    strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", &t);
    return fmt::format("{}.{:03d}", text,
                       static_cast<int>((unix_s - static_cast<double>(whole)) * 1000));
}

std::string endpoint(const json& e, const char* host, const char* port) {
    std::string h = e.value(host, "");
    if (h.find(':') != std::string::npos) h = "[" + h + "]";
    return h + ":" + std::to_string(e.value(port, 0));
}

void print_events(const json& answer) {
    std::vector<std::vector<std::string>> rows{
        {"time (UTC)", "originator", "responder", "rst_by", "state", "cause", "confidence"}};
    for (const json& e : answer["events"])
        rows.push_back({utc_time(e.value("ts", 0.0)), endpoint(e, "orig_h", "orig_p"),
                        endpoint(e, "resp_h", "resp_p"), e.value("rst_by", ""),
                        e.value("conn_state", ""), e.value("cause", ""),
                        e.value("confidence", "")});
    print_table(rows);
    std::cout << fmt::format("{} shown of {} matching ({} recent events kept, at most {})\n",
                             answer["events"].size(), answer.value("matched", 0),
                             answer.value("kept", 0), answer.value("capacity", 0));
}

void print_top(const json& answer) {
    std::string window = answer["window"].is_string()
                             ? "since start"
                             : fmt::format("last {} s", scalar_text(answer["window"]));
    std::cout << fmt::format(
        "top {} by resets, {}{}{} (from {}{})\n", answer.value("by", ""), window,
        answer.contains("cause") ? ", cause " : "", answer.value("cause", ""),
        answer.value("source", ""),
        answer.value("complete", true) ? "" : "; incomplete: older events forgotten");
    std::vector<std::vector<std::string>> rows{{"host", "resets", "error"}};
    for (const json& r : answer["top"])
        rows.push_back({r.value("host", ""), scalar_text(r["resets"]), scalar_text(r["error"])});
    print_table(rows);
}

// The open findings, one line each: what, about what, since when, and the example events.
void print_findings(const json& answer) {
    std::vector<std::vector<std::string>> rows{
        {"id", "kind", "state", "since (UTC)", "subject", "example events"}};
    for (const json& f : answer["findings"]) {
        std::string subject;
        if (f.contains("subject"))
            for (const auto& [key, value] : f["subject"].items())
                subject += (subject.empty() ? "" : " ") + key + "=" + scalar_text(value);
        std::string examples;
        const json example_ids = f.value("example_events", json::array());
        for (const json& id : example_ids)
            examples += (examples.empty() ? "" : ",") + scalar_text(id);
        rows.push_back({scalar_text(f["id"]), f.value("kind", ""), f.value("state", ""),
                        utc_time(f.value("ts", 0.0)), subject, examples});
    }
    print_table(rows);
    std::string open, raised;
    const json open_by_kind = answer.value("open", json::object());
    const json raised_by_kind = answer.value("raised", json::object());
    for (const auto& [kind, n] : open_by_kind.items())
        open += fmt::format("{}{} {}", open.empty() ? "" : ", ", kind, scalar_text(n));
    for (const auto& [kind, n] : raised_by_kind.items())
        raised += fmt::format("{}{} {}", raised.empty() ? "" : ", ", kind, scalar_text(n));
    std::cout << "open: " << open << "\nraised since start: " << raised << "\n";
}

void print_human(const std::string& command, const json& answer) {
    if (command == "metrics" && answer.contains("metrics"))
        std::cout << answer["metrics"].get<std::string>();
    else if (command == "events" && answer.contains("events"))
        print_events(answer);
    else if (command == "top" && answer.contains("top"))
        print_top(answer);
    else if (command == "findings" && answer.contains("findings"))
        print_findings(answer);
    else if (command == "help" && answer.contains("commands")) {
        for (const auto& [name, entry] : answer["commands"].items()) {
            std::cout << fmt::format("{:<12} {}\n", name, entry.value("help", ""));
            for (const json& a : entry["args"])
                std::cout << fmt::format("    --{:<12} {} ({})\n", a.value("name", ""),
                                         a.value("help", ""), a.value("expects", ""));
        }
    } else
        print_generic(answer);
}

int connect_to(const std::string& path) {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
        int error = errno;
        close(fd);
        errno = error;
        return -1;
    }
    return fd;
}

}  // namespace

int main(int argc, char** argv) {
    double now =
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    rstscope::CtlParseOutcome parsed = rstscope::parse_ctl_options(argc, argv, now);
    if (parsed.status == rstscope::CtlParseOutcome::Status::exit_ok) {
        std::cout << parsed.message;
        return answered;
    }
    if (parsed.status == rstscope::CtlParseOutcome::Status::error) {
        std::cerr << "rstscopectl: error: " << parsed.message << "\n";
        return usage;
    }
    const rstscope::CtlOptions& o = parsed.options;
    if (o.live != rstscope::CtlOptions::Live::none) {
        rstscope::LiveViewOptions live;
        live.socket = o.socket_path;
        live.interval_s = o.interval_s;
        live.timeout_s = o.timeout_s;
        live.once = o.live == rstscope::CtlOptions::Live::once;
        for (const auto& [name, value] : o.args) {
            if (name == "window") live.window = value;
            if (name == "limit") live.limit = std::atoi(value.c_str());
        }
        return rstscope::run_live_view(live);
    }
    int fd = connect_to(o.socket_path);
    if (fd < 0) {
        int error = errno;
        std::cerr << "rstscopectl: error: cannot connect to " << o.socket_path << ": "
                  << std::strerror(error);
        if (error == EACCES || error == EPERM) {
            std::cerr << " (run as root or as a member of the socket's group: --control-group)\n";
            return permission;
        }
        std::cerr << " (is rstscope running with --control " << o.socket_path << "?)\n";
        return error == ENOENT || error == ECONNREFUSED ? not_running : error_answer;
    }
    std::string request = rstscope::ctl_request(o) + "\n";
    if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
        static_cast<ssize_t>(request.size())) {
        std::cerr << "rstscopectl: error: cannot send request: " << std::strerror(errno) << "\n";
        return error_answer;
    }
    std::string answer;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(o.timeout_s);
    while (answer.find('\n') == std::string::npos) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            std::cerr << "rstscopectl: error: no answer within " << o.timeout_s << " s\n";
            return error_answer;
        }
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
        char buffer[65536];
        ssize_t n = recv(fd, buffer, sizeof buffer, 0);
        if (n <= 0) break;
        answer.append(buffer, static_cast<size_t>(n));
    }
    close(fd);
    if (answer.empty()) {
        std::cerr << "rstscopectl: error: connection closed without an answer\n";
        return error_answer;
    }
    answer = answer.substr(0, answer.find('\n'));
    json parsed_answer = json::parse(answer, nullptr, false);
    if (parsed_answer.is_discarded() || !parsed_answer.is_object()) {
        std::cerr << "rstscopectl: error: the answer is not a JSON object: "
                  << answer.substr(0, 200) << "\n";
        return error_answer;
    }
    if (parsed_answer.contains("error")) {
        std::string message = scalar_text(parsed_answer["error"]);
        if (o.json)
            std::cout << answer << "\n";
        else
            std::cerr << "rstscopectl: error: " << message << "\n";
        return message.rfind("permission denied", 0) == 0 ? permission : error_answer;
    }
    if (o.json)
        std::cout << answer << "\n";
    else
        print_human(o.command, parsed_answer);
    return answered;
}
