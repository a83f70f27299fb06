// SPDX-License-Identifier: BSD-3-Clause
// The event log: JSON lines written from a buffer this class owns, never through stdio, and never
// by a call that can block the management lcore (a FIFO nobody reads, a slow pipe, a terminal
// held by Ctrl-S). Management thread only.
//
// What it promises (docs/reliability.md):
// - A line is counted as written only once its last byte (the newline) is written.
// - After a short write (full disk, full pipe) the rest of the cut line is written first when the
//   sink takes data again, so no line is ever glued to a cut one; at close, a cut line that can
//   never be finished is cut back out of a regular file.
// - The buffer is bounded: a line that does not fit is dropped and counted, never waited for.
// - A sink that fails (ENOSPC, EIO, EPIPE) is retried at most every `retry_interval_ns`: space
//   that returns is used again without a restart.
// - reopen() (logrotate's SIGHUP, the control socket's log-reopen) moves to a new file at the same
//   path; a line cut in the old file is written whole to the new one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "rstscope/common/fixed_memory.h"

namespace rstscope {

class EventLog {
  public:
    // The write(2) the log uses; tests substitute one that fails on cue.
    using WriteFunction = long (*)(void* context, int fd, const char* data, size_t size);

    static constexpr uint64_t retry_interval_ns = 100'000'000;

    // Opens `path` for appending ("-": standard output). Setup only. A FIFO with no reader, a
    // directory or an unwritable path is refused with a one-line `error`.
    static std::unique_ptr<EventLog> open(const std::string& path, size_t buffer_bytes,
                                          std::string& error);
    // For tests: an already open descriptor (not owned unless `owned`), a substitute writer, and
    // the path reopen() opens anew (none: reopen does nothing).
    EventLog(int fd, bool owned, size_t buffer_bytes, WriteFunction write = nullptr,
             void* write_context = nullptr, std::string path = {});
    ~EventLog();
    EventLog(const EventLog&) = delete;
    EventLog& operator=(const EventLog&) = delete;

    // Queues one line, ending in its newline (one line a call: the count of lines written relies
    // on it). False when it does not fit: dropped and counted.
    bool append(std::string_view line) noexcept;

    // A line formatted straight into the buffer, one copy fewer than append() (the per-event
    // path): where a line of at most `max_size` bytes may be written, or null when that much room
    // is not free now (then format it elsewhere and append(), which takes any line that fits).
    // commit_line() queues the `size` bytes written there, the last one its newline, and returns
    // them; nothing else may touch the log in between.
    char* line_space(size_t max_size) noexcept;
    std::string_view commit_line(size_t size) noexcept;

    // Writes what the sink takes now without waiting; `now_ns` (monotonic) paces retries after
    // a failure. Returns true when the buffer is empty.
    bool flush(uint64_t now_ns) noexcept;

    // Finishes the log for good: a cut line that cannot be finished is removed from a regular
    // file; lines still buffered are counted as dropped. Idempotent.
    void close() noexcept;

    // Reopens the path (after logrotate moved the file). False, with `error`, when it cannot:
    // the old descriptor stays in use.
    bool reopen(std::string& error);

    // Faults in the first `bytes` of the buffer (at most all of it) now: the lines a capture is
    // expected to write reach them. Setup only.
    void populate(size_t bytes) noexcept { buffer_.populate(bytes); }

    size_t pending_bytes() const noexcept { return tail_ - written_; }
    // Bytes append() can take now (after compaction).
    size_t room() const noexcept { return buffer_.size() - (tail_ - line_start_); }
    size_t capacity() const noexcept { return buffer_.size(); }
    // The sink is slow but working (a pipe or FIFO that is full for now): a capture run may wait
    // for it instead of dropping lines.
    bool sink_full() const noexcept { return sink_full_; }
    // The last write failed with an error other than "try again" (errno value, 0 if none).
    int last_error() const noexcept { return last_error_; }
    // Standard output lost its reader (EPIPE): nobody will ever read what follows.
    bool reader_gone() const noexcept { return reader_gone_; }
    bool is_stdout() const noexcept { return path_ == "-"; }

    uint64_t lines_written() const noexcept { return lines_written_; }
    uint64_t lines_dropped() const noexcept { return lines_dropped_; }
    uint64_t write_errors() const noexcept { return write_errors_; }

  private:
    EventLog(std::string path, int fd, bool restore_blocking, size_t buffer_bytes);
    void compact() noexcept;
    void cut_back_partial_line() noexcept;
    void release_descriptor() noexcept;

    std::string path_;
    int fd_ = -1;
    bool owned_ = true;
    bool restore_blocking_ = false;  // O_NONBLOCK was set on a shared descriptor: undo at close
    WriteFunction write_ = nullptr;
    void* write_context_ = nullptr;
    char* buffer() const noexcept { return reinterpret_cast<char*>(buffer_.data()); }

    FixedMemory buffer_;            // pages taken as lines first reach them
    size_t line_start_ = 0;         // first byte of the oldest line not yet wholly written
    size_t written_ = 0;            // first byte not yet written
    size_t tail_ = 0;               // end of the queued bytes
    uint64_t unwritten_lines_ = 0;  // queued lines whose newline is not written yet
    bool sink_full_ = false;
    bool reader_gone_ = false;
    bool closed_ = false;
    int last_error_ = 0;
    uint64_t retry_at_ns_ = 0;
    uint64_t lines_written_ = 0;
    uint64_t lines_dropped_ = 0;
    uint64_t write_errors_ = 0;
};

}  // namespace rstscope
