// SPDX-License-Identifier: BSD-3-Clause
// The fleet exporter's pure half (no NATS, no threads): each event line gains the appliance's
// name, its boot and a sequence number (0, 1, 2, ... in log order for one boot), and lines are
// grouped by cause into batches, each one JetStream message on
// `<prefix>.<site>.<appliance>.<cause>` with the message id `<appliance>-<boot>-<first_seq>`.
// A batch closes when it holds `batch_lines` lines, when the next line would take it past
// `batch_bytes`, or `linger_ns` after its first line. The exporter thread alone uses it.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "rstscope/analysis/verdict.h"

namespace rstscope {

struct ExportIdentity {
    std::string prefix = "rstscope.events";  // subject prefix: tokens separated by dots
    std::string site = "default";
    std::string appliance;
    uint64_t boot = 0;  // distinguishes restarts of one appliance: its start time in µs
};

// A name usable as one subject token and in a message id: 1 to 64 of [A-Za-z0-9_-].
bool valid_export_token(std::string_view name) noexcept;
// A subject prefix: one or more valid tokens joined by dots.
bool valid_export_prefix(std::string_view prefix) noexcept;

struct ExportBatch {
    uint64_t first_seq = 0;
    uint32_t lines = 0;
    uint64_t opened_ns = 0;
    std::string subject;
    std::string msg_id;
    std::string payload;  // the lines, each ending in '\n'
};

class ExportBatcher {
  public:
    ExportBatcher(ExportIdentity identity, uint32_t batch_lines, size_t batch_bytes,
                  uint64_t linger_ns);

    // Adds one log line (without newline, a JSON object) of cause `cause`; a batch this closes
    // is appended to `closed`. The line gets the next sequence number.
    void add(std::string_view line, uint8_t cause, uint64_t now_ns,
             std::vector<ExportBatch>& closed);
    // Closes every open batch older than the linger (all of them when `everything`).
    void close_due(uint64_t now_ns, bool everything, std::vector<ExportBatch>& closed);

    uint64_t next_seq() const noexcept { return next_seq_; }
    uint64_t open_lines() const noexcept;
    const ExportIdentity& identity() const noexcept { return identity_; }

  private:
    void close(size_t cause, std::vector<ExportBatch>& closed);

    ExportIdentity identity_;
    uint32_t batch_lines_;
    size_t batch_bytes_;
    uint64_t linger_ns_;
    uint64_t next_seq_ = 0;
    std::array<ExportBatch, enum_count<ResetCause> + 1> open_;  // the last: unknown causes
};

// The line as exported: `{"appliance":"A","boot":B,"seq":N,` followed by the log line after its
// opening brace. Appended to `out`.
void append_exported_line(std::string& out, std::string_view line, const ExportIdentity& identity,
                          uint64_t seq);

}  // namespace rstscope
