// SPDX-License-Identifier: BSD-3-Clause
// For tests linked with counting_new.cc: how many times operator new ran in this program so far,
// so a test can assert that following a log or a loop allocates nothing.
#pragma once

#include <cstdint>

uint64_t allocations_so_far() noexcept;
