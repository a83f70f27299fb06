// SPDX-License-Identifier: BSD-3-Clause
// EAL's CPU scan without asking about impossible CPUs (src/app/eal_cpu_scan.h): which paths are
// EAL's per-CPU probes, the possible CPUs' end from sysfs's list, that every other access() is
// libc's, and, in an EAL test (no hugepages, no PCI), that EAL still finds every CPU it is given.
#include <fcntl.h>
#include <rte_eal.h>
#include <rte_lcore.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "app/eal_cpu_scan.h"

using namespace rstscope;

namespace {

std::string core_id_path(uint32_t cpu) {
    return fmt::format("/sys/devices/system/cpu/cpu{}/topology/core_id", cpu);
}
std::string node_path(uint32_t node, uint32_t cpu) {
    return fmt::format("/sys/devices/system/node/node{}/cpu{}", node, cpu);
}

TEST(EalCpuScan, RecognisesExactlyEalsTwoProbes) {
    EXPECT_EQ(eal_cpu_probe_cpu("/sys/devices/system/cpu/cpu0/topology/core_id"), 0u);
    EXPECT_EQ(eal_cpu_probe_cpu("/sys/devices/system/cpu/cpu1023/topology/core_id"), 1023u);
    EXPECT_EQ(eal_cpu_probe_cpu("/sys/devices/system/node/node0/cpu7"), 7u);
    EXPECT_EQ(eal_cpu_probe_cpu("/sys/devices/system/node/node3/cpu140"), 140u);
    for (const char* other : {
             "/sys/devices/system/cpu/cpu0/topology/core_id/",
             "/sys/devices/system/cpu/cpu0/topology/physical_package_id",
             "/sys/devices/system/cpu/cpu/topology/core_id",
             "/sys/devices/system/cpu/cpux/topology/core_id",
             "/sys/devices/system/cpu/cpu-1/topology/core_id",
             "/sys/devices/system/cpu/cpu99999999999/topology/core_id",  // past 32 bits
             "/sys/devices/system/cpu/online",
             "/sys/devices/system/node/node0/cpu",
             "/sys/devices/system/node/node0/cpu7/",
             "/sys/devices/system/node/node0/cpulist",
             "/sys/devices/system/node/nodeX/cpu7",
             "/sys/devices/system/node/node0/cpu7x",
             "sys/devices/system/node/node0/cpu7",
             "",
         })
        EXPECT_EQ(eal_cpu_probe_cpu(other), std::nullopt) << other;
}

TEST(EalCpuScan, ReadsThePossibleCpusEnd) {
    EXPECT_EQ(cpu_list_end("0\n"), 1u);
    EXPECT_EQ(cpu_list_end("0-1\n"), 2u);
    EXPECT_EQ(cpu_list_end("0-3,8-11\n"), 12u);
    EXPECT_EQ(cpu_list_end("0,2,5-6"), 7u);
    EXPECT_EQ(cpu_list_end("8-11,0-3"), 12u);
    for (const char* bad : {"", "\n", "-1", "3-1", "0-", "0,", "0-1\n\n", "a", "0 1", "4294967295"})
        EXPECT_EQ(cpu_list_end(bad), std::nullopt) << bad;
    EXPECT_GT(possible_cpus_end().value_or(0), 0u)
        << "this machine's /sys/devices/system/cpu/possible";
}

// Within the scope, on its thread, a probe of a CPU beyond the possible ones is answered at once
// (ENOENT, counted); everything else, and everything outside the scope or on another thread, is
// what the kernel says.
TEST(EalCpuScan, AnswersOnlyImpossibleCpusProbesOnItsThreadWhileItLives) {
    const uint32_t end = possible_cpus_end().value_or(0);
    ASSERT_GT(end, 0u);
    auto kernel_says = [](const std::string& path) {
        return faccessat(AT_FDCWD, path.c_str(), F_OK, 0) == 0;
    };
    std::vector<std::string> paths{"/sys/devices/system/cpu/possible", "/nonexistent"};
    for (uint32_t cpu = 0; cpu < end + 2; ++cpu) {
        paths.push_back(core_id_path(cpu));
        for (uint32_t node = 0; node < 2; ++node)
            paths.push_back(node_path(node, cpu));
    }
    auto answered_now = [&](const std::string& path) {
        const uint32_t before = cpu_scan_calls_answered();
        errno = 0;
        const bool exists = access(path.c_str(), F_OK) == 0;
        const int error = errno;
        return std::tuple{exists, error, cpu_scan_calls_answered() != before};
    };
    {
        ShortCpuScan scope;
        for (const std::string& path : paths) {
            const std::optional<uint32_t> cpu = eal_cpu_probe_cpu(path);
            const bool impossible = cpu && *cpu >= end;
            auto [exists, error, answered] = answered_now(path);
            EXPECT_EQ(answered, impossible) << path;
            EXPECT_EQ(exists, kernel_says(path)) << path;
            if (!exists) {
                EXPECT_EQ(error, ENOENT) << path;
            }
            std::tuple<bool, int, bool> other_thread;
            std::thread([&] { other_thread = answered_now(path); }).join();
            EXPECT_FALSE(std::get<2>(other_thread)) << path;
        }
    }
    for (const std::string& path : paths)
        EXPECT_FALSE(std::get<2>(answered_now(path))) << path;
}

// EAL started within the scope finds every CPU it is given (an lcore on each possible CPU, up to
// two) and asks the kernel nothing about the others: with Debian's RTE_MAX_LCORE that is
// thousands of calls answered.
TEST(EalCpuScan, EalFindsItsCpusWithTheScanShortened) {
    const uint32_t end = possible_cpus_end().value_or(0);
    ASSERT_GT(end, 0u);
    const unsigned lcores = std::min<uint32_t>(end, 2);
    std::string lcore_map = "0@0";
    if (lcores == 2) lcore_map += fmt::format(",1@{}", end - 1);
    std::vector<std::string> args{
        "test_eal_cpu_scan", "--lcores", lcore_map, "--no-huge",   "--no-pci",
        "--no-shconf",       "-m",       "64",      "--log-level", "*:error",
        "--no-telemetry"};
    std::vector<char*> argv;
    for (std::string& a : args)
        argv.push_back(a.data());
    const uint32_t before = cpu_scan_calls_answered();
    {
        ShortCpuScan scope;
        ASSERT_GE(rte_eal_init(static_cast<int>(argv.size()), argv.data()), 0);
    }
    EXPECT_EQ(rte_lcore_count(), lcores);
    // At least the node and core_id probes of every lcore id past the possible CPUs.
    EXPECT_GE(cpu_scan_calls_answered() - before,
              end < RTE_MAX_LCORE ? (RTE_MAX_LCORE - end) * 2u : 0u);
    std::printf("EAL: %u lcores, %u access() calls answered for CPUs from %u on\n",
                rte_lcore_count(), cpu_scan_calls_answered() - before, end);
    rte_eal_cleanup();
}

}  // namespace
