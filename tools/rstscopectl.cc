// SPDX-License-Identifier: BSD-3-Clause
// rstscopectl: asks a running rstscope over its control socket and prints the answer, as aligned
// tables for people or as the answer's one line of JSON (--json) for scripts.
//   rstscopectl [--socket PATH] [--json] [--timeout SECONDS] COMMAND [--ARGUMENT VALUE ...]
//   rstscopectl [--socket PATH] pcap EVENT-ID -o FILE [--dir DIR]
// `pcap` is the client's own: it writes the flight recorder's packets of one reset event as a
// pcap of their own, read from --dir or from the directory the running daemon's `config` names.
// Exit codes (docs/control.md): 0 answered; 1 an error answer, or no answer in time; 2 a usage
// error; 3 rstscope is not running on that socket; 4 permission denied.
#include <dirent.h>
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
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "live_view.h"
#include "rstscope/config/ctl_options.h"
#include "rstscope/mgmt/pcapng.h"

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
        // Appended piece by piece: GCC 12 warns (-Wstringop-overflow, a false positive under LTO)
        // on a C string plus a temporary std::string here.
        for (const json& id : example_ids) {
            if (!examples.empty()) examples += ',';
            examples += scalar_text(id);
        }
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

// Sends one request line and reads the answer's line; returns an Exit code, `answer` on success.
int ask(const std::string& socket_path, double timeout_s, const std::string& request_line,
        std::string& answer) {
    int fd = connect_to(socket_path);
    if (fd < 0) {
        int error = errno;
        std::cerr << "rstscopectl: error: cannot connect to " << socket_path << ": "
                  << std::strerror(error);
        if (error == EACCES || error == EPERM) {
            std::cerr << " (run as root or as a member of the socket's group: --control-group)\n";
            return permission;
        }
        std::cerr << " (is rstscope running with --control " << socket_path << "?)\n";
        return error == ENOENT || error == ECONNREFUSED ? not_running : error_answer;
    }
    std::string request = request_line + "\n";
    if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
        static_cast<ssize_t>(request.size())) {
        std::cerr << "rstscopectl: error: cannot send request: " << std::strerror(errno) << "\n";
        close(fd);
        return error_answer;
    }
    answer.clear();
    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    while (answer.find('\n') == std::string::npos) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            std::cerr << "rstscopectl: error: no answer within " << timeout_s << " s\n";
            close(fd);
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
    return answered;
}

// `pcap EVENT-ID -o FILE [--dir DIR]`, with rstscopectl's --socket and --timeout before it.
struct PcapRequest {
    std::string socket_path = rstscope::default_control_socket;
    double timeout_s = 5.0;
    uint64_t event = 0;
    std::string output;
    std::string dir;
};

// Whether the command word is `pcap`; fills `r` or says what is wrong in `problem`.
bool parse_pcap_request(int argc, char** argv, PcapRequest& r, std::string& problem) {
    std::vector<std::string> words(argv + 1, argv + argc);
    bool is_pcap = false;
    for (size_t i = 0; i < words.size(); ++i) {
        const std::string& w = words[i];
        bool takes_value =
            w == "--socket" || w == "--timeout" || w == "-o" || w == "--output" || w == "--dir";
        if (takes_value) {
            ++i;
            continue;
        }
        if (w.rfind("-", 0) != 0) {
            is_pcap = w == "pcap";
            break;
        }
    }
    if (!is_pcap) return false;
    bool command_seen = false;
    for (size_t i = 0; i < words.size(); ++i) {
        std::string w = words[i], value;
        if (size_t eq = w.find('='); w.rfind("--", 0) == 0 && eq != std::string::npos) {
            value = w.substr(eq + 1);
            w = w.substr(0, eq);
            words.insert(words.begin() + static_cast<std::ptrdiff_t>(i) + 1, value);
        }
        bool takes_value =
            w == "--socket" || w == "--timeout" || w == "-o" || w == "--output" || w == "--dir";
        if (takes_value) {
            if (i + 1 >= words.size()) {
                problem = w + " needs a value";
                return true;
            }
            value = words[++i];
            if (w == "--socket") r.socket_path = value;
            if (w == "-o" || w == "--output") r.output = value;
            if (w == "--dir") r.dir = value;
            if (w == "--timeout") {
                char* end = nullptr;
                r.timeout_s = std::strtod(value.c_str(), &end);
                if (*end != '\0' || !(r.timeout_s > 0 && r.timeout_s <= 3600)) {
                    problem = "invalid value '" + value + "' for --timeout: 0 to 3600 seconds";
                    return true;
                }
            }
        } else if (!command_seen && w == "pcap") {
            command_seen = true;
        } else if (command_seen && r.event == 0 && !w.empty() &&
                   w.find_first_not_of("0123456789") == std::string::npos && w.size() <= 19) {
            r.event = std::stoull(w);
        } else {
            problem = "unexpected argument '" + w + "' (usage: rstscopectl [--socket PATH] pcap " +
                      "EVENT-ID -o FILE [--dir DIR])";
            return true;
        }
    }
    if (r.event == 0)
        problem = "pcap needs an event id (the event's \"id\", from 1)";
    else if (r.output.empty())
        problem = "pcap needs -o FILE (- for standard output)";
    return true;
}

