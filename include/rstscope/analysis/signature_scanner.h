// SPDX-License-Identifier: BSD-3-Clause
// Signatures at run time: Hyperscan block-mode databases compiled at start and shared read-only
// by every worker, and one scanner (Hyperscan scratch + per-rule match counters) per worker.
//
// Which rules a scan carries. Each place scanned (orig data, resp data, RST payload) has its own
// databases holding only the rules that look there, and a data direction has several, by the
// payload offset the segment starts at (the payload bytes of that direction seen before it):
//  - offset 0 (the direction's first data segment) and the head of the latest segment kept for
//    the RST: every rule of the direction;
//  - a segment starting at offset N > 0: only the rules not anchored at the stream start
//    (signature_anchored(): ^ without m) whose BYTES exceed N, the only ones that could still
//    match there. One database per distinct BYTES of those rules; past the largest, no call.
// So an anchored rule (^HTTP/1.1 503) matches only at the start of the direction's payload, not
// at the start of any later segment, and a scan pays for no rule that could not match. Hyperscan
// costs a few hundred instructions per call whatever it carries (docs/performance.md).
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
    // Hyperscan databases a data direction scans with past its first segment (one per distinct
    // BYTES of its unanchored rules), for the tests and the docs.
    size_t windows(SignatureWhere where) const noexcept {
        return where == SignatureWhere::rst ? 0 : windows_[place(where)].size();
    }
    // What a streaming-mode database of the same rules would keep per stream (for the docs).
    size_t stream_state_bytes() const noexcept { return stream_state_bytes_; }

  private:
    friend class SignatureScanner;
    struct Limit {
        uint32_t bytes;
        uint8_t where;  // SignatureWhere bits
    };
    // A data direction's database for segments starting before `below` (and at or past the
    // previous window's `below`), offset > 0.
    struct Window {
        uint32_t below;
        hs_database* database;
    };
    static constexpr size_t places = 3;  // orig, resp, rst
    static constexpr size_t place(SignatureWhere where) noexcept {
        return where == SignatureWhere::orig ? 0 : where == SignatureWhere::resp ? 1 : 2;
    }
    // The database for a segment of `where` starting at `offset`; null: no rule can match there.
    const hs_database* database_for(SignatureWhere where, uint64_t offset) const noexcept {
        const size_t p = place(where);
        if (p == 2 || offset == 0) return databases_[p];
        for (const Window& w : windows_[p])
            if (offset < w.below) return w.database;
        return nullptr;
    }
    SignatureDatabase() = default;
    SignatureRuleSet rules_;
    std::vector<Limit> limits_;
    hs_database* databases_[places] = {};  // every rule of the place; null where no rule looks
    std::vector<Window> windows_[2];       // orig, resp: ascending `below`
    std::vector<hs_database*> owned_;      // every database, once
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
