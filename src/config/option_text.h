// SPDX-License-Identifier: BSD-3-Clause
// User text on its way through Boost.Program_options (private to src/config). Setup only.
//
// Boost 1.74 builds error messages by replacing %placeholders% (%value%, %option%,
// %canonical_option%, %original_token%, %prefix%, %invalid_line%) in a loop that starts again
// from the beginning after each replacement: a substituted value that contains the placeholder
// is replaced forever, at 100% CPU. So no '%' typed by a user ever reaches Boost: arguments and
// configuration text are first checked to hold no control character, then each '%' becomes
// shielded_percent (a control character, hence never user text), and every string that comes
// back (values, error messages) has it turned into '%' again.
#pragma once

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <fmt/format.h>

namespace rstscope::option_text {

inline constexpr char shielded_percent = '\x01';

inline bool is_control(char c) {
    return static_cast<unsigned char>(c) < 0x20;
}

inline std::string shield(std::string_view text) {
    std::string out(text);
    for (char& c : out)
        if (c == '%') c = shielded_percent;
    return out;
}

inline std::string unshield(std::string text) {
    for (char& c : text)
        if (c == shielded_percent) c = '%';
    return text;
}

// The text with control characters as \xNN, fit for a one-line message.
inline std::string printable(std::string_view text) {
    std::string out;
    for (char c : text) {
        if (is_control(c))
            out += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
        else
            out += c;
    }
    return out;
}

// An error line for the first argument holding a control character (a newline would split the
// one-line error and the event log's records, a byte below 0x20 would pass for '%' here), or "".
inline std::string check_arguments(const std::vector<std::string>& args) {
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& arg = args[i];
        size_t at = 0;
        while (at < arg.size() && !is_control(arg[at]))
            ++at;
        if (at == arg.size()) continue;
        // Name the option the text belongs to: "--name=value", or the option just before.
        std::string option;
        size_t equals = arg.find('=');
        if (arg.rfind("--", 0) == 0 && equals != std::string::npos && equals < at)
            option = arg.substr(0, equals);
        else if (i > 0 && args[i - 1].rfind("-", 0) == 0)
            option = args[i - 1];
        return fmt::format(
            "invalid argument '{}'{}: control character 0x{:02x} (arguments must be "
            "printable text)",
            printable(arg), option.empty() ? "" : " for " + printable(option),
            static_cast<unsigned char>(arg[at]));
    }
    return {};
}

// Decimal digits only: no sign (Boost's lexical_cast takes "-1" for an unsigned as 2^32 - 1), no
// space, no base prefix.
inline bool parse_count(std::string_view text, uint64_t& value) {
    if (text.empty() || text.front() < '0' || text.front() > '9') return false;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    return error == std::errc{} && end == text.data() + text.size();
}

// A decimal or scientific number; "nan" and "inf" parse and are left to the range check.
inline bool parse_seconds(std::string_view text, double& value) {
    if (text.empty()) return false;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    return error == std::errc{} && end == text.data() + text.size();
}

}  // namespace rstscope::option_text
