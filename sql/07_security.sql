-- An application role that may only INSERT into its own table is enforced
-- and cannot change plans, limits, subscriptions or usage.
\set SHOW_CONTEXT never

INSERT INTO billing.plans (plan_id, name) VALUES ('x_plan', 'X');
INSERT INTO billing.plan_limits VALUES ('x_plan', 'messages', 2), ('x_plan', 'storage', 100);
SELECT billing.subscribe('x_acme', 'x_plan');

CREATE ROLE regress_zb_app LOGIN;
CREATE ROLE regress_zb_reader;
CREATE TABLE x_messages (id serial, tenant_id text NOT NULL, body text);
SELECT billing.enforce_quota('x_messages', 'messages');
GRANT INSERT ON x_messages TO regress_zb_app;
GRANT USAGE ON SEQUENCE x_messages_id_seq TO regress_zb_app;

SET ROLE regress_zb_app;
-- Enforced without any privilege on billing.
INSERT INTO x_messages (tenant_id, body) VALUES ('x_acme', 'one'), ('x_acme', 'two');
INSERT INTO x_messages (tenant_id, body) VALUES ('x_acme', 'three');
-- Cannot read or change billing state.
SELECT * FROM billing.usage;
SELECT * FROM billing.usage_parts;
SELECT * FROM billing.usage_overview;
UPDATE billing.plan_limits SET hard_limit = 1000000;
INSERT INTO billing.limit_overrides VALUES ('x_acme', 'messages', NULL);
UPDATE billing.subscriptions SET plan_id = 'x_plan';
DELETE FROM billing.usage_parts;
-- Cannot call the functions that change or reveal billing state.
SELECT billing.subscribe('x_acme', 'x_plan');
SELECT billing.release_quota('x_acme', 'storage');
SELECT billing.consume_quota('x_acme', 'storage');
SELECT billing.recount();
SELECT billing.enforce_quota('x_messages', 'storage');
SELECT billing.unenforce_quota('x_messages', 'messages');
SELECT * FROM billing.tenant_usage('x_acme');
SELECT billing._tenant_terms('x_acme');
-- Cannot switch enforcement off (superuser only).
SET zechat_billing.enabled = off;
-- Cannot remove the triggers of a table it does not own.
ALTER TABLE x_messages DISABLE TRIGGER ALL;
DROP TRIGGER zzz_billing_messages_ins ON x_messages;
RESET ROLE;
SELECT used FROM billing.tenant_usage('x_acme') WHERE resource = 'messages';

-- Nor can it make an ALTER TABLE of its own table count an enforced table's
-- rows again: the end of the statement counts the table its start gave back
-- for, not whatever table the name finds once a USING function changed
-- search_path (2026-12-05: each such ALTER added x_files' rows again, run
-- as the extension owner).
SELECT billing.subscribe('x_retype', 'x_plan');
CREATE TABLE x_files (tenant_id text NOT NULL, bytes int);
SELECT billing.enforce_quota('x_files', 'storage', amount_column => 'bytes');
INSERT INTO x_files VALUES ('x_retype', 30);
SET ROLE regress_zb_app;
CREATE TEMP TABLE x_files (tenant_id text);
INSERT INTO x_files VALUES ('x');
CREATE FUNCTION pg_temp.x_flip(v text) RETURNS text LANGUAGE plpgsql AS
$$ BEGIN PERFORM pg_catalog.set_config('search_path', 'public, pg_temp', false); RETURN v; END $$;
ALTER TABLE x_files ALTER COLUMN tenant_id TYPE text USING pg_temp.x_flip(tenant_id);
RESET search_path;
ALTER TABLE x_files ALTER COLUMN tenant_id TYPE text USING pg_temp.x_flip(tenant_id);
RESET search_path;
DROP TABLE pg_temp.x_files;
DROP FUNCTION pg_temp.x_flip(text);
RESET ROLE;
SELECT used AS counted_once FROM billing.tenant_usage('x_retype') WHERE resource = 'storage';
-- A retype of the owner's own table counts again once, whatever role a
-- USING function switches to meanwhile (2026-12-05: it gave back what the
-- rows held and never counted it again).
CREATE ROLE regress_zb_other NOLOGIN;
GRANT regress_zb_other TO regress_zb_app;
ALTER TABLE x_files OWNER TO regress_zb_app;
SET ROLE regress_zb_app;
CREATE FUNCTION pg_temp.x_become_other(v int) RETURNS int LANGUAGE plpgsql AS
$$ BEGIN PERFORM pg_catalog.set_config('role', 'regress_zb_other', false); RETURN v; END $$;
ALTER TABLE x_files ALTER COLUMN bytes TYPE bigint USING pg_temp.x_become_other(bytes);
RESET ROLE;
DROP FUNCTION pg_temp.x_become_other(int);
SELECT used AS counted_again_once FROM billing.tenant_usage('x_retype') WHERE resource = 'storage';
ALTER TABLE x_files OWNER TO CURRENT_USER;
DROP ROLE regress_zb_other;
SELECT billing.unenforce_quota('x_files', 'storage');
DROP TABLE x_files;

