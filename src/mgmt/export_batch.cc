// SPDX-License-Identifier: BSD-3-Clause
#include "rstscope/mgmt/export_batch.h"

#include <algorithm>
#include <iterator>

#include <fmt/format.h>

namespace rstscope {

bool valid_export_token(std::string_view name) noexcept {
    if (name.empty() || name.size() > 64) return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '-';
    });
}

bool valid_export_prefix(std::string_view prefix) noexcept {
    if (prefix.empty() || prefix.size() > 128) return false;
    size_t start = 0;
    for (;;) {
        size_t dot = prefix.find('.', start);
        if (!valid_export_token(prefix.substr(start, dot - start))) return false;
        if (dot == std::string_view::npos) return true;
        start = dot + 1;
    }
}

void append_exported_line(std::string& out, std::string_view line, const ExportIdentity& identity,
                          uint64_t seq) {
    fmt::format_to(std::back_inserter(out), R"({{"appliance":"{}","boot":{},"seq":{})",
                   identity.appliance, identity.boot, seq);
    std::string_view rest = line.substr(line.empty() ? 0 : 1);  // after the opening brace
    if (!rest.empty() && rest.front() != '}') out.push_back(',');
    out.append(rest);
    out.push_back('\n');
}

ExportBatcher::ExportBatcher(ExportIdentity identity, uint32_t batch_lines, size_t batch_bytes,
                             uint64_t linger_ns)
    : identity_(std::move(identity)),
      batch_lines_(batch_lines ? batch_lines : 1),
      batch_bytes_(batch_bytes),
      linger_ns_(linger_ns) {}

uint64_t ExportBatcher::open_lines() const noexcept {
    uint64_t n = 0;
    for (const ExportBatch& b : open_)
        n += b.lines;
    return n;
}

void ExportBatcher::add(std::string_view line, uint8_t cause, uint64_t now_ns,
                        std::vector<ExportBatch>& closed) {
    size_t slot = std::min<size_t>(cause, open_.size() - 1);
    ExportBatch& batch = open_[slot];
    // Room for the identity fields: well under 160 bytes.
    if (batch.lines > 0 && batch.payload.size() + line.size() + 160 > batch_bytes_)
        close(slot, closed);
    if (batch.lines == 0) {
        batch.first_seq = next_seq_;
        batch.opened_ns = now_ns;
        std::string_view cause_name =
            slot < enum_count<ResetCause> ? reset_cause_names[slot] : std::string_view("unknown");
        batch.subject = fmt::format("{}.{}.{}.{}", identity_.prefix, identity_.site,
                                    identity_.appliance, cause_name);
        batch.msg_id = fmt::format("{}-{}-{}", identity_.appliance, identity_.boot, next_seq_);
        batch.payload.clear();
    }
    append_exported_line(batch.payload, line, identity_, next_seq_++);
    if (++batch.lines >= batch_lines_) close(slot, closed);
}

void ExportBatcher::close_due(uint64_t now_ns, bool everything, std::vector<ExportBatch>& closed) {
    // Oldest first, so batches leave in the order their first lines came.
    for (;;) {
        size_t oldest = open_.size();
        for (size_t i = 0; i < open_.size(); ++i) {
            if (open_[i].lines == 0) continue;
            if (!everything && now_ns - open_[i].opened_ns < linger_ns_) continue;
            if (oldest == open_.size() || open_[i].first_seq < open_[oldest].first_seq) oldest = i;
        }
        if (oldest == open_.size()) return;
        close(oldest, closed);
    }
}

void ExportBatcher::close(size_t slot, std::vector<ExportBatch>& closed) {
    closed.push_back(std::move(open_[slot]));
    open_[slot] = ExportBatch{};
}

}  // namespace rstscope
