// SPDX-License-Identifier: BSD-3-Clause
// The options of a Boost description as JSON, for tools (private to src/config): the hidden
// --list-options of rstscope and rstscopectl, which tools/packaging/gen_packaging.py reads at
// build time to make the man pages and the bash completion. The descriptions --help prints are
// the only source: whatever option is added there appears in the man page and the completion.
// Setup only.
#pragma once

#include <string>

#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>

#include "option_text.h"

namespace rstscope::option_list {

// {"caption":..,"options":[{"name","short"?,"takes_value","value_name"?,"default"?,"help"}]}
// for the options of `d` in --help order (Boost 1.74 keeps a description's caption and groups
// private, so the caller names the group).
inline nlohmann::json group(const std::string& caption,
                            const boost::program_options::options_description& d) {
    nlohmann::json options = nlohmann::json::array();
    for (const auto& od : d.options()) {
        nlohmann::json o;
        o["name"] = od->long_name();
        std::string shown = od->format_name();  // "-h [ --help ]" or "--help"
        if (shown.size() > 1 && shown[0] == '-' && shown[1] != '-') o["short"] = shown.substr(1, 1);
        bool takes_value = od->semantic()->max_tokens() > 0;
        o["takes_value"] = takes_value;
        if (takes_value) {
            std::string parameter = option_text::unshield(od->format_parameter());  // "N (=32)"
            size_t at = parameter.find(" (=");
            o["value_name"] = parameter.substr(0, at);
            if (at != std::string::npos && parameter.back() == ')')
                o["default"] = parameter.substr(at + 3, parameter.size() - at - 4);
        }
        o["help"] = option_text::unshield(od->description());
        options.push_back(std::move(o));
    }
    nlohmann::json out;
    out["caption"] = caption;
    out["options"] = std::move(options);
    return out;
}

}  // namespace rstscope::option_list
