-- Row-level security: a role that may write only its own tenant's rows
-- learns nothing about another tenant from the enforcement triggers.
-- PostgreSQL checks WITH CHECK policies after the BEFORE ROW triggers; a
-- refusal of such a row is held until the row has passed them, so a row of
-- another tenant meets the policy's 42501, whether it fits or not
-- (2026-12-06, before: that tenant's PT402, with its usage and limit in the
-- DETAIL, or no_subscription).
\set SHOW_CONTEXT never

INSERT INTO billing.plans (plan_id, name) VALUES ('rls_plan', 'RLS');
INSERT INTO billing.plan_limits VALUES ('rls_plan', 'messages', 4), ('rls_plan', 'storage', 1000);
SELECT billing.subscribe(t, 'rls_plan') FROM unnest(ARRAY['rls_a', 'rls_b', 'rls_c']) AS t;
UPDATE billing.subscriptions SET status = 'suspended' WHERE tenant_id = 'rls_c';
INSERT INTO billing.plans (plan_id, name) VALUES ('rls_unlimited', 'RLS unlimited');
INSERT INTO billing.plan_limits VALUES ('rls_unlimited', 'messages', NULL), ('rls_unlimited', 'storage', NULL);
SELECT billing.subscribe('rls_u', 'rls_unlimited');

CREATE FUNCTION rls_usage() RETURNS TABLE (tenant_id text, messages bigint, storage bigint)
LANGUAGE sql AS $$
    SELECT t, max(u.used) FILTER (WHERE u.resource = 'messages'),
           max(u.used) FILTER (WHERE u.resource = 'storage')
      FROM unnest(ARRAY['rls_a', 'rls_b', 'rls_u']) AS t, billing.tenant_usage(t) AS u
     GROUP BY t ORDER BY t
$$;

-- The usual PostgREST setup: one policy on a setting naming the tenant.
CREATE ROLE regress_zb_tenant;
CREATE TABLE rls_files (id serial PRIMARY KEY, tenant_id text NOT NULL, bytes bigint NOT NULL);
SELECT billing.enforce_quota('rls_files', 'messages');
SELECT billing.enforce_quota('rls_files', 'storage', amount_column => 'bytes');
ALTER TABLE rls_files ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_tenant ON rls_files USING (tenant_id = current_setting('app.tenant'));
GRANT SELECT, INSERT, UPDATE, DELETE ON rls_files TO regress_zb_tenant;
GRANT USAGE ON SEQUENCE rls_files_id_seq TO regress_zb_tenant;
INSERT INTO rls_files (tenant_id, bytes) VALUES ('rls_b', 900), ('rls_u', 900);
SELECT * FROM rls_usage();

SET app.tenant = 'rls_a';
SET ROLE regress_zb_tenant;
-- Another tenant's row that does not fit, one that fits, a tenant without a
-- subscription, one suspended: all the policy's 42501.
INSERT INTO rls_files (tenant_id, bytes) VALUES ('rls_b', 200);
INSERT INTO rls_files (tenant_id, bytes) VALUES ('rls_b', 50);
INSERT INTO rls_files (tenant_id, bytes) VALUES ('rls_nobody', 1);
INSERT INTO rls_files (tenant_id, bytes) VALUES ('rls_c', 1);
-- Nor does the bigint range tell an unlimited tenant's usage (22003 before).
INSERT INTO rls_files (tenant_id, bytes) VALUES ('rls_u', 9223372036854775000);
-- Its own tenant over the limit: the PT402 of today, DETAIL and HINT.
INSERT INTO rls_files (tenant_id, bytes) VALUES ('rls_a', 1001);
-- The second row goes over the limit: its PT402 goes out as the third row
-- starts (the second passed the policy), before that row's 42501, and
-- nothing is written.
INSERT INTO rls_files (tenant_id, bytes) VALUES ('rls_a', 600), ('rls_a', 600), ('rls_b', 1);
-- Over the limit as the last row: raised when the statement ends.
INSERT INTO rls_files (tenant_id, bytes) VALUES ('rls_a', 600), ('rls_a', 600);
-- Over the limit of another tenant in the middle: the policy's 42501.
INSERT INTO rls_files (tenant_id, bytes) VALUES ('rls_a', 600), ('rls_b', 600), ('rls_a', 1);
-- Through a data-modifying WITH.
WITH w AS (INSERT INTO rls_files (tenant_id, bytes) VALUES ('rls_b', 5000) RETURNING id)
SELECT count(*) FROM w;
WITH w AS (INSERT INTO rls_files (tenant_id, bytes) VALUES ('rls_a', 5000) RETURNING id)
SELECT count(*) FROM w;
RESET ROLE;
SELECT * FROM rls_usage();
SELECT tenant_id, bytes FROM rls_files ORDER BY id;

