// SPDX-License-Identifier: BSD-3-Clause
// Scratch files for fuzz targets whose code under test takes a path (the capture probe, the
// pcapng rewrite, the configuration file): one private directory per process, removed at exit.
// Files are rewritten in place for every input, so a run leaves nothing behind but its corpus.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace rstscope::fuzz {

class ScratchDir {
  public:
    static ScratchDir& instance() {
        static ScratchDir dir;
        return dir;
    }

    std::string path(const char* name) const { return (root_ / name).string(); }

    // Replaces the file at `path` by exactly `size` bytes of `data`; aborts when it cannot (the
    // harness would otherwise test a stale file).
    static void write(const std::string& path, const uint8_t* data, size_t size) {
        std::ofstream out(path, std::ios::binary | std::ios::trunc);
        out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
        out.close();
        if (!out) {
            std::fprintf(stderr, "fuzz: cannot write scratch file %s\n", path.c_str());
            std::abort();
        }
    }

    ~ScratchDir() {
        std::error_code ignored;
        std::filesystem::remove_all(root_, ignored);
    }

  private:
    ScratchDir() {
        // Memory-backed when possible: every input is written, so disk I/O bounds the exec rate.
        const char* tmp = std::getenv("TMPDIR");
        std::string base = tmp && *tmp ? tmp : access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        std::string pattern = base + "/rstscope-fuzz-XXXXXX";
        if (mkdtemp(pattern.data()) == nullptr) {
            std::perror("fuzz: mkdtemp");
            std::abort();
        }
        root_ = pattern;
    }

    std::filesystem::path root_;
};

}  // namespace rstscope::fuzz
