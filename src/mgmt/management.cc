#include "management.h"

#include <time.h>

#include <algorithm>

#include "../app/ports.h"
#include "rstscope/mgmt/control_protocol.h"
#include "rstscope/mgmt/event_json.h"

namespace rstscope {
namespace {

constexpr uint32_t dequeue_batch = 256;
// Idle back-off: from a spin to this sleep. A busy-polling manager on a CPU shared with a worker
// halved that worker's rate in a prototype (12.9 → 5.5 Mpps).
constexpr long max_idle_sleep_ns = 1'000'000;

void bump(std::array<uint64_t, management_counter_count>& c, ManagementCounter which,
          uint64_t n = 1) {
    c[static_cast<size_t>(which)] += n;
}

}  // namespace

Management::Management(const Options& options, RunControl& run, std::vector<WorkerContext*> workers,
                       std::FILE* log, std::unique_ptr<ControlSocket> control)
    : options_(options),
      run_(run),
      workers_(std::move(workers)),
      log_(log),
      control_(std::move(control)),
      storms_(options.storm_threshold, static_cast<uint64_t>(options.storm_window_s * 1e9)),
      batch_(dequeue_batch) {}

void Management::receive(const ResetEvent& event) {
    bump(counters_, ManagementCounter::events_received);
    IpAddress resetter = event.rst_by_orig ? event.orig_h : event.resp_h;
    storms_.add(event, ip_text(resetter, event.family));
}

// Storms are a verdict about many connections, so only management, which sees every worker's
// events, can give it: a responder aborting while it resets many others is shedding load.
void Management::write(StormWindow::Judged& judged) {
    ResetEvent& event = judged.event;
    if (judged.storm) {
        event.evidence |= evidence_bit(Evidence::rst_storm);
        if (event.cause == ResetCause::resp_abort) {
            event.cause = ResetCause::overload;
            event.confidence = Confidence::medium;
            bump(counters_, ManagementCounter::storm_upgrades);
        }
    }
    resets_.record(event, judged.host);
    line_.clear();
    append_event_json(line_, event);
    line_.push_back('\n');
    if (std::fwrite(line_.data(), 1, line_.size(), log_) == line_.size())
        bump(counters_, ManagementCounter::events_logged);
    else
        bump(counters_, ManagementCounter::log_write_errors);
}

void Management::release(bool everything) {
    // Judge only events no earlier event can still follow: the slowest worker's progress, less
    // the linger window its waiting resets may still spend.
    uint64_t watermark = UINT64_MAX;
    for (WorkerContext* w : workers_) {
        if (w->finished.load(std::memory_order_acquire)) continue;
        watermark = std::min(watermark, w->progress_ns.load(std::memory_order_acquire));
    }
    uint64_t linger_ns = static_cast<uint64_t>(options_.linger_s * 1e9);
    watermark = watermark > linger_ns ? watermark - linger_ns : 0;
    auto judged = storms_.release(watermark, everything);
    for (auto& j : judged)
        write(j);
    if (!judged.empty()) std::fflush(log_);
}

uint32_t Management::drain() {
    uint32_t total = 0;
    for (WorkerContext* w : workers_) {
        uint32_t n;
        while ((n = w->events->sc_dequeue(batch_.data(), dequeue_batch)) > 0) {
            for (uint32_t i = 0; i < n; ++i)
                receive(batch_[i]);
            total += n;
        }
    }
    release(false);
    return total;
}

CounterTotals Management::totals() {
    std::vector<const WorkerCounters*> counters;
    for (WorkerContext* w : workers_)
        counters.push_back(w->counters);
    uint64_t missed = 0, errors = 0;
    port_drop_totals(missed, errors);
    auto management = counters_;
    management[static_cast<size_t>(ManagementCounter::rx_missed)] = missed;
    management[static_cast<size_t>(ManagementCounter::rx_errors)] = errors;
    return sum_counters(counters, management);
}

std::string Management::answer(std::string_view request) {
    ControlRequest r = parse_control_request(request);
    switch (r.command) {
        case ControlCommand::stats:
            return stats_json(totals(), resets_);
        case ControlCommand::help:
            return control_help_json();
        case ControlCommand::version:
            return R"({"version":"0.1.0"})";
        case ControlCommand::ping:
            return R"({"pong":true})";
        case ControlCommand::invalid:
            break;
    }
    bump(counters_, ManagementCounter::control_bad_requests);
    return control_error_json(r.error);
}

void Management::run() {
    long idle_sleep_ns = 0;
    auto all_finished = [this] {
        return std::all_of(workers_.begin(), workers_.end(), [](WorkerContext* w) {
            return w->finished.load(std::memory_order_acquire);
        });
    };
    for (;;) {
        bool finished = all_finished();  // read before draining: nothing can follow it
        uint32_t drained = drain();
        if (control_) {
            ControlSocket::Tally tally;
            control_->serve([this](std::string_view line) { return answer(line); }, tally);
            bump(counters_, ManagementCounter::control_requests, tally.requests);
            bump(counters_, ManagementCounter::control_clients_refused, tally.refused_clients);
        }
        if (finished) break;
        if (drained) {
            idle_sleep_ns = 0;
            continue;
        }
        idle_sleep_ns = std::min(max_idle_sleep_ns, idle_sleep_ns * 2 + 1000);
        timespec pause{0, idle_sleep_ns};
        nanosleep(&pause, nullptr);
    }
    drain();
    release(true);
}

}  // namespace rstscope
