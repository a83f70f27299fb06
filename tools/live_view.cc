// SPDX-License-Identifier: BSD-3-Clause
#include "live_view.h"

#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string_view>

#include <fmt/format.h>

#include "rstscope/analysis/verdict.h"
#include "rstscope/common/counters.h"
#include "rstscope/mgmt/stats.h"

namespace rstscope {
namespace {

using nlohmann::json;

// A member, or null when absent (const operator[] must not be given a missing key).
const json& at(const json& object, std::string_view key) {
    static const json none;
    if (!object.is_object()) return none;
    auto it = object.find(key);
    return it == object.end() ? none : *it;
}

std::string text_at(const json& object, std::string_view key, const char* absent = "") {
    const json& v = at(object, key);
    if (v.is_null()) return absent;
    return v.is_string() ? v.get<std::string>() : v.dump();
}

uint64_t count_of(const json& object, std::string_view key) {
    if (!object.is_object()) return 0;
    auto it = object.find(key);
    if (it == object.end() || !it->is_number_integer()) return 0;
    return it->is_number_unsigned()
               ? it->get<uint64_t>()
               : static_cast<uint64_t>(std::max<int64_t>(0, it->get<int64_t>()));
}

std::string rate_text(bool known, uint64_t before, uint64_t after, double seconds) {
    if (!known || !(seconds > 0) || after < before) return "-";
    return fmt::format("{:.1f}", static_cast<double>(after - before) / seconds);
}

std::string scalar_text(const json& v) {
    if (v.is_string()) return v.get<std::string>();
    return v.dump();
}

// `top` rows as "host  resets" lines of `width` columns; a note when the daemon said no.
std::vector<std::string> top_lines(const char* title, const std::string& window, const json& answer,
                                   size_t width) {
    std::vector<std::string> lines{
        fmt::format("{:<{}}{:>8}", fmt::format("{} ({})", title, window), width - 8, "resets")};
    if (answer.is_object() && answer.contains("top") && answer["top"].is_array()) {
        for (const json& row : answer["top"]) {
            std::string host = text_at(row, "host");
            if (host.size() > width - 10) host = host.substr(0, width - 10);
            lines.push_back(fmt::format("{:<{}}{:>8}", host, width - 8, count_of(row, "resets")));
        }
        if (answer["top"].empty()) lines.push_back("(no resets in the window)");
    } else {
        lines.push_back(answer.is_object() && answer.contains("error")
                            ? "(" + scalar_text(answer["error"]) + ")"
                            : "(no answer)");
    }
    return lines;
}

std::vector<std::string> finding_lines(const json& answer) {
    std::vector<std::string> lines;
    if (!answer.is_object()) {
        lines.push_back("OPEN FINDINGS");
        lines.push_back("  (no answer)");
        return lines;
    }
    if (answer.contains("error")) {
        lines.push_back("OPEN FINDINGS");
        lines.push_back("  (not available: " + scalar_text(answer["error"]) + ")");
        return lines;
    }
    std::vector<std::string> open;
    if (answer.contains("findings") && answer["findings"].is_array())
        for (const json& f : answer["findings"]) {
            if (!f.is_object() || text_at(f, "state") == "cleared") continue;
            std::string line = fmt::format("  #{} {} {}", text_at(f, "id", "?"),
                                           text_at(f, "kind", "?"), text_at(f, "state", "?"));
            for (const auto& [key, value] : f.items()) {
                if (key == "id" || key == "kind" || key == "state" || key == "type" ||
                    value.is_structured())
                    continue;
                line += fmt::format(" {}={}", key, scalar_text(value));
            }
            open.push_back(line);
        }
    lines.push_back(fmt::format("OPEN FINDINGS ({})", open.size()));
    if (open.empty()) lines.push_back("  (none)");
    lines.insert(lines.end(), open.begin(), open.end());
    return lines;
}

}  // namespace

std::vector<std::string> live_view_lines(const LiveHeading& heading, const LiveSample& previous,
                                         const LiveSample& now, size_t width, size_t height) {
    std::vector<std::string> lines;
    lines.push_back(fmt::format("rstscope top  {}  {}  every {:g} s{}", heading.socket,
                                heading.clock, heading.interval_s,
                                heading.watching ? "  (q or Ctrl-C quits)" : ""));
    if (!now.error.empty()) {
        lines.push_back("");
        lines.push_back("NOT ANSWERING: " + now.error);
    }
    const json& s = now.stats;
    bool rates = previous.stats.is_object() && s.is_object();
    double dt = now.at_s - previous.at_s;
    if (s.is_object()) {
        uint64_t total_resets = 0, before_resets = 0;
        for (std::string_view cause : reset_cause_names) {
            total_resets += count_of(at(s, "causes"), cause);
            if (rates) before_resets += count_of(at(previous.stats, "causes"), cause);
        }
        lines.push_back(fmt::format(
            "packets {} ({}/s)  resets {} ({}/s)  logged {}  dropped {}  events lost {}",
            count_of(s, "packets"),
            rate_text(rates, count_of(previous.stats, "packets"), count_of(s, "packets"), dt),
            total_resets, rate_text(rates, before_resets, total_resets, dt),
            count_of(s, "events_logged"), count_of(s, "dropped"), count_of(s, "events_lost")));
        lines.push_back("");
        lines.push_back(fmt::format("{:<24}{:>10}{:>12}", "RESETS BY CAUSE", "per s", "total"));
        size_t shown = 0;
        for (std::string_view cause : reset_cause_names) {
            uint64_t n = count_of(at(s, "causes"), cause);
            if (n == 0) continue;
            uint64_t before = rates ? count_of(at(previous.stats, "causes"), cause) : 0;
            lines.push_back(
                fmt::format("  {:<22}{:>10}{:>12}", cause, rate_text(rates, before, n, dt), n));
            ++shown;
        }
        if (shown == 0) lines.push_back("  (no resets yet)");
    }
    lines.push_back("");
    constexpr size_t column = 40;
    std::vector<std::string> left = top_lines("TOP SERVERS", heading.window, now.servers, column);
    std::vector<std::string> right = top_lines("TOP CLIENTS", heading.window, now.clients, column);
    for (size_t i = 0; i < std::max(left.size(), right.size()); ++i)
        lines.push_back(fmt::format("{:<{}}   {}", i < left.size() ? left[i] : "", column,
                                    i < right.size() ? right[i] : ""));
    lines.push_back("");
    for (std::string& line : finding_lines(now.findings))
        lines.push_back(std::move(line));
    if (s.is_object()) {
        lines.push_back("");
        // Every drop reason and every loss counter (the vocabulary's lists), those not zero.
        std::string nonzero;
        for (std::string_view reason : drop_reason_names)
            if (uint64_t n = count_of(at(s, "drops"), reason))
                nonzero += fmt::format("  {} {}", reason, n);
        for (size_t i = 0; i < worker_counter_count; ++i)
            if (worker_counter_kinds[i] == CounterKind::loss)
                if (uint64_t n = count_of(s, worker_counter_names[i]))
                    nonzero += fmt::format("  {} {}", worker_counter_names[i], n);
        for (size_t i = 0; i < management_counter_count; ++i)
            if (management_counter_kinds[i] == CounterKind::loss)
                if (uint64_t n = count_of(s, management_counter_names[i]))
                    nonzero += fmt::format("  {} {}", management_counter_names[i], n);
        lines.push_back(fmt::format("DROPS AND LOSSES  dropped {}", count_of(s, "dropped")));
        lines.push_back(nonzero.empty() ? "  (none)" : nonzero);
        lines.push_back("EVENT RINGS (worker: used/capacity)");
        std::string rings;
        if (s.contains("per_worker") && s["per_worker"].is_array())
            for (const json& w : s["per_worker"]) {
                uint64_t used = count_of(w, "event_ring_used");
                uint64_t capacity = count_of(w, "event_ring_capacity");
                rings += fmt::format(
                    "  {}: {}/{} ({:.1f} %)", count_of(w, "worker"), used, capacity,
                    capacity ? 100.0 * static_cast<double>(used) / static_cast<double>(capacity)
                             : 0.0);
            }
        lines.push_back(rings.empty() ? "  (not reported)" : rings);
    }
    if (width > 0)
        for (std::string& line : lines)
            if (line.size() > width) line.resize(width);
    if (height > 0 && lines.size() > height) lines.resize(height);
    return lines;
}

namespace {

volatile sig_atomic_t stop_requested = 0;
volatile sig_atomic_t resized = 0;

void on_stop(int) {
    stop_requested = 1;
}
void on_resize(int) {
    resized = 1;
}

double monotonic_s() {
    timespec t{};
    clock_gettime(CLOCK_MONOTONIC, &t);
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

std::string utc_clock() {
    time_t now = time(nullptr);
    tm t{};
    gmtime_r(&now, &t);
    char text[32];
    strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S UTC", &t);
    return text;
}

enum { answered = 0, error_answer = 1, usage = 2, not_running = 3, permission = 4 };

// One refresh: one connection, the four requests sent at once, the four answer lines read.
LiveSample take_sample(const LiveViewOptions& o, int& status) {
    LiveSample sample;
    status = answered;
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, o.socket.c_str(), o.socket.size() + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
        int error = errno;
        if (fd >= 0) close(fd);
        sample.error = fmt::format("cannot connect to {}: {}", o.socket, std::strerror(error));
        status = error == EACCES || error == EPERM          ? permission
                 : error == ENOENT || error == ECONNREFUSED ? not_running
                                                            : error_answer;
        return sample;
    }
    std::string requests = fmt::format(
        "/stats\n/top,by=servers,window={0},limit={1}\n/top,by=clients,window={0},limit={1}\n"
        "/findings\n",
        o.window, o.limit);
    if (send(fd, requests.data(), requests.size(), MSG_NOSIGNAL) !=
        static_cast<ssize_t>(requests.size())) {
        sample.error = fmt::format("cannot send: {}", std::strerror(errno));
        close(fd);
        status = error_answer;
        return sample;
    }
    std::string text;
    double deadline = monotonic_s() + o.timeout_s;
    while (std::count(text.begin(), text.end(), '\n') < 4) {
        double left = deadline - monotonic_s();
        if (left <= 0) break;
        pollfd p{fd, POLLIN, 0};
        int ready = poll(&p, 1, static_cast<int>(left * 1000) + 1);
        if (ready < 0 && errno == EINTR) {
            if (stop_requested) break;
            continue;
        }
        if (ready <= 0) continue;
        char buffer[65536];
        ssize_t n = recv(fd, buffer, sizeof buffer, 0);
        if (n <= 0) break;
        text.append(buffer, static_cast<size_t>(n));
    }
    close(fd);
    sample.at_s = monotonic_s();
    json* into[] = {&sample.stats, &sample.servers, &sample.clients, &sample.findings};
    size_t start = 0;
    for (json* answer : into) {
        size_t end = text.find('\n', start);
        if (end == std::string::npos) break;
        *answer = json::parse(std::string_view(text).substr(start, end - start), nullptr, false);
        if (answer->is_discarded()) *answer = nullptr;
        start = end + 1;
    }
    if (!sample.stats.is_object() || sample.stats.contains("error")) {
        sample.error = sample.stats.is_object()
                           ? scalar_text(sample.stats["error"])
                           : fmt::format("no answer within {:g} s", o.timeout_s);
        sample.stats = nullptr;
        status = error_answer;
    }
    return sample;
}

void terminal_size(size_t& width, size_t& height) {
    winsize size{};
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) {
        width = size.ws_col;
        height = size.ws_row;
    } else {
        width = 80;
        height = 24;
    }
}

void write_all(std::string_view text) {
    while (!text.empty()) {
        ssize_t n = write(STDOUT_FILENO, text.data(), text.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        text.remove_prefix(static_cast<size_t>(n));
    }
}

// The alternate screen, no cursor, keys read one at a time without echo: entered by the
// constructor, left by the destructor whatever ends the view.
class Screen {
  public:
    Screen() {
        if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved_) == 0) {
            termios raw = saved_;
            raw.c_lflag &= static_cast<tcflag_t>(~(ICANON | ECHO));
            raw.c_cc[VMIN] = 0;
            raw.c_cc[VTIME] = 0;
            keys_ = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
        }
        write_all("\x1b[?1049h\x1b[?25l");
    }
    ~Screen() {
        write_all("\x1b[?25h\x1b[?1049l");
        if (keys_) tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
    }
    Screen(const Screen&) = delete;
    Screen& operator=(const Screen&) = delete;
    bool keys() const { return keys_; }

