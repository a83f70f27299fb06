// SPDX-License-Identifier: BSD-3-Clause
#include "flow_key_tally.h"

#include <algorithm>
#include <bit>
#include <cmath>

#include "rstscope/flow/flow_table.h"

namespace rstscope {
namespace {

// FlowTable::hash feeds bucket, signature and worker fields; the sketch wants every bit of the
// hash even. A 64-bit xor-shift-multiply finaliser spreads each input bit over all of them.
uint64_t spread(uint64_t x) noexcept {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

}  // namespace

void FlowKeyTally::add_frame(const uint8_t* frame, uint32_t captured) noexcept {
    const uint64_t frame_number = next_frame_++;
    DecodedPacket packet;
    const DecodeResult result = decode_frame(link_, frame, captured, packet);
    if (result.is_tcp) {
        bool src_is_lo;
        add_hash(FlowTable::hash(flow_key_of(packet, src_is_lo, vlan_in_key_)));
    } else if (result.reason == DropReason::ip_fragment && result.fragment_l3_length != 0) {
        // Reassembly may turn it into a segment whose key the fragment does not show: a key of
        // its own, named by its record number (unique across the shares of a capture).
        add_hash(~frame_number);
    }
}

void FlowKeyTally::add_hash(uint64_t hash) noexcept {
    const uint64_t x = spread(hash);
    const uint32_t index = static_cast<uint32_t>(x >> (64 - register_bits));
    // Position of the first 1 bit in the remaining 50 bits, from 1; 51 when they are all 0.
    const uint64_t rest = (x << register_bits) | (uint64_t{1} << (register_bits - 1));
    const auto rank = static_cast<uint8_t>(std::countl_zero(rest) + 1);
    if (rank > registers_[index]) registers_[index] = rank;
}

void FlowKeyTally::merge(const FlowKeyTally& other) noexcept {
    for (uint32_t i = 0; i < register_count; ++i)
        registers_[i] = std::max(registers_[i], other.registers_[i]);
}

uint64_t FlowKeyTally::estimate() const noexcept {
    constexpr double m = register_count;
    double inverse_sum = 0;
    uint32_t empty = 0;
    for (uint8_t rank : registers_) {
        inverse_sum += std::ldexp(1.0, -rank);
        if (rank == 0) ++empty;
    }
    const double alpha = 0.7213 / (1 + 1.079 / m);
    double estimate = alpha * m * m / inverse_sum;
    if (estimate <= 2.5 * m && empty != 0) estimate = m * std::log(m / empty);
    return static_cast<uint64_t>(std::llround(estimate));
}

}  // namespace rstscope
