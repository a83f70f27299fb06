// SPDX-License-Identifier: BSD-3-Clause
// The event log: JSON lines written from buffers this class owns, never through stdio, and never
// by a call that can block the management lcore (a FIFO nobody reads, a slow pipe, a terminal
// held by Ctrl-S, a disk throttled by writeback). Lines are queued in one half of the buffer while
// the other half is written; start_writer() moves the writing to a thread of its own, so that
// write(2), which a regular file never refuses but may hold for as long as the disk lags, runs
// beside management instead of in it. Without it (tests), flush() writes on the caller's thread.
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
// Threads: every member is for the management thread; the writer thread touches only the half
// being written and the sink, which `draining_busy_` passes between the two.
#pragma once

#include <sched.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "rstscope/common/fixed_memory.h"

namespace rstscope {

class EventLog {
  public:
    // The write(2) the log uses; tests substitute one that fails on cue.
    using WriteFunction = long (*)(void* context, int fd, const char* data, size_t size);

    static constexpr uint64_t retry_interval_ns = 100'000'000;

    // Opens `path` for appending ("-": standard output). Setup only. A FIFO with no reader, a
    // directory or an unwritable path is refused with a one-line `error`. `buffer_bytes` is the
    // whole buffer: each half holds half of it, and a line longer than a half is never taken.
    static std::unique_ptr<EventLog> open(const std::string& path, size_t buffer_bytes,
                                          std::string& error);
    // For tests: an already open descriptor (not owned unless `owned`), a substitute writer, and
    // the path reopen() opens anew (none: reopen does nothing).
    EventLog(int fd, bool owned, size_t buffer_bytes, WriteFunction write = nullptr,
             void* write_context = nullptr, std::string path = {});
    ~EventLog();
    EventLog(const EventLog&) = delete;
    EventLog& operator=(const EventLog&) = delete;

    // Starts the writer thread (setup, once; its signals blocked, so that they reach the process's
    // other threads as before). From then on flush() hands the queued half over and returns at
    // once; the thread writes it, waits for a full pipe with poll(2) and paces retries itself.
    void start_writer();
    // Keeps the writer thread to `cpus` (live traffic: the management lcore's CPU, so that it never
    // takes a worker's). False if the thread is not running or the CPUs cannot be set.
    bool confine_writer(const cpu_set_t& cpus) noexcept;

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

    // Writes what the sink takes now without waiting, or, with the writer thread, hands it the
    // queued lines; `now_ns` (monotonic) paces retries after a failure (the thread keeps its own
    // clock). Returns true when every queued line is written.
    bool flush(uint64_t now_ns) noexcept;

    // Finishes the log for good: stops the writer thread, removes a cut line that cannot be
    // finished from a regular file; lines still buffered are counted as dropped. Idempotent.
    void close() noexcept;

    // Reopens the path (after logrotate moved the file). False, with `error`, when it cannot:
    // the old descriptor stays in use. With the writer thread the new file is taken between two
    // writes, the cut line (if any) then moved whole to it.
    bool reopen(std::string& error);

    // Faults in the first `bytes` of the buffer (at most all of it, half in each half) now: the
    // lines a capture is expected to write reach them. Setup only.
    void populate(size_t bytes) noexcept;

    // Bytes append() can take now without waiting for the half being written.
    size_t room() const noexcept { return half_bytes_ - filling_->tail; }
    // The longest line the log can ever take: a half.
    size_t longest_line() const noexcept { return half_bytes_; }
    size_t capacity() const noexcept { return 2 * half_bytes_; }
    // The sink is slow but working (a pipe or FIFO that is full for now): a capture run may wait
    // for it instead of dropping lines.
    bool sink_full() const noexcept { return sink_full_.load(std::memory_order_relaxed); }
    // The last write failed with an error other than "try again" (errno value, 0 if none).
    int last_error() const noexcept { return last_error_.load(std::memory_order_relaxed); }
    // Standard output lost its reader (EPIPE): nobody will ever read what follows.
    bool reader_gone() const noexcept { return reader_gone_.load(std::memory_order_relaxed); }
    bool is_stdout() const noexcept { return path_ == "-"; }

    uint64_t lines_written() const noexcept {
        return lines_written_.load(std::memory_order_relaxed);
    }
    uint64_t lines_dropped() const noexcept { return lines_dropped_; }
    uint64_t write_errors() const noexcept { return write_errors_.load(std::memory_order_relaxed); }

  private:
    // One half of the buffer: queued lines from `line_start` (the first not yet wholly written;
    // before it, only whole lines that are) to `tail`, written up to `written`.
    struct Half {
        FixedMemory memory;  // pages taken as lines first reach them
        size_t line_start = 0;
        size_t written = 0;
        size_t tail = 0;
        uint64_t lines = 0;  // queued lines whose newline is not written yet
        char* data() const noexcept { return reinterpret_cast<char*>(memory.data()); }
    };

    EventLog(std::string path, int fd, bool restore_blocking, size_t buffer_bytes);
    // The filling half, if it holds lines and the other is written out, becomes the one written.
    bool hand_over() noexcept;
    // Writes the draining half; true once all of it is written (then it is empty and handed back).
    bool write_draining(uint64_t now_ns) noexcept;
    void writer_loop() noexcept;
    // Waits, on the writer thread, for a full pipe to take data or a retry's time, at most a short
    // slice (writer_wait_slice_ms), so that stop and reopen are seen soon.
    void writer_wait_for_sink() noexcept;
    // Moves to a descriptor reopen() opened: the draining half's cut line goes whole to it.
    void take_reopened() noexcept;
    void stop_writer() noexcept;
    void cut_back_partial_line() noexcept;
    void release_descriptor() noexcept;
    void count_write(long n) noexcept;

    std::string path_;
    int fd_ = -1;  // the writer thread's while it runs
    bool owned_ = true;
    bool restore_blocking_ = false;  // O_NONBLOCK was set on a shared descriptor: undo at close
    WriteFunction write_ = nullptr;
    void* write_context_ = nullptr;

    size_t half_bytes_ = 0;
    Half halves_[2];
    Half* filling_ = &halves_[0];   // management's: lines are queued here
    Half* draining_ = &halves_[1];  // the writer's while `draining_busy_`
    // Set by management when it hands a half over, cleared by whoever writes it out: the
    // release/acquire pair that passes the half (and `draining_`) between the two threads.
    std::atomic<bool> draining_busy_{false};

    std::thread writer_;
    std::atomic<uint32_t> writer_wake_{0};  // bumped (and notified) on each hand-over or request
    std::atomic<bool> writer_stop_{false};
    std::atomic<int> reopened_fd_{-1};  // reopen()'s descriptor, until the writer takes it

    bool closed_ = false;
    uint64_t retry_at_ns_ = 0;  // the writer's (or flush()'s caller's) clock
    uint64_t lines_dropped_ = 0;
    // Written by whoever writes, read by management for its counters.
    std::atomic<bool> sink_full_{false};
    std::atomic<bool> reader_gone_{false};
    std::atomic<int> last_error_{0};
    std::atomic<uint64_t> lines_written_{0};
    std::atomic<uint64_t> write_errors_{0};
};

}  // namespace rstscope