    void draw(const std::vector<std::string>& lines) {
        std::string frame = "\x1b[H";
        for (const std::string& line : lines)
            frame += line + "\x1b[K\n";
        frame += "\x1b[J";
        write_all(frame);
    }

  private:
    termios saved_{};
    bool keys_ = false;
};

}  // namespace

int run_live_view(const LiveViewOptions& o) {
    LiveHeading heading;
    heading.socket = o.socket;
    heading.interval_s = o.interval_s;
    heading.watching = !o.once;
    heading.window = o.window;
    int status = answered;
    if (o.once) {
        // Rates need two answers: one now, one an interval later.
        LiveSample first = take_sample(o, status);
        if (status != answered) {
            std::fprintf(stderr, "rstscopectl: error: %s\n", first.error.c_str());
            return status;
        }
        timespec pause{
            static_cast<time_t>(o.interval_s),
            static_cast<long>(
                (o.interval_s - static_cast<double>(static_cast<time_t>(o.interval_s))) * 1e9)};
        nanosleep(&pause, nullptr);
        LiveSample second = take_sample(o, status);
        if (status != answered) {
            std::fprintf(stderr, "rstscopectl: error: %s\n", second.error.c_str());
            return status;
        }
        heading.clock = utc_clock();
        std::string text;
        for (const std::string& line : live_view_lines(heading, first, second, 0, 0))
            text += line + "\n";
        write_all(text);
        return answered;
    }
    if (!isatty(STDOUT_FILENO)) {
        std::fprintf(stderr,
                     "rstscopectl: error: top --watch draws on a terminal; use top --once for "
                     "plain text\n");
        return usage;
    }
    struct sigaction action {};
    sigemptyset(&action.sa_mask);
    action.sa_handler = on_stop;  // no SA_RESTART: poll() returns at once
    sigaction(SIGINT, &action, nullptr);
    sigaction(SIGTERM, &action, nullptr);
    sigaction(SIGHUP, &action, nullptr);
    action.sa_handler = on_resize;
    sigaction(SIGWINCH, &action, nullptr);
    Screen screen;
    LiveSample previous, now;
    size_t width = 80, height = 24;
    double next_sample = 0;
    bool keys = screen.keys();
    while (!stop_requested) {
        if (monotonic_s() >= next_sample) {
            previous = std::move(now);
            now = take_sample(o, status);
            if (!now.error.empty()) previous = LiveSample{};  // rates restart after an outage
            heading.clock = utc_clock();
            next_sample = monotonic_s() + o.interval_s;
        }
        resized = 0;
        terminal_size(width, height);
        screen.draw(live_view_lines(heading, previous, now, width, height));
        // Wait for the next refresh, a key, a resize or a signal.
        double left = next_sample - monotonic_s();
        pollfd p{STDIN_FILENO, POLLIN, 0};
        int ready = poll(&p, keys ? 1 : 0, std::max(0, static_cast<int>(left * 1000)));
        if (ready > 0) {
            char key = 0;
            ssize_t n = read(STDIN_FILENO, &key, 1);
            if (n == 1 && (key == 'q' || key == 'Q')) break;
            if (n == 0 || (p.revents & (POLLHUP | POLLERR))) keys = false;  // no keyboard any more
        }
    }
    return answered;
}

}  // namespace rstscope
