// SPDX-License-Identifier: BSD-3-Clause
// Fuzz target: the configuration file through the real option parser, parse_options() of
// include/rstscope/config/options.h, as `rstscope --config FILE` with the input as FILE. A config
// file can only run or fail: failing gives a one-line reason (README: "a bad option or value is a
// one-line error"), never help, never an exception.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "rstscope/config/options.h"
#include "scratch_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using rstscope::ParseOutcome;
    using rstscope::fuzz::ScratchDir;
    static const std::string path = ScratchDir::instance().path("rstscope.conf");
    ScratchDir::write(path, data, size);
    const char* argv[] = {"rstscope", "--config", path.c_str()};
    ParseOutcome outcome = rstscope::parse_options(3, argv, "");
    switch (outcome.status) {
        case ParseOutcome::Status::run:
            break;
        case ParseOutcome::Status::error:
            if (outcome.message.empty() || outcome.message.find('\n') != std::string::npos) {
                std::fprintf(stderr, "fuzz_config: error message is not one line: [%s]\n",
                             outcome.message.c_str());
                std::abort();
            }
            break;
        case ParseOutcome::Status::exit_ok:
            std::fprintf(stderr, "fuzz_config: a config file asked for help\n");
            std::abort();
    }
    return 0;
}
