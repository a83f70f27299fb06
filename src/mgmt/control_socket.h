// SPDX-License-Identifier: BSD-3-Clause
// The control socket: a Unix stream socket served from the management lcore without blocking it.
// Each request is a line; each answer a line of JSON (protocol: control_protocol.h,
// docs/control.md). Management thread only: open() at setup, serve() from the management loop,
// the destructor at teardown. Plain POSIX, no EAL, so unit tests drive it with real sockets.
//
// Safety contract (issues #7, #12): one local process must not be able to lock operators out or
// stall management. serve() never blocks (every socket is non-blocking, one poll() with a zero
// timeout) and its work per call is bounded per client (bytes read, requests answered). A full
// client table evicts its idlest client, so a new client is always served; idle clients (no
// complete request for idle_timeout) are closed; a client whose unsent answers exceed max_output
// is dropped; peers are checked with SO_PEERCRED/SO_PEERGROUPS at accept.
#pragma once

#include <poll.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "rstscope/mgmt/control_protocol.h"

namespace rstscope {

struct ControlSocketConfig {
    // Clients served at once; a new client beyond this evicts the idlest one. At least 1.
    size_t max_clients = 64;
    // A client without a complete request for this long is closed (a partial line is idle).
    std::chrono::nanoseconds idle_timeout = std::chrono::seconds(5);
    // A request line longer than this gets {"error":"request too long"} and the client is closed.
    size_t max_request = control_max_request;
    // Answers not yet taken by a client beyond this many bytes: the client is dropped (it is not
    // reading). Several `stats` answers fit.
    size_t max_output = 256 * 1024;
    // Work per client per serve() call: bytes read and requests answered.
    size_t max_read_per_serve = 16 * 1024;
    size_t max_requests_per_serve = 16;
    // Group whose members may use the socket besides root and the daemon's user: the socket
    // file is given this group. Empty: the group the file gets at creation (the daemon's).
    std::string group;
    // Nanoseconds of CLOCK_MONOTONIC; tests inject their own. Empty: CLOCK_MONOTONIC.
    std::function<int64_t()> now_ns;
};

class ControlSocket {
  public:
    // Binds `path` with mode 0660 (replacing a stale socket file, refusing one a live process
    // serves, even a stopped one, without waiting). Setup only; on failure returns nullptr and
    // sets `error` to one line naming the path and the reason, and leaves no file behind.
    static std::unique_ptr<ControlSocket> open(const std::string& path,
                                               const ControlSocketConfig& config,
                                               std::string& error);
    static std::unique_ptr<ControlSocket> open(const std::string& path, std::string& error) {
        return open(path, ControlSocketConfig{}, error);
    }
    ~ControlSocket();
    ControlSocket(const ControlSocket&) = delete;
    ControlSocket& operator=(const ControlSocket&) = delete;

    // Added to (never reset) by serve(): the caller turns them into management counters.
    struct Tally {
        uint64_t requests = 0;             // lines answered (error answers included)
        uint64_t refused_clients = 0;      // connections refused: peer credentials not allowed
        uint64_t evicted_idle = 0;         // closed: no complete request for idle_timeout
        uint64_t evicted_for_room = 0;     // idlest client closed so that a new one fits
        uint64_t dropped_not_reading = 0;  // closed: unsent answers exceeded max_output
        uint64_t requests_too_long = 0;    // closed: a line longer than max_request
    };
    using Answer = std::function<std::string(std::string_view)>;
    // Accepts, reads and answers whatever is ready, then returns: never waits. `answer` gets one
    // request line (without its newline) and returns one JSON object (without a newline), or ""
    // to answer later through complete(answering_client(), ...): the client's next requests wait
    // (answers stay in request order) and it is not closed as idle meanwhile.
    void serve(const Answer& answer, Tally& tally);
    // During `answer`: the client asking, for complete().
    uint64_t answering_client() const { return answering_; }
    // The deferred answer of `client`; false when that client has gone.
    bool complete(uint64_t client, std::string_view json);

    size_t client_count() const { return clients_.size(); }

  private:
    struct Client {
        int fd;
        uint64_t order;              // accept order: ties in idleness evict the older client
        int64_t last_request_ns;     // accept time, then the time of the last complete request
        std::string input;           // bytes after the last complete line, at most max_request+read
        std::string output;          // answers the socket has not taken yet
        bool read_closed = false;    // the client sent EOF: answer what is left, flush, close
        bool lines_waiting = false;  // the request budget ran out with input still buffered
        bool awaiting = false;       // an answer was deferred: later requests wait for it
    };
    enum class Verdict { keep, close };

    ControlSocket(int fd, std::string path, dev_t dev, ino_t ino, gid_t group,
                  const ControlSocketConfig& config);
    int64_t now() const;
    void serve_ready_clients(const Answer& answer, int64_t now, Tally& tally);
    void accept_pending(const Answer& answer, int64_t now, Tally& tally);
    bool peer_allowed(int fd) const;
    void evict_idlest(Tally& tally);
    Verdict serve_client(Client& c, short revents, const Answer& answer, int64_t now, Tally& tally);
    Verdict answer_lines(Client& c, const Answer& answer, size_t& budget, int64_t now,
                         Tally& tally);
    static bool send_output(Client& c);
    Verdict flush(Client& c, Tally& tally);
    static void say_goodbye(Client& c, std::string_view reason);
    void close_client(size_t index);

    int listen_fd_;
    uint64_t answering_ = 0;  // order of the client whose request `answer` is handling
    std::string path_;
    dev_t file_dev_;  // the socket file we bound: the destructor removes only that one
    ino_t file_ino_;
    gid_t socket_group_;
    uid_t own_uid_;
    ControlSocketConfig config_;
    uint64_t next_order_ = 0;
    std::vector<Client> clients_;
    std::vector<pollfd> poll_set_;  // reused by every serve(): the loop does not allocate
};

}  // namespace rstscope
