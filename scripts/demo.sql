-- The five-minute tour of zechat_billing (run by scripts/demo.sh; also in README.md).
\set ON_ERROR_STOP 0
\pset footer off

CREATE EXTENSION zechat_billing;

-- 1. Plans and their limits (NULL = unlimited; a resource not listed is not included).
INSERT INTO billing.plans (plan_id, name, price_cents) VALUES
    ('starter', 'Starter', 4900),
    ('pro',     'Pro',     19900);
INSERT INTO billing.plan_limits (plan_id, resource, hard_limit) VALUES
    ('starter', 'messages',          5),
    ('starter', 'storage',           10485760),
    ('starter', 'users',             3),
    ('starter', 'whatsapp_sessions', 1),
    ('pro',     'messages',          100000),
    ('pro',     'storage',           NULL),
    ('pro',     'users',             50),
    ('pro',     'whatsapp_sessions', 10);

-- 2. Subscribe a tenant.
SELECT billing.subscribe('acme', 'starter');

-- 3. The app's own messages table, enforced by triggers: no app code changes.
CREATE TABLE messages (
    id        bigserial PRIMARY KEY,
    tenant_id text NOT NULL,
    body      text NOT NULL,
    sent_at   timestamptz NOT NULL DEFAULT now()
);
SELECT billing.enforce_quota('messages', 'messages');

-- 4. Insert until the plan says no: the 6th message is refused with SQLSTATE PT402.
--    This session listens for usage alerts: at 80 % of the plan (the 4th
--    message), and at 90 and 100 % (the 5th crosses both), a JSON payload
--    arrives when the insert commits.
LISTEN billing_alerts;
INSERT INTO messages (tenant_id, body) VALUES ('acme', 'Olá! 1');
INSERT INTO messages (tenant_id, body) VALUES ('acme', 'Olá! 2'), ('acme', 'Olá! 3');
INSERT INTO messages (tenant_id, body) VALUES ('acme', 'Olá! 4');
INSERT INTO messages (tenant_id, body) VALUES ('acme', 'Olá! 5');
\set VERBOSITY verbose
INSERT INTO messages (tenant_id, body) VALUES ('acme', 'Olá! 6');
\set VERBOSITY default
SELECT count(*) AS messages_stored FROM messages WHERE tenant_id = 'acme';

-- 5. What the tenant's usage screen shows, and the alerts recorded.
SELECT resource, used, hard_limit, remaining, percent, status FROM billing.tenant_usage('acme');
SELECT tenant_id, resource, threshold, used, hard_limit FROM billing.alerts ORDER BY threshold;
UNLISTEN billing_alerts;

-- 6. Calling the quota directly, e.g. before opening a WhatsApp session.
SELECT billing.consume_quota('acme', 'whatsapp_sessions');          -- returns what remains
SELECT billing.try_consume_quota('acme', 'whatsapp_sessions');      -- false instead of PT402

-- 7. Upgrading applies at once and keeps the period and the usage.
SELECT billing.subscribe('acme', 'pro');
INSERT INTO messages (tenant_id, body) VALUES ('acme', 'Olá! 6, now on Pro');
SELECT tenant_id, plan_id, resource, used, hard_limit, percent, status
  FROM billing.usage_overview ORDER BY tenant_id, resource;

-- 8. Storage is a gauge: deletes, updates and TRUNCATE give bytes back.
CREATE TABLE files (id bigserial, tenant_id uuid NOT NULL, size_bytes bigint NOT NULL);
SELECT billing.enforce_quota('files', 'storage', 'tenant_id', 'size_bytes');
SELECT billing.subscribe('7d0c8a52-3f5e-4a8e-9b41-2f6d5c1e0a99'::uuid, 'starter');
INSERT INTO files (tenant_id, size_bytes) VALUES ('7d0c8a52-3f5e-4a8e-9b41-2f6d5c1e0a99', 8000000);
INSERT INTO files (tenant_id, size_bytes) VALUES ('7d0c8a52-3f5e-4a8e-9b41-2f6d5c1e0a99', 4000000);
DELETE FROM files WHERE size_bytes = 8000000;
INSERT INTO files (tenant_id, size_bytes) VALUES ('7d0c8a52-3f5e-4a8e-9b41-2f6d5c1e0a99', 4000000);
SELECT resource, used, hard_limit, percent, status
  FROM billing.tenant_usage('7d0c8a52-3f5e-4a8e-9b41-2f6d5c1e0a99'::uuid) WHERE resource = 'storage';

-- 9. Billing periods roll over at each tenant's anchor with no job to run, and
--    closed periods stay in billing.usage_history.  A plan billed every
--    2 seconds stands in for a monthly one here.
INSERT INTO billing.plans (plan_id, name, billing_interval) VALUES ('fast', 'Fast', '2 seconds');
INSERT INTO billing.plan_limits (plan_id, resource, hard_limit) VALUES ('fast', 'messages', 3);
SELECT billing.subscribe('globex', 'fast');
INSERT INTO messages (tenant_id, body) SELECT 'globex', 'hi ' || g FROM generate_series(1, 3) g;
SELECT pg_sleep(2.1);
INSERT INTO messages (tenant_id, body) VALUES ('globex', 'a new period, a new quota');
SELECT tenant_id, resource, period_end - period_start AS period, used, hard_limit
  FROM billing.usage_history WHERE tenant_id = 'globex';
SELECT resource, used, hard_limit FROM billing.tenant_usage('globex') WHERE resource = 'messages';
