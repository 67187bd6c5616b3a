-- billing.usage_history: closed billing periods of period resources in
-- which anything was consumed, with the limit as it stood when each period
-- closed.  Past periods are planted with billing._set_usage (what recount
-- uses), so the rows do not depend on when the suite runs.
SET TimeZone = 'UTC';
INSERT INTO billing.plans (plan_id, name) VALUES ('h_month', 'Monthly');
INSERT INTO billing.plans (plan_id, name, billing_interval) VALUES ('h_year', 'Yearly', '1 year');
INSERT INTO billing.plan_limits VALUES ('h_month', 'messages', 100), ('h_year', 'messages', 1000);

-- A month-end anchor: 31 January, then 29 February (2024 is a leap year),
-- then 31 March; each period starts at the anchor plus whole months.
SELECT billing.subscribe('h_eom', 'h_month', '2024-01-31 10:00+00');
SELECT billing._set_usage('h_eom', 'messages', '2024-01-31 10:00+00', 40);
SELECT billing._set_usage('h_eom', 'messages', '2024-02-29 10:00+00', 55);
SELECT billing._set_usage('h_eom', 'messages', '2024-03-31 10:00+00', 60);

-- A yearly plan anchored on a leap day.
SELECT billing.subscribe('h_leap', 'h_year', '2020-02-29 00:00+00');
SELECT billing._set_usage('h_leap', 'messages', '2020-02-29 00:00+00', 700);
SELECT billing._set_usage('h_leap', 'messages', '2021-02-28 00:00+00', 950);

-- The limit when each period closed: 100 until the limit log says it
-- became 150 on 15 March 2024, inside the second period: the first period
-- closed at 100, the second and third at 150.  Without a log entry before a
-- period's end (h_leap), the limit now is shown.
DELETE FROM billing.limit_log WHERE tenant_id IN ('h_eom', 'h_leap');
INSERT INTO billing.limit_log VALUES
    ('h_eom', 'messages', 100, '2024-01-31 10:00+00'),
    ('h_eom', 'messages', 150, '2024-03-15 00:00+00');

SELECT tenant_id, resource, period_start, period_end, used, hard_limit
  FROM billing.usage_history WHERE tenant_id LIKE 'h\_%' ORDER BY tenant_id, period_start;

-- The current period is not history.
SELECT billing.subscribe('h_now', 'h_month');
SELECT billing.consume_quota('h_now', 'messages', 3);
SELECT count(*) AS history_rows FROM billing.usage_history WHERE tenant_id = 'h_now';

-- Periods are instants: the same rows seen from another time zone.
SET TimeZone = 'America/Sao_Paulo';
SELECT tenant_id, period_start, period_end, used
  FROM billing.usage_history WHERE tenant_id = 'h_eom' ORDER BY period_start;
SET TimeZone = 'UTC';

-- Limit changes are logged as they happen: a plan edit logs its
-- subscribers' new limit, an override logs the tenant's.
SELECT billing.subscribe('h_log', 'h_month');
UPDATE billing.plan_limits SET hard_limit = 120 WHERE plan_id = 'h_month' AND resource = 'messages';
INSERT INTO billing.limit_overrides VALUES ('h_log', 'messages', NULL);
DELETE FROM billing.limit_overrides WHERE tenant_id = 'h_log';
SELECT resource, coalesce(hard_limit::text, 'unlimited') AS hard_limit
  FROM billing.limit_log WHERE tenant_id = 'h_log' ORDER BY logged_at, hard_limit NULLS LAST;
-- An unlimited limit is logged once, not again at every change of the
-- plan's other limits (2026-12-04: it was, one row per subscriber each time).
INSERT INTO billing.plans (plan_id, name) VALUES ('h_unlimited', 'Unlimited');
INSERT INTO billing.plan_limits VALUES ('h_unlimited', 'messages', NULL), ('h_unlimited', 'users', 5);
SELECT billing.subscribe('h_unl', 'h_unlimited');
UPDATE billing.plan_limits SET hard_limit = 6 WHERE plan_id = 'h_unlimited' AND resource = 'users';
UPDATE billing.plan_limits SET hard_limit = 7 WHERE plan_id = 'h_unlimited' AND resource = 'users';
UPDATE billing.subscriptions SET status = 'active' WHERE tenant_id = 'h_unl';
SELECT resource, count(*) AS logged FROM billing.limit_log WHERE tenant_id = 'h_unl' GROUP BY 1;
-- A TRUNCATE of overrides or of plan limits is logged too, and a
-- transaction's changes are dated at its first change, not at its start,
-- once each, with the limit it leaves (2026-12-04: a TRUNCATE went unlogged,
-- and a change was dated at its transaction's start, maybe in a period that
-- ended before it).
BEGIN;
INSERT INTO billing.limit_overrides VALUES ('h_log', 'messages', 500);
TRUNCATE billing.limit_overrides;
TRUNCATE billing.plan_limits;
SELECT coalesce(hard_limit::text, 'unlimited') AS hard_limit, logged_at > now() AS after_begin
  FROM billing.limit_log WHERE tenant_id = 'h_log' AND logged_at >= now() ORDER BY logged_at;
