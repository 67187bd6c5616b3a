-- Installation: schema, tables, seeded resources, privileges, settings.
-- The other suites run in the same database, after this one.
-- A schema billing that exists already must be safe to install into: owned
-- by a superuser, no one else allowed to create objects in it, no functions
-- or operators in it (until 2026-12-06 its owner could become superuser).
CREATE ROLE regress_schema_owner;
CREATE SCHEMA billing AUTHORIZATION regress_schema_owner;
CREATE EXTENSION zechat_billing;
ALTER SCHEMA billing OWNER TO CURRENT_USER;
GRANT CREATE ON SCHEMA billing TO regress_schema_owner;
GRANT CREATE ON SCHEMA billing TO PUBLIC;
CREATE EXTENSION zechat_billing;
REVOKE CREATE ON SCHEMA billing FROM regress_schema_owner, PUBLIC;
CREATE FUNCTION billing._execute_after_locks(text, text, text) RETURNS void
    LANGUAGE sql AS 'SELECT';
CREATE EXTENSION zechat_billing;
DROP FUNCTION billing._execute_after_locks(text, text, text);
SELECT count(*) AS extensions FROM pg_extension WHERE extname = 'zechat_billing';
-- An empty one a superuser owns is used.
CREATE EXTENSION zechat_billing;
DROP EXTENSION zechat_billing;
DROP SCHEMA billing;
CREATE EXTENSION zechat_billing;
-- And it stays so: GRANT and ALTER SCHEMA that would undo it are refused,
-- by a superuser too; USAGE may be granted, and other GRANTs are untouched.
GRANT CREATE ON SCHEMA billing TO regress_schema_owner;
GRANT ALL ON SCHEMA billing TO PUBLIC;
ALTER SCHEMA billing OWNER TO regress_schema_owner;
ALTER SCHEMA billing RENAME TO regress_billing;
GRANT USAGE ON SCHEMA billing TO regress_schema_owner;
REVOKE USAGE ON SCHEMA billing FROM regress_schema_owner;
CREATE TABLE regress_granted (x int);
GRANT SELECT ON regress_granted TO regress_schema_owner;
DROP TABLE regress_granted;
SELECT pg_get_userbyid(nspowner) = current_user AS owned_by_installer, nspacl
  FROM pg_namespace WHERE nspname = 'billing';
DROP ROLE regress_schema_owner;
-- Not relocatable: everything lives in schema billing.
CREATE SCHEMA regress_elsewhere;
ALTER EXTENSION zechat_billing SET SCHEMA regress_elsewhere;
DROP SCHEMA regress_elsewhere;

SELECT extname, extversion, extrelocatable, n.nspname AS schema
  FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
 WHERE extname = 'zechat_billing';

-- Contract tables and their columns.
SELECT c.relname, string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum)
  FROM pg_class c
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
 WHERE c.relnamespace = 'billing'::regnamespace AND c.relkind IN ('r', 'v')
 GROUP BY c.relname ORDER BY c.relname;

-- Seeded resources.
SELECT resource, kind, unit FROM billing.resources ORDER BY resource;

-- Defaults of a plan.
INSERT INTO billing.plans (plan_id, name) VALUES ('regress_defaults', 'Defaults');
SELECT plan_id, price_cents, currency, billing_interval, active FROM billing.plans WHERE plan_id = 'regress_defaults';
DELETE FROM billing.plans WHERE plan_id = 'regress_defaults';

-- Every configuration and usage table is kept by pg_dump.
SELECT c.relname, cfg.condition
  FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS cfg(reloid, condition)
  JOIN pg_class c ON c.oid = cfg.reloid
 WHERE e.extname = 'zechat_billing' ORDER BY c.relname;

-- Function signatures of the contract, with volatility.
SELECT p.oid::regprocedure AS function, p.provolatile AS volatility, p.proparallel AS parallel
  FROM pg_proc p
 WHERE p.pronamespace = 'billing'::regnamespace AND p.proname !~ '^_'
 ORDER BY p.oid::regprocedure::text;

-- Nothing that changes plans, limits or usage is executable by PUBLIC.
SELECT p.oid::regprocedure AS executable_by_public
  FROM pg_proc p
 WHERE p.pronamespace = 'billing'::regnamespace
   AND has_function_privilege('public', p.oid, 'EXECUTE')
 ORDER BY p.oid::regprocedure::text;
SELECT c.relname AS readable_by_public
  FROM pg_class c
 WHERE c.relnamespace = 'billing'::regnamespace AND c.relkind IN ('r', 'v')
   AND has_table_privilege('public', c.oid, 'SELECT')
 ORDER BY 1;

-- SECURITY DEFINER functions pin their search_path.
SELECT p.oid::regprocedure AS definer_function, p.proconfig
  FROM pg_proc p
 WHERE p.pronamespace = 'billing'::regnamespace AND p.prosecdef
 ORDER BY p.oid::regprocedure::text;

-- Settings.
SHOW zechat_billing.enabled;
-- (zechat_billing.max_counters exists only with shared_preload_libraries;
-- tests/scripts/preload_mode.sh checks it.)
SELECT name, context, vartype FROM pg_settings WHERE name = 'zechat_billing.enabled';
-- The shared-memory counters view exists in both modes; without preload it is empty.
SELECT count(*) AS counters FROM billing.counters WHERE tenant_id LIKE 'regress%';

-- Helpers used by the other suites: run a statement and show how it failed.
CREATE SCHEMA regress_util;
CREATE FUNCTION regress_util.error_of(stmt text)
RETURNS TABLE (state text, message text, detail text, hint text)
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE stmt;
    RETURN QUERY SELECT 'ok'::text, NULL::text, NULL::text, NULL::text;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
                            detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
    RETURN NEXT;
END;
$$;
CREATE FUNCTION regress_util.sqlstate_of(stmt text) RETURNS text
LANGUAGE sql AS $$ SELECT state FROM regress_util.error_of(stmt) $$;

-- billing.resources cannot be truncated while a table is enforced, even with
-- no usage yet: TRUNCATE ... CASCADE emptied enforced_tables under the
-- triggers (2026-12-04).  Nothing is counted yet in this fresh database.
CREATE TABLE regress_enforced (tenant_id text);
SELECT billing.enforce_quota('regress_enforced', 'users');
SELECT count(*) AS usage_rows FROM billing.usage_parts;
SELECT state, message FROM regress_util.error_of($$TRUNCATE billing.resources CASCADE$$);
SELECT billing.unenforce_quota('regress_enforced', 'users');
DROP TABLE regress_enforced;

-- The extension's tables stay logged: a crash empties an unlogged table, and
-- usage_parts holds all usage (2026-12-05: SET UNLOGGED went through).
SELECT state, message FROM regress_util.error_of($$ALTER TABLE billing.usage_parts SET UNLOGGED$$);
SELECT state, message FROM regress_util.error_of($$ALTER TABLE billing.alerts SET UNLOGGED$$);
SELECT relname, relpersistence FROM pg_class
 WHERE relname IN ('usage_parts', 'alerts') AND relnamespace = 'billing'::regnamespace
 ORDER BY relname;
