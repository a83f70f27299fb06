// SPDX-License-Identifier: BSD-3-Clause
// Setup only: allocates, returns errors as one line naming file and line.
#include "rstscope/analysis/signature_rules.h"

#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>

namespace rstscope {
namespace {

constexpr size_t max_file_bytes = 1 << 20;

bool is_space(char c) noexcept {
    return c == ' ' || c == '\t';
}

// Takes the next whitespace-separated word off the front of `rest`.
std::string_view next_word(std::string_view& rest) noexcept {
    size_t start = 0;
    while (start < rest.size() && is_space(rest[start]))
        ++start;
    size_t end = start;
    while (end < rest.size() && !is_space(rest[end]))
        ++end;
    std::string_view word = rest.substr(start, end - start);
    rest.remove_prefix(end);
    return word;
}

std::string_view trim(std::string_view s) noexcept {
    while (!s.empty() && is_space(s.front()))
        s.remove_prefix(1);
    while (!s.empty() && (is_space(s.back()) || s.back() == '\r'))
        s.remove_suffix(1);
    return s;
}

bool valid_id(std::string_view id) noexcept {
    if (id.empty() || id.size() > signature_max_id_length) return false;
    for (char c : id)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
    return true;
}

// Returns the problem with one rule line, or empty after filling `rule`.
std::string parse_rule(std::string_view rest, SignatureRule& rule) {
    std::string_view id = next_word(rest);
    if (!valid_id(id))
        return fmt::format("id '{}' must be 1 to {} characters of a-z, 0-9 and _", id,
                           signature_max_id_length);
    rule.id = id;

    std::string_view where = next_word(rest);
    if (where == "orig")
        rule.where = SignatureWhere::orig;
    else if (where == "resp")
        rule.where = SignatureWhere::resp;
    else if (where == "rst")
        rule.where = SignatureWhere::rst;
    else if (where == "any")
        rule.where = SignatureWhere::any;
    else
        return fmt::format("direction '{}' must be orig, resp, rst or any", where);

    std::string_view bytes = next_word(rest);
    uint32_t value = 0;
    bool digits = !bytes.empty() && bytes.size() <= 5;
    for (char c : bytes) {
        if (c < '0' || c > '9')
            digits = false;
        else
            value = value * 10 + static_cast<uint32_t>(c - '0');
    }
    if (!digits || value < 1 || value > signature_max_bytes)
        return fmt::format("bytes '{}' must be a number from 1 to {}", bytes, signature_max_bytes);
    rule.bytes = value;

    std::string_view cause = next_word(rest);
    rule.cause = ResetCause::count;
    if (cause != "-") {
        for (size_t i = 0; i < reset_cause_names.size(); ++i)
            if (reset_cause_names[i] == cause) rule.cause = static_cast<ResetCause>(i);
        if (rule.cause == ResetCause::count)
            return fmt::format(
                "cause '{}' is not a reset cause (rstscope --list-vocabulary) "
                "nor -",
                cause);
    }

    std::string_view flags = next_word(rest);
    rule.flags = 0;
    if (flags != "-") {
        for (char c : flags) {
            uint8_t bit = c == 'i'   ? signature_flag::caseless
                          : c == 's' ? signature_flag::dotall
                          : c == 'm' ? signature_flag::multiline
                                     : 0;
            if (bit == 0 || (rule.flags & bit))
                return fmt::format("flags '{}' must be - or distinct letters of i, s and m", flags);
            rule.flags |= bit;
        }
    }
    if (flags.empty()) return "flags missing";

    rest = trim(rest);
    if (rest.empty() || rest.front() != '/') return "pattern missing: expected /PATTERN/";
    size_t end = 1;
    while (end < rest.size() && rest[end] != '/')
        end += rest[end] == '\\' ? 2 : 1;
    if (end >= rest.size()) return "pattern not closed by an unescaped /";
    if (end == 1) return "pattern empty";
    rule.pattern = rest.substr(1, end - 1);
    std::string_view description = trim(rest.substr(end + 1));
    if (!rest.substr(end + 1).empty() && !is_space(rest[end + 1]))
        return "a space must follow the pattern's closing /";
    if (description.empty()) return "description missing after the pattern";
    rule.description = description;
    return {};
}

}  // namespace

std::string_view signature_where_name(SignatureWhere where) noexcept {
    switch (where) {
        case SignatureWhere::orig:
            return "orig";
        case SignatureWhere::resp:
            return "resp";
        case SignatureWhere::rst:
            return "rst";
        default:
            return "any";
    }
}

bool signature_anchored(const SignatureRule& rule) noexcept {
    const std::string& p = rule.pattern;
    if ((rule.flags & signature_flag::multiline) || p.empty() || p[0] != '^') return false;
    int depth = 0;
    bool in_class = false;
    for (size_t i = 1; i < p.size(); ++i) {
        const char c = p[i];
        const char next = i + 1 < p.size() ? p[i + 1] : '\0';
        if (c == '\\') {
            if (next == 'Q') return false;
            ++i;  // the escaped character is literal
            continue;
        }
        if (in_class) {
            if (c == '[' && next == ':') {  // [:alpha:] inside a class
                size_t end = p.find(":]", i + 2);
                if (end == std::string::npos) return false;
                i = end + 1;
            } else if (c == ']') {
                in_class = false;
            }
            continue;
        }
        switch (c) {
            case '[':
                in_class = true;
                if (next == '^') ++i;
                if (i + 1 < p.size() && p[i + 1] == ']') ++i;  // a leading ] is literal
                break;
            case '(':
                if (next == '?' && (i + 2 >= p.size() || p[i + 2] != ':')) return false;
                ++depth;
                break;
            case ')':
                --depth;
                break;
            case '|':
                if (depth <= 0) return false;
                break;
            default:
                break;
        }
    }
    return true;
}

SignatureRuleSet parse_signature_rules(std::string_view text, const std::string& path) {
    SignatureRuleSet set;
    set.path = path;
    std::set<std::string, std::less<>> ids;
    uint32_t line_number = 0;
    while (!text.empty()) {
        ++line_number;
        size_t newline = text.find('\n');
        std::string_view line = text.substr(0, newline);
        text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
        line = trim(line);
        if (line.empty() || line.front() == '#') continue;
        std::string problem;
        for (char c : line)
            if (static_cast<unsigned char>(c) < 0x20 && c != '\t') problem = "control character";
        SignatureRule rule;
        rule.line = line_number;
        if (problem.empty()) problem = parse_rule(line, rule);
        if (problem.empty() && ids.count(rule.id)) problem = "id '" + rule.id + "' used twice";
        if (problem.empty() && set.rules.size() == signature_max_rules)
            problem = fmt::format("more than {} rules", signature_max_rules);
        if (!problem.empty()) {
            set.error = fmt::format("{}:{}: {}", path, line_number, problem);
            set.rules.clear();
            return set;
        }
        ids.insert(rule.id);
        set.rules.push_back(std::move(rule));
    }
    return set;
}

SignatureRuleSet load_signature_rules(const std::string& path) {
    std::ifstream file(path, std::ios::binary);
    if (!file) {
        SignatureRuleSet set;
        set.path = path;
        set.error = path + ": cannot read the signatures file";
        return set;
    }
    std::string text(max_file_bytes + 1, '\0');
    file.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<size_t>(file.gcount()));
    if (text.size() > max_file_bytes) {
        SignatureRuleSet set;
        set.path = path;
        set.error = path + ": larger than 1 MiB";
        return set;
    }
    return parse_signature_rules(text, path);
}

}  // namespace rstscope
