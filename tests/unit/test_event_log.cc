// SPDX-License-Identifier: BSD-3-Clause
// EventLog: whole lines only, bounded buffer, resumes when the sink takes data again, never blocks;
// the per-event line written in place or, without room, formatted elsewhere: the same bytes; the
// same promises with the writer thread, whose stalls never reach the caller.
#include "rstscope/mgmt/event_log.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "resident_memory.h"
#include "rstscope/mgmt/settle.h"

namespace rstscope {
namespace {

// A sink that takes `budget` bytes, then fails with `error` until given more budget: a disk that
// fills up and is later cleaned.
struct LimitedSink {
    size_t budget = 0;
    int error = ENOSPC;
    std::string received;
    int calls = 0;

    static long write(void* context, int, const char* data, size_t size) {
        auto& sink = *static_cast<LimitedSink*>(context);
        ++sink.calls;
        if (sink.budget == 0) {
            errno = sink.error;
            return -1;
        }
        size_t n = std::min(size, sink.budget);
        sink.received.append(data, n);
        sink.budget -= n;
        return static_cast<long>(n);
    }
};

// Writes through to the real descriptor, within a budget: a regular file on a disk that fills up.
struct LimitedFile {
    size_t budget = 0;
    static long write(void* context, int fd, const char* data, size_t size) {
        auto& sink = *static_cast<LimitedFile*>(context);
        if (sink.budget == 0) {
            errno = ENOSPC;
            return -1;
        }
        long n = ::write(fd, data, std::min(size, sink.budget));
        if (n > 0) sink.budget -= static_cast<size_t>(n);
        return n;
    }
};

std::string line(int i) {
    return "{\"event\":" + std::to_string(i) + ",\"pad\":\"" + std::string(20, 'x') + "\"}\n";
}

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

class TempDir {
  public:
    TempDir() {
        char name[] = "/tmp/rstscope-event-log-XXXXXX";
        path_ = mkdtemp(name);
    }
    ~TempDir() { std::filesystem::remove_all(path_); }
    std::string file(const std::string& name) const { return path_ + "/" + name; }

