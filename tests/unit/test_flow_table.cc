// Unit tests for the flow table: canonical keys (both directions meet in one entry), the two-choice
// buckets, the eviction order and slot reuse. A 16-entry table has exactly two buckets, so every
// key's two candidates are buckets 0 and 1 and "both buckets full" is "16 flows inserted".

#include <gtest/gtest.h>

#include <arpa/inet.h>

#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "rstscope/flow/flow_table.h"

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
    return flow_key_of(p, src_is_lo);
}

// Distinct flows from one client to one server, told apart by the client port.
FlowKey client_key(uint16_t client_port) {
    return key_of(segment("10.0.0.1", client_port, "10.0.0.2", 80));
}

TEST(FlowKey, BothDirectionsGiveTheSameKeyAndHash) {
    DecodedPacket forward = segment("192.0.2.10", 40000, "198.51.100.20", 443);
    DecodedPacket backward = reversed(forward);
    bool forward_lo = false, backward_lo = true;
    FlowKey a = flow_key_of(forward, forward_lo);
    FlowKey b = flow_key_of(backward, backward_lo);
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
    FlowKey a = flow_key_of(forward, forward_lo);
    FlowKey b = flow_key_of(reversed(forward), backward_lo);
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

TEST(FlowTable, CapacityRoundsUpToPowerOfTwoBuckets) {
    struct Case {
        uint32_t requested, buckets, capacity;
    };
    for (Case c : {Case{0, 2, 16}, Case{1, 2, 16}, Case{16, 2, 16}, Case{17, 4, 32},
                   Case{100, 16, 128}, Case{1024, 128, 1024}, Case{1025, 256, 2048}}) {
        FlowTable table(c.requested);
        EXPECT_EQ(table.bucket_count(), c.buckets) << c.requested;
        EXPECT_EQ(table.capacity(), c.capacity) << c.requested;
        EXPECT_EQ(table.size(), 0u);
    }
}

TEST(FlowTable, MemoryBytesCountsSignaturesAndEntries) {
    // Signatures: 4 bytes a slot, rounded up to a cache line; entries: 192 bytes each.
    EXPECT_EQ(FlowTable(16).memory_bytes(), 64u + 16u * 192u);
    EXPECT_EQ(FlowTable(32).memory_bytes(), 128u + 32u * 192u);
    EXPECT_EQ(FlowTable(128).memory_bytes(), 512u + 128u * 192u);
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

}  // namespace
}  // namespace rstscope
