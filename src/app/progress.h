// SPDX-License-Identifier: BSD-3-Clause
// Progress of a capture run on a terminal: packets read of the capture's count, the percentage,
// the rate, resets so far and the time left, redrawn in place on standard error at most four
// times a second. Only when standard error is a terminal and --quiet is not given (main decides);
// a pipe or a file never gets it. Its own thread, which reads the workers' counters (relaxed
// atomic loads, as management does) and sleeps in between: nothing on the packet path changes.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>

namespace rstscope {

struct ProgressFigures {
    uint64_t packets = 0;        // read so far (all workers)
    uint64_t total_packets = 0;  // in the capture (the probe's count); 0: unknown
    uint64_t resets = 0;         // reset connections so far
    double elapsed_s = 0;        // since the analysis started
};

// One line, without newline: "1.2 M of 2.0 M packets (61.7 %), 850 k packets/s, 1234 resets,
// ETA 0:00:01". Pure: tested without EAL (tests/unit/test_progress.cc).
std::string progress_line(const ProgressFigures& figures);

class ProgressReporter {
  public:
    using Sampler = std::function<ProgressFigures()>;  // called from the reporter's thread
    // Starts the thread; `write` receives each text to put on the terminal (tests capture it).
    ProgressReporter(Sampler sample, std::function<void(const std::string&)> write,
                     double period_s = 0.25);
    // Stops the thread and clears the line.
    ~ProgressReporter();
    ProgressReporter(const ProgressReporter&) = delete;
    ProgressReporter& operator=(const ProgressReporter&) = delete;

  private:
    void loop();

    Sampler sample_;
    std::function<void(const std::string&)> write_;
    double period_s_;
    std::atomic<bool> stop_{false};
    bool drawn_ = false;
    std::thread thread_;  // last: started once everything it uses is set
};

}  // namespace rstscope
