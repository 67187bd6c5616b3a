-- Admission reads a tenant's terms by primary key (src/pg/stored_terms.cpp);
-- billing._tenant_terms spells the same rule in SQL for tenant_usage, the
-- overview and the limit log.  For every combination of plan limit (5,
-- unlimited, none), override (none, 3, unlimited, 0) and subscription
-- (active, suspended, canceled, none), on a period and on a gauge resource,
-- the limit admission enforces must be the one SQL reports.
INSERT INTO billing.plans (plan_id, name) VALUES
    ('ta_five', 'Five'), ('ta_unlimited', 'Unlimited'), ('ta_without', 'Without');
INSERT INTO billing.plan_limits VALUES
    ('ta_five', 'messages', 5), ('ta_five', 'storage', 5),
    ('ta_unlimited', 'messages', NULL), ('ta_unlimited', 'storage', NULL);

CREATE TEMP TABLE ta_cases AS
SELECT 'ta_' || coalesce(substr(plan, 4), 'none') || '_' || override || '_' || coalesce(status, 'none')
           AS tenant_id,
       plan, override, status
  FROM unnest(ARRAY['ta_five', 'ta_unlimited', 'ta_without']) plan,
       unnest(ARRAY['active', 'suspended', 'canceled']) status,
       unnest(ARRAY['no', 'three', 'unlimited', 'zero']) override
UNION ALL
SELECT 'ta_none_' || override || '_none', NULL, override, NULL
  FROM unnest(ARRAY['no', 'three', 'unlimited', 'zero']) override;

INSERT INTO billing.subscriptions (tenant_id, plan_id, status)
SELECT tenant_id, plan, status FROM ta_cases WHERE plan IS NOT NULL;
INSERT INTO billing.limit_overrides (tenant_id, resource, hard_limit)
SELECT tenant_id, r, CASE override WHEN 'three' THEN 3 WHEN 'zero' THEN 0 END
  FROM ta_cases, unnest(ARRAY['messages', 'storage']) r
 WHERE override <> 'no';

-- What admission enforces, probed with check_quota (nothing is consumed):
-- 'unlimited', or the largest amount that fits (0..6; 0 as well when the
-- subscription does not allow consuming).
CREATE TEMP TABLE ta_enforced AS
SELECT c.tenant_id, r AS resource,
       CASE WHEN billing.check_quota(c.tenant_id, r, 1000000000000000) THEN 'unlimited'
            ELSE (SELECT coalesce(max(a), 0)::text FROM generate_series(1, 6) a
                   WHERE billing.check_quota(c.tenant_id, r, a)) END AS enforced
  FROM ta_cases c, unnest(ARRAY['messages', 'storage']) r;

-- What SQL reports, and what admission must therefore do: consume up to
-- the limit when the subscription is active, nothing otherwise.
CREATE TEMP TABLE ta_reported AS
SELECT c.tenant_id, t.resource,
       CASE WHEN t.subscription_status IS DISTINCT FROM 'active' THEN '0'
            WHEN t.unlimited THEN 'unlimited'
            ELSE least(t.hard_limit, 6)::text END AS expected,
       t.unlimited, t.hard_limit
  FROM ta_cases c
 CROSS JOIN LATERAL billing._tenant_terms(c.tenant_id) t
 WHERE t.resource IN ('messages', 'storage');

SELECT count(*) AS cases FROM ta_enforced;

-- Disagreements: none.
SELECT r.tenant_id, r.resource, r.expected, e.enforced
  FROM ta_reported r JOIN ta_enforced e USING (tenant_id, resource)
 WHERE r.expected <> e.enforced
 ORDER BY 1, 2;

