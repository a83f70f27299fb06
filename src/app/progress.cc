// SPDX-License-Identifier: BSD-3-Clause
#include "progress.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include <fmt/format.h>

namespace rstscope {
namespace {

// 999, 12.3 k, 4.5 M, 6.7 G: a width that does not jump as the count grows.
std::string amount(double n) {
    if (n < 1e3) return fmt::format("{:.0f}", n);
    if (n < 1e6) return fmt::format("{:.1f} k", n / 1e3);
    if (n < 1e9) return fmt::format("{:.1f} M", n / 1e6);
    return fmt::format("{:.1f} G", n / 1e9);
}

std::string clock_text(double seconds) {
    auto s = static_cast<uint64_t>(std::llround(std::clamp(seconds, 0.0, 359999.0)));
    return fmt::format("{}:{:02d}:{:02d}", s / 3600, s / 60 % 60, s % 60);
}

}  // namespace

std::string progress_line(const ProgressFigures& f) {
    double done = static_cast<double>(f.packets);
    double rate = f.elapsed_s > 0 ? done / f.elapsed_s : 0;
    std::string line;
    if (f.total_packets > 0) {
        double total = static_cast<double>(f.total_packets);
        line = fmt::format("{} of {} packets ({:.1f} %)", amount(done), amount(total),
                           std::min(100.0, 100.0 * done / total));
    } else {
        line = fmt::format("{} packets", amount(done));
    }
    line += fmt::format(", {} packets/s, {} resets", amount(rate), f.resets);
    if (f.total_packets > 0) {
        if (rate > 0 && f.packets <= f.total_packets)
            line += ", ETA " + clock_text(static_cast<double>(f.total_packets - f.packets) / rate);
        else
            line += ", ETA -";
    }
    return line;
}

ProgressReporter::ProgressReporter(Sampler sample, std::function<void(const std::string&)> write,
                                   double period_s)
    : sample_(std::move(sample)),
      write_(std::move(write)),
      period_s_(period_s),
      thread_([this] { loop(); }) {}

ProgressReporter::~ProgressReporter() {
    stop_.store(true, std::memory_order_relaxed);
    if (thread_.joinable()) thread_.join();
}

void ProgressReporter::loop() {
    using clock = std::chrono::steady_clock;
    auto next = clock::now() + std::chrono::duration<double>(period_s_);
    while (!stop_.load(std::memory_order_relaxed)) {
        // Short sleeps, so a stop never waits for a whole period.
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        if (clock::now() < next) continue;
        next += std::chrono::duration<double>(period_s_);
        write_("\r" + progress_line(sample_()) + "\x1b[K");
        drawn_ = true;
    }
    if (drawn_) write_("\r\x1b[K");  // the summary starts on a clean line
}

}  // namespace rstscope
