// SPDX-License-Identifier: BSD-3-Clause
// HyperLogLog (Flajolet, Fusy, Gandouet, Meunier 2007): how many distinct hashes a stream holds,
// in 2^precision one-byte registers whatever its length, relative standard error
// 1.04 / 2^(precision / 2). While the estimate is below 2.5 x 2^precision and some register is
// still empty, linear counting over the empty registers replaces it (the paper's small-range
// correction: the more exact of the two there). No large-range correction: it is for 32-bit
// hashes, and these are 64-bit. Two users: the findings engine's DistinctCounter (2^8 registers,
// findings.h) and the capture probe's FlowKeyTally (2^14). Pure logic, fixed memory, one thread.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "rstscope/common/mix64.h"

namespace rstscope {

template <unsigned Precision>
class DistinctSketch {
  public:
    // alpha's closed form below holds from 2^7 registers; a register index leaves at least 50
    // bits for the rank.
    static_assert(Precision >= 7 && Precision <= 14);
    static constexpr unsigned precision = Precision;
    static constexpr size_t register_count = size_t{1} << precision;
    // The rank of a hash whose bits after the index are all zero: the highest a register holds.
    static constexpr uint8_t max_rank = 64 - precision + 1;

    // What add() did to the register a hash picked: the rank it held (0: empty) and the rank it
    // holds now; `to` is 0 when the hash's rank was not higher, so nothing changed.
    struct Raise {
        uint8_t from;
        uint8_t to;
        explicit operator bool() const noexcept { return to != 0; }
    };

    // `hash` must be well mixed (mix64()): its top `precision` bits pick the register, the
    // position of the first 1 bit after them (from 1) is its rank. Says how the register
    // changed, if it did: only then can the estimate have changed.
    Raise add(uint64_t hash) noexcept {
        const size_t index = hash >> (64 - precision);
        const uint64_t rest = hash << precision;
        const auto rank = rest == 0 ? max_rank : static_cast<uint8_t>(std::countl_zero(rest) + 1);
        const uint8_t old = registers_[index];
        if (rank <= old) return Raise{old, 0};
        registers_[index] = rank;
        return Raise{old, rank};
    }

    // Adds what `other` saw: the sketch of the union of both hash sets, exactly (each register
    // keeps the larger rank), so a stream sketched in shares gives one pass's estimate.
    void merge(const DistinctSketch& other) noexcept {
        for (size_t i = 0; i < register_count; ++i)
            registers_[i] = std::max(registers_[i], other.registers_[i]);
    }

    void clear() noexcept { registers_.fill(0); }

    // Distinct hashes added, estimated from a pass over the registers (in order).
    uint64_t estimate() const noexcept {
        double inverse_sum = 0;
        size_t empty = 0;
        for (uint8_t rank : registers_) {
            inverse_sum += inverse_powers[rank];
            empty += rank == 0;
        }
        return estimate_from(inverse_sum, empty);
    }

    // The estimate from the registers' sum of 2^-rank and the number still empty, for a user
    // that keeps both as registers change (DistinctCounter).
    static uint64_t estimate_from(double inverse_sum, size_t empty) noexcept {
        constexpr double m = register_count;
        constexpr double alpha = 0.7213 / (1.0 + 1.079 / m);
        const double raw = alpha * m * m / inverse_sum;
        if (raw <= 2.5 * m && empty != 0) return linear_count(empty);
        return static_cast<uint64_t>(std::llround(raw));
    }

  private:
    // 2^-rank for every rank a register can hold, exact (a table: ldexp is a call a register).
    static constexpr std::array<double, max_rank + 1> inverse_powers = [] {
        std::array<double, max_rank + 1> powers{};
        double power = 1.0;
        for (double& p : powers) {
            p = power;
            power /= 2.0;
        }
        return powers;
    }();

    static uint64_t computed_linear_count(size_t empty) noexcept {
        constexpr double m = register_count;
        return static_cast<uint64_t>(std::llround(m * std::log(m / static_cast<double>(empty))));
    }

    // A small sketch's linear counts come from a table of every answer, computed once at start:
    // std::log and llround cost about 70 instructions, and the findings engine asks for an
    // estimate whenever a register changes (75 000 times in mgmt_bench, docs/performance.md).
    // A large one's are computed: its user asks once, and the table would be 128 KiB.
    static constexpr size_t largest_tabled = 256;
    static uint64_t linear_count(size_t empty) noexcept {
        if constexpr (register_count <= largest_tabled)
            return linear_counts[empty];
        else
            return computed_linear_count(empty);
    }
    // Initialised before main (a template's static member: unordered with other statics, so no
    // static initialiser may ask a small sketch for an estimate).
    static inline const std::array<uint64_t, register_count + 1> linear_counts = [] {
        std::array<uint64_t, register_count + 1> counts{};
        for (size_t empty = 1; empty <= register_count; ++empty)
            counts[empty] = computed_linear_count(empty);
        return counts;
    }();

    std::array<uint8_t, register_count> registers_{};
};

}  // namespace rstscope
