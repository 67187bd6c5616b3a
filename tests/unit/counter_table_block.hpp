// A counter table laid out on a plain, 8-byte aligned block of memory, for
// the unit tests of the table and of its carries.
#pragma once

#include <cstdint>
#include <vector>

#include "counter_table.hpp"

class CounterTableBlock {
public:
    explicit CounterTableBlock(uint32_t capacity)
        : bytes_(zechat::billing::CounterTable::bytes_for(capacity) / 8 + 1)
    {
        table_ = zechat::billing::CounterTable::format(bytes_.data(), capacity);
    }
    zechat::billing::CounterTable* operator->() { return table_; }
    zechat::billing::CounterTable* get() { return table_; }

private:
    std::vector<uint64_t> bytes_; // 8-byte aligned
    zechat::billing::CounterTable* table_;
};
