// SPDX-License-Identifier: BSD-3-Clause
// Unit tests for the per-worker host fingerprint table: what it learns, and its bounded size.
#include <gtest/gtest.h>

#include "rstscope/analysis/host_fingerprint.h"

namespace rstscope {
namespace {

IpAddress v4(uint32_t n) {
    uint8_t bytes[4] = {static_cast<uint8_t>(n >> 24), static_cast<uint8_t>(n >> 16),
                        static_cast<uint8_t>(n >> 8), static_cast<uint8_t>(n)};
    return IpAddress::from_v4(bytes);
}

TEST(HostFingerprint, HopsFollowTheDefaultInitialTtls) {
    EXPECT_EQ(hops_of(64), 0);
    EXPECT_EQ(hops_of(63), 1);
    EXPECT_EQ(hops_of(120), 8);
    EXPECT_EQ(hops_of(254), 1);
    EXPECT_EQ(initial_ttl(65), 128);
}

TEST(HostFingerprint, LearnsTtlAndIpIdBehaviour) {
    HostFingerprints hosts(64);
    EXPECT_EQ(hosts.find(v4(1), IpFamily::v4), nullptr);
    hosts.learn_ttl(v4(1), IpFamily::v4, 63);
    const HostFingerprint* h = hosts.find(v4(1), IpFamily::v4);
    ASSERT_NE(h, nullptr);
    EXPECT_EQ(h->usual_ttl, 63);
    EXPECT_FALSE(h->ttl_varied);
    // The same bytes as IPv6 are another host.
    EXPECT_EQ(hosts.find(v4(1), IpFamily::v6), nullptr);

    hosts.learn_ip_id(v4(1), IpFamily::v4, true, false, 1000);
    EXPECT_EQ(hosts.find(v4(1), IpFamily::v4)->ip_id, IpIdBehaviour::per_connection);
    hosts.learn_ip_id(v4(1), IpFamily::v4, true, false, 1010);  // the next connection continues
    EXPECT_EQ(hosts.find(v4(1), IpFamily::v4)->ip_id, IpIdBehaviour::global_counter);
    hosts.learn_ip_id(v4(1), IpFamily::v4, true, false, 40000);  // a fresh counter
    EXPECT_EQ(hosts.find(v4(1), IpFamily::v4)->ip_id, IpIdBehaviour::per_connection);
    hosts.learn_ip_id(v4(1), IpFamily::v4, false, true, 0);
    EXPECT_EQ(hosts.find(v4(1), IpFamily::v4)->ip_id, IpIdBehaviour::zero);
    hosts.learn_ip_id(v4(1), IpFamily::v4, false, false, 777);
    EXPECT_EQ(hosts.find(v4(1), IpFamily::v4)->ip_id, IpIdBehaviour::random);

    hosts.learn_ttl(v4(1), IpFamily::v4, 61);
    EXPECT_TRUE(hosts.find(v4(1), IpFamily::v4)->ttl_varied);
    // IP-IDs of a host whose TTL was never learnt take no slot.
    hosts.learn_ip_id(v4(2), IpFamily::v4, true, false, 5);
    EXPECT_EQ(hosts.find(v4(2), IpFamily::v4), nullptr);
}

TEST(HostFingerprint, BoundedTableEvictsTheLeastRecentlyUsedAndSaysSo) {
    HostFingerprints hosts(8);  // two buckets of four
    EXPECT_EQ(hosts.capacity(), 8u);
    uint32_t evictions = 0;
    for (uint32_t n = 1; n <= 1000; ++n)
        evictions += hosts.learn_ttl(v4(n), IpFamily::v4, 64) ? 1 : 0;
    EXPECT_EQ(evictions, 1000u - 8u);
    uint32_t kept = 0;
    for (uint32_t n = 1; n <= 1000; ++n)
        kept += hosts.find(v4(n), IpFamily::v4) != nullptr ? 1 : 0;
    EXPECT_EQ(kept, 8u);
    // A host used recently survives newcomers to its bucket.
    hosts.learn_ttl(v4(5000), IpFamily::v4, 64);
    for (uint32_t n = 6000; n < 6100; ++n) {
        hosts.find(v4(5000), IpFamily::v4);
        hosts.learn_ttl(v4(n), IpFamily::v4, 64);
    }
    EXPECT_NE(hosts.find(v4(5000), IpFamily::v4), nullptr);
}

}  // namespace
}  // namespace rstscope
