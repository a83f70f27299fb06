// SPDX-License-Identifier: BSD-3-Clause
// The signatures file (conf/signatures.conf): one rule per line naming what a connection said
// before its reset (a server error reply, a middlebox's reason in the RST payload) and the cause
// it supports. Pure text parsing, setup only: no Hyperscan here (signature_scanner.h compiles the
// patterns), no EAL, so every kind of bad line is unit-tested.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "rstscope/analysis/verdict.h"

namespace rstscope {

// Where a rule looks. Data directions are scanned in their first `bytes` payload bytes; the RST
// payload (RFC 9293 3.5.3 permits diagnostic text there) in its first `bytes` bytes.
enum class SignatureWhere : uint8_t { orig = 1, resp = 2, rst = 4, any = 7 };

// Pattern flags the file may give, as letters (Hyperscan's names in parentheses).
namespace signature_flag {
inline constexpr uint8_t caseless = 0x01;   // i (HS_FLAG_CASELESS)
inline constexpr uint8_t dotall = 0x02;     // s (HS_FLAG_DOTALL)
inline constexpr uint8_t multiline = 0x04;  // m (HS_FLAG_MULTILINE)
}  // namespace signature_flag

inline constexpr size_t signature_max_rules = 254;  // a rule's index + 1 fits a uint8_t
inline constexpr uint32_t signature_max_bytes = 4096;
inline constexpr size_t signature_max_id_length = 32;

struct SignatureRule {
    std::string id;       // [a-z0-9_], unique: the event's "id" and the stats counter's name
    std::string pattern;  // Hyperscan (PCRE subset) syntax, between slashes in the file
    uint8_t flags = 0;    // signature_flag::*
    SignatureWhere where = SignatureWhere::any;
    uint32_t bytes = 0;  // 1 .. signature_max_bytes
    // The cause the match supports, ResetCause::count for "-" (reported, never a verdict).
    ResetCause cause = ResetCause::count;
    std::string description;
    uint32_t line = 0;  // in the file, for Hyperscan's compile errors
};

struct SignatureRuleSet {
    std::string path;
    std::vector<SignatureRule> rules;
    std::string error;  // one line: "FILE:LINE: what is wrong"; empty when valid

    bool ok() const noexcept { return error.empty(); }
};

// Parses a whole file's text. Each line is blank, a comment (#) or
//   ID WHERE BYTES CAUSE FLAGS /PATTERN/ DESCRIPTION
// where WHERE is orig|resp|rst|any, CAUSE a reset cause or -, FLAGS letters of "ism" or -, and
// PATTERN ends at the first slash not escaped by a backslash. The first bad line is the error.
SignatureRuleSet parse_signature_rules(std::string_view text, const std::string& path);

// Reads and parses a file (at most 1 MiB); a missing or unreadable file is the error.
SignatureRuleSet load_signature_rules(const std::string& path);

std::string_view signature_where_name(SignatureWhere where) noexcept;

// Whether a rule is anchored at the start of its direction's payload: its pattern begins with ^,
// it has no m flag, and nothing lets a match start elsewhere: no | outside parentheses and
// brackets, no option group other than (?:...) (an inline (?m) would make ^ match after each
// line break), no \Q...\E quoting. Such a rule is looked for only in the direction's first data
// segment (payload offset 0) and, at the RST, in the head of the direction's latest segment kept
// past the first bytes (signature_scanner.h); any other rule in every segment within its BYTES.
// A syntactic test, setup only: a rule it cannot prove anchored is treated as unanchored.
bool signature_anchored(const SignatureRule& rule) noexcept;

}  // namespace rstscope
