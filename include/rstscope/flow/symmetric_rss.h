// SPDX-License-Identifier: BSD-3-Clause
// The symmetric Toeplitz RSS key: what a NIC needs so that both directions of a connection reach
// the same receive queue, hence the same worker and flow table. Pure; setup only (ports.cc).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace rstscope {

struct RssKey {
    // rte_eth_rss_conf::rss_key_len is a uint8_t: no device can ask for more.
    static constexpr size_t max_length = 255;
    std::array<uint8_t, max_length> bytes{};
    uint8_t length = 0;
};

// A key of `length` bytes (1..255; anything else throws std::invalid_argument) repeating
// 0x6d, 0x5a. Toeplitz hashes each input bit with the 32-bit key window starting at that bit; with
// a key that repeats every 16 bits, moving a field by a multiple of 16 bits does not change its
// windows, so swapping the addresses (32 or 128 bits) and the ports (16 bits) leaves the hash
// unchanged (Woo and Park, 2012). Any prefix of a longer key is the key of that length.
RssKey symmetric_rss_key(size_t length);

}  // namespace rstscope
