// SPDX-License-Identifier: BSD-3-Clause
// EAL's scan of the CPUs, without asking sysfs about CPUs that cannot exist. rte_eal_init asks, for
// every CPU id it considers (eal_cpu_socket_id and eal_cpu_detected in lib/eal/linux/eal_lcore.c,
// DPDK 22.11: the core_id file for each of 1 024 ids here), whether
// /sys/devices/system/node/node<N>/cpu<C> exists for each NUMA node N below RTE_MAX_NUMA_NODES,
// and whether /sys/devices/system/cpu/cpu<C>/topology/core_id does: about 5 000 access(2) calls
// with Debian's build, 5.5-6.3 ms on this project's VM, a sixth of a small capture's whole run
// (docs/performance.md). Neither file exists for a CPU beyond those the kernel can ever bring
// online (/sys/devices/system/cpu/possible), so while a ShortCpuScan lives, this thread's access()
// of either path for such a CPU answers ENOENT without the system call; every other call (other
// paths, possible CPUs, other threads, any time outside the scope) is libc's. Setup only, main
// thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace rstscope {

// The CPU number `path` asks about when it is exactly one of EAL's two per-CPU probes above;
// nothing otherwise.
std::optional<uint32_t> eal_cpu_probe_cpu(std::string_view path) noexcept;

// One past the highest CPU in a CPU list as sysfs writes it ("0-3,8-11\n"); nothing when the
// text is not such a list.
std::optional<uint32_t> cpu_list_end(std::string_view list) noexcept;

// One past the highest CPU the kernel can ever bring online (/sys/devices/system/cpu/possible);
// nothing when it cannot be read.
std::optional<uint32_t> possible_cpus_end();

// While one lives, this thread's access() of EAL's per-CPU probe paths for CPUs at or beyond the
// possible CPUs' end answers ENOENT at once. When the possible CPUs cannot be read, nothing is
// answered early.
class ShortCpuScan {
  public:
    ShortCpuScan();
    ~ShortCpuScan();
    ShortCpuScan(const ShortCpuScan&) = delete;
    ShortCpuScan& operator=(const ShortCpuScan&) = delete;
};

// access() calls answered without the system call in this process so far.
uint32_t cpu_scan_calls_answered() noexcept;

}  // namespace rstscope
