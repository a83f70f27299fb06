// SPDX-License-Identifier: BSD-3-Clause
#include "driver_loading.h"

#include <dlfcn.h>

#include <atomic>
#include <cstring>

#include <rte_build_config.h>
#include <rte_eal.h>

namespace {

std::atomic<bool> hide_shared_eal{false};

constexpr const char eal_library[] = "librte_eal.so";

// Where rte_eal_init lives: librte_eal.so.N, or this executable when DPDK is linked statically.
bool shared_eal_loaded() {
    Dl_info where{};
    return dladdr(reinterpret_cast<void*>(&rte_eal_init), &where) != 0 && where.dli_fname &&
           std::strstr(where.dli_fname, eal_library) != nullptr;
}

}  // namespace

// EAL's shared-build test (is_shared_build in eal_common_options.c) is a dlopen of librte_eal.so
// with RTLD_NOLOAD; this definition in the executable comes before libc's in every library's
// lookup, answers that one question "not loaded" once load_only_named_drivers() has been called,
// and passes every other call through unchanged.
extern "C" void* dlopen(const char* file, int mode) {
    using Dlopen = void* (*)(const char*, int);
    static const auto real_dlopen = reinterpret_cast<Dlopen>(dlsym(RTLD_NEXT, "dlopen"));
    if (file && (mode & RTLD_NOLOAD) && hide_shared_eal.load(std::memory_order_relaxed) &&
        std::strncmp(file, eal_library, sizeof(eal_library) - 1) == 0)
        return nullptr;
    return real_dlopen(file, mode);
}

namespace rstscope {

std::string shared_driver_directory() {
    return shared_eal_loaded() ? RTE_EAL_PMD_PATH : "";
}

void load_only_named_drivers() {
    hide_shared_eal.store(true, std::memory_order_relaxed);
}

}  // namespace rstscope
