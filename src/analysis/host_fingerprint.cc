// SPDX-License-Identifier: BSD-3-Clause
// Hot path (see host_fingerprint.h): noexcept, no allocation after construction, no locks, no I/O.
#include "rstscope/analysis/host_fingerprint.h"

#include <cstring>

namespace rstscope {
namespace {

// A connection's IP-IDs continue the host's previous connection's counter within this distance:
// one counter for the whole host (the same bound as a plausible jump within a connection).
constexpr uint16_t global_counter_max_jump = 1024;

uint32_t address_hash(const IpAddress& address, IpFamily family) noexcept {
    uint64_t a, b;
    std::memcpy(&a, address.bytes, 8);
    std::memcpy(&b, address.bytes + 8, 8);
    uint64_t h =
        (a ^ (b * 0x9E3779B97F4A7C15ull) ^ static_cast<uint64_t>(family)) * 0xBF58476D1CE4E5B9ull;
    return static_cast<uint32_t>(h >> 32);
}

}  // namespace

HostFingerprints::HostFingerprints(uint32_t capacity) {
    uint32_t buckets = 1;
    while (buckets * ways < capacity)
        buckets <<= 1;
    hosts_ = std::make_unique<HostFingerprint[]>(buckets * ways);
    bucket_mask_ = buckets - 1;
}

HostFingerprint* HostFingerprints::bucket(const IpAddress& address, IpFamily family) noexcept {
    return &hosts_[(address_hash(address, family) & bucket_mask_) * ways];
}

HostFingerprint* HostFingerprints::find(const IpAddress& address, IpFamily family) noexcept {
    HostFingerprint* way = bucket(address, family);
    for (uint32_t i = 0; i < ways; ++i) {
        if (way[i].usual_ttl != 0 && way[i].family == family && way[i].address == address) {
            way[i].last_used = ++clock_;
            return &way[i];
        }
    }
    return nullptr;
}

// The host's entry, or a fresh one in place of the bucket's least recently used.
HostFingerprint* HostFingerprints::slot_for(const IpAddress& address, IpFamily family,
                                            bool& evicted) noexcept {
    HostFingerprint* way = bucket(address, family);
    HostFingerprint* victim = &way[0];
    for (uint32_t i = 0; i < ways; ++i) {
        if (way[i].usual_ttl != 0 && way[i].family == family && way[i].address == address) {
            way[i].last_used = ++clock_;
            evicted = false;
            return &way[i];
        }
        if (way[i].usual_ttl == 0) {
            victim = &way[i];
            break;
        }
        if (way[i].last_used < victim->last_used) victim = &way[i];
    }
    evicted = victim->usual_ttl != 0;
    *victim = HostFingerprint{};
    victim->address = address;
    victim->family = family;
    victim->last_used = ++clock_;
    return victim;
}

bool HostFingerprints::learn_ttl(const IpAddress& address, IpFamily family, uint8_t ttl) noexcept {
    if (ttl == 0) return false;
    bool evicted;
    HostFingerprint* host = slot_for(address, family, evicted);
    if (host->usual_ttl == 0) {
        host->usual_ttl = ttl;
    } else if (host->usual_ttl != ttl) {
        // The latest TTL wins (a route change lasts), and the host is marked as having varied.
        host->ttl_varied = true;
        host->usual_ttl = ttl;
    }
    return evicted;
}

void HostFingerprints::learn_ip_id(const IpAddress& address, IpFamily family, bool counter,
                                   bool all_zero, uint16_t ip_id) noexcept {
    // Only a host whose TTL was learnt: IP-IDs alone never take a slot from another host.
    HostFingerprint* host = find(address, family);
    if (host == nullptr) return;
    if (!counter) {
        host->ip_id = all_zero ? IpIdBehaviour::zero : IpIdBehaviour::random;
        return;
    }
    bool had_counter = host->ip_id == IpIdBehaviour::global_counter ||
                       host->ip_id == IpIdBehaviour::per_connection;
    if (had_counter) {
        uint16_t jump = static_cast<uint16_t>(ip_id - host->last_ip_id);
        host->ip_id = jump <= global_counter_max_jump ? IpIdBehaviour::global_counter
                                                      : IpIdBehaviour::per_connection;
    } else {
        host->ip_id = IpIdBehaviour::per_connection;  // until a second connection tells
    }
    host->last_ip_id = ip_id;
}

}  // namespace rstscope
