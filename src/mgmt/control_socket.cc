// SPDX-License-Identifier: BSD-3-Clause
// The control socket. Management thread only; nothing here may block: every socket is
// non-blocking, the one poll() per serve() has a zero timeout, and each client gets a bounded
// share of each call (ControlSocketConfig). See control_socket.h for the safety contract.
#include "control_socket.h"

#include <grp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "rstscope/common/monotonic_clock.h"

namespace rstscope {
namespace {

bool fill_address(const std::string& path, sockaddr_un& address) {
    std::memset(&address, 0, sizeof address);
    address.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof address.sun_path) return false;
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    return true;
}

std::string errno_text(int error) {
    return std::strerror(error);
}

// One attempt, never waiting: the error line of a connection refused at accept (its socket is
// fresh, so there is room for it).
void send_refusal(int fd, std::string_view message) {
    std::string line = control_error_json(message) + "\n";
    (void)send(fd, line.data(), line.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

enum class Liveness { live_accepting, live_not_accepting, stale, gone, unknown };

// Whether a process listens on the socket file at `address`, without waiting. A non-blocking
// connect to a Unix socket completes at once while the listener's backlog has room, fails with
// EAGAIN when it is full (a stopped or stuck process: a blocking connect would wait forever,
// issue #12) and with ECONNREFUSED when nobody listens (the file of a process that died).
Liveness probe_listener(const sockaddr_un& address, int& error) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        error = errno;
        return Liveness::unknown;
    }
    int rc = connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address);
    error = rc == 0 ? 0 : errno;
    close(fd);
    if (rc == 0) return Liveness::live_accepting;
    if (error == EAGAIN || error == EWOULDBLOCK || error == EINPROGRESS)
        return Liveness::live_not_accepting;
    if (error == ECONNREFUSED) return Liveness::stale;
    if (error == ENOENT) return Liveness::gone;
    return Liveness::unknown;
}

// Creates the missing directories above `path` (mode 0755) and lists them, outermost first, so
// that an open that fails later can remove them again.
bool make_parent_directories(const std::string& path, std::vector<std::string>& created,
                             std::string& error) {
    std::vector<std::string> missing;
    std::string dir =
        path.substr(0, path.find_last_of('/') == std::string::npos ? 0 : path.find_last_of('/'));
    struct stat st;
    while (!dir.empty() && lstat(dir.c_str(), &st) != 0 && errno == ENOENT) {
        missing.push_back(dir);
        size_t slash = dir.find_last_of('/');
        dir.resize(slash == std::string::npos ? 0 : slash);
    }
    for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
        if (mkdir(it->c_str(), 0755) != 0 && errno != EEXIST) {
            error =
                "cannot create directory " + *it + " for the control socket: " + errno_text(errno);
            return false;
        }
        created.push_back(*it);
    }
    return true;
}

void remove_directories(const std::vector<std::string>& created) {
    for (auto it = created.rbegin(); it != created.rend(); ++it)
        rmdir(it->c_str());
}

bool lookup_group(const std::string& name, gid_t& gid, std::string& error) {
    std::vector<char> buffer(16384);
    group entry;
    group* found = nullptr;
    int rc = getgrnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found);
    if (rc != 0 || !found) {
        error = "control socket group " + name + ": " +
                (rc != 0 ? errno_text(rc) : std::string("no such group"));
        return false;
    }
    gid = found->gr_gid;
    return true;
}

}  // namespace

ControlSocket::ControlSocket(int fd, std::string path, dev_t dev, ino_t ino, gid_t group,
                             const ControlSocketConfig& config)
    : listen_fd_(fd),
      path_(std::move(path)),
      file_dev_(dev),
      file_ino_(ino),
      socket_group_(group),
      own_uid_(geteuid()),
      config_(config) {}