ROLLBACK;
-- Dated alike whatever the session's DateStyle and TimeZone: 'SQL' style
-- writes Shanghai's time with the zone 'CST', which reads back as US
-- Central, 14 hours later (until 2026-12-05 such a change was logged 14
-- hours ahead, and usage_history showed it for periods before it).
BEGIN;
SET LOCAL TimeZone = 'Asia/Shanghai';
SET LOCAL DateStyle = 'SQL, DMY';
INSERT INTO billing.limit_overrides VALUES ('h_log', 'messages', 600);
SELECT hard_limit, logged_at - now() < interval '1 minute' AS dated_now
  FROM billing.limit_log WHERE tenant_id = 'h_log' AND logged_at >= now() ORDER BY logged_at;
ROLLBACK;
-- The time and the turn are kept where no role can set them: until
-- 2026-12-06 they were custom settings, and a role allowed to edit limits
-- set the time to date its change in a closed period (usage_history then
-- showed the new limit there), or marked the turn taken to log without
-- waiting (a helper's hunt).  Also across savepoints: a turn rolled back
-- with its savepoint is taken again.
BEGIN;
SET LOCAL zechat_billing_limit_log.at = '2000-01-01 00:00:00+00';
SET LOCAL zechat_billing_limit_log.turn = 'taken';
SELECT turns AS turns_before FROM billing.limit_log_turn \gset
INSERT INTO billing.limit_overrides VALUES ('h_log', 'messages', 650);
SELECT hard_limit, logged_at >= now() AS dated_in_this_transaction
  FROM billing.limit_log WHERE tenant_id = 'h_log' AND hard_limit = 650;
SAVEPOINT turn_taken;
DELETE FROM billing.limit_overrides WHERE tenant_id = 'h_log';
ROLLBACK TO turn_taken;
SELECT turns - :turns_before AS turns_taken FROM billing.limit_log_turn;
ROLLBACK;
BEGIN;
SELECT turns AS turns_before FROM billing.limit_log_turn \gset
SAVEPOINT first_change;
INSERT INTO billing.limit_overrides VALUES ('h_log', 'messages', 660);
ROLLBACK TO first_change;
INSERT INTO billing.limit_overrides VALUES ('h_log', 'messages', 670);
SELECT turns - :turns_before AS turns_taken FROM billing.limit_log_turn;
SELECT hard_limit FROM billing.limit_log WHERE tenant_id = 'h_log' AND hard_limit IN (660, 670);
ROLLBACK;
-- An override moved to another tenant logs both: the one it leaves falls
-- back to its plan's limit (until 2026-12-05 only the new one was logged,
-- and usage_history kept showing the override for the old one).
SELECT billing.subscribe('h_moved_from', 'h_month'), billing.subscribe('h_moved_to', 'h_month');
INSERT INTO billing.limit_overrides VALUES ('h_moved_from', 'messages', 700);
UPDATE billing.limit_overrides SET tenant_id = 'h_moved_to' WHERE tenant_id = 'h_moved_from';
SELECT DISTINCT ON (tenant_id) tenant_id, hard_limit
  FROM billing.limit_log WHERE tenant_id IN ('h_moved_from', 'h_moved_to') AND resource = 'messages'
 ORDER BY tenant_id, logged_at DESC;
DELETE FROM billing.limit_overrides WHERE tenant_id = 'h_moved_to';

-- A plan change to another billing interval moves the tenant into the new
-- interval's current period, and its usage with it (both ways).  The
-- closed first month (11 messages) starts where the year does: it stays
-- history, with its monthly end, and does not count again in the year.
SELECT billing.subscribe('h_switch', 'h_month', now() - interval '40 days');
SELECT billing._set_usage('h_switch', 'messages', period_anchor, 11)
  FROM billing.subscriptions WHERE tenant_id = 'h_switch';
SELECT billing.consume_quota('h_switch', 'messages', 7);
SELECT billing.subscribe('h_switch', 'h_year');
SELECT u.used, u.hard_limit, u.period_start = s.period_anchor AS yearly_period_from_anchor
  FROM billing.tenant_usage('h_switch') u, billing.subscriptions s
 WHERE u.resource = 'messages' AND s.tenant_id = 'h_switch';
SELECT h.period_start = s.period_anchor AS from_anchor,
       h.period_end = s.period_anchor + interval '1 month' AS one_month, h.used, h.hard_limit
  FROM billing.usage_history h JOIN billing.subscriptions s USING (tenant_id)
 WHERE tenant_id = 'h_switch';
SELECT billing.subscribe('h_switch', 'h_month');
SELECT used, hard_limit FROM billing.tenant_usage('h_switch') WHERE resource = 'messages';
SELECT count(*) AS history_rows, sum(used) AS history_used
  FROM billing.usage_history WHERE tenant_id = 'h_switch';
-- The same when the subscription is updated directly, and when the plan's
-- own interval is edited: every subscriber keeps its usage (they all
-- started their period again from zero before).
UPDATE billing.subscriptions SET plan_id = 'h_year' WHERE tenant_id = 'h_switch';
SELECT used, hard_limit FROM billing.tenant_usage('h_switch') WHERE resource = 'messages';
UPDATE billing.subscriptions SET plan_id = 'h_month' WHERE tenant_id = 'h_switch';
SELECT count(*) AS history_rows, sum(used) AS history_used
  FROM billing.usage_history WHERE tenant_id = 'h_switch';
