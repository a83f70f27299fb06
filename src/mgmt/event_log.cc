// SPDX-License-Identifier: BSD-3-Clause
#include "rstscope/mgmt/event_log.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "rstscope/common/monotonic_clock.h"

namespace rstscope {
namespace {

long system_write(void*, int fd, const char* data, size_t size) {
    return ::write(fd, data, size);
}

constexpr int open_flags = O_WRONLY | O_CREAT | O_APPEND | O_NONBLOCK | O_CLOEXEC;

int open_path(const std::string& path, std::string& error) {
    int fd = ::open(path.c_str(), open_flags, 0644);
    if (fd >= 0) return fd;
    if (errno == ENXIO)
        error = "event log " + path + " is a FIFO with no reader: start its reader first";
    else
        error = "cannot open event log " + path + ": " + std::strerror(errno);
    return -1;
}

// Standard output as a descriptor of our own that never blocks. A pipe or terminal is opened anew
// through /proc, so O_NONBLOCK does not leak to the shell that shares the original; where that
// cannot be done (a socket), the shared descriptor is made non-blocking and restored at close.
int open_stdout(bool& restore_blocking, std::string& error) {
    restore_blocking = false;
    struct stat st;
    if (fstat(STDOUT_FILENO, &st) != 0) {
        error = std::string("standard output is not open: ") + std::strerror(errno);
        return -1;
    }
    if (S_ISREG(st.st_mode)) return fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
    int fd = ::open("/proc/self/fd/1", O_WRONLY | O_APPEND | O_NONBLOCK | O_CLOEXEC);
    if (fd >= 0) return fd;
    fd = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
    if (fd < 0) {
        error = std::string("cannot use standard output: ") + std::strerror(errno);
        return -1;
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags >= 0 && !(flags & O_NONBLOCK) && fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0)
        restore_blocking = true;
    return fd;
}

// How long the writer thread waits at a time for a full pipe or a paced retry: what close() and
// reopen() may wait for it.
constexpr int writer_wait_slice_ms = 10;

size_t count_lines(const char* data, size_t size, size_t& last_newline) {
    size_t lines = 0;
    const char* end = data + size;
    for (const char* p = data; (p = static_cast<const char*>(std::memchr(p, '\n', end - p))); ++p) {
        ++lines;
        last_newline = static_cast<size_t>(p - data);
    }
    return lines;
}

}  // namespace

std::unique_ptr<EventLog> EventLog::open(const std::string& path, size_t buffer_bytes,
                                         std::string& error) {
    bool restore_blocking = false;
    int fd = path == "-" ? open_stdout(restore_blocking, error) : open_path(path, error);
    if (fd < 0) return nullptr;
    return std::unique_ptr<EventLog>(new EventLog(path, fd, restore_blocking, buffer_bytes));
}

EventLog::EventLog(std::string path, int fd, bool restore_blocking, size_t buffer_bytes)
    : EventLog(fd, true, buffer_bytes, nullptr, nullptr, std::move(path)) {
    restore_blocking_ = restore_blocking;
}

EventLog::EventLog(int fd, bool owned, size_t buffer_bytes, WriteFunction write,
                   void* write_context, std::string path)
    : path_(std::move(path)),
      fd_(fd),
      owned_(owned),
      write_(write ? write : system_write),
      write_context_(write_context),
      half_bytes_(std::max<size_t>(buffer_bytes / 2, 1)) {
    for (Half& half : halves_)
        half.memory =
            FixedMemory(half_bytes_, "the event log's buffer", Paging::on_use, Access::sequential);
}

EventLog::~EventLog() {
    close();
}

void EventLog::start_writer() {
    if (writer_.joinable() || closed_) return;
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &previous);
    try {
        writer_ = std::thread([this] { writer_loop(); });
    } catch (...) {
        pthread_sigmask(SIG_SETMASK, &previous, nullptr);
        throw;
    }
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    pthread_setname_np(writer_.native_handle(), "rstscope-log");
}

