// SPDX-License-Identifier: BSD-3-Clause
#include "eal_cpu_scan.h"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <fstream>
#include <iterator>
#include <string>

namespace {

// The end of the possible CPUs while a ShortCpuScan lives on this thread; 0: none in force.
thread_local uint32_t possible_end = 0;
std::atomic<uint32_t> answered{0};

// A decimal number at the front of `text`, taken off it.
std::optional<uint32_t> take_number(std::string_view& text) noexcept {
    uint32_t value = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end == text.data()) return std::nullopt;
    text.remove_prefix(static_cast<size_t>(end - text.data()));
    return value;
}

bool take_prefix(std::string_view& text, std::string_view prefix) noexcept {
    if (!text.starts_with(prefix)) return false;
    text.remove_prefix(prefix.size());
    return true;
}

// access() is declared with a path that is never null; a caller that breaks that still gets the
// kernel's answer (EFAULT), not a crash here.
std::optional<uint32_t> probed_cpu(const char* path) noexcept {
    if (path == nullptr) return std::nullopt;
    return rstscope::eal_cpu_probe_cpu(path);
}

}  // namespace

// EAL calls access through its PLT; this definition in the executable comes before libc's in every
// library's lookup (as nanosleep does in tsc_calibration.cc). Anything not answered here is the
// system call glibc's access makes: access(2) where the architecture has it, else faccessat(2)
// with no flags, the same check (the real user and group ids).
extern "C" int access(const char* path, int mode) {
    if (possible_end != 0) {
        if (std::optional<uint32_t> cpu = probed_cpu(path); cpu && *cpu >= possible_end) {
            answered.fetch_add(1, std::memory_order_relaxed);
            errno = ENOENT;
            return -1;
        }
    }
#ifdef SYS_access
    return static_cast<int>(syscall(SYS_access, path, mode));
#else
    return faccessat(AT_FDCWD, path, mode, 0);
#endif
}

namespace rstscope {

std::optional<uint32_t> eal_cpu_probe_cpu(std::string_view path) noexcept {
    if (take_prefix(path, "/sys/devices/system/cpu/cpu")) {
        std::optional<uint32_t> cpu = take_number(path);
        return cpu && path == "/topology/core_id" ? cpu : std::nullopt;
    }
    if (take_prefix(path, "/sys/devices/system/node/node") && take_number(path) &&
        take_prefix(path, "/cpu")) {
        std::optional<uint32_t> cpu = take_number(path);
        return cpu && path.empty() ? cpu : std::nullopt;
    }
    return std::nullopt;
}

std::optional<uint32_t> cpu_list_end(std::string_view list) noexcept {
    if (list.ends_with('\n')) list.remove_suffix(1);
    uint32_t end = 0;
    do {
        std::optional<uint32_t> first = take_number(list);
        if (!first) return std::nullopt;
        uint32_t last = *first;
        if (take_prefix(list, "-")) {
            std::optional<uint32_t> range_end = take_number(list);
            if (!range_end || *range_end < *first) return std::nullopt;
            last = *range_end;
        }
        if (last == UINT32_MAX) return std::nullopt;
        end = std::max(end, last + 1);
    } while (take_prefix(list, ","));
    if (!list.empty()) return std::nullopt;
    return end;
}

std::optional<uint32_t> possible_cpus_end() {
    std::ifstream file("/sys/devices/system/cpu/possible");
    const std::string text{std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
    return cpu_list_end(text);
}

ShortCpuScan::ShortCpuScan() {
    possible_end = possible_cpus_end().value_or(0);
}

ShortCpuScan::~ShortCpuScan() {
    possible_end = 0;
}

uint32_t cpu_scan_calls_answered() noexcept {
    return answered.load(std::memory_order_relaxed);
}

}  // namespace rstscope