INSERT INTO billing.plans (plan_id, name) VALUES ('h_edited', 'Edited');
INSERT INTO billing.plan_limits VALUES ('h_edited', 'messages', 50);
SELECT billing.subscribe(t, 'h_edited', now() - interval '40 days') FROM unnest(ARRAY['h_ed1', 'h_ed2']) t;
SELECT billing.consume_quota('h_ed1', 'messages', 5), billing.consume_quota('h_ed2', 'messages', 6);
UPDATE billing.plans SET billing_interval = '1 year' WHERE plan_id = 'h_edited';
SELECT o.tenant_id, o.used, o.period_start = s.period_anchor AS yearly_period_from_anchor
  FROM billing.usage_overview o JOIN billing.subscriptions s USING (tenant_id)
 WHERE o.tenant_id LIKE 'h\_ed_' AND o.resource = 'messages' ORDER BY 1;
UPDATE billing.plans SET billing_interval = '1 month', name = 'Edited again' WHERE plan_id = 'h_edited';
SELECT tenant_id, used FROM billing.usage_overview
 WHERE tenant_id LIKE 'h\_ed_' AND resource = 'messages' ORDER BY 1;
-- What the same transaction consumed before the change goes with the rest
-- (in shared-memory mode it is not in the usage table before commit).
SELECT billing.subscribe('h_own', 'h_month', now() - interval '40 days');
SELECT billing.consume_quota('h_own', 'messages', 2);
BEGIN;
SELECT billing.consume_quota('h_own', 'messages', 5);
SELECT billing.subscribe('h_own', 'h_year');
SELECT used FROM billing.tenant_usage('h_own') WHERE resource = 'messages';
COMMIT;
SELECT used FROM billing.tenant_usage('h_own') WHERE resource = 'messages';
SELECT sum(used) AS usage_rows FROM billing.usage WHERE tenant_id = 'h_own';
-- A renamed plan is the same plan: nothing moves.
UPDATE billing.plans SET plan_id = 'h_renamed' WHERE plan_id = 'h_edited';
SELECT tenant_id, used FROM billing.usage_overview
 WHERE tenant_id LIKE 'h\_ed_' AND resource = 'messages' ORDER BY 1;
-- '1 month' and '30 days' are equal to the = operator, not as schedules.
UPDATE billing.plans SET billing_interval = '30 days' WHERE plan_id = 'h_renamed';
SELECT o.tenant_id, o.used, o.period_start = s.period_anchor + interval '30 days' AS second_30_days
  FROM billing.usage_overview o JOIN billing.subscriptions s USING (tenant_id)
 WHERE o.tenant_id LIKE 'h\_ed_' AND o.resource = 'messages' ORDER BY 1;
-- A subscription deleted keeps its tenant's usage in its periods
-- (billing.ended_subscriptions): the closed ones stay in the history, and
-- subscribing the tenant again is a schedule change like an UPDATE of the
-- anchor.  Before, the history lost the tenant, and the month it was in
-- started again from zero under the new anchor.
INSERT INTO billing.plans (plan_id, name) VALUES ('h_gone', 'Gone');
INSERT INTO billing.plan_limits VALUES ('h_gone', 'messages', 10);
SELECT billing.subscribe('h_del', 'h_gone', now() - interval '40 days');
SELECT billing._set_usage('h_del', 'messages', period_anchor, 3)
  FROM billing.subscriptions WHERE tenant_id = 'h_del';
SELECT billing.consume_quota('h_del', 'messages', 10);
DELETE FROM billing.subscriptions WHERE tenant_id = 'h_del';
SELECT h.used, h.period_start = e.period_anchor AS from_anchor,
       h.period_end = e.period_anchor + interval '1 month' AS one_month, h.hard_limit
  FROM billing.usage_history h JOIN billing.ended_subscriptions e USING (tenant_id)
 WHERE tenant_id = 'h_del';
SELECT billing.try_consume_quota('h_del', 'messages');
SELECT billing.subscribe('h_del', 'h_gone');
SELECT billing.try_consume_quota('h_del', 'messages');
SELECT u.used, u.period_start = s.period_anchor AS from_new_anchor
  FROM billing.tenant_usage('h_del') u, billing.subscriptions s
 WHERE u.resource = 'messages' AND s.tenant_id = 'h_del';
SELECT count(*) AS history_rows, sum(used) AS history_used
  FROM billing.usage_history WHERE tenant_id = 'h_del';
SELECT count(*) AS still_ended FROM billing.ended_subscriptions WHERE tenant_id = 'h_del';
-- TRUNCATE keeps every schedule the same way.
BEGIN;
TRUNCATE billing.subscriptions;
SELECT tenant_id, plan_id FROM billing.ended_subscriptions
 WHERE tenant_id IN ('h_del', 'h_own') ORDER BY 1;
ROLLBACK;
RESET TimeZone;
