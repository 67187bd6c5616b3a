#include "net_change.hpp"

#include "no_postgres.hpp"

namespace zechat::billing {

int64_t net_change(int64_t consumed, int64_t released) noexcept
{
    return consumed - released;
}

void set_net_change(int64_t* consumed, int64_t* released, int64_t net) noexcept
{
    *consumed = net > 0 ? net : 0;
    *released = net < 0 ? -net : 0;
}

bool add_to_net_change(int64_t consumed, int64_t released, int64_t delta, int64_t* net) noexcept
{
    return !__builtin_add_overflow(net_change(consumed, released), delta, net);
}

} // namespace zechat::billing
