// SPDX-License-Identifier: BSD-3-Clause
// compile() and the constructors are setup; scan() is hot path (see signature_scanner.h).
#include "rstscope/analysis/signature_scanner.h"

#include <hs.h>

#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

namespace rstscope {
namespace {

unsigned hyperscan_flags(uint8_t flags) noexcept {
    // SINGLEMATCH: one report per rule and scan is all the verdict needs, and it lets Hyperscan
    // stop tracking a rule once it matched.
    unsigned out = HS_FLAG_SINGLEMATCH;
    if (flags & signature_flag::caseless) out |= HS_FLAG_CASELESS;
    if (flags & signature_flag::dotall) out |= HS_FLAG_DOTALL;
    if (flags & signature_flag::multiline) out |= HS_FLAG_MULTILINE;
    return out;
}

struct ScanContext {
    const void* limits;
    uint8_t where;
    uint64_t offset;
    uint32_t found;  // rule index + 1
};

}  // namespace

std::unique_ptr<SignatureDatabase> SignatureDatabase::compile(SignatureRuleSet rules,
                                                              std::string& error) {
    if (!rules.ok()) {
        error = rules.error;
        return nullptr;
    }
    std::unique_ptr<SignatureDatabase> db(new SignatureDatabase());
    db->rules_ = std::move(rules);
    const auto& list = db->rules_.rules;
    if (list.empty()) {
        error = db->rules_.path + ": no rules";
        return nullptr;
    }
    // Compiles the rules that look at `where` and pass `take`; *out stays null for none.
    auto compile_if = [&](uint8_t where, unsigned mode, hs_database_t** out,
                          auto&& take) -> std::string {
        std::vector<const char*> patterns;
        std::vector<unsigned> flags;
        std::vector<unsigned> ids;
        for (size_t i = 0; i < list.size(); ++i) {
            if (!(static_cast<uint8_t>(list[i].where) & where) || !take(list[i])) continue;
            patterns.push_back(list[i].pattern.c_str());
            flags.push_back(hyperscan_flags(list[i].flags));
            ids.push_back(static_cast<unsigned>(i));
        }
        if (patterns.empty()) return {};
        hs_compile_error_t* failure = nullptr;
        if (hs_compile_multi(patterns.data(), flags.data(), ids.data(),
                             static_cast<unsigned>(patterns.size()), mode, nullptr, out,
                             &failure) == HS_SUCCESS)
            return {};
        std::string message;
        if (failure->expression >= 0 && static_cast<size_t>(failure->expression) < ids.size()) {
            const SignatureRule& rule = list[ids[static_cast<size_t>(failure->expression)]];
            message = fmt::format("{}:{}: pattern of {}: {}", db->rules_.path, rule.line, rule.id,
                                  failure->message);
        } else {
            message = fmt::format("{}: Hyperscan: {}", db->rules_.path, failure->message);
        }
        hs_free_compile_error(failure);
        return message;
    };
    auto compile_with = [&](uint8_t where, unsigned mode, hs_database_t** out) {
        return compile_if(where, mode, out, [](const SignatureRule&) { return true; });
    };
    for (const SignatureRule& rule : list)
        db->limits_.push_back({rule.bytes, static_cast<uint8_t>(rule.where)});
    for (SignatureWhere where : {SignatureWhere::orig, SignatureWhere::resp, SignatureWhere::rst}) {
        const size_t p = place(where);
        const auto bits = static_cast<uint8_t>(where);
        std::vector<uint32_t> windows;  // distinct BYTES of the unanchored rules
        bool anchored = false;
        for (const SignatureRule& rule : list) {
            if (!(static_cast<uint8_t>(rule.where) & bits)) continue;
            db->bytes_[p] = std::max(db->bytes_[p], rule.bytes);
            if (signature_anchored(rule))
                anchored = true;
            else
                windows.push_back(rule.bytes);
        }
        error = compile_with(bits, HS_MODE_BLOCK, &db->databases_[p]);
        if (!error.empty()) return nullptr;
        if (db->databases_[p]) db->owned_.push_back(db->databases_[p]);
        if (where == SignatureWhere::rst) continue;  // one scan per RST, at offset 0
        std::sort(windows.begin(), windows.end());
        windows.erase(std::unique(windows.begin(), windows.end()), windows.end());
        for (size_t w = 0; w < windows.size(); ++w) {
            // Segments starting in [previous window, windows[w]): the unanchored rules whose
            // BYTES reach past them. The first window without anchored rules is the whole set.
            const uint32_t floor = w == 0 ? 0 : windows[w - 1];
            hs_database_t* window = nullptr;
            if (w == 0 && !anchored) {
                window = db->databases_[p];
            } else {
                error = compile_if(bits, HS_MODE_BLOCK, &window, [&](const SignatureRule& rule) {
                    return !signature_anchored(rule) && rule.bytes > floor;
                });
                if (!error.empty()) return nullptr;
                db->owned_.push_back(window);
            }
            db->windows_[p].push_back({windows[w], window});
        }
    }
    // The streaming alternative for the responder's data, compiled once only to state its
    // per-flow cost.
    hs_database_t* streaming = nullptr;
    if (compile_with(static_cast<uint8_t>(SignatureWhere::resp), HS_MODE_STREAM, &streaming)
            .empty() &&
        streaming) {
        hs_stream_size(streaming, &db->stream_state_bytes_);
        hs_free_database(streaming);
    }
    return db;
}

SignatureDatabase::~SignatureDatabase() {
    for (hs_database_t* database : owned_)
        hs_free_database(database);
}

size_t SignatureDatabase::database_bytes() const noexcept {
    size_t total = 0;
    for (const hs_database_t* database : owned_) {
        size_t size = 0;
        if (database && hs_database_size(database, &size) == HS_SUCCESS) total += size;
    }
    return total;
}

SignatureScanner::SignatureScanner(const SignatureDatabase& database) : database_(database) {
    // One scratch serves every database: each call grows it to the largest need.
    for (const hs_database_t* db : database.owned_)
        if (hs_alloc_scratch(db, &scratch_) != HS_SUCCESS)
            throw std::runtime_error("Hyperscan: cannot allocate scratch space");
    matches_ = std::make_unique<std::atomic<uint64_t>[]>(database.rules().size());
}

SignatureScanner::~SignatureScanner() {
    hs_free_scratch(scratch_);
}

uint8_t SignatureScanner::scan(const uint8_t* data, uint32_t length, SignatureWhere where,
                               uint64_t offset) noexcept {
    const hs_database_t* db = database_.database_for(where, offset);
    if (length == 0 || !db) return 0;
    ScanContext context{database_.limits_.data(), static_cast<uint8_t>(where), offset, 0};
    auto on_match = [](unsigned id, unsigned long long, unsigned long long to, unsigned,
                       void* opaque) -> int {
        auto& c = *static_cast<ScanContext*>(opaque);
        const auto& limit = static_cast<const SignatureDatabase::Limit*>(c.limits)[id];
        if (!(limit.where & c.where) || c.offset + to > limit.bytes) return 0;
        c.found = id + 1;
        return 1;  // one rule per scan: stop here
    };
    hs_scan(db, reinterpret_cast<const char*>(data), length, 0, scratch_, on_match, &context);
    if (context.found) {
        auto& counter = matches_[context.found - 1];
        counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    }
    return static_cast<uint8_t>(context.found);
}

}  // namespace rstscope