SET ROLE regress_zb_tenant;
-- A row of its own that fits is written and counted.
INSERT INTO rls_files (tenant_id, bytes) VALUES ('rls_a', 100);
-- An UPDATE moving it to another tenant: the policy's 42501, over
-- rls_b's limit or not.
UPDATE rls_files SET tenant_id = 'rls_b', bytes = 500 WHERE tenant_id = 'rls_a';
UPDATE rls_files SET tenant_id = 'rls_b' WHERE tenant_id = 'rls_a';
-- Growing it over its own limit: PT402.
UPDATE rls_files SET bytes = 1001 WHERE tenant_id = 'rls_a';
-- Refused in a PL/pgSQL block that catches it: nothing counted.
DO $$
BEGIN
    INSERT INTO rls_files (tenant_id, bytes) VALUES ('rls_a', 950);
EXCEPTION WHEN SQLSTATE 'PT402' THEN
    RAISE NOTICE 'caught: %', SQLERRM;
END
$$;
DO $$
BEGIN
    INSERT INTO rls_files (tenant_id, bytes) VALUES ('rls_b', 950);
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'caught: %', SQLERRM;
END
$$;
-- And rolled back to a savepoint: the transaction goes on and commits
-- what fits.
BEGIN;
SAVEPOINT s;
INSERT INTO rls_files (tenant_id, bytes) VALUES ('rls_a', 950);
ROLLBACK TO SAVEPOINT s;
INSERT INTO rls_files (tenant_id, bytes) VALUES ('rls_a', 10);
COMMIT;
RESET ROLE;
SELECT * FROM rls_usage();

-- The table's owner is not under row-level security: refused at once, as
-- before.
INSERT INTO rls_files (tenant_id, bytes) VALUES ('rls_b', 200);
INSERT INTO rls_files (tenant_id, bytes) VALUES ('rls_nobody', 1);
INSERT INTO rls_files (tenant_id, bytes) VALUES ('rls_u', 9223372036854775000);
SELECT * FROM rls_usage();

-- A table made exact with exact_on_conflict: the subscription's refusals
-- are held too (its PT402 for the limit already waited for the row to be
-- written).
CREATE TABLE rls_exact (id int PRIMARY KEY, tenant_id text NOT NULL, bytes bigint NOT NULL);
SELECT billing.enforce_quota('rls_exact', 'storage', amount_column => 'bytes');
SELECT billing.exact_on_conflict('rls_exact');
ALTER TABLE rls_exact ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_tenant ON rls_exact USING (tenant_id = current_setting('app.tenant'));
GRANT SELECT, INSERT, UPDATE ON rls_exact TO regress_zb_tenant;
SET ROLE regress_zb_tenant;
INSERT INTO rls_exact VALUES (1, 'rls_nobody', 1);
INSERT INTO rls_exact VALUES (1, 'rls_c', 1) ON CONFLICT DO NOTHING;
INSERT INTO rls_exact VALUES (1, 'rls_b', 500);
INSERT INTO rls_exact VALUES (1, 'rls_a', 5000);
INSERT INTO rls_exact VALUES (1, 'rls_a', 5);
-- Its own suspended subscription: told once the row passed the policy, on
-- both tables.
SET app.tenant = 'rls_c';
INSERT INTO rls_exact VALUES (2, 'rls_c', 1);
INSERT INTO rls_files (tenant_id, bytes) VALUES ('rls_c', 1);
SET app.tenant = 'rls_a';
-- ON CONFLICT DO UPDATE moving the row to another tenant.
INSERT INTO rls_exact VALUES (1, 'rls_a', 5)
    ON CONFLICT (id) DO UPDATE SET tenant_id = 'rls_b', bytes = 500;