-- And the reports say it too: remaining is what admission lets through
-- (NULL when unlimited; compared up to 6, as probed), and status is blocked
-- exactly where nothing may be consumed (until 2026-12-06 a suspended or
-- canceled tenant was reported ok, with its plan's room left).
WITH reported AS (
    SELECT c.tenant_id, u.resource, u.remaining, u.status, 'tenant_usage' AS report
      FROM ta_cases c CROSS JOIN LATERAL billing.tenant_usage(c.tenant_id) u
    UNION ALL
    SELECT o.tenant_id, o.resource, o.remaining, o.status, 'usage_overview'
      FROM billing.usage_overview o)
SELECT r.tenant_id, r.resource, r.remaining, r.status, e.enforced, r.report
  FROM reported r JOIN ta_enforced e USING (tenant_id, resource)
 WHERE CASE WHEN r.remaining IS NULL THEN 'unlimited' ELSE least(r.remaining, 6)::text END <> e.enforced
    OR (e.enforced = '0') <> (r.status = 'blocked')
 ORDER BY 1, 2, 6;
SELECT count(*) AS overview_rows_compared
  FROM billing.usage_overview o JOIN ta_enforced e USING (tenant_id, resource);

-- The reported limits themselves, one line per plan and override, for the
-- reader: an override beats the plan, NULL is unlimited, no row is 0, and
-- without a subscription (no plan) everything is 0, overrides too.
SELECT DISTINCT c.plan, c.override, r.unlimited, r.hard_limit
  FROM ta_cases c JOIN ta_reported r USING (tenant_id)
 WHERE r.resource = 'messages'
 ORDER BY 1, 2;

-- Every tenant the probe met is cached now: a change of the plan's limit
-- reaches admission (the cache is dropped) and SQL alike.
UPDATE billing.plan_limits SET hard_limit = 2 WHERE plan_id = 'ta_five' AND resource = 'messages';
SELECT billing.check_quota('ta_five_no_active', 'messages', 2) AS fits_two,
       billing.check_quota('ta_five_no_active', 'messages', 3) AS fits_three,
       (SELECT hard_limit FROM billing.tenant_usage('ta_five_no_active')
         WHERE resource = 'messages') AS reported;

-- An unknown resource is refused by admission as by SQL.
SELECT billing.check_quota('ta_five_no_active', 'no_such_resource');

-- Overrides are few by nature: a backend keeps all of them in memory while
-- there are at most 1000, and past that reads a tenant's by key.  Either
-- way a new or changed override reaches admission, and one deleted gives
-- the plan's limit back.
INSERT INTO billing.limit_overrides
SELECT 'ta_many_' || i, 'messages', i FROM generate_series(1, 1000) i;
INSERT INTO billing.limit_overrides VALUES ('ta_five_no_active', 'messages', 7);
SELECT billing.check_quota('ta_five_no_active', 'messages', 7) AS fits_seven,
       billing.check_quota('ta_five_no_active', 'messages', 8) AS fits_eight;
DELETE FROM billing.limit_overrides WHERE tenant_id LIKE 'ta\_many\_%';
UPDATE billing.limit_overrides SET hard_limit = 6
 WHERE tenant_id = 'ta_five_no_active' AND resource = 'messages';
SELECT billing.check_quota('ta_five_no_active', 'messages', 6) AS fits_six,
       billing.check_quota('ta_five_no_active', 'messages', 7) AS fits_seven;
DELETE FROM billing.limit_overrides WHERE tenant_id = 'ta_five_no_active' AND resource = 'messages';
SELECT billing.check_quota('ta_five_no_active', 'messages', 2) AS fits_two,
       billing.check_quota('ta_five_no_active', 'messages', 3) AS fits_three;

-- What tenants share (a plan's limit, its interval, a resource's kind) is
-- kept per backend too: a tenant met for the first time after a change of
-- its plan's limit must get the new limit, not the one a tenant of the same
-- plan brought into the backend before the change.
SELECT billing.subscribe('ta_late', 'ta_five');
SELECT billing.check_quota('ta_five_no_active', 'messages', 2) AS plan_limit_two_is_known;
UPDATE billing.plan_limits SET hard_limit = 4 WHERE plan_id = 'ta_five' AND resource = 'messages';
SELECT billing.check_quota('ta_late', 'messages', 4) AS fits_four,
       billing.check_quota('ta_late', 'messages', 5) AS fits_five;
-- A resource's kind may change while nothing is counted (and no table
-- enforces it), and the change reaches a backend that cached it.
INSERT INTO billing.resources (resource, kind, unit) VALUES ('ta_kind', 'period', 'things');
INSERT INTO billing.plan_limits VALUES ('ta_five', 'ta_kind', 5);
SELECT billing.check_quota('ta_late', 'ta_kind') AS kind_cached;
UPDATE billing.resources SET kind = 'gauge' WHERE resource = 'ta_kind';
SELECT kind FROM billing.tenant_usage('ta_late') WHERE resource = 'ta_kind';
SELECT billing.release_quota('ta_late', 'ta_kind', 1) AS released_from_a_gauge;
UPDATE billing.resources SET kind = 'period' WHERE resource = 'ta_kind';
SELECT billing.release_quota('ta_late', 'ta_kind', 1);
-- Not once it is counted: a period's usage and a gauge's are kept apart,
-- and would be lost.  Not while a table enforces it: its triggers are
-- those of its kind.  A resource is never renamed: usage, alerts and
-- enforcement know it by its name.
SELECT billing.consume_quota('ta_late', 'ta_kind', 2);
UPDATE billing.resources SET kind = 'gauge' WHERE resource = 'ta_kind';
UPDATE billing.resources SET resource = 'ta_renamed' WHERE resource = 'ta_kind';
UPDATE billing.resources SET resource = 'ta_renamed' WHERE resource = 'messages';
-- Nor the kind of one the extension creates: pg_dump does not keep it.
UPDATE billing.resources SET kind = 'period' WHERE resource = 'users';
CREATE TABLE ta_things (tenant_id text);
INSERT INTO billing.resources (resource, kind, unit) VALUES ('ta_unused', 'period', 'things');
SELECT billing.enforce_quota('ta_things', 'ta_unused');
UPDATE billing.resources SET kind = 'gauge' WHERE resource = 'ta_unused';
SELECT billing.unenforce_quota('ta_things', 'ta_unused');
UPDATE billing.resources SET kind = 'gauge', unit = 'slots' WHERE resource = 'ta_unused';
SELECT resource, kind, unit FROM billing.resources WHERE resource LIKE 'ta\_%' ORDER BY 1;
SELECT used FROM billing.tenant_usage('ta_late') WHERE resource = 'ta_kind';
-- Nor deleted while counted: its usage would stay behind, to count again
-- for a resource added under the same name.  An unused one may go.
DELETE FROM billing.resources WHERE resource = 'ta_kind';
DELETE FROM billing.resources WHERE resource = 'ta_unused';
SELECT count(*) AS ta_unused_left FROM billing.resources WHERE resource = 'ta_unused';
-- Nor truncated while any is (2026-12-04: TRUNCATE ... CASCADE went through,
-- and a resource added again under the name found its old usage).
SELECT regress_util.sqlstate_of($$TRUNCATE billing.resources CASCADE$$);
SELECT count(*) FROM billing.resources WHERE resource = 'ta_kind';
-- Nor billing.plans (2026-12-05: TRUNCATE ... CASCADE emptied the closed
-- periods and ended subscriptions with it), nor those tables themselves.
SELECT regress_util.sqlstate_of($$TRUNCATE billing.plans CASCADE$$);
SELECT regress_util.sqlstate_of($$TRUNCATE billing.closed_periods$$);
SELECT regress_util.sqlstate_of($$TRUNCATE billing.ended_subscriptions$$);
SELECT count(*) > 0 AS plans_kept FROM billing.plans;
-- A gauge given back to 0 may become a period resource, and its history
-- of closed periods is empty.
INSERT INTO billing.resources (resource, kind, unit) VALUES ('ta_gone_gauge', 'gauge', 'things');
INSERT INTO billing.plan_limits VALUES ('ta_five', 'ta_gone_gauge', 5);
SELECT billing.consume_quota('ta_late', 'ta_gone_gauge', 1);
SELECT billing.release_quota('ta_late', 'ta_gone_gauge', 1);
UPDATE billing.resources SET kind = 'period' WHERE resource = 'ta_gone_gauge';
SELECT count(*) AS history_rows FROM billing.usage_history WHERE resource = 'ta_gone_gauge';
-- Nor while a period resource has closed periods (a schedule change closed
-- them), which usage_history shows for period resources only: until
-- 2026-12-05 a change to a gauge hid them.
INSERT INTO billing.resources (resource, kind, unit) VALUES ('ta_closed', 'period', 'things');
INSERT INTO billing.closed_periods VALUES
    ('ta_late', 'ta_closed', now() - interval '2 months', now() - interval '1 month', 3, 'ta_five');
