// SPDX-License-Identifier: BSD-3-Clause
// The CPUs this process may run on (its affinity, which taskset, a cgroup's cpuset or a container
// may narrow): what setup work split between threads can use. Setup only.
#pragma once

#include <sched.h>

#include <algorithm>

namespace rstscope {

inline unsigned usable_cpus() noexcept {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) != 0) return 1;
    return static_cast<unsigned>(std::max(1, CPU_COUNT(&set)));
}

}  // namespace rstscope
