// SPDX-License-Identifier: BSD-3-Clause
// What a worker has learnt of each host's packets across its connections: the usual TTL (so the
// hop distance) and how the host numbers its IP-IDs. A RST on a connection where the host never
// spoke (a refusal) is judged against it: the host's TTL says whether the RST came from the host
// or from a device on the path.
//
// Thread contract: one table per worker (inside its FlowTracker), used by that lcore only. Fixed
// size, allocated at construction; learn*() and find() never allocate, lock or make system calls.
// They run once or twice per connection side, not per packet. A full bucket evicts its least
// recently used host (counted by the caller).
#pragma once

#include <cstdint>
#include <memory>

#include "rstscope/common/endpoint.h"

namespace rstscope {

// How a host numbers the IP-ID of its TCP segments (IPv4 only).
enum class IpIdBehaviour : uint8_t {
    unknown,
    zero,            // always 0 (DF set and the stack leaves it so)
    global_counter,  // one counter for all connections: a connection starts near the last seen
    per_connection,  // a counter per connection (Linux: per socket, random start)
    random,          // no counter at all (OpenBSD, some load balancers)
};

struct HostFingerprint {
    IpAddress address;
    IpFamily family;
    uint8_t usual_ttl;  // TTL/hop limit of its packets here; 0 unknown
    bool ttl_varied;    // its connections arrived with different TTLs (ECMP, anycast)
    IpIdBehaviour ip_id;
    uint16_t last_ip_id;  // the latest counter value learnt, for global_counter
    uint16_t padding;
    uint32_t last_used;  // the table's use clock at the latest learn or find
    uint32_t padding2;
};
static_assert(sizeof(HostFingerprint) == 32);

// A TTL's initial value: the smallest of the defaults stacks use (64: Linux, BSD, macOS; 128:
// Windows; 255: network devices and GTSM) not below it, and the hops it has crossed since.
constexpr uint8_t initial_ttl(uint8_t ttl) noexcept {
    return ttl <= 64 ? 64 : ttl <= 128 ? 128 : 255;
}
constexpr uint8_t hops_of(uint8_t ttl) noexcept {
    return static_cast<uint8_t>(initial_ttl(ttl) - ttl);
}

class HostFingerprints {
  public:
    static constexpr uint32_t ways = 4;

    // `capacity` hosts, rounded up to a power of two (at least one bucket).
    explicit HostFingerprints(uint32_t capacity);

    // A host's first non-RST packet on a connection. Returns true when learning it evicted
    // another host.
    bool learn_ttl(const IpAddress& address, IpFamily family, uint8_t ttl) noexcept;
    // A connection side's IP-IDs, once it has sent enough packets to tell: `counter` when they
    // rose in small steps (then `ip_id` is its latest), else whether they were all zero.
    void learn_ip_id(const IpAddress& address, IpFamily family, bool counter, bool all_zero,
                     uint16_t ip_id) noexcept;
    // The host's fingerprint, or nullptr when unknown.
    HostFingerprint* find(const IpAddress& address, IpFamily family) noexcept;

    uint32_t capacity() const noexcept { return bucket_mask_ * ways + ways; }

  private:
    HostFingerprint* slot_for(const IpAddress& address, IpFamily family, bool& evicted) noexcept;
    HostFingerprint* bucket(const IpAddress& address, IpFamily family) noexcept;

    std::unique_ptr<HostFingerprint[]> hosts_;
    uint32_t bucket_mask_;
    uint32_t clock_ = 0;
};

}  // namespace rstscope
