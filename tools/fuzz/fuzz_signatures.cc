// SPDX-License-Identifier: BSD-3-Clause
// Fuzz target: a signatures file (conf/signatures.conf's format) through parse_signature_rules(),
// and a small valid one through Hyperscan's compilation as rstscope does at start. Checks beyond
// the sanitizers: an error is one non-empty line starting with the file's name; a valid set holds
// only rules within the documented limits; a compile failure is one line naming the file.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "rstscope/analysis/signature_rules.h"
#include "rstscope/analysis/signature_scanner.h"

namespace {

void fail(const char* what, const std::string& detail) {
    std::fprintf(stderr, "fuzz_signatures: %s: [%s]\n", what, detail.c_str());
    std::abort();
}

bool one_line_naming(const std::string& error, const std::string& path) {
    return !error.empty() && error.find('\n') == std::string::npos && error.rfind(path, 0) == 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace rstscope;
    static const std::string path = "fuzz.conf";
    std::string_view text(reinterpret_cast<const char*>(data), size);
    SignatureRuleSet set = parse_signature_rules(text, path);
    if (!set.ok()) {
        if (!one_line_naming(set.error, path))
            fail("error is not one line naming the file", set.error);
        return 0;
    }
    if (set.rules.size() > signature_max_rules)
        fail("too many rules", std::to_string(set.rules.size()));
    size_t pattern_bytes = 0;
    for (const SignatureRule& r : set.rules) {
        if (r.id.empty() || r.id.size() > signature_max_id_length) fail("id length", r.id);
        for (char c : r.id)
            if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) fail("id", r.id);
        if (r.bytes < 1 || r.bytes > signature_max_bytes) fail("bytes", r.id);
        if (r.pattern.empty()) fail("empty pattern", r.id);
        pattern_bytes += r.pattern.size();
    }
    // Hyperscan's compiler is slow on large sets: a few short patterns are compiled.
    if (set.rules.empty() || set.rules.size() > 4 || pattern_bytes > 64) return 0;
    std::string error;
    auto db = SignatureDatabase::compile(std::move(set), error);
    if (!db) {
        if (!one_line_naming(error, path))
            fail("compile error is not one line naming the file", error);
        return 0;
    }
    SignatureScanner scanner(*db);
    static const uint8_t sample[] = "HTTP/1.1 503 Service Unavailable\r\n\r\nPolicy action";
    for (SignatureWhere where : {SignatureWhere::orig, SignatureWhere::resp, SignatureWhere::rst}) {
        uint8_t rule = scanner.scan(sample, sizeof sample - 1, where, 0);
        if (rule > db->rules().size())
            fail("scan returned no rule of the set", std::to_string(rule));
    }
    return 0;
}
