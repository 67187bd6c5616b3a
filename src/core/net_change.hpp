// Lock mode's change of one key in a transaction, and of each of its
// subtransactions' parts (src/pg/pending_subxact_parts.cpp): only the net of
// what was consumed and released is kept.  The key's usage is the usage the
// transaction started from plus the net, within [0, bigint max] after every
// change, so the net fits in an int64 (it is above INT64_MIN), while the two
// sums apart may not: a transaction giving back the maximum, then consuming
// 1 and giving it back, must commit, as a release never raises usage
// (regress 04_transactions; unit NetChange tests).  The net is kept as
// consumed or as released, the other 0, in the two fields shared-memory
// mode keeps its sums in.
#pragma once

#include <cstdint>

namespace zechat::billing {

// The net of a change kept as consumed and released.
int64_t net_change(int64_t consumed, int64_t released) noexcept;

// Keeps `net` (above INT64_MIN) as consumed when it is positive, as
// released when it is negative, the other 0.
void set_net_change(int64_t* consumed, int64_t* released, int64_t net) noexcept;

// The net of consumed and released plus `delta`, in *net; false when it
// does not fit in an int64 (*net is then meaningless).
bool add_to_net_change(int64_t consumed, int64_t released, int64_t delta, int64_t* net) noexcept;

} // namespace zechat::billing
