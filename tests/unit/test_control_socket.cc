// SPDX-License-Identifier: BSD-3-Clause
// Unit tests for the control socket's safety (issues #7 and #12): real Unix sockets in a temporary
// directory, serve() driven from the test thread with a fake answer function, no EAL. Each test
// states the lock-out or stall it would catch.

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "../../src/mgmt/control_socket.h"
#include "rstscope/mgmt/control_protocol.h"

namespace rstscope {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int64_t sec = 1'000'000'000;

// The fake management: echoes the request, or a big answer for "big".
std::string echo_answer(std::string_view line) {
    if (line == "big") return "{\"big\":\"" + std::string(16 * 1024, 'b') + "\"}";
    std::string safe;
    for (char c : line)
        safe += (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') ? c : '?';
    return "{\"echo\":\"" + safe + "\"}";
}

std::string echo_of(const std::string& request) {
    return echo_answer(request);
}

sockaddr_un address_of(const std::string& path) {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
    return a;
}

// A client socket, non-blocking after a (quick: the backlog is large) connect.
int connect_client(const std::string& path) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    sockaddr_un a = address_of(path);
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        close(fd);
        return -1;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

bool send_text(int fd, const std::string& text) {
    return send(fd, text.data(), text.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(text.size());
}

// What a client has received: whole lines, and whether the server closed it.
struct Received {
    std::string bytes;
    bool closed = false;
    std::string first_line() const { return bytes.substr(0, bytes.find('\n')); }
    bool has_line() const { return bytes.find('\n') != std::string::npos; }
};

void drain(int fd, Received& r) {
    char buffer[65536];
    for (;;) {
        ssize_t n = recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
        if (n > 0) {
            r.bytes.append(buffer, static_cast<size_t>(n));
            continue;
        }
        if (n == 0 || (errno != EAGAIN && errno != EINTR)) r.closed = true;
        return;
    }
}

class ControlSocketTest : public ::testing::Test {
  protected:
    void SetUp() override {
        char pattern[] = "/tmp/rstscope-ctl-XXXXXX";
        ASSERT_NE(mkdtemp(pattern), nullptr) << std::strerror(errno);
        dir_ = pattern;
        path_ = dir_ + "/control.sock";
    }
    void TearDown() override {
        for (int fd : fds_)
            close(fd);
        socket_.reset();
        std::string command = "rm -rf '" + dir_ + "'";
        (void)std::system(command.c_str());
    }

    void open_socket(ControlSocketConfig config = {}) {
        std::string error;
        socket_ = ControlSocket::open(path_, config, error);
        ASSERT_TRUE(socket_) << error;
    }
    int client() {
        int fd = connect_client(path_);
        EXPECT_GE(fd, 0) << std::strerror(errno);
        if (fd >= 0) fds_.push_back(fd);
        return fd;
    }
    void close_fd(int fd) {
        close(fd);
        fds_.erase(std::find(fds_.begin(), fds_.end(), fd));
    }
    // Serves until `done` or the deadline; true when `done` came first.
    template <typename Done>
    bool serve_until(Done done, std::chrono::milliseconds limit = std::chrono::seconds(1)) {
        auto deadline = Clock::now() + limit;
        do {
            socket_->serve(echo_answer, tally_);
            if (done()) return true;
        } while (Clock::now() < deadline);
        return false;
    }
    // Serves until `fd` has a whole line or is closed, at most `limit`.
    Received exchange(int fd, std::chrono::milliseconds limit = std::chrono::seconds(1)) {
        Received r;
        serve_until(
            [&] {
                drain(fd, r);
                return r.has_line() || r.closed;
            },
            limit);
        return r;
    }

    std::string dir_, path_;
    std::unique_ptr<ControlSocket> socket_;
    ControlSocket::Tally tally_;
    std::vector<int> fds_;
};

// Issue #7: 17 silent connections locked operators out. Now 200 do not, and the request is answered
// within a second.
TEST_F(ControlSocketTest, TwoHundredIdleClientsDoNotLockOutARequest) {
    open_socket();
    for (int i = 0; i < 100; ++i)
        ASSERT_GE(client(), 0);
    socket_->serve(echo_answer, tally_);  // half of them already hold slots
    for (int i = 0; i < 100; ++i)
        ASSERT_GE(client(), 0);
    int operator_fd = client();
    ASSERT_TRUE(send_text(operator_fd, "stats\n"));
    Received r = exchange(operator_fd);
    EXPECT_EQ(r.first_line(), echo_of("stats"));
    EXPECT_LE(socket_->client_count(), 64u);
    EXPECT_GE(tally_.evicted_for_room, 200u - 64u + 1u);
    EXPECT_EQ(tally_.requests, 1u);
}

TEST_F(ControlSocketTest, HundredConcurrentClientsEachGetTheirAnswer) {
    open_socket();
    std::vector<int> clients;
    for (int i = 0; i < 100; ++i) {
        clients.push_back(client());
        ASSERT_TRUE(send_text(clients.back(), "ping " + std::to_string(i) + "\n"));
    }
    std::vector<Received> got(clients.size());
    bool all = serve_until(
        [&] {
            bool every = true;
            for (size_t i = 0; i < clients.size(); ++i) {
                drain(clients[i], got[i]);
                every = every && got[i].has_line();
            }
            return every;
        },
        std::chrono::seconds(2));
    EXPECT_TRUE(all);
    for (size_t i = 0; i < clients.size(); ++i)
        EXPECT_EQ(got[i].first_line(), echo_of("ping " + std::to_string(i))) << "client " << i;
    EXPECT_EQ(tally_.requests, 100u);
}

// A client that never reads its answers: its output stays bounded and it is dropped, while the
// others keep being answered (send_all used to spin or lose answers).
TEST_F(ControlSocketTest, ClientThatNeverReadsIsDroppedOthersAnswered) {
    ControlSocketConfig config;
    config.max_output = 64 * 1024;
    open_socket(config);
    int slow = client();
    std::string requests;
    for (int i = 0; i < 200; ++i)
        requests += "big\n";  // 200 answers of 16 KiB: far beyond the kernel's buffer and ours
    ASSERT_TRUE(send_text(slow, requests));
    int other = client();
    int answered = 0;
    auto deadline = Clock::now() + std::chrono::seconds(3);
    while (tally_.dropped_not_reading == 0 && Clock::now() < deadline) {
        ASSERT_TRUE(send_text(other, "ping\n"));
        Received r = exchange(other);
        ASSERT_EQ(r.first_line(), echo_of("ping")) << "after " << answered << " answers";
        ++answered;
    }
    EXPECT_EQ(tally_.dropped_not_reading, 1u);
    EXPECT_EQ(socket_->client_count(), 1u);
    ASSERT_TRUE(send_text(other, "ping\n"));
    EXPECT_EQ(exchange(other).first_line(), echo_of("ping"));
    // The slow client finds its connection closed after whatever answers the kernel held.
    Received slow_got;
    drain(slow, slow_got);
    EXPECT_TRUE(slow_got.closed);
    EXPECT_LT(slow_got.bytes.size(), 200u * 16 * 1024);
}

TEST_F(ControlSocketTest, TenMebibyteLineGetsAnErrorAndTheServerGoesOn) {
    open_socket();
    int huge = client();
    std::string chunk(64 * 1024, 'x');
    size_t sent = 0;
    Received r;
    auto deadline = Clock::now() + std::chrono::seconds(3);
    while (sent < 10u * 1024 * 1024 && !r.closed && Clock::now() < deadline) {
        ssize_t n = send(huge, chunk.data(), chunk.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) sent += static_cast<size_t>(n);
        if (n < 0 && errno != EAGAIN) break;  // EPIPE/ECONNRESET: the server hung up on us
        socket_->serve(echo_answer, tally_);
        drain(huge, r);
    }
    if (!r.closed) {
        Received rest = exchange(huge);
        r.bytes += rest.bytes;
        r.closed = rest.closed;
    }
    EXPECT_TRUE(r.closed);
    if (!r.bytes.empty()) {
        EXPECT_EQ(r.first_line(), R"({"error":"request too long"})");
    }
    EXPECT_EQ(tally_.requests_too_long, 1u);
    EXPECT_EQ(socket_->client_count(), 0u);
    int next = client();
    ASSERT_TRUE(send_text(next, "ping\n"));
    EXPECT_EQ(exchange(next).first_line(), echo_of("ping"));
}

// Random bytes (NULs, control bytes, newlines anywhere): answers or a close, never a crash or a
// stall, and the answer function only ever sees one bounded line.
TEST_F(ControlSocketTest, RandomBytesNeverStallTheServer) {
    open_socket();
    std::mt19937 random(20240607);
    size_t longest = 0;
    bool newline_seen = false;
    auto checking_answer = [&](std::string_view line) {
        longest = std::max(longest, line.size());
        newline_seen = newline_seen || line.find('\n') != std::string_view::npos;
        return echo_answer(line);
    };
    for (int round = 0; round < 50; ++round) {
        int fd = client();
        std::string junk(std::uniform_int_distribution<size_t>(1, 6000)(random), '\0');
        for (char& c : junk)
            c = static_cast<char>(random());
        send(fd, junk.data(), junk.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        for (int i = 0; i < 3; ++i)
            socket_->serve(checking_answer, tally_);
        if (round % 2) close_fd(fd);
    }
    EXPECT_LE(longest, control_max_request);
    EXPECT_FALSE(newline_seen);
    int next = client();
    ASSERT_TRUE(send_text(next, "ping\n"));
    EXPECT_EQ(exchange(next).first_line(), echo_of("ping"));
}

// Idle means no complete request: a client that holds a partial line is closed after the idle
// timeout; one that keeps sending complete requests is not.
TEST_F(ControlSocketTest, PartialLineIdlesOut) {
    int64_t now = 1000 * sec;
    ControlSocketConfig config;
    config.idle_timeout = std::chrono::seconds(5);
    config.now_ns = [&] { return now; };
    open_socket(config);
    int partial = client();
    int busy = client();
    ASSERT_TRUE(send_text(partial, "sta"));
    socket_->serve(echo_answer, tally_);
    for (int step = 1; step <= 4; ++step) {
        now += 2 * sec;  // 2, 4, 6, 8 s after the connect
        if (step <= 2) {
            ASSERT_TRUE(send_text(partial, "t"));  // still no newline
        }
        ASSERT_TRUE(send_text(busy, "ping\n"));
        socket_->serve(echo_answer, tally_);
        EXPECT_EQ(socket_->client_count(), step <= 2 ? 2u : 1u) << "at " << 2 * step << " s";
    }
    EXPECT_EQ(tally_.evicted_idle, 1u);
    EXPECT_EQ(socket_->client_count(), 1u);
    Received r;
    drain(partial, r);
    EXPECT_TRUE(r.closed);
    EXPECT_EQ(r.first_line(), R"({"error":"closed: idle"})");
    Received b;
    drain(busy, b);
    EXPECT_FALSE(b.closed);
    EXPECT_EQ(b.first_line(), echo_of("ping"));
}

TEST_F(ControlSocketTest, ClosedClientFreesItsSlotAtOnce) {
    ControlSocketConfig config;
    config.max_clients = 2;
    open_socket(config);
    int first = client();
    client();
    socket_->serve(echo_answer, tally_);
    ASSERT_EQ(socket_->client_count(), 2u);
    close_fd(first);
    socket_->serve(echo_answer, tally_);
    EXPECT_EQ(socket_->client_count(), 1u);
    int third = client();
    ASSERT_TRUE(send_text(third, "ping\n"));
    EXPECT_EQ(exchange(third).first_line(), echo_of("ping"));
    EXPECT_EQ(tally_.evicted_for_room, 0u);
    // Many requests, then closed: the slot is freed at once, not after the requests are worked
    // off a budget at a time (their answers cannot reach anyone).
    std::string many;
    for (int i = 0; i < 1000; ++i)
        many += "ping\n";
    ASSERT_TRUE(send_text(third, many));
    close_fd(third);
    socket_->serve(echo_answer, tally_);
    EXPECT_EQ(socket_->client_count(), 1u);
}

// A request without its newline before the client's EOF (shutdown of its sending side) is answered.
TEST_F(ControlSocketTest, RequestBeforeEofIsAnswered) {
    open_socket();
    int fd = client();
    ASSERT_TRUE(send_text(fd, "ping"));
    shutdown(fd, SHUT_WR);
    Received r = exchange(fd);
    EXPECT_EQ(r.first_line(), echo_of("ping"));
    serve_until([&] { return socket_->client_count() == 0; });
    EXPECT_EQ(socket_->client_count(), 0u);
}

// The `flow` query is answered by the workers later: a deferred answer holds the client's next
// requests (answers stay in order), does not count as idle, and reaches the client on complete().
TEST_F(ControlSocketTest, DeferredAnswerKeepsOrderAndIsNotIdle) {
    ControlSocketConfig config;
    config.idle_timeout = std::chrono::milliseconds(50);
    open_socket(config);
    int fd = client();
    ASSERT_TRUE(send_text(fd, "later\nping\n"));
    uint64_t waiting = 0;
    bool deferred = false;
    auto answer = [&](std::string_view line) {
        if (line == "later") {
            waiting = socket_->answering_client();
            deferred = true;
            return std::string();
        }
        return echo_answer(line);
    };
    Received r;
    auto deadline = Clock::now() + std::chrono::milliseconds(200);
    while (Clock::now() < deadline) {
        socket_->serve(answer, tally_);
        drain(fd, r);
    }
    ASSERT_TRUE(deferred);
    EXPECT_EQ(r.bytes, "");  // ping waits behind the deferred answer
    EXPECT_FALSE(r.closed);  // 200 ms awaiting is not 50 ms idle
    ASSERT_TRUE(socket_->complete(waiting, R"({"ok":true,"late":1})"));
    EXPECT_FALSE(socket_->complete(waiting, "{}"));  // answered once
    deadline = Clock::now() + std::chrono::seconds(1);
    while (Clock::now() < deadline && std::count(r.bytes.begin(), r.bytes.end(), '\n') < 2) {
        socket_->serve(answer, tally_);
        drain(fd, r);
    }
    EXPECT_EQ(r.bytes, std::string(R"({"ok":true,"late":1})") + "\n" + echo_of("ping") + "\n");
}

// Connects and sends `ping` from a child running as user nobody (and only nobody's group), serving
// meanwhile; returns what the child received, or why it could not.
std::string run_as_nobody(ControlSocket& socket, ControlSocket::Tally& tally,
                          const std::string& path) {
    passwd* nobody = getpwnam("nobody");
    if (!nobody) return "no user nobody";
    uid_t uid = nobody->pw_uid;
    gid_t gid = nobody->pw_gid;
    int out[2];
    if (pipe(out) != 0) return "pipe failed";
    pid_t pid = fork();
    if (pid == 0) {
        close(out[0]);
        if (setgroups(0, nullptr) != 0 || setresgid(gid, gid, gid) != 0 ||
            setresuid(uid, uid, uid) != 0)
            _exit(3);
        int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un a = address_of(path);
        if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
            std::string e = std::string("connect failed: ") + std::strerror(errno);
            (void)!write(out[1], e.data(), e.size());
            _exit(4);
        }
        timeval limit{3, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
        (void)!send(fd, "ping\n", 5, MSG_NOSIGNAL);
        char buffer[4096];
        ssize_t n;
        while ((n = recv(fd, buffer, sizeof buffer, 0)) > 0) {
            (void)!write(out[1], buffer, static_cast<size_t>(n));
            if (std::memchr(buffer, '\n', static_cast<size_t>(n))) break;  // one answer is enough
        }
        _exit(0);
    }
    close(out[1]);
    std::string got;
    auto deadline = Clock::now() + std::chrono::seconds(4);
    int status = 0;
    while (Clock::now() < deadline) {
        socket.serve(echo_answer, tally);
        if (waitpid(pid, &status, WNOHANG) == pid) {
            pid = 0;
            break;
        }
    }
    if (pid != 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        got = "child did not finish: ";
    }
    char buffer[4096];
    ssize_t n;
    while ((n = read(out[0], buffer, sizeof buffer)) > 0)
        got.append(buffer, static_cast<size_t>(n));
    close(out[0]);
    return got;
}

// Peers are checked with SO_PEERCRED: the socket file is made world-writable here so that the
// check, not the file mode, is what refuses `nobody`.
TEST_F(ControlSocketTest, PeerOutsideUserAndGroupIsRefused) {
    if (geteuid() != 0) GTEST_SKIP() << "needs root to run a client as user nobody";
    open_socket();
    ASSERT_EQ(chmod(dir_.c_str(), 0755), 0);
    ASSERT_EQ(chmod(path_.c_str(), 0666), 0);
    std::string got = run_as_nobody(*socket_, tally_, path_);
    EXPECT_NE(got.find("permission denied"), std::string::npos) << got;
    EXPECT_EQ(got.find("echo"), std::string::npos) << got;
    EXPECT_EQ(tally_.refused_clients, 1u);
    EXPECT_EQ(tally_.requests, 0u);
}

TEST_F(ControlSocketTest, PeerInTheSocketGroupIsAllowed) {
    if (geteuid() != 0) GTEST_SKIP() << "needs root to run a client as user nobody";
    passwd* nobody = getpwnam("nobody");
    ASSERT_NE(nobody, nullptr);
    group* nobody_group = getgrgid(nobody->pw_gid);
    ASSERT_NE(nobody_group, nullptr);
    ControlSocketConfig config;
    config.group = nobody_group->gr_name;
    open_socket(config);
    ASSERT_EQ(chmod(dir_.c_str(), 0755), 0);
    struct stat st;
    ASSERT_EQ(stat(path_.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0660u);
    EXPECT_EQ(st.st_gid, nobody->pw_gid);
    std::string got = run_as_nobody(*socket_, tally_, path_);
    EXPECT_EQ(got.substr(0, got.find('\n')), echo_of("ping")) << got;
    EXPECT_EQ(tally_.refused_clients, 0u);
}

// Issue #12: a first instance that is stopped (listening, never accepting, backlog full) made the
// second instance's liveness check block forever. open() now fails at once with a clear error.
// The open runs in a child so that a regression fails the test instead of hanging it.
TEST_F(ControlSocketTest, StoppedFirstInstanceMakesOpenFailFast) {
    int listener = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a = address_of(path_);
    ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ASSERT_EQ(listen(listener, 1), 0);
    fds_.push_back(listener);
    bool full = false;
    for (int i = 0; i < 64 && !full; ++i) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
        fds_.push_back(fd);
        full = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 && errno == EAGAIN;
    }
    ASSERT_TRUE(full) << "could not fill the listener's backlog";

    int out[2];
    ASSERT_EQ(pipe(out), 0);
    auto started = Clock::now();
    pid_t pid = fork();
    if (pid == 0) {
        close(out[0]);
        std::string error;
        auto second = ControlSocket::open(path_, error);
        if (second) error = "opened";
        (void)!write(out[1], error.data(), error.size());
        _exit(0);
    }
    close(out[1]);
    pollfd p{out[0], POLLIN, 0};
    int ready = poll(&p, 1, 2000);
    std::string got;
    char buffer[1024];
    ssize_t n;
    if (ready > 0)
        while ((n = read(out[0], buffer, sizeof buffer)) > 0)
            got.append(buffer, static_cast<size_t>(n));
    if (ready <= 0) kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    close(out[0]);
    ASSERT_GT(ready, 0) << "open() did not return within 2 s";
    EXPECT_LT(Clock::now() - started, std::chrono::seconds(1));
    EXPECT_NE(got.find("does not accept"), std::string::npos) << got;
    struct stat st;
    EXPECT_EQ(lstat(path_.c_str(), &st), 0) << "the live instance's socket file was removed";
}

TEST_F(ControlSocketTest, RunningInstanceIsRefused) {
    open_socket();
    std::string error;
    EXPECT_EQ(ControlSocket::open(path_, error), nullptr);
    EXPECT_NE(error.find("served by another running rstscope"), std::string::npos) << error;
    int fd = client();  // the first instance still serves
    ASSERT_TRUE(send_text(fd, "ping\n"));
    EXPECT_EQ(exchange(fd).first_line(), echo_of("ping"));
}

TEST_F(ControlSocketTest, StaleSocketFileIsReplaced) {
    int dead = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a = address_of(path_);
    ASSERT_EQ(bind(dead, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    close(dead);  // the file stays, nobody listens: what a crashed rstscope leaves
    open_socket();
    struct stat st;
    ASSERT_EQ(lstat(path_.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 07777, 0660u);
    int fd = client();
    ASSERT_TRUE(send_text(fd, "ping\n"));
    EXPECT_EQ(exchange(fd).first_line(), echo_of("ping"));
    socket_.reset();
    EXPECT_NE(lstat(path_.c_str(), &st), 0) << "the socket file outlived its server";
}

TEST_F(ControlSocketTest, NotASocketIsRefusedAndMissingDirectoriesAreCreated) {
    int file = ::open(path_.c_str(), O_CREAT | O_WRONLY, 0600);
    ASSERT_GE(file, 0);
    close(file);
    std::string error;
    EXPECT_EQ(ControlSocket::open(path_, error), nullptr);
    EXPECT_NE(error.find("not a socket"), std::string::npos) << error;

    path_ = dir_ + "/run/rstscope/control.sock";
    open_socket();
    int fd = client();
    ASSERT_TRUE(send_text(fd, "ping\n"));
    EXPECT_EQ(exchange(fd).first_line(), echo_of("ping"));
}

}  // namespace
}  // namespace rstscope
