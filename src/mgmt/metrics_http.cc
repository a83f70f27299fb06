// SPDX-License-Identifier: BSD-3-Clause
// Management thread only; nothing here may block (see metrics_http.h).
#include "metrics_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include <fmt/format.h>

namespace rstscope {
namespace {

bool parse_address(const std::string& text, sockaddr_storage& address, socklen_t& length) {
    size_t colon = text.rfind(':');
    if (colon == std::string::npos || colon + 1 == text.size()) return false;
    std::string host = text.substr(0, colon);
    unsigned port = 0;
    const char* digits = text.c_str() + colon + 1;
    auto [end, ec] = std::from_chars(digits, text.c_str() + text.size(), port);
    if (ec != std::errc() || end != text.c_str() + text.size() || port > 65535) return false;
    std::memset(&address, 0, sizeof address);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
        auto* a = reinterpret_cast<sockaddr_in6*>(&address);
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(static_cast<uint16_t>(port));
        length = sizeof *a;
        return inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), &a->sin6_addr) == 1;
    }
    auto* a = reinterpret_cast<sockaddr_in*>(&address);
    a->sin_family = AF_INET;
    a->sin_port = htons(static_cast<uint16_t>(port));
    length = sizeof *a;
    return inet_pton(AF_INET, host.c_str(), &a->sin_addr) == 1;
}

std::string http_answer(std::string_view status, std::string_view type, const std::string& body) {
    return fmt::format(
        "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
        status, type, body.size(), body);
}

}  // namespace

std::unique_ptr<MetricsHttp> MetricsHttp::open(const std::string& text, std::string& error) {
    sockaddr_storage address;
    socklen_t length = 0;
    if (!parse_address(text, address, length)) {
        error = "invalid value '" + text +
                "' for --metrics-listen: expected ADDRESS:PORT (127.0.0.1:9100, [::1]:9100)";
        return nullptr;
    }
    int fd = socket(address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        error = "cannot create the metrics socket: " + std::string(std::strerror(errno));
        return nullptr;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, reinterpret_cast<sockaddr*>(&address), length) != 0 || listen(fd, 64) != 0) {
        error = "cannot listen for metrics on " + text + ": " + std::strerror(errno);
        close(fd);
        return nullptr;
    }
    return std::unique_ptr<MetricsHttp>(new MetricsHttp(fd));
}

MetricsHttp::~MetricsHttp() {
    for (Client& c : clients_)
        close(c.fd);
    close(listen_fd_);
}

std::string MetricsHttp::respond(const std::string& request_line,
                                 const std::function<std::string()>& metrics) {
    // "GET /metrics HTTP/1.1": a query string is ignored, as Prometheus sends none.
    if (request_line.rfind("GET ", 0) != 0)
        return http_answer("405 Method Not Allowed", "text/plain", "GET /metrics only\n");
    size_t path_start = request_line.find(' ') + 1;
    std::string path =
        request_line.substr(path_start, request_line.find(' ', path_start) - path_start);
    path = path.substr(0, path.find('?'));
    if (path != "/metrics") return http_answer("404 Not Found", "text/plain", "GET /metrics\n");
    ++scrapes_;
    return http_answer("200 OK", "text/plain; version=0.0.4; charset=utf-8", metrics());
}

bool MetricsHttp::serve_client(Client& c, short revents,
                               const std::function<std::string()>& metrics) {
    if (revents & (POLLERR | POLLNVAL)) return false;
    if (!c.answered && (revents & (POLLIN | POLLHUP))) {
        char buffer[4096];
        ssize_t n = recv(c.fd, buffer, sizeof buffer, MSG_DONTWAIT);
        if (n <= 0 && !(n < 0 && (errno == EAGAIN || errno == EINTR))) return false;
        if (n > 0) c.input.append(buffer, static_cast<size_t>(n));
        if (c.input.find("\r\n\r\n") != std::string::npos ||
            c.input.find("\n\n") != std::string::npos) {
            c.output = respond(c.input.substr(0, c.input.find_first_of("\r\n")), metrics);
            c.answered = true;
        } else if (c.input.size() > max_request) {
            c.output = http_answer("431 Request Header Fields Too Large", "text/plain", "");
            c.answered = true;
        }
    }
    while (!c.output.empty()) {
        ssize_t n = send(c.fd, c.output.data(), c.output.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            c.output.erase(0, static_cast<size_t>(n));
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) return true;
        return false;
    }
    return !c.answered;  // answered and sent: close
}

void MetricsHttp::serve(const std::function<std::string()>& metrics, int64_t now_ns) {
    for (size_t i = clients_.size(); i-- > 0;) {
        if (now_ns - clients_[i].accepted_ns > timeout_ns) {
            close(clients_[i].fd);
            clients_.erase(clients_.begin() + static_cast<std::ptrdiff_t>(i));
        }
    }
    while (clients_.size() < max_clients) {
        int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) break;
        clients_.push_back(Client{fd, now_ns, {}, {}, false});
    }
    if (clients_.empty()) return;
    poll_set_.resize(clients_.size());
    for (size_t i = 0; i < clients_.size(); ++i)
        poll_set_[i] =
            pollfd{clients_[i].fd, static_cast<short>(clients_[i].answered ? POLLOUT : POLLIN), 0};
    if (poll(poll_set_.data(), poll_set_.size(), 0) <= 0) return;
    for (size_t i = clients_.size(); i-- > 0;) {
        if (poll_set_[i].revents == 0) continue;
        if (!serve_client(clients_[i], poll_set_[i].revents, metrics)) {
            close(clients_[i].fd);
            clients_.erase(clients_.begin() + static_cast<std::ptrdiff_t>(i));
        }
    }
}

}  // namespace rstscope
