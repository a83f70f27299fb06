// SPDX-License-Identifier: BSD-3-Clause
// Flight recorder, management's half: when management takes a reset event from its worker's ring,
// the packets the worker sealed for it (flight_store.h) are read from that worker's EvidenceArena
// and appended to a rolling pcapng file; when the event is settled (its id given, before its line
// is formatted) the id is written into their comments ("rstscope event ID") and the event's `pcap`
// field says where (file, offset of its first block, packets). Reading the block at once bounds
// how far behind the worker management can be (its ring), whatever the RST-storm window holds.
//
// The directory is bounded: files named flight-NNNNNN.pcapng, a new one once the current one would
// pass --recorder-file-size, the oldest deleted so that at most --recorder-files remain (also those
// an earlier run left). Writes are plain write(2)s to a regular file (the page cache: no wait on
// the disk itself); a write that fails (a full disk) is counted, the file cut back to its last
// whole block, and the run goes on.
//
// Thread contract: management lcore only (RecordObserver).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "rstscope/analysis/flight_store.h"
#include "rstscope/mgmt/record_observer.h"
#include "rstscope/mgmt/stats.h"

namespace rstscope {

struct FlightFilesConfig {
    std::string dir;
    uint64_t file_bytes = 64ull << 20;
    uint32_t files = 16;
};

// "flight-000042.pcapng" for file 42.
std::string flight_file_name(uint32_t file);

class FlightRecorder : public RecordObserver, public CounterSource {
  public:
    // Setup: creates `dir` if missing (one level), deletes the oldest files beyond the bound and
    // continues the numbering after the newest. Throws std::runtime_error with the path and the
    // reason when the directory cannot be used. `arenas`: per worker, in worker order; they must
    // outlive the recorder.
    FlightRecorder(FlightFilesConfig config, std::vector<const EvidenceArena*> arenas);
    ~FlightRecorder() override;

    void event_received(ResetEvent& event) override;
    void event_settled(ResetEventCore& event) override;
    void run_finished() override;

    // Adds the recorder's counters (recorder_* in stats.h) to management's.
    void add_to(CounterTotals& totals) const override;

    uint32_t current_file() const { return file_; }

  private:
    bool write_block(const std::string& bytes);
    bool open_next_file();
    void delete_beyond_bound(uint32_t keep);
    void close_file();

    FlightFilesConfig config_;
    std::vector<const EvidenceArena*> arenas_;
    std::vector<uint8_t> scratch_;      // one block's records, copied out of an arena
    std::string out_;                   // the bytes of one event's packets
    std::string patch_;                 // an event's blocks read back to set its id
    std::vector<uint32_t> files_;       // numbers of the files in the directory, oldest first
    std::vector<uint16_t> interfaces_;  // link types the current file has an interface for
    uint32_t file_ = 0;                 // the current file's number; 0: none open
    int fd_ = -1;
    uint64_t file_size_ = 0;
    std::array<uint64_t, management_counter_count> counters_{};
};

}  // namespace rstscope
