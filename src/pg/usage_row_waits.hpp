// Administrative corrections of usage -- recount(), the backfill of
// enforce_quota and the take-back of unenforce_quota -- lock their enforced
// tables first, then set usage.  In lock mode setting a key's usage locks
// its usage row, which a writer may hold before it writes one of those
// tables (it called consume_quota first, or wrote another table enforcing
// the gauge): each would wait for the other, and one be rolled back
// (40P01).  So while their counting statement runs (called with
// refuse_usage_row_waits), a usage row another transaction holds is not
// waited for: 55P03 at once, the key noted.  Their SQL then gives back all
// it took (the block's subtransaction ends), waits for that row with none of
// their tables held (billing._wait_for_refused_usage_row), and starts
// again.
#pragma once

#include "tenant_terms.hpp"

namespace zechat::billing::pg {

// On from the start of a counting statement that refuses to wait (any key
// refused before is forgotten) to its end, error or not.
void set_usage_row_waits_refused(bool refused);
bool usage_row_waits_refused();

// 55P03 for the key, which is noted refused; `holder`, when valid, is the
// transaction holding it (one that inserts the row: nothing to lock until
// it ends).
[[noreturn]] void refuse_usage_row_wait(const QuotaKey& key, TimestampTz period_start,
                                        TransactionId holder);

// Notes the key refused, for a 55P03 its row lock raised itself.  Only a
// key so refused is waited for: one noted before its lock was tried, and
// left so by another error (a cancel meanwhile), would make a later
// lock_timeout of the same caller look like a refusal, be waited for once
// more and be reported on the wrong row.
void note_refused_usage_row(const QuotaKey& key, TimestampTz period_start);

} // namespace zechat::billing::pg
