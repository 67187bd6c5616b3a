-- DROP EXTENSION and CREATE EXTENSION again in the same session: nothing
-- cached by this backend (terms, plans, trigger layouts) survives the old
-- objects.
INSERT INTO billing.plans (plan_id, name) VALUES ('z_plan', 'Z');
INSERT INTO billing.plan_limits VALUES ('z_plan', 'messages', 1);
SELECT billing.subscribe('z_acme', 'z_plan');
CREATE TABLE z_messages (tenant_id text);
SELECT billing.enforce_quota('z_messages', 'messages');
INSERT INTO z_messages VALUES ('z_acme');
INSERT INTO z_messages VALUES ('z_acme');

-- The enforcement triggers depend on the extension.  (Terse: the list of
-- dependents includes the tables of the earlier suites.)
\set VERBOSITY terse
DROP EXTENSION zechat_billing;
SET client_min_messages = warning;
DROP EXTENSION zechat_billing CASCADE;
RESET client_min_messages;
\set VERBOSITY default
SELECT count(*) AS triggers_left FROM pg_trigger WHERE tgrelid = 'z_messages'::regclass;
INSERT INTO z_messages VALUES ('z_acme');

CREATE EXTENSION zechat_billing;
INSERT INTO billing.plans (plan_id, name) VALUES ('z_plan', 'Z');
INSERT INTO billing.plan_limits VALUES ('z_plan', 'messages', 2);
SELECT billing.subscribe('z_acme', 'z_plan');
SELECT billing.enforce_quota('z_messages', 'messages');
INSERT INTO z_messages VALUES ('z_acme'), ('z_acme');
INSERT INTO z_messages VALUES ('z_acme');
SELECT resource, used, hard_limit FROM billing.tenant_usage('z_acme') WHERE resource = 'messages';
DROP TABLE z_messages;

-- Consuming, then dropping the extension in the same transaction: the
-- commit has nothing left to write to, and succeeds.
INSERT INTO billing.plan_limits VALUES ('z_plan', 'users', 10);
BEGIN;
SELECT billing.consume_quota('z_acme', 'users', 3);
SET client_min_messages = warning;
DROP EXTENSION zechat_billing CASCADE;
RESET client_min_messages;
COMMIT;
CREATE EXTENSION zechat_billing;
SELECT count(*) AS usage_rows FROM billing.usage;

-- Dropping and creating it again in the same transaction: what was
-- consumed under the dropped installation is not written into the new one
-- (twice on one key: lock mode writes the second at commit).
INSERT INTO billing.plans (plan_id, name) VALUES ('z_plan', 'Z');
INSERT INTO billing.plan_limits VALUES ('z_plan', 'messages', 10);
SELECT billing.subscribe('z_acme', 'z_plan');
BEGIN;
SELECT billing.consume_quota('z_acme', 'messages', 3);
SELECT billing.consume_quota('z_acme', 'messages', 4);
SET client_min_messages = warning;
DROP EXTENSION zechat_billing CASCADE;
RESET client_min_messages;
CREATE EXTENSION zechat_billing;
INSERT INTO billing.plans (plan_id, name) VALUES ('z_plan', 'Z');
INSERT INTO billing.plan_limits VALUES ('z_plan', 'messages', 10);
SELECT billing.subscribe('z_acme', 'z_plan');
SELECT billing.consume_quota('z_acme', 'messages', 1) AS new_installation_from_zero;
COMMIT;
SELECT tenant_id, resource, used FROM billing.usage;
SELECT used FROM billing.tenant_usage('z_acme') WHERE resource = 'messages';

-- The extension's owner changed by REASSIGN OWNED, the old owner dropped:
-- internal reads run as the new owner at once, also in a session that ran
-- them as the old one (until 2026-12-06 it kept the dropped role: 42501
-- "permission denied for table usage_parts" until a billing table changed,
-- in a helper's run; here the invalidations of REASSIGN happened to reset
-- the session's caches even without the fix).  Its tables are owned by
-- another role, so REASSIGN changes no table.
CREATE ROLE regress_zb_old_owner SUPERUSER;
SET client_min_messages = warning;
DROP EXTENSION zechat_billing CASCADE;
RESET client_min_messages;
SET ROLE regress_zb_old_owner;
CREATE EXTENSION zechat_billing;
RESET ROLE;
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT c.oid::regclass AS t FROM pg_class c
              WHERE c.relnamespace = 'billing'::regnamespace AND c.relkind IN ('r', 'p') LOOP
        EXECUTE format('ALTER TABLE %s OWNER TO %I', r.t, current_user);
    END LOOP;
END $$;
INSERT INTO billing.plans (plan_id, name) VALUES ('z_plan', 'Z');
INSERT INTO billing.plan_limits VALUES ('z_plan', 'messages', 10);
SELECT billing.subscribe('z_acme', 'z_plan');
SELECT billing.check_quota('z_acme', 'messages', 1) AS as_old_owner;
REASSIGN OWNED BY regress_zb_old_owner TO CURRENT_USER;
DROP OWNED BY regress_zb_old_owner;
DROP ROLE regress_zb_old_owner;
SELECT billing.check_quota('z_acme', 'messages', 1) AS as_new_owner;
SELECT billing.consume_quota('z_acme', 'messages', 2);
SELECT used FROM billing.tenant_usage('z_acme') WHERE resource = 'messages';
