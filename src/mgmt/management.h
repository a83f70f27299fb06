// The management lcore: drains every worker's event ring, finishes each verdict that needs more
// than one connection (RST storms), writes the event log, keeps statistics and serves the control
// socket. It backs off when idle so that it does not steal a shared CPU from a worker.
#pragma once

#include <array>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "../app/worker.h"
#include "control_socket.h"
#include "rstscope/config/options.h"
#include "rstscope/mgmt/stats.h"

namespace rstscope {

class Management {
  public:
    Management(const Options& options, RunControl& run, std::vector<WorkerContext*> workers,
               std::FILE* log, std::unique_ptr<ControlSocket> control);

    // Runs until the capture is fully analysed or a stop is requested, then drains what is left.
    void run();

    CounterTotals totals();
    const ResetStatistics& resets() const { return resets_; }

  private:
    uint32_t drain();
    void receive(const ResetEvent& event);
    void write(StormWindow::Judged& judged);
    void release(bool everything);
    std::string answer(std::string_view request);

    const Options& options_;
    RunControl& run_;
    std::vector<WorkerContext*> workers_;
    std::FILE* log_;
    std::unique_ptr<ControlSocket> control_;
    ResetStatistics resets_;
    StormWindow storms_;
    std::array<uint64_t, management_counter_count> counters_{};
    std::vector<ResetEvent> batch_;
    fmt::memory_buffer line_;
};

}  // namespace rstscope
