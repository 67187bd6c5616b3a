// The lossy slot table behind shared-memory mode's shared hints
// (src/core/lossy_slots): a key is found only in its own slot, with the
// value last written for it; a colliding key replaces it; nothing else is
// ever returned for a key.
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "lossy_slots.hpp"
#include "tenant_key.hpp"

using namespace zechat::billing;

namespace {

struct Key {
    char tenant_id[tenant_id_field_bytes];
    char resource[resource_field_bytes];
};

struct Value {
    int64_t a;
    int64_t b;
};

Key key_of(const std::string& tenant, const std::string& resource = "messages")
{
    Key key;
    std::memset(&key, 0, sizeof key);
    std::memcpy(key.tenant_id, tenant.data(), tenant.size());
    std::memcpy(key.resource, resource.data(), resource.size());
    return key;
}

struct Table {
    explicit Table(uint32_t slots)
        : block(LossySlots::bytes_for(slots, sizeof(Key), sizeof(Value)) / 8 + 1),
          slots(LossySlots::format(block.data(), slots, sizeof(Key), sizeof(Value)))
    {
    }
    bool read(const Key& key, Value* value) const
    {
        return slots->read(slots->slot_of(&key), &key, value);
    }
    void write(const Key& key, const Value& value)
    {
        slots->write(slots->slot_of(&key), &key, &value);
    }
    std::vector<uint64_t> block; // 8-byte aligned, as shared memory is
    LossySlots* slots;
};

} // namespace

TEST(LossySlots, EmptyTableFindsNothing)
{
    Table table(16);
    Value value{};
    EXPECT_FALSE(table.read(key_of("acme"), &value));
}

TEST(LossySlots, FindsTheValueLastWrittenForTheKey)
{
    Table table(16);
    table.write(key_of("acme"), Value{1, 2});
    table.write(key_of("acme"), Value{3, 4});
    Value value{};
    ASSERT_TRUE(table.read(key_of("acme"), &value));
    EXPECT_EQ(value.a, 3);
    EXPECT_EQ(value.b, 4);
}

TEST(LossySlots, NeverReturnsAnotherKeysValue)
{
    // One slot: every key collides with every other.
    Table table(1);
    table.write(key_of("acme"), Value{1, 1});
    table.write(key_of("acme", "storage"), Value{2, 2});
    Value value{};
    EXPECT_FALSE(table.read(key_of("acme"), &value)) << "replaced by the colliding key";
    ASSERT_TRUE(table.read(key_of("acme", "storage"), &value));
    EXPECT_EQ(value.a, 2);
}

TEST(LossySlots, KeysThatDoNotCollideAreAllKept)
{
    Table table(4096);
    std::vector<Key> kept;
    for (int i = 0; i < 200; ++i) {
        Key key = key_of("tenant-" + std::to_string(i));
        table.write(key, Value{i, -i});
        kept.push_back(key);
    }
    int found = 0;
    for (int i = 0; i < 200; ++i) {
        Value value{};
        if (table.read(kept[i], &value)) {
            ++found;
            EXPECT_EQ(value.a, i);
            EXPECT_EQ(value.b, -i);
        }
    }
    // 200 keys in 4096 slots: a few collisions at most.
    EXPECT_GE(found, 185);
}

TEST(LossySlots, EraseEmptiesOnlyTheKeysOwnSlot)
{
    Table table(1);
    table.write(key_of("acme"), Value{1, 1});
    Key other = key_of("other");
    table.slots->erase(table.slots->slot_of(&other), &other);
    Value value{};
    EXPECT_TRUE(table.read(key_of("acme"), &value)) << "erasing another key left it alone";
    Key acme = key_of("acme");
    table.slots->erase(table.slots->slot_of(&acme), &acme);
    EXPECT_FALSE(table.read(acme, &value));
}
