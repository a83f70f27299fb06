// SPDX-License-Identifier: BSD-3-Clause
// EventLog: whole lines only, bounded buffer, resumes when the sink takes data again, never blocks;
// the per-event line written in place or, without room, formatted elsewhere: the same bytes.
#include "rstscope/mgmt/event_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
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
// for the longest line is a null, not a drop, and compaction makes room as for append().
TEST(EventLog, LinesWrittenInPlaceAreQueuedAsAppendedOnes) {
    LimitedSink sink;
    const size_t size = line(0).size();
    EventLog log(-1, false, size * 3, LimitedSink::write, &sink);
    ASSERT_TRUE(log.append(line(0)));
    char* at = log.line_space(size);
    ASSERT_NE(at, nullptr);
    std::string text = line(1);
    text.copy(at, size);
    EXPECT_EQ(log.commit_line(size), text);
    EXPECT_EQ(log.line_space(size + 1), nullptr);  // one line's room left, not more
    EXPECT_EQ(log.lines_dropped(), 0u);
    sink.budget = size;
    log.flush(1);
    at = log.line_space(2 * size);  // the written line's room, compacted
    ASSERT_NE(at, nullptr);
    line(2).copy(at, size);
    log.commit_line(size);
    sink.budget = 1 << 20;
    EXPECT_TRUE(log.flush(1 + EventLog::retry_interval_ns));
    EXPECT_EQ(sink.received, line(0) + line(1) + line(2));
    EXPECT_EQ(log.lines_written(), 3u);
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
    LimitedSink sink;
    EventLog log(-1, false, 1 << 16, LimitedSink::write, &sink);
    std::string_view in_place = write_event_line(log, event);
    ASSERT_FALSE(in_place.empty());
    EXPECT_EQ(in_place.back(), '\n');
    fmt::memory_buffer elsewhere;
    elsewhere.append(std::string_view("stale"));
    EXPECT_EQ(format_event_line(elsewhere, event), in_place);

    EventLog small(-1, false, in_place.size() + 1, LimitedSink::write, &sink);
    EXPECT_TRUE(write_event_line(small, event).empty());  // less than the longest line's room
    EXPECT_EQ(small.lines_dropped(), 0u);
    EXPECT_TRUE(small.append(format_event_line(elsewhere, event)));
    EXPECT_EQ(small.room(), 1u);
}

TEST(EventLog, CompactsAroundACutLineToMakeRoom) {
    LimitedSink sink;
    const size_t size = line(0).size();
    EventLog log(-1, false, size * 3, LimitedSink::write, &sink);
    for (int i = 0; i < 3; ++i)
        ASSERT_TRUE(log.append(line(i)));
    sink.budget = size * 2 + 5;
    log.flush(1);
    EXPECT_EQ(log.lines_written(), 2u);
    // Two lines' room is free again; the cut line's written part stays so that it can still be
    // written whole to another file after a reopen.
    EXPECT_TRUE(log.append(line(3)));
    EXPECT_TRUE(log.append(line(4)));
    EXPECT_FALSE(log.append(line(5)));
    sink.budget = 1 << 20;
    EXPECT_TRUE(log.flush(1 + EventLog::retry_interval_ns));
    EXPECT_EQ(sink.received, line(0) + line(1) + line(2) + line(3) + line(4));
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
    std::string received;
    char buffer[65536];
    for (int round = 0; round < 100000 && !log.flush(2); ++round) {
        long n;
        while ((n = ::read(fds[0], buffer, sizeof buffer)) > 0)
            received.append(buffer, static_cast<size_t>(n));
    }
    long n;
    while ((n = ::read(fds[0], buffer, sizeof buffer)) > 0)
        received.append(buffer, static_cast<size_t>(n));
    EXPECT_FALSE(log.sink_full());
    EXPECT_EQ(log.lines_written(), 20000u);
    EXPECT_EQ(received, expected);
    ::close(fds[0]);
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