std::unique_ptr<ControlSocket> ControlSocket::open(const std::string& path,
                                                   const ControlSocketConfig& config,
                                                   std::string& error) {
    sockaddr_un address;
    if (!fill_address(path, address)) {
        error = "control socket path is empty or too long (at most " +
                std::to_string(sizeof address.sun_path - 1) + " bytes): " + path;
        return nullptr;
    }
    if (config.max_clients == 0 || config.max_request == 0 || config.max_output == 0 ||
        config.max_read_per_serve == 0 || config.max_requests_per_serve == 0 ||
        config.idle_timeout.count() <= 0) {
        error = "control socket limits must be positive (clients, idle timeout, request, output)";
        return nullptr;
    }
    gid_t wanted_group = static_cast<gid_t>(-1);
    if (!config.group.empty() && !lookup_group(config.group, wanted_group, error)) return nullptr;

    // The liveness check comes before anything is created: a refused instance leaves no trace.
    struct stat st;
    if (lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            error = "control socket path exists and is not a socket: " + path;
            return nullptr;
        }
        int probe_error = 0;
        switch (probe_listener(address, probe_error)) {
            case Liveness::live_accepting:
                error = "control socket " + path + " is served by another running rstscope";
                return nullptr;
            case Liveness::live_not_accepting:
                error = "control socket " + path +
                        " belongs to a process that listens but does not accept (stopped or stuck "
                        "rstscope?): stop it or use another --control path";
                return nullptr;
            case Liveness::stale:  // left by a process that died
                if (unlink(path.c_str()) != 0 && errno != ENOENT) {
                    error = "cannot remove stale control socket " + path + ": " + errno_text(errno);
                    return nullptr;
                }
                break;
            case Liveness::gone:
                break;
            case Liveness::unknown:
                error = "cannot tell whether control socket " + path +
                        " is in use: " + errno_text(probe_error);
                return nullptr;
        }
    } else if (errno != ENOENT) {
        error = "cannot inspect control socket path " + path + ": " + errno_text(errno);
        return nullptr;
    }

    std::vector<std::string> created;
    if (!make_parent_directories(path, created, error)) {
        remove_directories(created);
        return nullptr;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        error = "cannot create control socket: " + errno_text(errno);
        remove_directories(created);
        return nullptr;
    }
    auto fail = [&](const std::string& what, bool bound) -> std::unique_ptr<ControlSocket> {
        error = what + " control socket " + path + ": " + errno_text(errno);
        close(fd);
        if (bound) unlink(path.c_str());
        remove_directories(created);
        return nullptr;
    };
    if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0)
        return fail("cannot bind", false);
    // Connections that arrive before the chmod are still checked at accept (peer_allowed).
    if (chmod(path.c_str(), 0660) != 0) return fail("cannot set mode 0660 of", true);
    if (!config.group.empty() && chown(path.c_str(), static_cast<uid_t>(-1), wanted_group) != 0)
        return fail("cannot give group " + config.group + " to", true);
    if (lstat(path.c_str(), &st) != 0) return fail("cannot inspect", true);
    // The kernel caps the backlog at net.core.somaxconn (4096 by default).
    if (listen(fd, SOMAXCONN) != 0) return fail("cannot listen on", true);
    return std::unique_ptr<ControlSocket>(
        new ControlSocket(fd, path, st.st_dev, st.st_ino, st.st_gid, config));
}

ControlSocket::~ControlSocket() {
    for (Client& c : clients_)
        close(c.fd);
    close(listen_fd_);
    // Remove the file only if it is still ours (not one a later instance bound after us).
    struct stat st;
    if (lstat(path_.c_str(), &st) == 0 && st.st_dev == file_dev_ && st.st_ino == file_ino_)
        unlink(path_.c_str());
}

int64_t ControlSocket::now() const {
    if (config_.now_ns) return config_.now_ns();
    return static_cast<int64_t>(monotonic_ns());
}

void ControlSocket::close_client(size_t index) {
    close(clients_[index].fd);
    clients_.erase(clients_.begin() + static_cast<std::ptrdiff_t>(index));
}

