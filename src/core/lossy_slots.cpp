#include "lossy_slots.hpp"

#include <cstring>

#include "key_hash.hpp"
#include "no_postgres.hpp"

namespace zechat::billing {

namespace {

constexpr std::size_t slots_offset = 64;
static_assert(sizeof(LossySlotsHeader) <= slots_offset, "header must fit before the slots");

// Each slot: an 8-byte occupied flag, the key, the value.
constexpr std::size_t flag_size = 8;

uint32_t slot_size_for(uint32_t key_size, uint32_t value_size) noexcept
{
    return static_cast<uint32_t>(flag_size) + key_size + value_size;
}

} // namespace

std::size_t LossySlots::bytes_for(uint32_t slots, uint32_t key_size, uint32_t value_size) noexcept
{
    return slots_offset + static_cast<std::size_t>(slots) * slot_size_for(key_size, value_size);
}

LossySlots* LossySlots::format(void* block, uint32_t slots, uint32_t key_size,
                               uint32_t value_size) noexcept
{
    std::memset(block, 0, bytes_for(slots, key_size, value_size));
    auto* table = static_cast<LossySlots*>(block);
    table->header_.slots = slots;
    table->header_.key_size = key_size;
    table->header_.value_size = value_size;
    table->header_.slot_size = slot_size_for(key_size, value_size);
    return table;
}

LossySlots* LossySlots::attach(void* block) noexcept
{
    return static_cast<LossySlots*>(block);
}

unsigned char* LossySlots::slot_at(uint32_t slot) noexcept
{
    return reinterpret_cast<unsigned char*>(this) + slots_offset +
           static_cast<std::size_t>(slot) * header_.slot_size;
}

const unsigned char* LossySlots::slot_at(uint32_t slot) const noexcept
{
    return reinterpret_cast<const unsigned char*>(this) + slots_offset +
           static_cast<std::size_t>(slot) * header_.slot_size;
}

uint32_t LossySlots::slot_of(const void* key) const noexcept
{
    return hash_key_words(key, header_.key_size) % header_.slots;
}

bool LossySlots::read(uint32_t slot, const void* key, void* value) const noexcept
{
    const unsigned char* place = slot_at(slot);
    uint64_t occupied;
    std::memcpy(&occupied, place, sizeof occupied);
    if (occupied == 0 || std::memcmp(place + flag_size, key, header_.key_size) != 0)
        return false;
    std::memcpy(value, place + flag_size + header_.key_size, header_.value_size);
    return true;
}

void LossySlots::write(uint32_t slot, const void* key, const void* value) noexcept
{
    unsigned char* place = slot_at(slot);
    const uint64_t occupied = 1;
    std::memcpy(place, &occupied, sizeof occupied);
    std::memcpy(place + flag_size, key, header_.key_size);
    std::memcpy(place + flag_size + header_.key_size, value, header_.value_size);
}

void LossySlots::erase(uint32_t slot, const void* key) noexcept
{
    unsigned char* place = slot_at(slot);
    if (std::memcmp(place + flag_size, key, header_.key_size) == 0)
        std::memset(place, 0, flag_size);
}

} // namespace zechat::billing