bool EventLog::confine_writer(const cpu_set_t& cpus) noexcept {
    return writer_.joinable() &&
           pthread_setaffinity_np(writer_.native_handle(), sizeof(cpus), &cpus) == 0;
}

void EventLog::populate(size_t bytes) noexcept {
    for (Half& half : halves_)
        half.memory.populate(std::min(bytes / 2 + bytes % 2, half_bytes_));
}

bool EventLog::hand_over() noexcept {
    if (filling_->tail == 0 || draining_busy_.load(std::memory_order_acquire)) return false;
    std::swap(filling_, draining_);
    draining_busy_.store(true, std::memory_order_release);
    if (writer_.joinable()) {
        writer_wake_.fetch_add(1, std::memory_order_release);
        writer_wake_.notify_one();
    }
    return true;
}

bool EventLog::append(std::string_view line) noexcept {
    if (!closed_ && filling_->tail + line.size() > half_bytes_) hand_over();
    if (closed_ || filling_->tail + line.size() > half_bytes_) {
        ++lines_dropped_;
        return false;
    }
    std::memcpy(filling_->data() + filling_->tail, line.data(), line.size());
    filling_->tail += line.size();
    ++filling_->lines;
    return true;
}

char* EventLog::line_space(size_t max_size) noexcept {
    if (closed_) return nullptr;
    if (filling_->tail + max_size > half_bytes_) {
        hand_over();
        if (filling_->tail + max_size > half_bytes_) return nullptr;
    }
    return filling_->data() + filling_->tail;
}

std::string_view EventLog::commit_line(size_t size) noexcept {
    std::string_view line(filling_->data() + filling_->tail, size);
    filling_->tail += size;
    ++filling_->lines;
    return line;
}

void EventLog::count_write(long n) noexcept {
    Half& half = *draining_;
    size_t last_newline = 0;
    size_t lines = count_lines(half.data() + half.written, static_cast<size_t>(n), last_newline);
    if (lines) {
        lines_written_.fetch_add(lines, std::memory_order_relaxed);
        half.lines -= lines;
        half.line_start = half.written + last_newline + 1;
    }
    half.written += static_cast<size_t>(n);
}

bool EventLog::write_draining(uint64_t now_ns) noexcept {
    Half& half = *draining_;
    if (last_error() != 0 && now_ns < retry_at_ns_) return false;
    while (half.written < half.tail) {
        long n = write_(write_context_, fd_, half.data() + half.written, half.tail - half.written);
        if (n > 0 && half.written + static_cast<size_t>(n) == half.tail) {
            // Everything queued is out: every line is whole, no need to look for newlines (a
            // scan cost about 90 instructions a line).
            lines_written_.fetch_add(half.lines, std::memory_order_relaxed);
            half.lines = 0;
            half.line_start = half.written = half.tail;
            last_error_.store(0, std::memory_order_relaxed);
            continue;
        }
        if (n > 0) {
            count_write(n);
            last_error_.store(0, std::memory_order_relaxed);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n == 0 || errno == EAGAIN || errno == EWOULDBLOCK) {
            sink_full_.store(true, std::memory_order_relaxed);
            return false;
        }
        write_errors_.fetch_add(1, std::memory_order_relaxed);
        last_error_.store(errno, std::memory_order_relaxed);
        retry_at_ns_ = now_ns + retry_interval_ns;
        if (errno == EPIPE && is_stdout()) reader_gone_.store(true, std::memory_order_relaxed);
        return false;
    }
    sink_full_.store(false, std::memory_order_relaxed);
    half.line_start = half.written = half.tail = 0;
    half.lines = 0;
    draining_busy_.store(false, std::memory_order_release);
    return true;
}

bool EventLog::flush(uint64_t now_ns) noexcept {
    if (closed_) return true;
    if (writer_.joinable()) {
        hand_over();
        return filling_->tail == 0 && !draining_busy_.load(std::memory_order_acquire);
    }
    for (;;) {
        if (draining_busy_.load(std::memory_order_relaxed) && !write_draining(now_ns)) return false;
        if (!hand_over()) return true;
    }
}