// Root, the daemon's own user and members of the socket file's group (primary or supplementary,
// as the kernel recorded them at connect) may use the socket. The file mode 0660 already keeps
// others out; this check also covers a loose directory or a connect before the chmod.
bool ControlSocket::peer_allowed(int fd) const {
    ucred cred;
    socklen_t length = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &length) != 0) return false;
    if (cred.uid == 0 || cred.uid == own_uid_ || cred.gid == socket_group_) return true;
    std::vector<gid_t> groups(64);
    length = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &length) != 0) {
        if (errno != ERANGE) return false;
        groups.resize(length / sizeof(gid_t));  // the kernel says how much it needs
        if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &length) != 0) return false;
    }
    groups.resize(length / sizeof(gid_t));
    return std::find(groups.begin(), groups.end(), socket_group_) != groups.end();
}

void ControlSocket::evict_idlest(Tally& tally) {
    auto idlest = std::min_element(clients_.begin(), clients_.end(), [](auto& a, auto& b) {
        return a.last_request_ns != b.last_request_ns ? a.last_request_ns < b.last_request_ns
                                                      : a.order < b.order;
    });
    say_goodbye(*idlest, "closed: the control socket has too many clients");
    close_client(static_cast<size_t>(idlest - clients_.begin()));
    ++tally.evicted_for_room;
}

// Takes every pending connection (up to a backlog's worth) so none waits in the kernel: a new
// client always gets a slot, at the cost of the idlest one (issue #7). A new client is served at
// once, so a burst of clients larger than the table still gets answers: the ones evicted to make
// room for later ones are, at equal idleness, the earliest, already answered.
void ControlSocket::accept_pending(const Answer& answer, int64_t now, Tally& tally) {
    for (int taken = 0; taken < SOMAXCONN; ++taken) {
        int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            return;  // EAGAIN: none left; EMFILE and the like: retried on the next call
        }
        if (!peer_allowed(fd)) {
            send_refusal(fd,
                         "permission denied: not root, the daemon's user or a member of "
                         "the control socket's group");
            close(fd);
            ++tally.refused_clients;
            continue;
        }
        if (clients_.size() >= config_.max_clients) evict_idlest(tally);
        clients_.push_back(Client{fd, next_order_++, now, {}, {}, false, false});
        if (serve_client(clients_.back(), POLLIN, answer, now, tally) == Verdict::close)
            close_client(clients_.size() - 1);
    }
}