RESET ROLE;
SELECT * FROM rls_usage();

-- A partitioned table with row-level security on the partitioned table
-- only: an INSERT through it checks its policies, so the partition's
-- trigger holds the refusal too.
CREATE TABLE rls_parts (tenant_id text NOT NULL, bytes bigint NOT NULL) PARTITION BY LIST (tenant_id);
CREATE TABLE rls_parts_ab PARTITION OF rls_parts FOR VALUES IN ('rls_a', 'rls_b');
CREATE TABLE rls_parts_rest PARTITION OF rls_parts DEFAULT;
SELECT billing.enforce_quota('rls_parts', 'storage', amount_column => 'bytes');
ALTER TABLE rls_parts ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_tenant ON rls_parts USING (tenant_id = current_setting('app.tenant'));
GRANT SELECT, INSERT, UPDATE ON rls_parts TO regress_zb_tenant;
SET ROLE regress_zb_tenant;
INSERT INTO rls_parts VALUES ('rls_b', 500);
INSERT INTO rls_parts VALUES ('rls_nobody', 1);
INSERT INTO rls_parts VALUES ('rls_a', 5000);
RESET ROLE;
SELECT * FROM rls_usage();

-- An inheritance child without row-level security of its own, updated
-- through its parent, which has it: the parent's policies apply.
CREATE TABLE rls_files_old () INHERITS (rls_files);
SELECT billing.enforce_quota('rls_files_old', 'storage', amount_column => 'bytes');
INSERT INTO rls_files_old (tenant_id, bytes) VALUES ('rls_a', 1);
SET ROLE regress_zb_tenant;
UPDATE rls_files SET tenant_id = 'rls_b', bytes = 500 WHERE bytes = 1;
UPDATE rls_files SET bytes = 5000 WHERE bytes = 1;
-- MERGE: its INSERT and UPDATE actions alike.
MERGE INTO rls_files USING (VALUES ('rls_b', 500)) AS v (t, b) ON false
    WHEN NOT MATCHED THEN INSERT (tenant_id, bytes) VALUES (v.t, v.b);
MERGE INTO rls_files USING (VALUES (100)) AS v (b) ON rls_files.bytes = v.b
    WHEN MATCHED THEN UPDATE SET tenant_id = 'rls_b', bytes = 500;
MERGE INTO rls_files USING (VALUES ('rls_a', 5000)) AS v (t, b) ON false
    WHEN NOT MATCHED THEN INSERT (tenant_id, bytes) VALUES (v.t, v.b);
RESET ROLE;
SELECT * FROM rls_usage();

-- Lock mode: the statement during which a backend loads the library (its
-- first use of the extension; \c starts a new backend) is not seen to end.
-- A refusal held for its last row is raised before commit, and before
-- PREPARE: the transaction fails all the same.  (Shared-memory mode
-- preloads the library: refused at once.)
\c
SET app.tenant = 'rls_a';
SET ROLE regress_zb_tenant;
BEGIN;
INSERT INTO rls_files (tenant_id, bytes) VALUES ('rls_a', 5000);
COMMIT;
\c
SET app.tenant = 'rls_a';
SET ROLE regress_zb_tenant;
BEGIN;
INSERT INTO rls_files (tenant_id, bytes) VALUES ('rls_a', 5000);
PREPARE TRANSACTION 'rls_held';
RESET ROLE;
SELECT count(*) AS prepared FROM pg_prepared_xacts WHERE gid = 'rls_held';
SELECT * FROM rls_usage();
SELECT tenant_id, bytes FROM rls_files WHERE tenant_id = 'rls_a' ORDER BY id;

RESET app.tenant;
DROP TABLE rls_files_old, rls_files, rls_exact, rls_parts;
DROP FUNCTION rls_usage();
DROP ROLE regress_zb_tenant;