void EventLog::writer_loop() noexcept {
    for (;;) {
        const uint32_t asked = writer_wake_.load(std::memory_order_acquire);
        take_reopened();
        if (writer_stop_.load(std::memory_order_acquire)) return;
        if (draining_busy_.load(std::memory_order_acquire)) {
            if (!write_draining(monotonic_ns())) writer_wait_for_sink();
            continue;
        }
        writer_wake_.wait(asked, std::memory_order_acquire);
    }
}

void EventLog::writer_wait_for_sink() noexcept {
    if (last_error() != 0) {
        const uint64_t now = monotonic_ns();
        if (now >= retry_at_ns_) return;
        const uint64_t wait =
            std::min<uint64_t>(retry_at_ns_ - now, writer_wait_slice_ms * 1'000'000ull);
        timespec ts{static_cast<time_t>(wait / 1'000'000'000ull),
                    static_cast<long>(wait % 1'000'000'000ull)};
        nanosleep(&ts, nullptr);
        return;
    }
    pollfd sink{fd_, POLLOUT, 0};  // a full pipe: until its reader makes room
    poll(&sink, 1, writer_wait_slice_ms);
}

void EventLog::take_reopened() noexcept {
    int fd = reopened_fd_.exchange(-1, std::memory_order_acquire);
    if (fd < 0) return;
    // A line cut in the old file is taken back out of it and written whole to the new one. Only
    // a half being written can hold one.
    if (draining_busy_.load(std::memory_order_acquire)) cut_back_partial_line();
    release_descriptor();
    fd_ = fd;
    restore_blocking_ = false;
    last_error_.store(0, std::memory_order_relaxed);
    sink_full_.store(false, std::memory_order_relaxed);
}

void EventLog::stop_writer() noexcept {
    if (!writer_.joinable()) return;
    writer_stop_.store(true, std::memory_order_release);
    writer_wake_.fetch_add(1, std::memory_order_release);
    writer_wake_.notify_one();
    writer_.join();
}

void EventLog::cut_back_partial_line() noexcept {
    Half& half = *draining_;
    size_t partial = half.written - half.line_start;
    if (partial == 0) return;
    struct stat st;
    if (fstat(fd_, &st) == 0 && S_ISREG(st.st_mode) &&
        static_cast<uint64_t>(st.st_size) >= partial) {
        if (ftruncate(fd_, st.st_size - static_cast<off_t>(partial)) != 0)
            write_errors_.fetch_add(1, std::memory_order_relaxed);
    }
    half.written = half.line_start;
}

void EventLog::release_descriptor() noexcept {
    if (fd_ < 0) return;
    if (restore_blocking_) {
        int flags = fcntl(fd_, F_GETFL);
        if (flags >= 0) fcntl(fd_, F_SETFL, flags & ~O_NONBLOCK);
    }
    if (owned_) ::close(fd_);
    fd_ = -1;
}

void EventLog::close() noexcept {
    if (closed_) return;
    stop_writer();  // from here on, everything is this thread's
    if (int reopened = reopened_fd_.exchange(-1); reopened >= 0) ::close(reopened);
    if (draining_busy_.load(std::memory_order_relaxed)) {
        cut_back_partial_line();
        lines_dropped_ += draining_->lines;
    }
    lines_dropped_ += filling_->lines;
    for (Half& half : halves_) {
        half.line_start = half.written = half.tail = 0;
        half.lines = 0;
    }
    draining_busy_.store(false, std::memory_order_relaxed);
    release_descriptor();
    closed_ = true;
}

bool EventLog::reopen(std::string& error) {
    if (closed_ || is_stdout() || path_.empty()) return true;
    int fd = open_path(path_, error);
    if (fd < 0) return false;
    if (int earlier = reopened_fd_.exchange(fd, std::memory_order_release); earlier >= 0)
        ::close(earlier);  // asked twice before the writer took the first: the newest wins
    if (writer_.joinable()) {
        writer_wake_.fetch_add(1, std::memory_order_release);
        writer_wake_.notify_one();
    } else {
        take_reopened();
    }
    return true;
}

}  // namespace rstscope