// The recorder's files in `dir`, newest first: an event's packets are in one file, and a recent
// event is the likelier question.
std::vector<std::string> flight_files(const std::string& dir) {
    std::vector<std::string> names;
    if (DIR* d = opendir(dir.c_str())) {
        while (dirent* e = readdir(d)) {
            std::string name = e->d_name;
            if (name.rfind("flight-", 0) == 0 && name.size() > 14 &&
                name.compare(name.size() - 7, 7, ".pcapng") == 0)
                names.push_back(name);
        }
        closedir(d);
    }
    // Zero-padded numbers: text order is number order (up to 999999, then longer names).
    std::sort(names.begin(), names.end(), [](const std::string& a, const std::string& b) {
        return a.size() != b.size() ? a.size() > b.size() : a > b;
    });
    return names;
}

int write_event_pcap(const PcapRequest& r) {
    std::string dir = r.dir;
    if (dir.empty()) {
        std::string answer;
        if (int rc = ask(r.socket_path, r.timeout_s, "/config", answer); rc != answered) return rc;
        json config = json::parse(answer, nullptr, false);
        if (config.is_object() && config.contains("recorder-dir") &&
            config["recorder-dir"].is_string())
            dir = config["recorder-dir"].get<std::string>();
        if (dir.empty()) {
            std::cerr << "rstscopectl: error: the flight recorder is off (no --recorder-dir)\n";
            return error_answer;
        }
    }
    std::string out;
    uint64_t packets = 0;
    uint16_t link = 0;
    std::string found_in;
    for (const std::string& name : flight_files(dir)) {
        std::ifstream in(dir + "/" + name, std::ios::binary);
        std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        rstscope::pcapng::read_packets(bytes, [&](const rstscope::pcapng::Packet& p) {
            if (rstscope::pcapng::event_of_comment(p.comment) != r.event) return packets == 0;
            if (packets == 0) {
                link = p.link;
                rstscope::pcapng::append_pcap_header(out, link);
            }
            if (p.link == link) {
                rstscope::pcapng::append_pcap_record(out, p.ts_ns, p.data, p.length);
                ++packets;
            }
            return true;
        });
        if (packets) {
            found_in = name;
            break;
        }
    }
    if (packets == 0) {
        std::cerr << "rstscopectl: error: no packets of event " << r.event << " in " << dir
                  << " (rotated out, or the recorder kept none for it)\n";
        return error_answer;
    }
    if (r.output == "-") {
        std::cout.write(out.data(), static_cast<std::streamsize>(out.size()));
        std::cout.flush();
    } else {
        std::ofstream file(r.output, std::ios::binary | std::ios::trunc);
        file.write(out.data(), static_cast<std::streamsize>(out.size()));
        if (!file.flush()) {
            std::cerr << "rstscopectl: error: cannot write " << r.output << "\n";
            return error_answer;
        }
        std::cerr << fmt::format("{} packets of event {} from {}/{} written to {}\n", packets,
                                 r.event, dir, found_in, r.output);
    }
    return answered;
}

}  // namespace

int main(int argc, char** argv) {
    {
        PcapRequest pcap;
        std::string problem;
        if (parse_pcap_request(argc, argv, pcap, problem)) {
            if (!problem.empty()) {
                std::cerr << "rstscopectl: error: " << problem << "\n";
                return usage;
            }
            return write_event_pcap(pcap);
        }
    }
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
    std::string answer;
    if (int rc = ask(o.socket_path, o.timeout_s, rstscope::ctl_request(o), answer); rc != answered)
        return rc;
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
