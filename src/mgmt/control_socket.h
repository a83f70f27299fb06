// The control socket: a Unix stream socket served from the management lcore without blocking it.
// Each request is a line; each answer a line of JSON. Clients are capped; a client that sends a
// line longer than control_max_request gets an error and is disconnected. Management thread only.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace rstscope {

class ControlSocket {
  public:
    static constexpr size_t max_clients = 16;

    // Binds `path` (replacing a stale socket file, refusing one a live process serves).
    static std::unique_ptr<ControlSocket> open(const std::string& path, std::string& error);
    ~ControlSocket();
    ControlSocket(const ControlSocket&) = delete;
    ControlSocket& operator=(const ControlSocket&) = delete;

    struct Tally {
        uint64_t requests = 0;
        uint64_t refused_clients = 0;
    };
    // Accepts, reads and answers whatever is ready, then returns: never waits.
    void serve(const std::function<std::string(std::string_view)>& answer, Tally& tally);

  private:
    struct Client {
        int fd;
        std::string pending;
    };
    ControlSocket(int fd, std::string path) : listen_fd_(fd), path_(std::move(path)) {}
    void drop_client(size_t index);

    int listen_fd_;
    std::string path_;
    std::vector<Client> clients_;
};

}  // namespace rstscope
