// Records of items' state per open subtransaction (src/core/subxact_records):
// a subtransaction's end visits exactly the items with state of it, hands
// them to the parent or takes them back; one record per item and
// subtransaction; the leaving items are removed in the order a walk of the
// whole array would remove them.
#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "subxact_records.hpp"

using namespace zechat::billing;

namespace {

struct Item {
    int id;
    SubxactMarks subxact_marks;
    bool leaving;
};

class Records {
public:
    explicit Records(int capacity) : storage_(static_cast<std::size_t>(capacity))
    {
        records_ = SubxactRecords<Item>{storage_.data(), 0, capacity};
    }
    SubxactRecords<Item>* operator->() { return &records_; }

    // (subxact, item id) of every record, in order.
    std::vector<std::pair<uint32_t, int>> pairs() const
    {
        std::vector<std::pair<uint32_t, int>> out;
        for (int i = 0; i < records_.total; ++i)
            out.emplace_back(records_.records[i].subxact, records_.records[i].item->id);
        return out;
    }

private:
    std::vector<SubxactRecord<Item>> storage_;
    SubxactRecords<Item> records_;
};

Item make_item(int id)
{
    return Item{id, SubxactMarks{no_subxact, 0}, false};
}

using Pairs = std::vector<std::pair<uint32_t, int>>;

} // namespace

TEST(SubxactRecords, OneRecordPerItemAndSubtransactionNoneForTheTopLevel)
{
    Records records(8);
    Item a = make_item(1);
    records->note(&a, top_subxact);
    records->note(&a, 2);
    records->note(&a, 2);
    records->note(&a, 3);
    records->note(&a, 3);
    EXPECT_EQ(records.pairs(), (Pairs{{2, 1}, {3, 1}}));
    EXPECT_EQ(a.subxact_marks.newest, 3u);
    EXPECT_EQ(a.subxact_marks.count, 2);
}

TEST(SubxactRecords, CommitHandsOnlyItsItemsToTheParentWithoutDuplicates)
{
    Records records(8);
    Item a = make_item(1), b = make_item(2), c = make_item(3);
    records->note(&a, 2); // a in 2 and 3; b in 3 only; c in 2 only
    records->note(&c, 2);
    records->note(&a, 3);
    records->note(&b, 3);
    std::vector<int> handed;
    records->commit(3, 2, [&](Item* item) { handed.push_back(item->id); });
    EXPECT_EQ(handed, (std::vector<int>{1, 2}));
    EXPECT_EQ(records.pairs(), (Pairs{{2, 1}, {2, 3}, {2, 2}}));
    EXPECT_EQ(a.subxact_marks.count, 1);
    EXPECT_EQ(b.subxact_marks.newest, 2u);
    handed.clear();
    records->commit(2, top_subxact, [&](Item* item) { handed.push_back(item->id); });
    EXPECT_EQ(handed, (std::vector<int>{1, 3, 2}));
    EXPECT_TRUE(records.pairs().empty());
    EXPECT_EQ(a.subxact_marks.newest, no_subxact);
    EXPECT_EQ(a.subxact_marks.count, 0);
}

TEST(SubxactRecords, AbortTakesBackOnlyItsItemsAndForgetsLeavingOnesEverywhere)
{
    Records records(8);
    Item a = make_item(1), b = make_item(2), c = make_item(3);
    records->note(&a, 2);
    records->note(&b, 2);
    records->note(&a, 3);
    records->note(&c, 3);
    std::vector<int> taken;
    int leaving = records->abort(3, [&](Item* item) {
        taken.push_back(item->id);
        return item->id == 1; // a leaves, with its record of 2
    });
    EXPECT_EQ(taken, (std::vector<int>{1, 3}));
    ASSERT_EQ(leaving, 1);
    EXPECT_EQ(records->records[records->total].item, &a);
    EXPECT_EQ(records.pairs(), (Pairs{{2, 2}}));
    EXPECT_TRUE(a.leaving);
    EXPECT_FALSE(c.leaving);
    EXPECT_EQ(c.subxact_marks.count, 0);
}

TEST(SubxactRecords, ARecordOfAnOlderOpenSubtransactionGoesInItsPlace)
{
    Records records(8);
    Item a = make_item(1), b = make_item(2);
    records->note(&b, 2);
    records->note(&a, 4);
    records->note(&b, 4);
    records->note(&a, 2); // an older open subtransaction
    records->note(&a, 2);
    EXPECT_EQ(records.pairs(), (Pairs{{2, 2}, {2, 1}, {4, 1}, {4, 2}}));
    EXPECT_EQ(a.subxact_marks.newest, 4u);
    // 4 commits into 2: both items have a record of 2 already.
    std::vector<int> handed;
    records->commit(4, 2, [&](Item* item) { handed.push_back(item->id); });
    EXPECT_EQ(handed, (std::vector<int>{1, 2}));
    EXPECT_EQ(records.pairs(), (Pairs{{2, 2}, {2, 1}}));
    EXPECT_EQ(a.subxact_marks.count, 1);
    EXPECT_EQ(a.subxact_marks.newest, 2u);
}

