// SPDX-License-Identifier: BSD-3-Clause
// Signatures at run time: Hyperscan block-mode databases compiled at start and shared read-only
// by every worker (one per place scanned: orig data, resp data, RST payload, each holding only the
// rules that look there, so a scan pays for no rule that could not match), and one scanner
// (Hyperscan scratch + per-rule match counters) per worker.
//
// Block mode, not streaming: a stream keeps Hyperscan state per flow direction (hs_stream_size(),
// docs/performance.md gives the figure for the default set) in every flow entry of a 1 M-flow
// table, and hs_open_stream allocates. Block mode keeps no state per flow: each segment's bytes
// within the first `bytes` of its direction are scanned on their own, so a pattern split across
// two segments is not matched (tests/unit/test_signatures.cc holds that behaviour).
//
// Thread contract: SignatureDatabase::compile is setup only (allocates, returns a one-line error);
// a SignatureScanner belongs to one worker lcore; scan() is hot path: noexcept, no allocation, no
// lock; the management lcore reads match counts (single-writer relaxed counters, as counters.h).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "rstscope/analysis/signature_rules.h"

struct hs_database;
struct hs_scratch;

namespace rstscope {

class SignatureDatabase {
  public:
    // Compiles every rule; on failure returns null and sets `error` to
    // "FILE:LINE: pattern of ID: Hyperscan's message".
    static std::unique_ptr<SignatureDatabase> compile(SignatureRuleSet rules, std::string& error);
    ~SignatureDatabase();
    SignatureDatabase(const SignatureDatabase&) = delete;
    SignatureDatabase& operator=(const SignatureDatabase&) = delete;

    const std::vector<SignatureRule>& rules() const noexcept { return rules_.rules; }
    const std::string& path() const noexcept { return rules_.path; }
    // Bytes worth scanning in each place: the largest `bytes` of the rules that look there, 0
    // when none does (that place is never scanned).
    uint32_t bytes_for(SignatureWhere where) const noexcept { return bytes_[place(where)]; }
    size_t database_bytes() const noexcept;
    // What a streaming-mode database of the same rules would keep per stream (for the docs).
    size_t stream_state_bytes() const noexcept { return stream_state_bytes_; }

  private:
    friend class SignatureScanner;
    struct Limit {
        uint32_t bytes;
        uint8_t where;  // SignatureWhere bits
    };
    static constexpr size_t places = 3;  // orig, resp, rst
    static constexpr size_t place(SignatureWhere where) noexcept {
        return where == SignatureWhere::orig ? 0 : where == SignatureWhere::resp ? 1 : 2;
    }
    SignatureDatabase() = default;
    SignatureRuleSet rules_;
    std::vector<Limit> limits_;
    hs_database* databases_[places] = {};  // null where no rule looks
    uint32_t bytes_[places] = {};
    size_t stream_state_bytes_ = 0;
};

class SignatureScanner {
  public:
    // Setup: allocates the Hyperscan scratch and the counters; throws std::runtime_error on
    // failure.
    explicit SignatureScanner(const SignatureDatabase& database);
    ~SignatureScanner();
    SignatureScanner(const SignatureScanner&) = delete;
    SignatureScanner& operator=(const SignatureScanner&) = delete;

    // Hot path. Scans `data` seen at `offset` payload bytes into `where` (orig, resp or rst) and
    // returns the index + 1 of the first rule that looks there and matched within its `bytes`,
    // 0 for none (one rule per scan: the scan stops at it). Counts the rule's match.
    uint8_t scan(const uint8_t* data, uint32_t length, SignatureWhere where,
                 uint64_t offset) noexcept;

    const SignatureDatabase& database() const noexcept { return database_; }
    // Management lcore: matches of rule `index` so far.
    uint64_t matches(size_t index) const noexcept {
        return matches_[index].load(std::memory_order_relaxed);
    }

  private:
    const SignatureDatabase& database_;
    hs_scratch* scratch_ = nullptr;
    std::unique_ptr<std::atomic<uint64_t>[]> matches_;
};

}  // namespace rstscope
