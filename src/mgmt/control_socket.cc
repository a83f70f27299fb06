#include "control_socket.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "rstscope/mgmt/control_protocol.h"

namespace rstscope {
namespace {

bool fill_address(const std::string& path, sockaddr_un& address) {
    std::memset(&address, 0, sizeof address);
    address.sun_family = AF_UNIX;
    if (path.size() >= sizeof address.sun_path) return false;
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    return true;
}

void send_all(int fd, const std::string& text) {
    size_t sent = 0;
    while (sent < text.size()) {
        ssize_t n = send(fd, text.data() + sent, text.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) return;  // a client that stops reading loses its answer, not our loop
        sent += static_cast<size_t>(n);
    }
}

}  // namespace

std::unique_ptr<ControlSocket> ControlSocket::open(const std::string& path, std::string& error) {
    sockaddr_un address;
    if (!fill_address(path, address)) {
        error = "control socket path too long: " + path;
        return nullptr;
    }
    std::error_code ec;
    std::filesystem::path parent = std::filesystem::path(path).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        error = std::string("cannot create control socket: ") + std::strerror(errno);
        return nullptr;
    }
    struct stat st;
    if (lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            error = "control socket path exists and is not a socket: " + path;
            close(fd);
            return nullptr;
        }
        int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        bool live = probe >= 0 &&
                    connect(probe, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
        if (probe >= 0) close(probe);
        if (live) {
            error = "control socket " + path + " is served by another running rstscope";
            close(fd);
            return nullptr;
        }
        unlink(path.c_str());  // stale: left by a process that died
    }
    if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        listen(fd, 16) != 0) {
        error = "cannot listen on control socket " + path + ": " + std::strerror(errno);
        close(fd);
        return nullptr;
    }
    chmod(path.c_str(), 0660);
    return std::unique_ptr<ControlSocket>(new ControlSocket(fd, path));
}

ControlSocket::~ControlSocket() {
    for (Client& c : clients_)
        close(c.fd);
    close(listen_fd_);
    unlink(path_.c_str());
}

void ControlSocket::drop_client(size_t index) {
    close(clients_[index].fd);
    clients_.erase(clients_.begin() + static_cast<std::ptrdiff_t>(index));
}

void ControlSocket::serve(const std::function<std::string(std::string_view)>& answer,
                          Tally& tally) {
    for (;;) {
        int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) break;
        if (clients_.size() >= max_clients) {
            send_all(fd, control_error_json("too many control clients") + "\n");
            close(fd);
            ++tally.refused_clients;
            continue;
        }
        clients_.push_back({fd, {}});
    }
    for (size_t i = 0; i < clients_.size();) {
        Client& c = clients_[i];
        char buffer[512];
        bool closed = false;
        for (;;) {
            ssize_t n = recv(c.fd, buffer, sizeof buffer, 0);
            if (n > 0) {
                c.pending.append(buffer, static_cast<size_t>(n));
                if (c.pending.size() > 4 * control_max_request) break;
                continue;
            }
            if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
                closed = true;
            break;
        }
        size_t newline;
        while ((newline = c.pending.find('\n')) != std::string::npos) {
            std::string line = c.pending.substr(0, newline);
            c.pending.erase(0, newline + 1);
            if (line.size() > control_max_request) {
                send_all(c.fd, control_error_json("request too long") + "\n");
                closed = true;
                break;
            }
            send_all(c.fd, answer(line) + "\n");
            ++tally.requests;
        }
        if (!closed && c.pending.size() > control_max_request) {
            send_all(c.fd, control_error_json("request too long") + "\n");
            closed = true;
        }
        if (closed) {
            // A request without its newline before the client hung up is still answered.
            if (!c.pending.empty() && c.pending.size() <= control_max_request) {
                send_all(c.fd, answer(c.pending) + "\n");
                ++tally.requests;
            }
            drop_client(i);
        } else {
            ++i;
        }
    }
}

}  // namespace rstscope