// Sends what the socket takes now; false when the client is gone (EPIPE, ECONNRESET).
bool ControlSocket::send_output(Client& c) {
    while (!c.output.empty()) {
        ssize_t n = send(c.fd, c.output.data(), c.output.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            c.output.erase(0, static_cast<size_t>(n));
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    }
    return true;
}

ControlSocket::Verdict ControlSocket::flush(Client& c, Tally& tally) {
    if (!send_output(c)) return Verdict::close;
    if (c.output.size() > config_.max_output) {
        ++tally.dropped_not_reading;
        return Verdict::close;
    }
    return Verdict::keep;
}

// The error line of a client about to be closed, when it would not cut an answer in two. One
// attempt: a client that is not reading loses it.
void ControlSocket::say_goodbye(Client& c, std::string_view reason) {
    if (!c.output.empty()) return;
    c.output = control_error_json(reason) + "\n";
    (void)send_output(c);
}

// Answers the complete lines in c.input, at most `budget` of them. A line (or a partial line)
// longer than max_request ends the client: its remaining bytes cannot be trusted to be requests.
ControlSocket::Verdict ControlSocket::answer_lines(Client& c, const Answer& answer, size_t& budget,
                                                   int64_t now, Tally& tally) {
    size_t start = 0;
    bool too_long = false;
    while (budget > 0 && !c.awaiting) {
        size_t newline = c.input.find('\n', start);
        if (newline == std::string::npos) break;
        if (newline - start > config_.max_request) {
            too_long = true;
            break;
        }
        answering_ = c.order;
        std::string json = answer(std::string_view(c.input).substr(start, newline - start));
        if (json.empty())
            c.awaiting = true;
        else
            c.output += json + '\n';
        ++tally.requests;
        --budget;
        c.last_request_ns = now;
        start = newline + 1;
    }
    c.input.erase(0, start);
    if (!too_long && c.input.size() > config_.max_request) {
        size_t newline = c.input.find('\n');
        too_long = newline == std::string::npos || newline > config_.max_request;
    }
    if (too_long) {
        c.output += control_error_json("request too long") + "\n";
        (void)send_output(c);
        ++tally.requests_too_long;
        return Verdict::close;
    }
    return Verdict::keep;
}

ControlSocket::Verdict ControlSocket::serve_client(Client& c, short revents, const Answer& answer,
                                                   int64_t now, Tally& tally) {
    // POLLHUP: the peer closed both directions, so no answer can reach it; free the slot now.
    if (revents & (POLLHUP | POLLERR | POLLNVAL)) return Verdict::close;
    size_t budget = config_.max_requests_per_serve;
    if (answer_lines(c, answer, budget, now, tally) == Verdict::close) return Verdict::close;
    size_t read = 0;
    while ((revents & POLLIN) && !c.read_closed && budget > 0 &&
           read < config_.max_read_per_serve) {
        char buffer[4096];
        size_t want = std::min(sizeof buffer, config_.max_read_per_serve - read);
        ssize_t n = recv(c.fd, buffer, want, 0);
        if (n > 0) {
            c.input.append(buffer, static_cast<size_t>(n));
            read += static_cast<size_t>(n);
            if (answer_lines(c, answer, budget, now, tally) == Verdict::close)
                return Verdict::close;
            continue;
        }
        if (n == 0) {
            c.read_closed = true;
            break;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        return Verdict::close;
    }
    // A request without its newline before the client's EOF is still answered.
    if (c.read_closed && budget > 0 && !c.awaiting && !c.input.empty() &&
        c.input.find('\n') == std::string::npos) {
        answering_ = c.order;
        std::string json = answer(c.input);
        if (json.empty())
            c.awaiting = true;
        else
            c.output += json + "\n";
        ++tally.requests;
        c.input.clear();
    }
    c.lines_waiting = budget == 0;
    if (flush(c, tally) == Verdict::close) return Verdict::close;
    if (c.read_closed && c.input.empty() && c.output.empty() && !c.awaiting) return Verdict::close;
    return Verdict::keep;
}

void ControlSocket::serve(const Answer& answer, Tally& tally) {
    int64_t t = now();
    // Idle clients go first, so that their slots serve the new ones without evicting anybody.
    for (size_t i = 0; i < clients_.size();) {
        if (!clients_[i].awaiting &&
            t - clients_[i].last_request_ns >= config_.idle_timeout.count()) {
            say_goodbye(clients_[i], "closed: idle");
            close_client(i);
            ++tally.evicted_idle;
        } else {
            ++i;
        }
    }
    serve_ready_clients(answer, t, tally);
    accept_pending(answer, t, tally);
}

bool ControlSocket::complete(uint64_t client, std::string_view json) {
    for (Client& c : clients_) {
        if (c.order != client || !c.awaiting) continue;
        c.output.append(json).push_back('\n');
        c.awaiting = false;
        c.last_request_ns = now();  // its idle time starts with the answer, not the request
        c.lines_waiting = true;     // its next requests, and the flush, at the next serve()
        return true;
    }
    return false;
}

// One poll() tells which clients have something for us: idle ones cost nothing more.
void ControlSocket::serve_ready_clients(const Answer& answer, int64_t now, Tally& tally) {
    if (clients_.empty()) return;
    poll_set_.resize(clients_.size());
    for (size_t i = 0; i < clients_.size(); ++i) {
        const Client& c = clients_[i];
        poll_set_[i] = pollfd{
            c.fd,
            static_cast<short>((c.read_closed ? 0 : POLLIN) | (c.output.empty() ? 0 : POLLOUT)), 0};
    }
    if (poll(poll_set_.data(), poll_set_.size(), 0) < 0) return;  // EINTR/ENOMEM: next call
    // Walk backwards so that closing client i leaves the indexes still to visit unchanged.
    for (size_t i = clients_.size(); i-- > 0;) {
        short revents = poll_set_[i].revents;
        if ((revents != 0 || clients_[i].lines_waiting) &&
            serve_client(clients_[i], revents, answer, now, tally) == Verdict::close)
            close_client(i);
    }
}

}  // namespace rstscope