  private:
    std::string path_;
};

// Reads a pipe, the log's sink, until the log says everything queued is written (flush() at
// `now_ns`, `pause_us` between rounds, a bounded number of rounds), then what is left in it.
std::string read_pipe_until_written(EventLog& log, int fd, uint64_t now_ns, useconds_t pause_us) {
    std::string received;
    char buffer[65536];
    auto read_all = [&] {
        long n;
        while ((n = ::read(fd, buffer, sizeof buffer)) > 0)
            received.append(buffer, static_cast<size_t>(n));
    };
    for (int round = 0; round < 100000 && !log.flush(now_ns); ++round) {
        read_all();
        if (pause_us) usleep(pause_us);
    }
    read_all();
    return received;
}

TEST(EventLog, PopulateFaultsInThePrefixOfItsBuffer) {
    EventLog log(open("/dev/null", O_WRONLY | O_CLOEXEC), true, size_t{16} << 20);
    const size_t before = resident_bytes();
    log.populate(size_t{4} << 20);
    const size_t grown = resident_bytes() - before;
    EXPECT_GE(grown, size_t{4} << 20);
    EXPECT_LE(grown, (size_t{4} << 20) + huge_page_bytes);
    EXPECT_TRUE(log.append("{}\n"));
    EXPECT_TRUE(log.flush(0));
    EXPECT_EQ(log.lines_written(), 1u);
}

TEST(EventLog, CountsOnlyWholeLinesAndFinishesTheCutLineWhenSpaceReturns) {
    LimitedSink sink;
    EventLog log(-1, false, 1 << 16, LimitedSink::write, &sink);
    std::string expected;
    for (int i = 0; i < 10; ++i) {
        ASSERT_TRUE(log.append(line(i)));
        expected += line(i);
    }
    sink.budget = line(0).size() * 3 + 7;  // three lines and the start of a fourth
    EXPECT_FALSE(log.flush(1));
    EXPECT_EQ(log.lines_written(), 3u);
    EXPECT_EQ(log.write_errors(), 1u);
    EXPECT_EQ(log.last_error(), ENOSPC);

    // Retries are paced: no write before the retry interval has passed.
    int calls = sink.calls;
    EXPECT_FALSE(log.flush(2));
    EXPECT_EQ(sink.calls, calls);

    for (int i = 10; i < 12; ++i) {
        ASSERT_TRUE(log.append(line(i)));
        expected += line(i);
    }
    sink.budget = 1 << 20;  // space returns
    EXPECT_TRUE(log.flush(1 + EventLog::retry_interval_ns));
    EXPECT_EQ(log.lines_written(), 12u);
    EXPECT_EQ(log.last_error(), 0);
    EXPECT_EQ(sink.received, expected);  // the cut line was finished: nothing glued, nothing lost
    EXPECT_EQ(log.lines_dropped(), 0u);
}

TEST(EventLog, BoundedBufferDropsAndCountsLinesThatDoNotFit) {
    LimitedSink sink;  // the disk is full from the start
    const size_t capacity = line(0).size() * 4;
    EventLog log(-1, false, capacity, LimitedSink::write, &sink);
    int accepted = 0;
    for (int i = 0; i < 10; ++i)
        accepted += log.append(line(i));
    EXPECT_EQ(accepted, 4);
    EXPECT_EQ(log.lines_dropped(), 6u);
    EXPECT_FALSE(log.flush(1));
    log.close();
    EXPECT_EQ(log.lines_written(), 0u);
    EXPECT_EQ(log.lines_dropped(), 10u);  // the four buffered lines could never be written
}

// The per-event path's in-place lines are queued, counted and written as appended ones; no room
// for the longest line is a null, not a drop. A full half is handed over to be written if the
// other half is written out, and its room is the next lines'.
TEST(EventLog, LinesWrittenInPlaceAreQueuedAsAppendedOnes) {
    LimitedSink sink;
    const size_t size = line(0).size();
    EventLog log(-1, false, size * 4, LimitedSink::write, &sink);  // halves of two lines
    ASSERT_TRUE(log.append(line(0)));
    char* at = log.line_space(size);
    ASSERT_NE(at, nullptr);
    std::string text = line(1);
    text.copy(at, size);
    EXPECT_EQ(log.commit_line(size), text);
    at = log.line_space(size);  // the full half handed over: the other one's room
    ASSERT_NE(at, nullptr);
    line(2).copy(at, size);
    log.commit_line(size);
    EXPECT_EQ(log.line_space(size + 1), nullptr);  // one line's room left, the other half queued
    EXPECT_EQ(log.lines_dropped(), 0u);
    sink.budget = 2 * size;
    EXPECT_FALSE(log.flush(1));  // the first half written, the second handed over, the disk full
    EXPECT_EQ(log.lines_written(), 2u);
    at = log.line_space(2 * size);  // the written half's room
    ASSERT_NE(at, nullptr);
    line(3).copy(at, size);
    log.commit_line(size);
    sink.budget = 1 << 20;
    EXPECT_TRUE(log.flush(1 + EventLog::retry_interval_ns));
    EXPECT_EQ(sink.received, line(0) + line(1) + line(2) + line(3));
    EXPECT_EQ(log.lines_written(), 4u);
}

// Without room for the longest line in the buffer, the per-event path formats the same line
// elsewhere (format_event_line) and appends it as any record.
TEST(EventLog, AnEventLineInPlaceOrFormattedElsewhereIsTheSame) {
    ResetEvent event{};
    event.id = 7;
    event.ts_ns = event.last_ts_ns = 1'500'000'000;
    event.first_ts_ns = 1'000'000'000;
    event.family = IpFamily::v4;
    event.orig_p = 40000;
    event.resp_p = 443;
    event.rst_payload_length = 4;  // the extras are written from their own part
    std::memcpy(event.rst_payload, "busy", 4);
    LimitedSink sink;
    EventLog log(-1, false, 1 << 16, LimitedSink::write, &sink);
    std::string_view in_place = write_event_line(log, event, event);
    ASSERT_FALSE(in_place.empty());
    EXPECT_NE(in_place.find("\"payload_in_rst\":\"busy\""), std::string_view::npos);
    EXPECT_EQ(in_place.back(), '\n');
    fmt::memory_buffer elsewhere;
    elsewhere.append(std::string_view("stale"));
    EXPECT_EQ(format_event_line(elsewhere, event, event), in_place);

    EventLog small(-1, false, 2 * (in_place.size() + 1), LimitedSink::write, &sink);
    EXPECT_TRUE(
        write_event_line(small, event, event).empty());  // less than the longest line's room
    EXPECT_EQ(small.lines_dropped(), 0u);
    EXPECT_TRUE(small.append(format_event_line(elsewhere, event, event)));
    EXPECT_EQ(small.room(), 1u);
}

// The half holding a cut line is not reused before the line is written whole: its written part
// stays so that it can still be written whole to another file after a reopen. The other half
// takes lines meanwhile.
TEST(EventLog, ACutLineKeepsItsHalfUntilItIsWrittenWhole) {
    LimitedSink sink;
    const size_t size = line(0).size();
    EventLog log(-1, false, size * 6, LimitedSink::write, &sink);  // halves of three lines
    for (int i = 0; i < 3; ++i)
        ASSERT_TRUE(log.append(line(i)));
    sink.budget = size * 2 + 5;
    EXPECT_FALSE(log.flush(1));
    EXPECT_EQ(log.lines_written(), 2u);
    for (int i = 3; i < 6; ++i)
        EXPECT_TRUE(log.append(line(i)));
    EXPECT_FALSE(log.append(line(6)));
    EXPECT_EQ(log.lines_dropped(), 1u);
    sink.budget = 1 << 20;
    EXPECT_TRUE(log.flush(1 + EventLog::retry_interval_ns));
    EXPECT_EQ(sink.received, line(0) + line(1) + line(2) + line(3) + line(4) + line(5));
    EXPECT_EQ(log.lines_written(), 6u);
}

TEST(EventLog, FullDeviceCountsErrorsAndNeverCountsALineAsWritten) {
    int fd = ::open("/dev/full", O_WRONLY);
    ASSERT_GE(fd, 0);
    EventLog log(fd, true, 1 << 16);
    for (int i = 0; i < 5; ++i)
        log.append(line(i));
    EXPECT_FALSE(log.flush(1));
    EXPECT_EQ(log.last_error(), ENOSPC);
    EXPECT_EQ(log.write_errors(), 1u);
    log.close();
    EXPECT_EQ(log.lines_written(), 0u);
    EXPECT_EQ(log.lines_dropped(), 5u);
}

TEST(EventLog, ClosingCutsAnUnfinishableLineOutOfARegularFile) {
    TempDir dir;
    std::string path = dir.file("events.jsonl");
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ASSERT_GE(fd, 0);
    LimitedFile disk{line(0).size() * 2 + 9};
    {
        EventLog log(fd, true, 1 << 16, LimitedFile::write, &disk);
        for (int i = 0; i < 4; ++i)
            log.append(line(i));
        log.flush(1);
        EXPECT_EQ(log.lines_written(), 2u);
        log.close();
        EXPECT_EQ(log.lines_dropped(), 2u);
    }
    EXPECT_EQ(read_file(path), line(0) + line(1));
}

TEST(EventLog, ReopenTakesACutLineOutOfTheOldFileAndWritesItWholeToTheNewOne) {
    TempDir dir;
    std::string path = dir.file("events.jsonl");
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ASSERT_GE(fd, 0);
    LimitedFile disk{line(0).size() + 11};
    EventLog log(fd, true, 1 << 16, LimitedFile::write, &disk, path);
    log.append(line(0));
    log.append(line(1));
    EXPECT_FALSE(log.flush(1));
    EXPECT_EQ(log.lines_written(), 1u);
    std::filesystem::rename(path, path + ".1");  // logrotate, then SIGHUP
    std::string error;
    ASSERT_TRUE(log.reopen(error)) << error;
    disk.budget = 1 << 20;
    EXPECT_TRUE(log.flush(1 + EventLog::retry_interval_ns));
    log.close();
    EXPECT_EQ(read_file(path + ".1"), line(0));
    EXPECT_EQ(read_file(path), line(1));
    EXPECT_EQ(log.lines_written(), 2u);
    EXPECT_EQ(log.lines_dropped(), 0u);
}

TEST(EventLog, ReopenMovesToTheNewFile) {
    TempDir dir;
    std::string path = dir.file("events.jsonl");
    std::string error;
    auto log = EventLog::open(path, 1 << 16, error);
    ASSERT_TRUE(log) << error;
    log->append(line(0));
    log->append(line(1));
    EXPECT_TRUE(log->flush(1));
    std::filesystem::rename(path, path + ".1");  // logrotate
    log->append(line(2));
    ASSERT_TRUE(log->reopen(error)) << error;
    log->append(line(3));
    EXPECT_TRUE(log->flush(2));
    log->close();
    EXPECT_EQ(read_file(path + ".1"), line(0) + line(1));
    EXPECT_EQ(read_file(path), line(2) + line(3));
    EXPECT_EQ(log->lines_written(), 4u);
}

TEST(EventLog, APipeThatIsFullIsWaitedForNotBlockedOn) {
    int fds[2];
    ASSERT_EQ(pipe2(fds, O_NONBLOCK), 0);
    EventLog log(fds[1], true, 1 << 22);
    std::string expected;
    // Far more than a pipe holds (64 KiB): the writes must return, not block.
    for (int i = 0; i < 20000; ++i) {
        ASSERT_TRUE(log.append(line(i)));
        expected += line(i);
    }
    EXPECT_FALSE(log.flush(1));
    EXPECT_TRUE(log.sink_full());
    EXPECT_LT(log.lines_written(), 20000u);
    std::string received = read_pipe_until_written(log, fds[0], 2, 0);
    EXPECT_FALSE(log.sink_full());
    EXPECT_EQ(log.lines_written(), 20000u);
    EXPECT_EQ(received, expected);
    ::close(fds[0]);
}

// With the writer thread, flush() only hands lines over: these wait (a bounded while) until the
// thread has written everything queued.
bool flush_until_written(EventLog& log) {
    for (int i = 0; i < 20000; ++i) {  // at most about 20 s
        if (log.flush(0)) return true;
        usleep(1000);
    }
    return false;
}

// Queues a line, waiting (a bounded while) for room as a capture's management does.
bool queue_line(EventLog& log, const std::string& text) {
    for (int i = 0; i < 20000 && log.room() < text.size(); ++i) {
        log.flush(0);
        usleep(1000);
    }
    return log.append(text);
}

// A log at `path` with its writer thread started, as rstscope opens one.
std::unique_ptr<EventLog> open_with_writer(const std::string& path) {
    std::string error;
    auto log = EventLog::open(path, 1 << 16, error);
    if (!log) {
        ADD_FAILURE() << error;
        return nullptr;
    }
    log->start_writer();
    return log;
}

TEST(EventLog, TheWriterThreadWritesEveryLineInOrderAndCountsIt) {
    TempDir dir;
    std::string path = dir.file("events.jsonl");
    auto log = open_with_writer(path);
    ASSERT_TRUE(log);
    std::string expected;
    for (int i = 0; i < 50000; ++i) {  // 2.5 MB through 64 KiB: each half handed over many times
        ASSERT_TRUE(queue_line(*log, line(i)));
        expected += line(i);
    }
    ASSERT_TRUE(flush_until_written(*log));
    EXPECT_EQ(log->lines_written(), 50000u);
    log->close();
    EXPECT_EQ(log->lines_dropped(), 0u);
    EXPECT_EQ(read_file(path), expected);
}

// A pipe nobody reads holds the writer thread, never the caller: flush() returns at once, lines
// beyond the buffer are dropped and counted, and everything queued follows once the reader reads.
TEST(EventLog, AStalledPipeHoldsTheWriterThreadNotTheCaller) {
    int fds[2];
    ASSERT_EQ(pipe2(fds, O_NONBLOCK), 0);
    EventLog log(fds[1], true, 1 << 18);
    log.start_writer();
    std::string expected;
    uint64_t accepted = 0;
    for (int i = 0; i < 20000; ++i) {  // 700 KB: more than the pipe (64 KiB) and the buffer
        if (log.append(line(i))) {
            expected += line(i);
            ++accepted;
        }
        log.flush(0);
    }
    EXPECT_GT(log.lines_dropped(), 0u);
    EXPECT_EQ(accepted + log.lines_dropped(), 20000u);
    for (int i = 0; i < 5000 && !log.sink_full(); ++i) {
        log.flush(0);  // as management's every pass: what is queued goes to the thread
        usleep(1000);
    }
    EXPECT_TRUE(log.sink_full());
    EXPECT_FALSE(log.flush(0));
    std::string received = read_pipe_until_written(log, fds[0], 0, 200);
    EXPECT_EQ(log.lines_written(), accepted);
    EXPECT_EQ(received, expected);
    EXPECT_FALSE(log.sink_full());
    log.close();
    ::close(fds[0]);
}

// A write(2) the kernel holds (a disk throttled by writeback, a hung network filesystem): the
// writer thread waits in it, the caller never does. Queuing and handing over go on, lines beyond
// the buffer are dropped and counted, and once the write returns everything queued follows.
struct HeldSink {
    std::atomic<bool> released{false};
    std::atomic<int> calls{0};
    std::string received;  // the writer thread's until the test has joined it (close())
    static long write(void* context, int, const char* data, size_t size) {
        auto& sink = *static_cast<HeldSink*>(context);
        sink.calls.fetch_add(1);
        while (!sink.released.load())
            usleep(1000);
        sink.received.append(data, size);
        return static_cast<long>(size);
    }
};

TEST(EventLog, AWriteTheKernelHoldsHoldsTheWriterThreadNotTheCaller) {
    HeldSink sink;
    const size_t size = line(0).size();
    EventLog log(-1, false, size * 8, HeldSink::write, &sink);  // halves of four lines
    log.start_writer();
    ASSERT_TRUE(log.append(line(0)));
    EXPECT_FALSE(log.flush(0));  // handed over; the thread is now held in its write
    for (int i = 0; i < 5000 && sink.calls.load() == 0; ++i)
        usleep(1000);
    ASSERT_EQ(sink.calls.load(), 1);
    std::string expected = line(0);
    int accepted = 1;
    for (int i = 1; i < 10; ++i) {  // every call returns while the write is held
        if (log.append(line(i))) {
            expected += line(i);
            ++accepted;
        }
        EXPECT_FALSE(log.flush(0));
    }
    EXPECT_EQ(accepted, 5);  // the held line, and the other half's four
    EXPECT_EQ(log.lines_dropped(), 5u);
    EXPECT_EQ(log.lines_written(), 0u);
    sink.released.store(true);
    EXPECT_TRUE(flush_until_written(log));
    EXPECT_EQ(log.lines_written(), 5u);
    log.close();
    EXPECT_EQ(sink.received, expected);
}

TEST(EventLog, TheWriterThreadMovesToTheReopenedFile) {
    TempDir dir;
    std::string path = dir.file("events.jsonl");
    auto log = open_with_writer(path);
    ASSERT_TRUE(log);
    log->append(line(0));
    log->append(line(1));
    ASSERT_TRUE(flush_until_written(*log));
    std::filesystem::rename(path, path + ".1");  // logrotate
    log->append(line(2));
    std::string error;
    ASSERT_TRUE(log->reopen(error)) << error;
    log->append(line(3));
    ASSERT_TRUE(flush_until_written(*log));
    log->close();
    EXPECT_EQ(read_file(path + ".1"), line(0) + line(1));
    EXPECT_EQ(read_file(path), line(2) + line(3));
    EXPECT_EQ(log->lines_written(), 4u);
}

// A full disk: the thread retries at its pace, counts the errors, and close() stops it at once;
// no line is counted as written, every queued one as dropped.
TEST(EventLog, CloseStopsAWriterThreadRetryingAFullDevice) {
    int fd = ::open("/dev/full", O_WRONLY);
    ASSERT_GE(fd, 0);
    EventLog log(fd, true, 1 << 16);
    log.start_writer();
    for (int i = 0; i < 5; ++i)
        ASSERT_TRUE(log.append(line(i)));
    EXPECT_FALSE(log.flush(0));
    for (int i = 0; i < 5000 && log.write_errors() < 2; ++i)  // a retry after 100 ms
        usleep(1000);
    EXPECT_GE(log.write_errors(), 2u);
    EXPECT_EQ(log.last_error(), ENOSPC);
    log.close();
    EXPECT_EQ(log.lines_written(), 0u);
    EXPECT_EQ(log.lines_dropped(), 5u);
}

// Live traffic keeps the writer thread to the management lcore's CPU (main.cc): it is given a
// set, and the kernel says the thread keeps to it. Without the thread there is nothing to confine.
std::string writer_cpus() {
    for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
        std::string name = read_file(task.path() / "comm");
        if (name != "rstscope-log\n") continue;
        std::string status = read_file(task.path() / "status");
        size_t at = status.find("Cpus_allowed_list:");
        if (at == std::string::npos) return {};
        size_t end = status.find('\n', at);
        std::string list = status.substr(at + 18, end - at - 18);
        list.erase(0, list.find_first_not_of(" \t"));
        return list;
    }
    return {};
}

TEST(EventLog, TheWriterThreadKeepsToTheCpusItIsGiven) {
    EventLog log(open("/dev/null", O_WRONLY | O_CLOEXEC), true, 1 << 16);
    cpu_set_t first;
    CPU_ZERO(&first);
    CPU_SET(0, &first);
    EXPECT_FALSE(log.confine_writer(first));  // no thread yet
    log.start_writer();
    ASSERT_TRUE(log.confine_writer(first));
    EXPECT_EQ(writer_cpus(), "0");
    log.close();
    EXPECT_EQ(writer_cpus(), "");  // stopped with the log
}

TEST(EventLog, RefusesAFifoWithoutAReaderAndADirectory) {
    TempDir dir;
    std::string fifo = dir.file("fifo");
    ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
    std::string error;
    EXPECT_FALSE(EventLog::open(fifo, 4096, error));
    EXPECT_NE(error.find("FIFO with no reader"), std::string::npos) << error;
    error.clear();
    EXPECT_FALSE(EventLog::open(dir.file(""), 4096, error));
    EXPECT_NE(error.find("cannot open event log"), std::string::npos) << error;
}

}  // namespace
}  // namespace rstscope