// Random nests of subtransactions against a model: the set of open
// subtransactions each item has state in.
TEST(SubxactRecords, MatchesAModelOverRandomNests)
{
    std::mt19937 random(42);
    constexpr int item_count = 12;
    for (int round = 0; round < 200; ++round) {
        Records records(4096);
        std::vector<Item> items;
        for (int i = 0; i < item_count; ++i)
            items.push_back(make_item(i));
        std::vector<uint32_t> open{top_subxact};
        uint32_t next_id = 2;
        std::map<int, std::set<uint32_t>> model; // item -> subtransactions with state
        std::set<int> gone;
        for (int step = 0; step < 300; ++step) {
            int op = static_cast<int>(random() % 10);
            if (op < 3) {
                open.push_back(next_id++);
            } else if (op < 7) {
                int id = static_cast<int>(random() % item_count);
                if (gone.count(id))
                    continue;
                // Mostly the current subtransaction, sometimes an older open one.
                uint32_t subxact = random() % 4 == 0 ? open[random() % open.size()] : open.back();
                records->note(&items[static_cast<std::size_t>(id)], subxact);
                if (subxact != top_subxact)
                    model[id].insert(subxact);
            } else if (open.size() > 1) {
                uint32_t ending = open.back();
                open.pop_back();
                uint32_t parent = open.back();
                std::set<int> expected;
                for (auto& [id, subxacts] : model)
                    if (subxacts.count(ending))
                        expected.insert(id);
                std::set<int> visited;
                if (op < 9) {
                    records->commit(ending, parent, [&](Item* item) {
                        EXPECT_TRUE(visited.insert(item->id).second);
                    });
                    for (int id : expected) {
                        model[id].erase(ending);
                        if (parent != top_subxact)
                            model[id].insert(parent);
                    }
                } else {
                    std::set<int> leaving_ids;
                    int leaving = records->abort(ending, [&](Item* item) {
                        EXPECT_TRUE(visited.insert(item->id).second);
                        bool leaves = random() % 3 == 0;
                        if (leaves)
                            leaving_ids.insert(item->id);
                        return leaves;
                    });
                    EXPECT_EQ(leaving, static_cast<int>(leaving_ids.size()));
                    for (int id : expected)
                        model[id].erase(ending);
                    for (int id : leaving_ids) {
                        model.erase(id);
                        gone.insert(id);
                    }
                }
                EXPECT_EQ(visited, expected);
            }
            // The records are the model, in order, one per pair.
            std::set<std::pair<uint32_t, int>> from_model;
            for (auto& [id, subxacts] : model)
                for (uint32_t subxact : subxacts)
                    from_model.insert({subxact, id});
            Pairs pairs = records.pairs();
            ASSERT_TRUE(std::is_sorted(pairs.begin(), pairs.end(),
                                       [](auto& x, auto& y) { return x.first < y.first; }));
            std::set<std::pair<uint32_t, int>> from_records(pairs.begin(), pairs.end());
            ASSERT_EQ(from_records, from_model);
            ASSERT_EQ(pairs.size(), from_model.size());
            for (int id = 0; id < item_count; ++id) {
                if (gone.count(id))
                    continue;
                const SubxactMarks& marks = items[static_cast<std::size_t>(id)].subxact_marks;
                const std::set<uint32_t>& subxacts = model[id];
                ASSERT_EQ(marks.count, static_cast<int32_t>(subxacts.size()));
                ASSERT_EQ(marks.newest, subxacts.empty() ? no_subxact : *subxacts.rbegin());
            }
        }
    }
}

// The array removes by moving its last item into the emptied place; the
// leaving items go as a walk from the start would take them.
TEST(SubxactRecords, LeavingItemsGoInTheOrderOfAWalk)
{
    std::mt19937 random(7);
    for (int round = 0; round < 500; ++round) {
        int size = 1 + static_cast<int>(random() % 40);
        std::vector<Item> items;
        for (int i = 0; i < size; ++i)
            items.push_back(make_item(i));
        for (Item& item : items)
            item.leaving = random() % 3 == 0;
        std::vector<Item*> walked;
        for (Item& item : items)
            walked.push_back(&item);
        std::vector<Item*> removed = walked;
        // The walk of every item.
        for (std::size_t i = 0; i < walked.size();) {
            if (walked[i]->leaving) {
                walked[i] = walked.back();
                walked.pop_back();
            } else {
                ++i;
            }
        }
        // The leaving items only, in any order, by place.
        std::vector<SubxactRecord<Item>> leave;
        for (Item& item : items)
            if (item.leaving)
                leave.push_back(SubxactRecord<Item>{&item, 2, no_subxact});
        std::shuffle(leave.begin(), leave.end(), random);
        std::map<const Item*, int> place;
        for (std::size_t i = 0; i < removed.size(); ++i)
            place[removed[i]] = static_cast<int>(i);
        remove_in_walk_order(
            leave.data(), static_cast<int>(leave.size()),
            [&](const Item* item) { return place.at(item); },
            [&](int i) {
                place.erase(removed[static_cast<std::size_t>(i)]);
                removed[static_cast<std::size_t>(i)] = removed.back();
                removed.pop_back();
                if (static_cast<std::size_t>(i) < removed.size())
                    place[removed[static_cast<std::size_t>(i)]] = i;
            },
            [&](int i) { return removed[static_cast<std::size_t>(i)]->leaving; },
            [&] { return static_cast<int>(removed.size()); });
        ASSERT_EQ(removed, walked);
    }
}
