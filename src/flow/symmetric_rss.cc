// SPDX-License-Identifier: BSD-3-Clause
// Setup only: builds the symmetric RSS key ports.cc gives each device (no DPDK here).
#include "rstscope/flow/symmetric_rss.h"

#include <stdexcept>
#include <string>

namespace rstscope {

RssKey symmetric_rss_key(size_t length) {
    if (length == 0 || length > RssKey::max_length) {
        throw std::invalid_argument("RSS key length " + std::to_string(length) + " is outside 1.." +
                                    std::to_string(RssKey::max_length));
    }
    RssKey key;
    key.length = static_cast<uint8_t>(length);
    for (size_t i = 0; i < length; ++i)
        key.bytes[i] = i % 2 == 0 ? 0x6d : 0x5a;
    return key;
}

}  // namespace rstscope
