// SPDX-License-Identifier: BSD-3-Clause
// --metrics-listen ADDR:PORT: a tiny HTTP/1.1 responder so that Prometheus scrapes the appliance
// directly. Served from the management lcore like the control socket, and like it never blocking:
// non-blocking sockets, one poll() with a zero timeout per serve(), at most max_clients
// connections, each closed after one answer, after timeout, or when its request exceeds
// max_request bytes. Management thread only; plain POSIX, no EAL.
//
// Why our own ~150 lines rather than a library: Debian 12's embeddable HTTP servers
// (libmicrohttpd, cpp-httplib, civetweb) run their own threads or block in their own loop, and
// management must stay one thread that never waits. A scrape is one GET answered by one body,
// closed after it (`Connection: close`): no keep-alive, chunking or pipelining to get wrong.
#pragma once

#include <poll.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace rstscope {

class MetricsHttp {
  public:
    static constexpr size_t max_clients = 16;
    static constexpr size_t max_request = 8192;
    static constexpr int64_t timeout_ns = 5'000'000'000;

    // "127.0.0.1:9100", "[::1]:9100", "0.0.0.0:9100". Setup only; nullptr and a one-line `error`
    // on failure.
    static std::unique_ptr<MetricsHttp> open(const std::string& address, std::string& error);
    ~MetricsHttp();
    MetricsHttp(const MetricsHttp&) = delete;
    MetricsHttp& operator=(const MetricsHttp&) = delete;

    // Accepts, reads and answers whatever is ready, never waiting. `metrics` makes the body of a
    // GET /metrics (called only when one is asked for).
    void serve(const std::function<std::string()>& metrics, int64_t now_ns);

    uint64_t scrapes() const { return scrapes_; }

  private:
    struct Client {
        int fd;
        int64_t accepted_ns;
        std::string input;
        std::string output;
        bool answered = false;
    };
    explicit MetricsHttp(int fd) : listen_fd_(fd) {}
    // false: close the client.
    bool serve_client(Client& c, short revents, const std::function<std::string()>& metrics);
    std::string respond(const std::string& request_line,
                        const std::function<std::string()>& metrics);

    int listen_fd_;
    std::vector<Client> clients_;
    std::vector<pollfd> poll_set_;
    uint64_t scrapes_ = 0;
};

}  // namespace rstscope
