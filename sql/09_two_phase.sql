-- Two-phase commit.  Lock mode keeps a consumption until COMMIT PREPARED.
-- Shared-memory mode refuses to prepare a transaction with a change in
-- flight: a prepared transaction would hold a reservation that no session
-- settles (expected_shared_memory/09_two_phase.out).
SELECT current_setting('zechat_billing.max_counters', true) IS NOT NULL AS shared_memory_mode;
INSERT INTO billing.plans (plan_id, name) VALUES ('tp_plan', 'Two-phase');
INSERT INTO billing.plan_limits VALUES ('tp_plan', 'storage', 100);
SELECT billing.subscribe('tp_acme', 'tp_plan');

BEGIN;
SELECT billing.consume_quota('tp_acme', 'storage', 5);
PREPARE TRANSACTION 'tp_consumed';
COMMIT PREPARED 'tp_consumed';
SELECT used FROM billing.tenant_usage('tp_acme') WHERE resource = 'storage';
-- Nothing is left reserved (the view is empty in lock mode).
SELECT committed, reserved, releasing FROM billing.counters WHERE tenant_id = 'tp_acme';

-- A transaction that only read, or whose change was rolled back to a
-- savepoint, prepares in both modes.
BEGIN;
SAVEPOINT s;
SELECT billing.consume_quota('tp_acme', 'storage', 7);
ROLLBACK TO SAVEPOINT s;
SELECT billing.check_quota('tp_acme', 'storage', 95);
PREPARE TRANSACTION 'tp_nothing';
COMMIT PREPARED 'tp_nothing';
SELECT used FROM billing.tenant_usage('tp_acme') WHERE resource = 'storage';
SELECT committed, reserved, releasing FROM billing.counters WHERE tenant_id = 'tp_acme';

-- A row that INSERT ... ON CONFLICT skipped (exact_on_conflict) is no
-- change to hold: such a transaction prepares in both modes,
-- and counts nothing.
CREATE TABLE tp_files (id int PRIMARY KEY, tenant_id text NOT NULL, bytes int NOT NULL);
SELECT billing.enforce_quota('tp_files', 'storage', amount_column => 'bytes');
SELECT billing.exact_on_conflict('tp_files');
INSERT INTO tp_files VALUES (1, 'tp_acme', 10);
BEGIN;
INSERT INTO tp_files VALUES (1, 'tp_acme', 10) ON CONFLICT DO NOTHING;
PREPARE TRANSACTION 'tp_skipped';
COMMIT PREPARED 'tp_skipped';
SELECT used FROM billing.tenant_usage('tp_acme') WHERE resource = 'storage';
SELECT committed, reserved, releasing FROM billing.counters WHERE tenant_id = 'tp_acme';
DROP TABLE tp_files;

-- A change of the tenant's billing period (its second month moves into
-- its first year) moves its usage.  It is not prepared, in either mode: it
-- is checked again at COMMIT for usage in periods after the one at its
-- now() (late_schedule_changes.hpp), and nothing would check it at COMMIT
-- PREPARED (until 2026-12-07 lock mode prepared it, and a consumer of the
-- next period meanwhile went uncounted after COMMIT PREPARED: 10 of 5, a
-- helper's attack).  That refusal comes first in both modes (since
-- 2026-12-07); behind it, shared-memory mode refuses too: it records the
-- move of each key without a counter (tp_mover has no messages yet) until
-- the transaction ends.  Rolled back to a savepoint, the move prepares in
-- both modes.
INSERT INTO billing.plans (plan_id, name, billing_interval) VALUES ('tp_yearly', 'Two-phase yearly', '1 year');
SELECT billing.subscribe('tp_mover', 'tp_plan', now() - interval '40 days');
BEGIN;
SAVEPOINT s;
SELECT billing.subscribe('tp_mover', 'tp_yearly');
ROLLBACK TO SAVEPOINT s;
PREPARE TRANSACTION 'tp_move_undone';
COMMIT PREPARED 'tp_move_undone';
BEGIN;
SELECT billing.subscribe('tp_mover', 'tp_yearly');
PREPARE TRANSACTION 'tp_move';
COMMIT PREPARED 'tp_move';
SELECT plan_id FROM billing.subscriptions WHERE tenant_id = 'tp_mover';
-- So it is for a key with a counter (a consumption rolled back placed it,
-- with no usage): in shared-memory mode the move marks the counter, which
-- a restart while the transaction is prepared would drop (2026-12-04: that
-- move prepared, and after a restart a consumer counted in the old period
-- what the move left behind).
INSERT INTO billing.plan_limits VALUES ('tp_plan', 'messages', 10);
SELECT billing.subscribe('tp_counted_mover', 'tp_plan', now() - interval '40 days');
BEGIN;
SELECT billing.consume_quota('tp_counted_mover', 'messages', 1);
ROLLBACK;
BEGIN;
SAVEPOINT s;
SELECT billing.subscribe('tp_counted_mover', 'tp_yearly');
ROLLBACK TO SAVEPOINT s;
PREPARE TRANSACTION 'tp_counted_move_undone';
COMMIT PREPARED 'tp_counted_move_undone';
BEGIN;
SELECT billing.subscribe('tp_counted_mover', 'tp_yearly');
PREPARE TRANSACTION 'tp_counted_move';
COMMIT PREPARED 'tp_counted_move';
SELECT plan_id FROM billing.subscriptions WHERE tenant_id = 'tp_counted_mover';

-- Alerts a prepared consumption crosses (lock mode) are recorded with it,
-- without NOTIFY (a prepared transaction cannot send one), and commit with
-- COMMIT PREPARED.  Until 2026-12-05 none was: the thresholds it passed were
-- never alerted in that period.
SELECT billing.subscribe('tp_alerted', 'tp_plan');
BEGIN;
SELECT billing.consume_quota('tp_alerted', 'storage', 85);
PREPARE TRANSACTION 'tp_alerting';
SELECT count(*) AS alerts_before_commit FROM billing.alerts WHERE tenant_id = 'tp_alerted';
COMMIT PREPARED 'tp_alerting';
SELECT threshold, used, hard_limit FROM billing.alerts WHERE tenant_id = 'tp_alerted' ORDER BY threshold;
BEGIN;
SELECT billing.consume_quota('tp_alerted', 'storage', 10);
PREPARE TRANSACTION 'tp_alerting_undone';
ROLLBACK PREPARED 'tp_alerting_undone';
SELECT threshold, used, hard_limit FROM billing.alerts WHERE tenant_id = 'tp_alerted' ORDER BY threshold;
