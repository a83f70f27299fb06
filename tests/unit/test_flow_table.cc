// SPDX-License-Identifier: BSD-3-Clause
// Unit tests for the flow table: canonical keys (both directions meet in one entry), the two-choice
// buckets, the eviction order and slot reuse. A 16-entry table has exactly two buckets, so every
// key's two candidates are buckets 0 and 1 and "both buckets full" is "16 flows inserted".

#include <gtest/gtest.h>

#include <arpa/inet.h>

#include <algorithm>

#include <cstring>
#include <functional>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "resident_memory.h"
#include "rstscope/flow/flow_table.h"
#include "rstscope/flow/symmetric_rss.h"

namespace rstscope {
namespace {

DecodedPacket segment(const std::string& src, uint16_t src_port, const std::string& dst,
                      uint16_t dst_port) {
    DecodedPacket p;
    uint8_t bytes[16] = {};
    if (src.find(':') == std::string::npos) {
        p.family = IpFamily::v4;
        inet_pton(AF_INET, src.c_str(), bytes);
        p.src = IpAddress::from_v4(bytes);
        inet_pton(AF_INET, dst.c_str(), bytes);
        p.dst = IpAddress::from_v4(bytes);
    } else {
        p.family = IpFamily::v6;
        inet_pton(AF_INET6, src.c_str(), bytes);
        p.src = IpAddress::from_v6(bytes);
        inet_pton(AF_INET6, dst.c_str(), bytes);
        p.dst = IpAddress::from_v6(bytes);
    }
    p.src_port = src_port;
    p.dst_port = dst_port;
    return p;
}

DecodedPacket reversed(const DecodedPacket& p) {
    DecodedPacket r = p;
    std::swap(r.src, r.dst);
    std::swap(r.src_port, r.dst_port);
    return r;
}

FlowKey key_of(const DecodedPacket& p) {
    bool src_is_lo = false;
    return flow_key_of(p, src_is_lo, true);
}

// Distinct flows from one client to one server, told apart by the client port.
FlowKey client_key(uint16_t client_port) {
    return key_of(segment("10.0.0.1", client_port, "10.0.0.2", 80));
}

TEST(FlowKey, BothDirectionsGiveTheSameKeyAndHash) {
    DecodedPacket forward = segment("192.0.2.10", 40000, "198.51.100.20", 443);
    DecodedPacket backward = reversed(forward);
    bool forward_lo = false, backward_lo = true;
    FlowKey a = flow_key_of(forward, forward_lo, true);
    FlowKey b = flow_key_of(backward, backward_lo, true);
    EXPECT_TRUE(a == b);
    EXPECT_EQ(FlowTable::hash(a), FlowTable::hash(b));
    EXPECT_TRUE(forward_lo);  // 192.0.2.10 sorts below 198.51.100.20
    EXPECT_FALSE(backward_lo);
    EXPECT_EQ(a.port_lo, 40000);
    EXPECT_EQ(a.port_hi, 443);
    EXPECT_EQ(a.addr_lo.bytes[0], 192);
    EXPECT_EQ(a.addr_hi.bytes[0], 198);
    EXPECT_EQ(a.vlan_outer, vlan_none);
    EXPECT_EQ(a.family, IpFamily::v4);
    EXPECT_EQ(a.padding[0] | a.padding[1] | a.padding[2], 0);
}

TEST(FlowKey, SameAddressOrdersByPort) {
    DecodedPacket forward = segment("127.0.0.1", 50000, "127.0.0.1", 8080);
    bool forward_lo = true, backward_lo = false;
    FlowKey a = flow_key_of(forward, forward_lo, true);
    FlowKey b = flow_key_of(reversed(forward), backward_lo, true);
    EXPECT_TRUE(a == b);
    EXPECT_FALSE(forward_lo);
    EXPECT_TRUE(backward_lo);
    EXPECT_EQ(a.port_lo, 8080);
    EXPECT_EQ(a.port_hi, 50000);
}

TEST(FlowKey, Ipv6BothDirectionsMeet) {
    DecodedPacket forward = segment("2001:db8::2", 443, "2001:db8::1", 51000);
    FlowKey a = key_of(forward);
    FlowKey b = key_of(reversed(forward));
    EXPECT_TRUE(a == b);
    EXPECT_EQ(FlowTable::hash(a), FlowTable::hash(b));
    EXPECT_EQ(a.addr_lo.bytes[15], 1);
    EXPECT_EQ(a.port_lo, 51000);
    EXPECT_EQ(a.family, IpFamily::v6);
}

TEST(FlowKey, FamilyAndVlansSeparateFlows) {
    // 1.2.3.4 and 102:304:: share their 16 address bytes: only the family tells them apart.
    DecodedPacket v4 = segment("1.2.3.4", 40000, "5.6.7.8", 80);
    DecodedPacket v6 = segment("102:304::", 40000, "506:708::", 80);
    ASSERT_TRUE(v4.src == v6.src);
    ASSERT_TRUE(v4.dst == v6.dst);
    FlowKey k4 = key_of(v4), k6 = key_of(v6);
    EXPECT_FALSE(k4 == k6);
    EXPECT_NE(FlowTable::hash(k4), FlowTable::hash(k6));

    DecodedPacket outer = v4;
    outer.vlan_outer = 10;
    DecodedPacket other_outer = v4;
    other_outer.vlan_outer = 11;
    DecodedPacket inner = outer;
    inner.vlan_inner = 20;
    FlowKey untagged = key_of(v4), k_outer = key_of(outer), k_other = key_of(other_outer),
            k_inner = key_of(inner);
    EXPECT_FALSE(untagged == k_outer);
    EXPECT_FALSE(k_outer == k_other);
    EXPECT_FALSE(k_outer == k_inner);
    std::set<uint64_t> hashes{FlowTable::hash(untagged), FlowTable::hash(k_outer),
                              FlowTable::hash(k_other), FlowTable::hash(k_inner)};
    EXPECT_EQ(hashes.size(), 4u);
    EXPECT_TRUE(key_of(reversed(inner)) == k_inner);
}

TEST(FlowKey, WithoutVlanInKeyTagsDoNotSeparateFlows) {
    // Zeek's key (rstscope's default): a mirror of both sides of a router sees one connection on
    // two VLANs, and both halves must meet in one flow.
    DecodedPacket untagged = segment("198.51.100.7", 41000, "203.0.113.9", 8080);
    DecodedPacket client_side = untagged;
    client_side.vlan_outer = 10;
    DecodedPacket server_side = reversed(untagged);
    server_side.vlan_outer = 20;
    server_side.vlan_inner = 30;
    bool lo = false;
    FlowKey plain = flow_key_of(untagged, lo, false);
    FlowKey a = flow_key_of(client_side, lo, false);
    FlowKey b = flow_key_of(server_side, lo, false);
    EXPECT_TRUE(a == plain);
    EXPECT_TRUE(b == plain);
    EXPECT_EQ(FlowTable::hash(a), FlowTable::hash(b));
    EXPECT_EQ(a.vlan_outer, vlan_none);
    EXPECT_EQ(b.vlan_inner, vlan_none);
    // With --vlan-in-key each tag set is its own flow.
    EXPECT_FALSE(flow_key_of(client_side, lo, true) == flow_key_of(server_side, lo, true));
    EXPECT_FALSE(flow_key_of(client_side, lo, true) == plain);
}

TEST(FlowTable, CapacityRoundsUpToWholeBuckets) {
    struct Case {
        uint32_t requested, buckets, capacity;
    };
    // Any bucket count from two: twice a capture's 200 000 connections is 400 000 slots, where a
    // power of two would be 524 288.
    for (Case c : {Case{0, 2, 16}, Case{1, 2, 16}, Case{16, 2, 16}, Case{17, 3, 24},
                   Case{100, 13, 104}, Case{1024, 128, 1024}, Case{1025, 129, 1032},
                   Case{400000, 50000, 400000}, Case{412629, 51579, 412632}}) {
        FlowTable table(c.requested);
        EXPECT_EQ(FlowTable::buckets_for(c.requested), c.buckets) << c.requested;
        EXPECT_EQ(table.bucket_count(), c.buckets) << c.requested;
        EXPECT_EQ(table.capacity(), c.capacity) << c.requested;
        EXPECT_EQ(table.size(), 0u);
    }
    EXPECT_EQ(FlowTable::buckets_for(uint32_t{1} << 31), FlowTable::max_buckets);
    EXPECT_THROW(FlowTable::buckets_for((uint32_t{1} << 31) + 1), std::invalid_argument);
}

TEST(FlowTable, EveryBucketOfATableOfAnySizeIsUsed) {
    // 13 buckets (104 slots): fill to 50 %, then every bucket holds some flows and none holds
    // more than its 8 ways allow; every flow is found again.
    FlowTable table(100);
    std::vector<uint32_t> per_bucket(table.bucket_count());
    std::vector<FlowKey> keys;
    for (uint16_t port = 1; keys.size() < 52; ++port) {
        FlowKey key = key_of(segment("198.51.100.7", port, "203.0.113.9", 80));
        const uint64_t h = FlowTable::hash(key);
        const uint32_t slot = table.free_slot(h);
        ASSERT_NE(slot, FlowTable::no_slot);
        table.occupy(slot, key, h);
        ++per_bucket[slot / FlowTable::ways];
        keys.push_back(key);
    }
    for (uint32_t bucket = 0; bucket < table.bucket_count(); ++bucket)
        EXPECT_GT(per_bucket[bucket], 0u) << "bucket " << bucket;
    for (const FlowKey& key : keys)
        EXPECT_NE(table.find(key, FlowTable::hash(key)), FlowTable::no_slot);
}

// Filled past full at a bucket count that is no power of two: a new flow gets a slot in one of
// its two buckets while either has room, and once both are full the victim is the longest idle of
// their 16 slots.
TEST(FlowTable, ATableOfAnySizeFillsAndEvictsWithinAFlowsTwoBuckets) {
    FlowTable table(100);  // 13 buckets
    const uint32_t buckets = table.bucket_count();
    ASSERT_EQ(buckets, 13u);
    uint32_t refused = 0;
    for (uint16_t port = 1; port <= 400; ++port) {
        FlowKey key = key_of(segment("198.51.100.7", port, "203.0.113.9", 443));
        const uint64_t h = FlowTable::hash(key);
        const uint32_t primary = FlowTable::primary_bucket(h, buckets);
        const uint32_t secondary = FlowTable::secondary_bucket(h, buckets);
        auto full = [&](uint32_t bucket) {
            for (uint32_t way = 0; way < FlowTable::ways; ++way)
                if (!table.occupied(bucket * FlowTable::ways + way)) return false;
            return true;
        };
        uint32_t slot = table.free_slot(h);
        if (slot == FlowTable::no_slot) {
            ++refused;
            ASSERT_TRUE(full(primary) && full(secondary)) << port;
            slot = table.choose_victim(h);
            uint64_t oldest = UINT64_MAX;
            for (uint32_t bucket : {primary, secondary})
                for (uint32_t way = 0; way < FlowTable::ways; ++way)
                    oldest =
                        std::min(oldest, table.entry(bucket * FlowTable::ways + way).last_ts_ns);
            EXPECT_EQ(table.entry(slot).last_ts_ns, oldest) << port;
        }
        ASSERT_TRUE(slot / FlowTable::ways == primary || slot / FlowTable::ways == secondary)
            << port;
        FlowEntry& e = table.occupy(slot, key, h);
        e.lifecycle = Lifecycle::established;
        e.last_ts_ns = port;
        ASSERT_EQ(table.find(key, h), slot) << port;
    }
    EXPECT_EQ(table.size(), table.capacity());
    EXPECT_GE(refused, 400u - table.capacity());
}

// A capture's table has three slots per two connections (capture_sizes.cc), even when all of
// them live at once, as in the reset-heavy capture (200 000 connections, none expired): at two
// thirds load the emptier of two buckets always has a free way. Two shapes of keys: many clients
// and servers on one port (the reset-heavy capture's), and a few load generators walking their
// ports towards one server, whose keys differ in few bits (CRC hashing is linear).
uint32_t refused_at_capture_sizing(const std::function<FlowKey(uint32_t)>& key_number) {
    constexpr uint32_t connections = 206'314;  // 200 000 counted, plus the estimate's margin
    FlowTable table(3 * connections / 2);
    uint32_t refused = 0;
    for (uint32_t n = 0; n < connections; ++n) {
        const FlowKey key = key_number(n);
        const uint64_t h = FlowTable::hash(key);
        const uint32_t slot = table.free_slot(h);
        if (slot == FlowTable::no_slot) {
            ++refused;
            continue;
        }
        table.occupy(slot, key, h);
    }
    EXPECT_EQ(table.size(), connections - refused);
    return refused;
}

// An IPv4 address given as a number, as text (what segment() takes).
std::string dotted(uint32_t address) {
    const uint8_t bytes[4] = {static_cast<uint8_t>(address >> 24),
                              static_cast<uint8_t>(address >> 16),
                              static_cast<uint8_t>(address >> 8), static_cast<uint8_t>(address)};
    char text[ip_text_max_length + 1];
    format_ip(IpAddress::from_v4(bytes), IpFamily::v4, text, sizeof text);
    return text;
}

TEST(FlowTable, ACapturesTableTakesAllItsConnectionsAtOnce) {
    // 65 000 clients in 198.18.0.0/15 reaching 4 000 servers in 198.19.0.0/16 on port 443.
    EXPECT_EQ(refused_at_capture_sizing([](uint32_t n) {
                  const uint32_t client = 0xC6120000u + n % 65'000;
                  const uint32_t server = 0xC6130000u + (n * 7919u) % 4'000;
                  return key_of(segment(dotted(client), static_cast<uint16_t>(1024 + n / 65'000),
                                        dotted(server), 443));
              }),
              0u);
    // Four generators, each walking 51 579 ports towards one server.
    EXPECT_EQ(refused_at_capture_sizing([](uint32_t n) {
                  return key_of(segment(dotted(0xCB007101u + n % 4),
                                        static_cast<uint16_t>(10'000 + n / 4), "203.0.113.80", 80));
              }),
              0u);
}

TEST(FlowTable, MemoryBytesCountsSignaturesAndEntries) {
    // Signatures: 4 bytes a slot, rounded up to a cache line; entries: 256 bytes each
    // (flow_entry.h). memory_for() tells the same before the table is built.
    EXPECT_EQ(FlowTable(16).memory_bytes(), 64u + 16u * 256u);
    EXPECT_EQ(FlowTable(32).memory_bytes(), 128u + 32u * 256u);
    EXPECT_EQ(FlowTable(128).memory_bytes(), 512u + 128u * 256u);
    EXPECT_EQ(FlowTable(100).memory_bytes(), 448u + 104u * 256u);
    for (uint32_t capacity : {0u, 16u, 100u, 1025u, 400000u})
        EXPECT_EQ(FlowTable::memory_for(capacity), FlowTable(capacity).memory_bytes()) << capacity;
}

TEST(FlowTable, ReleasedMemoryLeavesTheProcess) {
    const size_t before = resident_bytes();
    FlowTable table(65'536);  // 16 MiB, faulted in as it is built (Paging::up_front)
    const size_t table_bytes = table.memory_bytes();
    FlowKey key = client_key(40000);
    uint64_t hash = FlowTable::hash(key);
    table.occupy(table.free_slot(hash), key, hash);
    const size_t built = resident_bytes();
    ASSERT_GT(built, before + table_bytes / 2);
    table.release_memory();
    EXPECT_EQ(table.memory_bytes(), 0u);
    EXPECT_EQ(table.size(), 0u);
    EXPECT_EQ(table.capacity(), 0u);
    EXPECT_LT(resident_bytes(), built - table_bytes / 2);
}

TEST(FlowTable, BothDirectionsFindTheSameSlot) {
    FlowTable table(1024);
    DecodedPacket forward = segment("192.0.2.10", 40000, "198.51.100.20", 443);
    FlowKey key = key_of(forward);
    uint64_t hash = FlowTable::hash(key);
    EXPECT_EQ(table.find(key, hash), FlowTable::no_slot);
    uint32_t slot = table.free_slot(hash);
    ASSERT_NE(slot, FlowTable::no_slot);
    table.occupy(slot, key, hash);
    FlowKey back = key_of(reversed(forward));
    EXPECT_EQ(table.find(back, FlowTable::hash(back)), slot);
    EXPECT_TRUE(table.occupied(slot));
    EXPECT_TRUE(table.entry(slot).key == key);
    EXPECT_EQ(table.size(), 1u);
    // A key differing only in its VLAN is another flow.
    DecodedPacket tagged = forward;
    tagged.vlan_outer = 7;
    FlowKey tagged_key = key_of(tagged);
    EXPECT_EQ(table.find(tagged_key, FlowTable::hash(tagged_key)), FlowTable::no_slot);
}

TEST(FlowTable, InsertsFillFreeSlotsUntilBothBucketsAreFull) {
    FlowTable table(16);
    ASSERT_EQ(table.capacity(), 16u);
    std::set<uint32_t> slots;
    for (uint16_t i = 0; i < 16; ++i) {
        FlowKey key = client_key(static_cast<uint16_t>(40000 + i));
        uint64_t hash = FlowTable::hash(key);
        uint32_t slot = table.free_slot(hash);
        ASSERT_NE(slot, FlowTable::no_slot) << i;
        ASSERT_LT(slot, 16u);
        EXPECT_FALSE(table.occupied(slot));
        table.occupy(slot, key, hash);
        slots.insert(slot);
        EXPECT_EQ(table.size(), i + 1u);
    }
    EXPECT_EQ(slots.size(), 16u);
    // Every flow is still found in the slot it was given.
    for (uint16_t i = 0; i < 16; ++i) {
        FlowKey key = client_key(static_cast<uint16_t>(40000 + i));
        uint32_t slot = table.find(key, FlowTable::hash(key));
        ASSERT_NE(slot, FlowTable::no_slot);
        EXPECT_TRUE(table.entry(slot).key == key);
    }
    FlowKey extra = client_key(50000);
    EXPECT_EQ(table.free_slot(FlowTable::hash(extra)), FlowTable::no_slot);
    EXPECT_EQ(table.find(extra, FlowTable::hash(extra)), FlowTable::no_slot);
}

TEST(FlowTable, FreeSlotPrefersTheEmptierBucket) {
    FlowTable table(16);
    FlowKey first = client_key(40000);
    uint64_t first_hash = FlowTable::hash(first);
    uint32_t first_slot = table.free_slot(first_hash);
    table.occupy(first_slot, first, first_hash);
    // The next key, whatever its hash, has the same two buckets; the one without the first flow
    // has 8 free ways against 7.
    FlowKey second = client_key(40001);
    uint32_t second_slot = table.free_slot(FlowTable::hash(second));
    EXPECT_NE(second_slot / FlowTable::ways, first_slot / FlowTable::ways);
    EXPECT_EQ(second_slot % FlowTable::ways, 0u);
}

// Fills the two-bucket table with flows whose lifecycle and last packet time are given per slot.
struct FullTable {
    FlowTable table{16};
    uint64_t probe_hash = FlowTable::hash(client_key(50000));

    FullTable() {
        for (uint16_t i = 0; i < 16; ++i) {
            FlowKey key = client_key(static_cast<uint16_t>(40000 + i));
            uint64_t hash = FlowTable::hash(key);
            uint32_t slot = table.free_slot(hash);
            FlowEntry& e = table.occupy(slot, key, hash);
            e.lifecycle = Lifecycle::established;
            e.last_ts_ns = 1000 + slot;  // slot 0 is the oldest
        }
    }
    FlowEntry& at(uint32_t slot) { return table.entry(slot); }
};

TEST(FlowTable, VictimIsTheOldestWhenAllAreEstablished) {
    FullTable t;
    ASSERT_EQ(t.table.free_slot(t.probe_hash), FlowTable::no_slot);
    EXPECT_EQ(t.table.choose_victim(t.probe_hash), 0u);
    t.at(0).last_ts_ns = 5000;
    t.at(11).last_ts_ns = 10;
    EXPECT_EQ(t.table.choose_victim(t.probe_hash), 11u);
}

TEST(FlowTable, VictimPrefersHalfOpenOverEstablished) {
    FullTable t;
    t.at(9).lifecycle = Lifecycle::half_open;
    t.at(9).last_ts_ns = 999'999;  // the newest of all: lifecycle beats age
    EXPECT_EQ(t.table.choose_victim(t.probe_hash), 9u);
    t.at(3).lifecycle = Lifecycle::half_open;  // older half-open wins among half-open
    EXPECT_EQ(t.table.choose_victim(t.probe_hash), 3u);
}

TEST(FlowTable, VictimPrefersClosedOverHalfOpen) {
    FullTable t;
    t.at(2).lifecycle = Lifecycle::half_open;
    t.at(14).lifecycle = Lifecycle::closed;
    t.at(14).last_ts_ns = 999'999;
    EXPECT_EQ(t.table.choose_victim(t.probe_hash), 14u);
    t.at(12).lifecycle = Lifecycle::closed;
    t.at(12).last_ts_ns = 999'998;
    EXPECT_EQ(t.table.choose_victim(t.probe_hash), 12u);
}

TEST(FlowTable, OccupyZeroesTheEntryAndBumpsGeneration) {
    FlowTable table(16);
    FlowKey key = client_key(40000);
    uint64_t hash = FlowTable::hash(key);
    uint32_t slot = table.free_slot(hash);
    FlowEntry& e = table.occupy(slot, key, hash);
    EXPECT_EQ(e.generation, 1u);
    e.rst_count = 7;
    e.flags = flow_bit::event_done;
    e.side[1].pkts = 3;
    e.last_ts_ns = 99;
    e.lifecycle = Lifecycle::closed;

    // Reusing an occupied slot for another key (after eviction): entry zeroed, size unchanged.
    FlowKey other = client_key(40001);
    uint64_t other_hash = FlowTable::hash(other);
    FlowEntry& reused = table.occupy(slot, other, other_hash);
    EXPECT_EQ(&reused, &e);
    EXPECT_EQ(reused.generation, 2u);
    EXPECT_EQ(reused.rst_count, 0u);
    EXPECT_EQ(reused.flags, 0);
    EXPECT_EQ(reused.side[1].pkts, 0u);
    EXPECT_EQ(reused.last_ts_ns, 0u);
    EXPECT_EQ(reused.lifecycle, Lifecycle::half_open);
    EXPECT_TRUE(reused.key == other);
    EXPECT_EQ(table.size(), 1u);
    EXPECT_EQ(table.find(key, hash), FlowTable::no_slot);
    EXPECT_EQ(table.find(other, other_hash), slot);
}

TEST(FlowTable, ReleaseFreesTheSlotAndBumpsGeneration) {
    FlowTable table(16);
    FlowKey key = client_key(40000);
    uint64_t hash = FlowTable::hash(key);
    uint32_t slot = table.free_slot(hash);
    table.occupy(slot, key, hash);
    table.release(slot);
    EXPECT_FALSE(table.occupied(slot));
    EXPECT_EQ(table.size(), 0u);
    EXPECT_EQ(table.entry(slot).generation, 2u);
    EXPECT_EQ(table.find(key, hash), FlowTable::no_slot);
    // Releasing a free slot leaves the size alone (still invalidates stale references).
    table.release(slot);
    EXPECT_EQ(table.size(), 0u);
    EXPECT_EQ(table.entry(slot).generation, 3u);
    // The freed slot is handed out again and the new occupant sees a newer generation.
    EXPECT_EQ(table.free_slot(hash), slot);
    EXPECT_EQ(table.occupy(slot, key, hash).generation, 4u);
    EXPECT_EQ(table.size(), 1u);
}

// The tracker starts each lookup at the slot prefetch_entry() found for the packet earlier in its
// burst; packets before it may have freed that slot or given it to another flow since.
TEST(FlowTable, FindStartsAtTheHintAndFallsBackWhenItIsStale) {
    FlowTable table(1024);
    FlowKey key = client_key(40000), other = client_key(40001), third = client_key(40002);
    uint64_t hash = FlowTable::hash(key), other_hash = FlowTable::hash(other);
    uint32_t slot = table.free_slot(hash);
    table.occupy(slot, key, hash);
    uint32_t other_slot = table.free_slot(other_hash);
    table.occupy(other_slot, other, other_hash);
    ASSERT_NE(slot, other_slot);

    EXPECT_EQ(table.prefetch_entry(hash), slot);
    EXPECT_EQ(table.find(key, hash, slot), slot);
    EXPECT_EQ(table.find(key, hash, FlowTable::no_slot), slot);
    EXPECT_EQ(table.find(key, hash, other_slot), slot);  // the hint holds another flow
    // A slot whose signature matches (taken with this hash) but whose key differs is not it.
    uint32_t same_signature = table.free_slot(hash);
    table.occupy(same_signature, third, hash);
    EXPECT_EQ(table.find(key, hash, same_signature), slot);
    EXPECT_EQ(table.find(third, hash, slot), same_signature);
    // Freed since the prefetch: not found, whatever the hint says.
    table.release(slot);
    EXPECT_EQ(table.find(key, hash, slot), FlowTable::no_slot);
}

// --- How the hash is spent (issue #8): owner, buckets and signature from disjoint bits. ---

// Bucket counts worth checking: 16 Mi slots (where the old `hash >> 20` owner met the primary
// bucket bits), the largest --flow-table-size (2^30 entries), the most the table allows, and two
// that are no power of two (a capture's 200 000 connections; 3 Mi + 5).
constexpr uint32_t bucket_counts_to_check[] = {1u << 21, 1u << 27, FlowTable::max_buckets, 51579,
                                               (3u << 20) + 5};

TEST(FlowHashBits, EachBitFeedsExactlyOneChoice) {
    // Flipping one hash bit may change the owner, or the bucket, or the signature: never two.
    std::mt19937_64 random(8);
    constexpr uint32_t buckets = FlowTable::max_buckets;
    for (int round = 0; round < 64; ++round) {
        uint64_t h = random();
        for (unsigned bit = 0; bit < 64; ++bit) {
            uint64_t flipped = h ^ (uint64_t{1} << bit);
            bool bucket_moved = FlowTable::primary_bucket(h, buckets) !=
                                FlowTable::primary_bucket(flipped, buckets);
            bool signature_moved = FlowTable::signature(h) != FlowTable::signature(flipped);
            bool owner_moved = false;
            for (unsigned owners = 2; owners <= 64; ++owners)
                owner_moved |=
                    FlowTable::owner_of(h, owners) != FlowTable::owner_of(flipped, owners);
            EXPECT_LE(int{bucket_moved} + int{signature_moved} + int{owner_moved}, 1)
                << "bit " << bit << " of " << std::hex << h;
        }
    }
}

TEST(FlowHashBits, OwnerSignatureAndBucketsStayInRange) {
    std::mt19937_64 random(9);
    for (int i = 0; i < 10000; ++i) {
        uint64_t h = random();
        for (unsigned owners = 1; owners <= 64; ++owners)
            EXPECT_LT(FlowTable::owner_of(h, owners), owners);
        EXPECT_NE(FlowTable::signature(h), 0u);
        for (uint32_t buckets : {2u, 3u, 4u, 13u, 1u << 21, 51579u, FlowTable::max_buckets - 1,
                                 FlowTable::max_buckets}) {
            uint32_t primary = FlowTable::primary_bucket(h, buckets);
            uint32_t secondary = FlowTable::secondary_bucket(h, buckets);
            EXPECT_LT(primary, buckets);
            EXPECT_LT(secondary, buckets);
            EXPECT_NE(primary, secondary);
        }
    }
    // All-zero and all-one hashes are no special case.
    EXPECT_NE(FlowTable::signature(0), 0u);
    for (uint32_t buckets : {2u, 8u, 13u, FlowTable::max_buckets}) {
        for (uint64_t h : {uint64_t{0}, ~uint64_t{0}}) {
            EXPECT_LT(FlowTable::primary_bucket(h, buckets), buckets);
            EXPECT_LT(FlowTable::secondary_bucket(h, buckets), buckets);
            EXPECT_NE(FlowTable::secondary_bucket(h, buckets),
                      FlowTable::primary_bucket(h, buckets));
        }
    }
}

// The hashes of real keys: random IPv4 and IPv6 connections, and the structured traffic of many
// clients with consecutive ports on one server (what a linear hash handles worst).
std::vector<uint64_t> hashes_of_many_keys() {
    std::vector<uint64_t> hashes;
    std::mt19937_64 random(10);
    for (int i = 0; i < 100000; ++i) {
        DecodedPacket p;
        uint8_t bytes[16];
        for (auto& b : bytes)
            b = static_cast<uint8_t>(random());
        p.family = i % 4 == 0 ? IpFamily::v6 : IpFamily::v4;
        p.src = p.family == IpFamily::v6 ? IpAddress::from_v6(bytes) : IpAddress::from_v4(bytes);
        for (auto& b : bytes)
            b = static_cast<uint8_t>(random());
        p.dst = p.family == IpFamily::v6 ? IpAddress::from_v6(bytes) : IpAddress::from_v4(bytes);
        p.src_port = static_cast<uint16_t>(random());
        p.dst_port = static_cast<uint16_t>(random());
        hashes.push_back(FlowTable::hash(key_of(p)));
    }
    for (int client = 0; client < 4; ++client) {
        for (uint16_t port = 10000; port < 35000; ++port) {
            hashes.push_back(FlowTable::hash(
                key_of(segment("10.0.0." + std::to_string(client + 1), port, "192.0.2.80", 443))));
        }
    }
    return hashes;
}

// Every pair of values (f, g) occurs about as often as independence predicts.
void expect_independent(const std::vector<uint64_t>& hashes, const std::string& what,
                        uint32_t f_values, const std::function<uint32_t(uint64_t)>& f,
                        uint32_t g_values, const std::function<uint32_t(uint64_t)>& g) {
    std::vector<uint64_t> joint(f_values * g_values), f_count(f_values), g_count(g_values);
    for (uint64_t h : hashes) {
        uint32_t a = f(h), b = g(h);
        ++joint[a * g_values + b];
        ++f_count[a];
        ++g_count[b];
    }
    int bad = 0;
    for (uint32_t a = 0; a < f_values; ++a) {
        for (uint32_t b = 0; b < g_values; ++b) {
            double expected = double(f_count[a]) * double(g_count[b]) / double(hashes.size());
            double seen = double(joint[a * g_values + b]);
            // About 1500 per cell here: 25 % off is over 9 standard deviations.
            if (seen < 0.75 * expected || seen > 1.25 * expected) {
                if (++bad <= 3) {
                    ADD_FAILURE() << what << ": (" << a << ", " << b << ") seen " << seen
                                  << " times, expected about " << expected;
                }
            }
        }
    }
}

TEST(FlowHashBits, EveryOwnerReachesEveryBucketOfALargeTable) {
    const std::vector<uint64_t> hashes = hashes_of_many_keys();
    for (unsigned owners = 2; owners <= 4; ++owners) {
        auto owner = [owners](uint64_t h) { return FlowTable::owner_of(h, owners); };
        for (uint32_t buckets : bucket_counts_to_check) {
            std::string what =
                std::to_string(owners) + " owners, " + std::to_string(buckets) + " buckets";
            using BucketOf = uint32_t (*)(uint64_t, uint32_t);
            for (auto [name, bucket_of] :
                 {std::pair{"primary", static_cast<BucketOf>(&FlowTable::primary_bucket)},
                  std::pair{"secondary", static_cast<BucketOf>(&FlowTable::secondary_bucket)}}) {
                // Each owner's keys reach both ends of the table: its lowest and its highest
                // 1/4096 (about 12 keys each an owner expects there).
                std::vector<uint32_t> lowest(owners, UINT32_MAX), highest(owners, 0);
                for (uint64_t h : hashes) {
                    lowest[owner(h)] = std::min(lowest[owner(h)], bucket_of(h, buckets));
                    highest[owner(h)] = std::max(highest[owner(h)], bucket_of(h, buckets));
                }
                for (unsigned w = 0; w < owners; ++w) {
                    EXPECT_LT(lowest[w], buckets / 4096 + 1) << what << ", " << name << ", " << w;
                    EXPECT_GE(highest[w], buckets - buckets / 4096 - 1)
                        << what << ", " << name << ", " << w;
                }
                // And evenly: which sixteenth of the table, and the bucket's number modulo 16.
                expect_independent(
                    hashes, what + ", " + name + " sixteenths", owners, owner, 16, [=](uint64_t h) {
                        return static_cast<uint32_t>(uint64_t{bucket_of(h, buckets)} * 16 /
                                                     buckets);
                    });
                expect_independent(hashes, what + ", " + name + " modulo 16", owners, owner, 16,
                                   [=](uint64_t h) { return bucket_of(h, buckets) % 16; });
            }
        }
    }
}

TEST(FlowHashBits, SignatureIsIndependentOfOwnerAndBucket) {
    const std::vector<uint64_t> hashes = hashes_of_many_keys();
    for (unsigned shift : {0u, 8u, 16u, 20u}) {
        auto signature = [=](uint64_t h) { return FlowTable::signature(h) >> shift & 15; };
        for (unsigned owners = 2; owners <= 4; ++owners) {
            expect_independent(
                hashes, std::to_string(owners) + " owners, signature bits " + std::to_string(shift),
                owners, [owners](uint64_t h) { return FlowTable::owner_of(h, owners); }, 16,
                signature);
        }
        // Within a bucket the signature must still tell flows apart.
        // The bucket's number modulo 16, its second byte's low bits, and its sixteenth.
        for (uint32_t buckets : {1u << 21, 51579u}) {
            for (uint32_t divisor : {1u, 256u, buckets / 16}) {
                expect_independent(
                    hashes,
                    std::to_string(buckets) + " buckets / " + std::to_string(divisor) +
                        " modulo 16, signature bits " + std::to_string(shift),
                    16,
                    [=](uint64_t h) {
                        return FlowTable::primary_bucket(h, buckets) / divisor % 16;
                    },
                    16, signature);
            }
        }
    }
    // A signature does not pick the secondary bucket by itself: flows with one signature and
    // different primaries have their secondaries all over the table (otherwise the flows living in
    // a bucket as their secondary would share a few signature values, and collide on them).
    for (uint32_t buckets : {1u << 17, 51579u}) {
        std::set<uint32_t> secondaries;
        std::mt19937_64 random(11);
        const uint64_t one_signature = uint64_t{0xABCDEF} << FlowTable::signature_shift;
        for (int i = 0; i < 1000; ++i) {
            const uint64_t h = one_signature | (random() & ((uint64_t{1} << 28) - 1));
            secondaries.insert(FlowTable::secondary_bucket(h, buckets));
        }
        EXPECT_GT(secondaries.size(), 900u) << buckets;
    }
    // The two buckets of a flow are independent choices.
    for (uint32_t buckets : {1u << 21, 51579u}) {
        auto sixteenth = [=](uint32_t bucket) {
            return static_cast<uint32_t>(uint64_t{bucket} * 16 / buckets);
        };
        expect_independent(
            hashes, "primary and secondary of " + std::to_string(buckets), 16,
            [=](uint64_t h) { return sixteenth(FlowTable::primary_bucket(h, buckets)); }, 16,
            [=](uint64_t h) { return sixteenth(FlowTable::secondary_bucket(h, buckets)); });
    }
}

// --- The symmetric RSS key (issue #8): as long as the device asks, symmetric at every length. ---

// Toeplitz as a NIC computes it: each set input bit, from the most significant, XORs in the 32 key
// bits starting at that bit's position.
uint32_t toeplitz(const uint8_t* key, size_t key_length, const std::vector<uint8_t>& input) {
    uint64_t window = 0;  // the next 64 key bits; the high 32 are the current window
    size_t next = 0;
    for (; next < 8; ++next)
        window = window << 8 | (next < key_length ? key[next] : 0);
    uint32_t result = 0;
    for (uint8_t byte : input) {
        for (int bit = 7; bit >= 0; --bit) {
            if (byte >> bit & 1) result ^= static_cast<uint32_t>(window >> 32);
            window <<= 1;
        }
        window |= next < key_length ? key[next] : 0;
        ++next;
    }
    return result;
}

// The IPv4 TCP input: source address, destination address, source port, destination port.
std::vector<uint8_t> tcp4_input(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport) {
    return {uint8_t(src >> 24),  uint8_t(src >> 16), uint8_t(src >> 8),   uint8_t(src),
            uint8_t(dst >> 24),  uint8_t(dst >> 16), uint8_t(dst >> 8),   uint8_t(dst),
            uint8_t(sport >> 8), uint8_t(sport),     uint8_t(dport >> 8), uint8_t(dport)};
}

// The verification key and first IPv4 example of Microsoft's RSS documentation ("Verifying the
// RSS Hash Calculation"): the software Toeplitz above is the one NICs implement.
constexpr uint8_t microsoft_rss_key[40] = {
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3,
    0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3,
    0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa};

TEST(SymmetricRss, SoftwareToeplitzMatchesTheReferenceExample) {
    // 66.9.149.187:2794 -> 161.142.100.80:1766
    std::vector<uint8_t> input = tcp4_input(0x420995bb, 0xa18e6450, 2794, 1766);
    EXPECT_EQ(toeplitz(microsoft_rss_key, sizeof(microsoft_rss_key), input), 0x51ccc178u);
}

TEST(SymmetricRss, KeyHasTheLengthTheDeviceAsksFor) {
    for (size_t length : {size_t{40}, size_t{52}, size_t{128}, size_t{1}, RssKey::max_length}) {
        RssKey key = symmetric_rss_key(length);
        EXPECT_EQ(key.length, length);
        for (size_t i = 0; i < length; ++i)
            ASSERT_EQ(key.bytes[i], i % 2 == 0 ? 0x6d : 0x5a) << "byte " << i << " of " << length;
    }
    EXPECT_THROW(symmetric_rss_key(0), std::invalid_argument);
    EXPECT_THROW(symmetric_rss_key(256), std::invalid_argument);
}

TEST(SymmetricRss, BothDirectionsHashAlike) {
    std::mt19937_64 random(11);
    for (size_t length : {size_t{40}, size_t{52}, size_t{128}}) {
        RssKey key = symmetric_rss_key(length);
        for (int i = 0; i < 10000; ++i) {
            auto src = static_cast<uint32_t>(random()), dst = static_cast<uint32_t>(random());
            auto sport = static_cast<uint16_t>(random()), dport = static_cast<uint16_t>(random());
            ASSERT_EQ(toeplitz(key.bytes.data(), key.length, tcp4_input(src, dst, sport, dport)),
                      toeplitz(key.bytes.data(), key.length, tcp4_input(dst, src, dport, sport)))
                << length << "-byte key";
        }
    }
    // The check has teeth: an ordinary key does not hash both directions alike.
    std::vector<uint8_t> forward = tcp4_input(0x420995bb, 0xa18e6450, 2794, 1766);
    std::vector<uint8_t> backward = tcp4_input(0xa18e6450, 0x420995bb, 1766, 2794);
    EXPECT_NE(toeplitz(microsoft_rss_key, sizeof(microsoft_rss_key), forward),
              toeplitz(microsoft_rss_key, sizeof(microsoft_rss_key), backward));
}

}  // namespace
}  // namespace rstscope
