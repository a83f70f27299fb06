// SPDX-License-Identifier: BSD-3-Clause
// Unit tests for the capture run's progress line (src/app/progress.h): percentage, rate and time
// left from the counters, unknown totals, and the reporter thread redrawing in place and clearing
// its line when stopped.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "app/progress.h"

namespace rstscope {
namespace {

TEST(Progress, PercentRateResetsAndTimeLeft) {
    ProgressFigures f{
        .packets = 1'200'000, .total_packets = 2'000'000, .resets = 1234, .elapsed_s = 2.0};
    // 600 k packets/s; 800 k left: 1.33 s, rounded to 0:00:01.
    EXPECT_EQ(progress_line(f),
              "1.2 M of 2.0 M packets (60.0 %), 600.0 k packets/s, 1234 resets, ETA 0:00:01");
    f = {.packets = 500, .total_packets = 1'000'000'000, .resets = 0, .elapsed_s = 10};
    EXPECT_EQ(progress_line(f),
              "500 of 1.0 G packets (0.0 %), 50 packets/s, 0 resets, ETA 99:59:59");
}

TEST(Progress, NothingReadYetOrNoTotal) {
    EXPECT_EQ(progress_line({.packets = 0, .total_packets = 414, .resets = 0, .elapsed_s = 0}),
              "0 of 414 packets (0.0 %), 0 packets/s, 0 resets, ETA -");
    EXPECT_EQ(progress_line({.packets = 2500, .total_packets = 0, .resets = 3, .elapsed_s = 1}),
              "2.5 k packets, 2.5 k packets/s, 3 resets");
    // More read than the probe counted (never expected): capped at 100 %, no time left to guess.
    EXPECT_EQ(progress_line({.packets = 20, .total_packets = 10, .resets = 0, .elapsed_s = 1}),
              "20 of 10 packets (100.0 %), 20 packets/s, 0 resets, ETA -");
}

TEST(Progress, ReporterRedrawsInPlaceAndClearsItsLine) {
    std::mutex lock;
    std::vector<std::string> written;
    std::atomic<uint64_t> packets{0};
    {
        ProgressReporter reporter(
            [&] {
                return ProgressFigures{.packets = packets.fetch_add(10) + 10,
                                       .total_packets = 1000,
                                       .resets = 1,
                                       .elapsed_s = 1};
            },
            [&](const std::string& text) {
                std::lock_guard<std::mutex> hold(lock);
                written.push_back(text);
            },
            0.05);
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (std::chrono::steady_clock::now() < deadline) {
            {
                std::lock_guard<std::mutex> hold(lock);
                if (written.size() >= 3) break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    }
    ASSERT_GE(written.size(), 4u);  // at least three redraws, then the clearing
    EXPECT_EQ(written[0],
              "\r10 of 1.0 k packets (1.0 %), 10 packets/s, 1 resets, ETA 0:01:39\x1b[K");
    EXPECT_EQ(written[1].rfind("\r20 of 1.0 k packets (2.0 %)", 0), 0u) << written[1];
    EXPECT_EQ(written.back(), "\r\x1b[K");
}

}  // namespace
}  // namespace rstscope
