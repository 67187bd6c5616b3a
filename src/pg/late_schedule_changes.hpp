// Schedule changes whose transaction's period has ended: refused where
// usage counts in a later period.
//
// A schedule change goes by its transaction's now(), as consumption does,
// and so takes the tenant's period at that moment, under the old schedule,
// for the current one: it closes the periods before it and carries that
// period's usage to the new schedule.  Once that period has ended, before
// the change commits, consumers that began since count in a later period,
// which the change neither closes nor carries; committed after the change,
// their usage lands outside the new schedule's periods, and the new
// schedule's period admits its limit again (until 2026-12-07, both modes:
// 10 of 5).  So the change is refused (55000) where such usage is there:
// committed, when it runs (_close_past_periods, in SQL), and committed or
// in flight just before it commits (the check noted here), for a change
// that ran while its period lasted and committed after its end (a
// transaction left open, or an edit of a plan's interval over thousands of
// subscribers).  That check first claims the tenant's keys of the old
// schedule's later periods, as a change claims those it moves: a consumer
// coming later waits for the change and decides again under the new
// schedule.  Also while the change's period lasts: a COMMIT begun before
// its end may be visible only after it.  A transaction that changed a
// schedule cannot be prepared (0A000): nothing would check it at COMMIT
// PREPARED.
//
// Only the periods up to the one after the clock's at the last claim are
// claimed: a first consumption in a period beginning later still, before
// the commit is visible, is not seen (README, known limit).
#pragma once

#include "pg_headers.hpp"

namespace zechat::billing::pg {

// 55000 for a change that claimed the tenant's key of `resource` in its
// period under the old schedule (to move its usage, or keep it where the
// new schedule's period starts too) only after the end of the new
// schedule's period at the transaction's now(), and found usage there:
// what was counted after that end belongs to a later period of the new
// schedule, and went to the ended one (move_usage).
[[noreturn]] void refuse_usage_past_new_period(const char* tenant_id, const char* resource);

// Registers the transaction callbacks of the check before commit; called
// from _PG_init.
void register_late_schedule_change_callbacks();

} // namespace zechat::billing::pg
