// SPDX-License-Identifier: BSD-3-Clause
#include "rstscope/mgmt/event_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

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
    : path_(std::move(path)),
      fd_(fd),
      restore_blocking_(restore_blocking),
      write_(system_write),
      buffer_(buffer_bytes, "the event log's buffer", Paging::on_use, Access::sequential) {}

EventLog::EventLog(int fd, bool owned, size_t buffer_bytes, WriteFunction write,
                   void* write_context, std::string path)
    : path_(std::move(path)),
      fd_(fd),
      owned_(owned),
      write_(write ? write : system_write),
      write_context_(write_context),
      buffer_(buffer_bytes, "the event log's buffer", Paging::on_use, Access::sequential) {}

EventLog::~EventLog() {
    close();
}

void EventLog::compact() noexcept {
    if (line_start_ == 0) return;
    std::memmove(buffer(), buffer() + line_start_, tail_ - line_start_);
    written_ -= line_start_;
    tail_ -= line_start_;
    line_start_ = 0;
}

bool EventLog::append(std::string_view line) noexcept {
    if (closed_ || tail_ + line.size() > buffer_.size()) {
        compact();
        if (closed_ || tail_ + line.size() > buffer_.size()) {
            ++lines_dropped_;
            return false;
        }
    }
    std::memcpy(buffer() + tail_, line.data(), line.size());
    tail_ += line.size();
    ++unwritten_lines_;
    return true;
}

char* EventLog::line_space(size_t max_size) noexcept {
    if (closed_) return nullptr;
    if (tail_ + max_size > buffer_.size()) {
        compact();
        if (tail_ + max_size > buffer_.size()) return nullptr;
    }
    return buffer() + tail_;
}

std::string_view EventLog::commit_line(size_t size) noexcept {
    std::string_view line(buffer() + tail_, size);
    tail_ += size;
    ++unwritten_lines_;
    return line;
}

bool EventLog::flush(uint64_t now_ns) noexcept {
    if (closed_) return true;
    if (last_error_ != 0 && now_ns < retry_at_ns_) return written_ == tail_;
    while (written_ < tail_) {
        long n = write_(write_context_, fd_, buffer() + written_, tail_ - written_);
        if (n > 0 && written_ + static_cast<size_t>(n) == tail_) {
            // Everything queued is out: every line is whole, no need to look for newlines (a
            // scan cost about 90 instructions a line).
            lines_written_ += unwritten_lines_;
            unwritten_lines_ = 0;
            line_start_ = written_ = tail_;
            last_error_ = 0;
            continue;
        }
        if (n > 0) {
            size_t last_newline = 0;
            size_t lines = count_lines(buffer() + written_, static_cast<size_t>(n), last_newline);
            if (lines) {
                lines_written_ += lines;
                unwritten_lines_ -= lines;
                line_start_ = written_ + last_newline + 1;
            }
            written_ += static_cast<size_t>(n);
            last_error_ = 0;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n == 0 || errno == EAGAIN || errno == EWOULDBLOCK) {
            sink_full_ = true;
            return false;
        }
        ++write_errors_;
        last_error_ = errno;
        retry_at_ns_ = now_ns + retry_interval_ns;
        if (errno == EPIPE && is_stdout()) reader_gone_ = true;
        return false;
    }
    sink_full_ = false;
    line_start_ = written_ = tail_ = 0;
    return true;
}

void EventLog::cut_back_partial_line() noexcept {
    size_t partial = written_ - line_start_;
    if (partial == 0) return;
    struct stat st;
    if (fstat(fd_, &st) == 0 && S_ISREG(st.st_mode) &&
        static_cast<uint64_t>(st.st_size) >= partial) {
        if (ftruncate(fd_, st.st_size - static_cast<off_t>(partial)) != 0) ++write_errors_;
    }
    written_ = line_start_;
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
    cut_back_partial_line();
    size_t unused = 0;
    lines_dropped_ += count_lines(buffer() + line_start_, tail_ - line_start_, unused);
    line_start_ = written_ = tail_ = 0;
    unwritten_lines_ = 0;
    release_descriptor();
    closed_ = true;
}

bool EventLog::reopen(std::string& error) {
    if (closed_ || is_stdout() || path_.empty()) return true;
    int fd = open_path(path_, error);
    if (fd < 0) return false;
    // A line cut in the old file is taken back out of it and written whole to the new one.
    cut_back_partial_line();
    release_descriptor();
    fd_ = fd;
    restore_blocking_ = false;
    last_error_ = 0;
    sink_full_ = false;
    return true;
}

}  // namespace rstscope