-- Nor can the owner of an enforced table run code with the extension
-- owner's rights through it: what its rows hold is summed by a scan of the
-- table (TRUNCATE, a retype, the backfill, recount, unenforcing), never by
-- a query planned on it, which folds an index expression's IMMUTABLE
-- function (2026-12-05: it ran as the extension owner, and such a function
-- made the table's owner a superuser).
CREATE SCHEMA x_owned AUTHORIZATION regress_zb_app;
SET ROLE regress_zb_app;
CREATE TABLE x_owned.files (tenant_id text NOT NULL, bytes int);
CREATE FUNCTION x_owned.watch(v text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS
$$ BEGIN
     IF current_user <> 'regress_zb_app' THEN
         RAISE EXCEPTION 'an index expression of x_owned.files ran as %', current_user;
     END IF;
     RETURN v;
   END $$;
CREATE INDEX ON x_owned.files ((tenant_id || x_owned.watch('x')));
INSERT INTO x_owned.files VALUES ('x_owned_t', 40), ('x_owned_t', 2);
RESET ROLE;
SELECT billing.subscribe('x_owned_t', 'x_plan');
SELECT billing.enforce_quota('x_owned.files', 'storage', amount_column => 'bytes');
SELECT used AS backfilled FROM billing.tenant_usage('x_owned_t') WHERE resource = 'storage';
SELECT billing._set_usage('x_owned_t', 'storage', '-infinity', 0);
SELECT billing.recount('x_owned_t');
SELECT used AS recounted FROM billing.tenant_usage('x_owned_t') WHERE resource = 'storage';
SET ROLE regress_zb_app;
ALTER TABLE x_owned.files ALTER COLUMN bytes TYPE bigint;
RESET ROLE;
SELECT used AS retyped FROM billing.tenant_usage('x_owned_t') WHERE resource = 'storage';
SELECT billing.unenforce_quota('x_owned.files', 'storage');
SELECT used AS unenforced FROM billing.tenant_usage('x_owned_t') WHERE resource = 'storage';
SELECT billing.enforce_quota('x_owned.files', 'storage', amount_column => 'bytes');
SELECT used AS enforced_again FROM billing.tenant_usage('x_owned_t') WHERE resource = 'storage';
SET ROLE regress_zb_app;
TRUNCATE x_owned.files;
RESET ROLE;
SELECT used AS truncated FROM billing.tenant_usage('x_owned_t') WHERE resource = 'storage';
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_zb_app';
SELECT billing.unenforce_quota('x_owned.files', 'storage');
DROP SCHEMA x_owned CASCADE;

-- Granting the consumption functions lets a role consume through them, still
-- with no privilege on the tables: they run as the extension owner.
GRANT EXECUTE ON FUNCTION billing.consume_quota(text, text, bigint),
                          billing.try_consume_quota(text, text, bigint),
                          billing.check_quota(text, text, bigint),
                          billing.tenant_usage(text)
   TO regress_zb_app;
SET ROLE regress_zb_app;
SELECT billing.check_quota('x_acme', 'storage', 60);
SELECT billing.consume_quota('x_acme', 'storage', 60);
SELECT billing.try_consume_quota('x_acme', 'storage', 60);
SELECT resource, used, hard_limit, status FROM billing.tenant_usage('x_acme') ORDER BY resource;
SELECT billing.consume_quota('x_acme', 'messages');
RESET ROLE;

-- A read-only admin role sees the overview with SELECT alone.
GRANT SELECT ON billing.usage_overview TO regress_zb_reader;
SET ROLE regress_zb_reader;
SELECT tenant_id, resource, used, status FROM billing.usage_overview WHERE tenant_id = 'x_acme' ORDER BY resource;
RESET ROLE;

-- A hostile search_path cannot redirect the extension's internal queries.
-- (pg_catalog is listed after the attacker's schema, so unqualified
-- operators would resolve to the attacker's first.)
CREATE SCHEMA regress_evil;
CREATE FUNCTION regress_evil.always_equal(text, text) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE OPERATOR regress_evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = regress_evil.always_equal);
CREATE FUNCTION regress_evil.zero_sum(bigint, bigint) RETURNS bigint LANGUAGE sql AS 'SELECT 0::bigint';
CREATE OPERATOR regress_evil.+ (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = regress_evil.zero_sum);
CREATE TABLE regress_evil.usage (tenant_id text, resource text, period_start timestamptz, used bigint);
SET search_path = regress_evil, pg_catalog, public;
SELECT billing.consume_quota('x_acme', 'storage', 40);
SELECT billing.try_consume_quota('x_acme', 'storage', 1);
SELECT resource, used FROM billing.tenant_usage('x_acme') ORDER BY resource;
RESET search_path;
SELECT count(*) AS evil_rows FROM regress_evil.usage;

-- SECURITY DEFINER callers and SET ROLE inside a transaction: after an
-- error the session is back to its own role.
BEGIN;
SET LOCAL ROLE regress_zb_app;
SAVEPOINT s;
SELECT billing.consume_quota('x_acme', 'storage', 1);
ROLLBACK TO SAVEPOINT s;
SELECT current_user;
ROLLBACK;
SELECT current_user = session_user AS back_to_session_user;

DROP SCHEMA regress_evil CASCADE;

-- A role the owner delegates configuration to, with the grants the README
-- lists: plans (with their interval CHECK), limits, subscriptions,
-- overrides and resources, through their triggers run as the owner.
CREATE ROLE regress_zb_admin;
GRANT SELECT, INSERT, UPDATE, DELETE ON billing.plans, billing.plan_limits, billing.subscriptions,
      billing.limit_overrides, billing.resources TO regress_zb_admin;
GRANT EXECUTE ON FUNCTION billing.subscribe(text, text, timestamptz) TO regress_zb_admin;
SET ROLE regress_zb_admin;
INSERT INTO billing.plans (plan_id, name) VALUES ('x_delegated', 'Delegated');
INSERT INTO billing.plans (plan_id, name, billing_interval) VALUES ('x_bad', 'Bad', '-1 month 31 days');
INSERT INTO billing.plan_limits VALUES ('x_delegated', 'messages', 3);
SELECT billing.subscribe('x_delegated_t', 'x_delegated', now() - interval '40 days');
UPDATE billing.plans SET billing_interval = '1 year' WHERE plan_id = 'x_delegated';
INSERT INTO billing.limit_overrides VALUES ('x_delegated_t', 'messages', 5);
INSERT INTO billing.resources (resource, kind, unit) VALUES ('x_seats', 'gauge', 'seats');
UPDATE billing.resources SET kind = 'period' WHERE resource = 'x_seats';
DELETE FROM billing.resources WHERE resource = 'x_seats';
RESET ROLE;
SELECT hard_limit FROM billing.tenant_usage('x_delegated_t') WHERE resource = 'messages';
-- The uuid and bigint forms of tenant_usage are enough on their own.
GRANT EXECUTE ON FUNCTION billing.tenant_usage(bigint) TO regress_zb_admin;
SET ROLE regress_zb_admin;
SELECT count(*) > 0 AS bigint_form_works FROM billing.tenant_usage(42::bigint);
RESET ROLE;
DELETE FROM billing.subscriptions WHERE tenant_id = 'x_delegated_t';
DELETE FROM billing.limit_overrides WHERE tenant_id = 'x_delegated_t';
DELETE FROM billing.plans WHERE plan_id = 'x_delegated';
REVOKE ALL ON billing.plans, billing.plan_limits, billing.subscriptions, billing.limit_overrides,
       billing.resources FROM regress_zb_admin;
REVOKE ALL ON FUNCTION billing.subscribe(text, text, timestamptz), billing.tenant_usage(bigint)
    FROM regress_zb_admin;
DROP ROLE regress_zb_admin;
REVOKE ALL ON FUNCTION billing.consume_quota(text, text, bigint), billing.try_consume_quota(text, text, bigint),
       billing.check_quota(text, text, bigint), billing.tenant_usage(text) FROM regress_zb_app;
REVOKE ALL ON billing.usage_overview FROM regress_zb_reader;
DROP TABLE x_messages;
DROP ROLE regress_zb_app;
DROP ROLE regress_zb_reader;