SELECT regress_util.sqlstate_of($$UPDATE billing.resources SET kind = 'gauge' WHERE resource = 'ta_closed'$$);
DELETE FROM billing.closed_periods WHERE resource = 'ta_closed';
UPDATE billing.resources SET kind = 'gauge' WHERE resource = 'ta_closed';
-- Nor deleted while a table enforces it, said plainly (not the foreign
-- key's bare 23503).
CREATE TABLE ta_closed_rows (tenant_id text);
SELECT billing.enforce_quota('ta_closed_rows', 'ta_closed');
SELECT * FROM regress_util.error_of($$DELETE FROM billing.resources WHERE resource = 'ta_closed'$$);
SELECT billing.unenforce_quota('ta_closed_rows', 'ta_closed');
DROP TABLE ta_closed_rows;
DELETE FROM billing.resources WHERE resource = 'ta_closed';

-- An UPDATE drops the cached terms only where it changes what they are read
-- from: a plan renamed or repriced, a resource's unit edited or a
-- subscription written again as it was leave every cache valid (until
-- 2026-12-05 each made every backend read its tenants' terms again, and in
-- shared-memory mode every consumption read them from the tables while its
-- commit was in flight).  Seen through a limit raised while its trigger is
-- disabled (the ALTER itself drops the caches): the 5 cached before stays
-- through them, and an interval changed as written ('1 month' to '30 days',
-- which = calls equal) drops it.
INSERT INTO billing.plans (plan_id, name) VALUES ('ta_cosmetic', 'Cosmetic');
INSERT INTO billing.plan_limits VALUES ('ta_cosmetic', 'storage', 5);
INSERT INTO billing.resources (resource, kind, unit) VALUES ('ta_units', 'gauge', 'things');
SELECT billing.subscribe('ta_cosmetic_tenant', 'ta_cosmetic');
ALTER TABLE billing.plan_limits DISABLE TRIGGER config_updated;
SELECT billing.check_quota('ta_cosmetic_tenant', 'storage', 5) AS five_fit;
UPDATE billing.plan_limits SET hard_limit = 7 WHERE plan_id = 'ta_cosmetic';
UPDATE billing.plans SET name = 'Renamed', price_cents = 990, active = false
 WHERE plan_id = 'ta_cosmetic';
UPDATE billing.resources SET unit = 'items', description = 'Edited' WHERE resource = 'ta_units';
UPDATE billing.subscriptions SET status = 'active' WHERE tenant_id = 'ta_cosmetic_tenant';
SELECT billing.check_quota('ta_cosmetic_tenant', 'storage', 6) AS six_fit_cached_five;
UPDATE billing.plans SET billing_interval = '30 days' WHERE plan_id = 'ta_cosmetic';
SELECT billing.check_quota('ta_cosmetic_tenant', 'storage', 7) AS seven_fit;
ALTER TABLE billing.plan_limits ENABLE ALWAYS TRIGGER config_updated;
SELECT tgrelid::regclass AS config_table, tgname, tgenabled
  FROM pg_trigger
 WHERE tgname IN ('config_changed', 'config_updated', 'config_truncated')
 ORDER BY 1, 2;

-- A backend that meets more tenants than its cache of terms holds (20,000)
-- lets a sixteenth of them go and reads those again when met (until
-- 2026-12-06 it started over, and a statement over 21,000 tenants in turn
-- read every tenant's terms from the tables for every row:
-- bench/many_tenants.sh).  What it keeps and what it reads again agree
-- with the tables: two passes over 21,000 tenants, three subscribed to a
-- limit of 5, one of them with an override of 0, the rest not subscribed.
INSERT INTO billing.plans (plan_id, name) VALUES ('ta_many', 'Many');
INSERT INTO billing.plan_limits VALUES ('ta_many', 'messages', 5);
SELECT count(billing.subscribe('ta_many_' || g, 'ta_many')) AS subscribed
  FROM unnest(ARRAY[0, 7000, 14000]) g;
INSERT INTO billing.limit_overrides (tenant_id, resource, hard_limit)
VALUES ('ta_many_14000', 'messages', 0);
SELECT i / 21000 AS pass, count(*) AS checked,
       string_agg(i % 21000 || '', ', ' ORDER BY i) FILTER (WHERE fits) AS fitting
  FROM (SELECT i, billing.check_quota('ta_many_' || i % 21000, 'messages', 5) AS fits
          FROM generate_series(0, 41999) i) checks
 GROUP BY 1 ORDER BY 1;
