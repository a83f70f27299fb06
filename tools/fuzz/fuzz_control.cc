// SPDX-License-Identifier: BSD-3-Clause
// Fuzz target: the control protocol parser and the configuration/command-line parser.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "rstscope/config/options.h"
#include "rstscope/mgmt/control_protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    // rstscope's own command table (argument parsing and checking), with stand-ins for
    // management's handlers.
    static const rstscope::ControlCommands* commands = [] {
        auto* table = new rstscope::ControlCommands;
        auto stub = [](const rstscope::ControlArgs&) { return std::string("{}"); };
        static const bool ready = true;
        rstscope::register_control_commands(*table, {stub, stub, stub, stub, stub, stub, stub},
                                            ready);
        return table;
    }();
    (void)commands->answer(text);
    // The same bytes as command-line words, split at NUL.
    std::vector<std::string> words{"rstscope"};
    size_t start = 0;
    for (size_t i = 0; i <= size; ++i) {
        if (i == size || data[i] == 0) {
            words.emplace_back(text.substr(start, i - start));
            start = i + 1;
        }
    }
    std::vector<const char*> argv;
    for (const auto& w : words)
        argv.push_back(w.c_str());
    (void)rstscope::parse_options(static_cast<int>(argv.size()), argv.data(), "");
    return 0;
}
