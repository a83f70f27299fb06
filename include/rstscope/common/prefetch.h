// SPDX-License-Identifier: BSD-3-Clause
// Bringing a whole object into the cache ahead of its use, the one way the packet path and
// management do it for objects larger than a line (a pending reset, a reset event).
#pragma once

#include <cstddef>

namespace rstscope {

// Asks for every cache line of `object`, for reading or (ForWriting) in a writable state. Always
// inlined: GCC deletes calls it does not inline to a function whose only effect is a prefetch.
template <bool ForWriting = false, class T>
[[gnu::always_inline]] inline void prefetch_whole(const T& object) noexcept {
    const char* bytes = reinterpret_cast<const char*>(&object);
    for (size_t at = 0; at < sizeof(T); at += 64)
        __builtin_prefetch(bytes + at, ForWriting ? 1 : 0);
}

}  // namespace rstscope
