-- billing.merge_usage_parts(): each key's parts of billing.usage_parts
-- written as one row, the usage unchanged, in both modes.  Shared-memory
-- mode writes a part per backend slot that consumed a key, and nothing
-- merged them (README, "Notes on usage_parts").  Parts of other writers are
-- added here by COPY, as shared-memory mode leaves them.
\set SHOW_CONTEXT never

INSERT INTO billing.plans (plan_id, name) VALUES ('mp_plan', 'Merged parts');
INSERT INTO billing.plan_limits VALUES ('mp_plan', 'messages', 10), ('mp_plan', 'storage', 100);
SELECT billing.subscribe('mp_a', 'mp_plan'), billing.subscribe('mp_b', 'mp_plan');
SELECT billing.consume_quota('mp_a', 'messages', 3);

CREATE FUNCTION mp_used(p_tenant text, p_resource text) RETURNS bigint
LANGUAGE sql AS $$
    SELECT used FROM billing.tenant_usage(p_tenant) WHERE resource = p_resource
$$;
-- The tenants' rows, their consumed messages' period shown as "current".
CREATE VIEW mp_rows AS
SELECT p.tenant_id, p.resource,
       CASE WHEN isfinite(p.period_start) THEN 'current' ELSE 'gauge' END AS period,
       p.writer, p.used
  FROM billing.usage_parts p
 WHERE p.tenant_id LIKE 'mp\_%'
 ORDER BY 1, 2, 4;

-- messages of mp_a: 3 consumed, 2 and 1 more in two other writers' parts;
-- storage of mp_b: 40 in writer 0, -10 released in another writer's part,
-- and a part of 0; storage of mp_a: parts summing to 0.
COPY billing.usage_parts (tenant_id, resource, period_start, writer, used) FROM STDIN;
mp_b	storage	-infinity	0	40
mp_b	storage	-infinity	7	-10
mp_b	storage	-infinity	8	0
mp_a	storage	-infinity	7	5
mp_a	storage	-infinity	9	-5
\.
INSERT INTO billing.usage_parts (tenant_id, resource, period_start, writer, used)
SELECT 'mp_a', 'messages', period_start, w, w - 6
  FROM billing.tenant_usage('mp_a'), (VALUES (7), (8)) v(w)
 WHERE resource = 'messages';
SELECT mp_used('mp_a', 'messages') AS a_messages, mp_used('mp_b', 'storage') AS b_storage,
       mp_used('mp_a', 'storage') AS a_storage;

-- A merge rolled back leaves every part as it was.
BEGIN;
SELECT billing.merge_usage_parts() >= 6 AS merged;
ROLLBACK;
SELECT count(*) AS rows_after_rollback FROM mp_rows;

-- Merged: one writer-0 row a key, none for the key whose parts sum to 0,
-- and the same usage.
SELECT billing.merge_usage_parts() >= 6 AS merged;
SELECT * FROM mp_rows;
SELECT mp_used('mp_a', 'messages') AS a_messages, mp_used('mp_b', 'storage') AS b_storage,
       mp_used('mp_a', 'storage') AS a_storage;

-- Admission goes on from the merged usage: 6 of 10 messages, 30 of 100
-- bytes, 0 of 100 bytes.
SELECT billing.try_consume_quota('mp_a', 'messages', 5) AS five_fit,
       billing.try_consume_quota('mp_a', 'messages', 4) AS four_fit;
SELECT regress_util.sqlstate_of($$SELECT billing.consume_quota('mp_a', 'messages')$$);
SELECT billing.consume_quota('mp_b', 'storage', 70) AS remaining;
SELECT billing.try_consume_quota('mp_b', 'storage') AS one_fits;
SELECT billing.release_quota('mp_b', 'storage', 100) AS remaining;
SELECT billing.consume_quota('mp_a', 'storage', 100) AS remaining;

-- A second merge keeps the usage, whatever the consumption above wrote.
SELECT billing.merge_usage_parts() >= 0 AS merged;
SELECT tenant_id, resource, count(*) AS parts, sum(used) AS used
  FROM mp_rows GROUP BY 1, 2 ORDER BY 1, 2;

-- Only for administrators: not executable by PUBLIC.  A role granted
-- EXECUTE needs no privilege on the table.
CREATE ROLE regress_mp_admin;
SET ROLE regress_mp_admin;
SELECT billing.merge_usage_parts();
RESET ROLE;
GRANT EXECUTE ON FUNCTION billing.merge_usage_parts() TO regress_mp_admin;
SET ROLE regress_mp_admin;
SELECT billing.merge_usage_parts() >= 0 AS merged;
RESET ROLE;
REVOKE EXECUTE ON FUNCTION billing.merge_usage_parts() FROM regress_mp_admin;
DROP ROLE regress_mp_admin;

DELETE FROM billing.subscriptions WHERE tenant_id LIKE 'mp\_%';
DELETE FROM billing.usage_parts WHERE tenant_id LIKE 'mp\_%';
DELETE FROM billing.plans WHERE plan_id = 'mp_plan';
DROP VIEW mp_rows;
DROP FUNCTION mp_used(text, text);
