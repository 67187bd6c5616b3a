-- Configuration and usage tables.
--
-- All of them are extension configuration tables (pg_extension_config_dump
-- below), so pg_dump keeps the rows users add; only the seeded resources are
-- left out, because CREATE EXTENSION recreates them.

\echo Use "CREATE EXTENSION zechat_billing" to load this file. \quit

CREATE TABLE billing.resources (
    resource    text PRIMARY KEY
                CHECK (resource ~ '^[a-z][a-z0-9_]*$' AND octet_length(resource) <= 40),
    kind        text NOT NULL CHECK (kind IN ('period', 'gauge')),
    unit        text NOT NULL,
    description text
);
COMMENT ON TABLE billing.resources IS
    'What plans can limit. kind period: usage restarts each billing period; gauge: a level that goes up and down.';

INSERT INTO billing.resources (resource, kind, unit, description) VALUES
    ('messages',          'period', 'messages', 'WhatsApp messages sent in the billing period'),
    ('storage',           'gauge',  'bytes',    'Bytes of media and files stored'),
    ('users',             'gauge',  'users',    'User accounts of the tenant'),
    ('whatsapp_sessions', 'gauge',  'sessions', 'Connected WhatsApp sessions');

-- A billing interval must step forward: positive, with no month, day or
-- time part negative (with mixed signs k steps need not move on: March 31
-- + '-1 month 31 days' is March 31 again).
CREATE FUNCTION billing._valid_billing_interval(interval)
RETURNS boolean AS 'MODULE_PATHNAME', 'zb_valid_billing_interval'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TABLE billing.plans (
    plan_id          text PRIMARY KEY CHECK (plan_id <> ''),
    name             text NOT NULL,
    price_cents      bigint NOT NULL DEFAULT 0 CHECK (price_cents >= 0),
    currency         text NOT NULL DEFAULT 'BRL' CHECK (currency ~ '^[A-Z]{3}$'),
    billing_interval interval NOT NULL DEFAULT '1 month'
                     CHECK (billing._valid_billing_interval(billing_interval)),
    active           boolean NOT NULL DEFAULT true
);
COMMENT ON TABLE billing.plans IS 'Plans on sale (active) or kept for existing subscribers.';

CREATE TABLE billing.plan_limits (
    plan_id    text NOT NULL REFERENCES billing.plans ON UPDATE CASCADE ON DELETE CASCADE,
    resource   text NOT NULL REFERENCES billing.resources ON UPDATE CASCADE ON DELETE CASCADE,
    hard_limit bigint CHECK (hard_limit >= 0),
    PRIMARY KEY (plan_id, resource)
);
COMMENT ON TABLE billing.plan_limits IS
    'Hard limit per plan and resource; NULL = unlimited; a resource without a row is not included (limit 0).';

CREATE TABLE billing.subscriptions (
    tenant_id     text PRIMARY KEY CHECK (octet_length(tenant_id) BETWEEN 1 AND 63),
    plan_id       text NOT NULL REFERENCES billing.plans ON UPDATE CASCADE,
    period_anchor timestamptz NOT NULL DEFAULT now() CHECK (isfinite(period_anchor)),
    status        text NOT NULL DEFAULT 'active'
                  CHECK (status IN ('active', 'suspended', 'canceled'))
);
CREATE INDEX ON billing.subscriptions (plan_id);
COMMENT ON TABLE billing.subscriptions IS 'Which plan each tenant is on, since when, and whether it may consume.';

CREATE TABLE billing.limit_overrides (
    tenant_id  text NOT NULL CHECK (octet_length(tenant_id) BETWEEN 1 AND 63),
    resource   text NOT NULL REFERENCES billing.resources ON UPDATE CASCADE ON DELETE CASCADE,
    hard_limit bigint CHECK (hard_limit >= 0),
    PRIMARY KEY (tenant_id, resource)
);
COMMENT ON TABLE billing.limit_overrides IS
    'Per-tenant limit replacing the plan''s (custom plans); NULL = unlimited.';

-- Committed usage, in parts: the usage of a (tenant, resource, period) is
-- the sum of its rows here.  Period resources have rows per billing period
-- (period_start); gauges use period_start = -infinity.
--   writer 0   is written by lock mode, under that row's lock, which is what
--              serialises the consumers of a key (see docs/how-it-works.md);
--   writer n   is written only by the backend with BackendId n in
--              shared-memory mode, once per committing transaction, so no two
--              transactions in flight ever write the same row and nothing
--              waits on a hot row.
-- A part may be negative (a gauge released by another backend than the one
-- that consumed it); the sum never is.  Both modes read the sum, so a server
-- restarted in the other mode loses and double-counts nothing.
-- Written only by the extension's functions, with the extension owner's
-- rights; no role needs, or should get, privileges on it.
CREATE TABLE billing.usage_parts (
    tenant_id    text NOT NULL,
    resource     text NOT NULL,
    period_start timestamptz NOT NULL,
    writer       integer NOT NULL,  -- no CHECK: it would be evaluated on every write
    used         bigint NOT NULL,
    PRIMARY KEY (tenant_id, resource, period_start, writer)
) WITH (fillfactor = 80);
-- fillfactor: every committing transaction updates a row here (HOT, `used`
-- is not indexed).  The room left on each page lets the new versions stay on
-- the page, and lets shared-memory mode prune a page once per some twenty
-- updates instead of once per update (own_usage_part.cpp).
COMMENT ON TABLE billing.usage_parts IS
    'Committed usage per tenant, resource and period, in parts summed by billing.usage. Do not edit; use recount.';

-- The parts shared-memory mode writes (writer <> 0), which lock mode adds to
-- writer 0's row when there are any (usage_store.cpp, other_parts_exist):
-- this index answers whether there are without reading the table, which a
-- database kept in lock mode holds none of.  Updates stay HOT: they change
-- only `used`.
CREATE INDEX usage_parts_other_writers ON billing.usage_parts (writer)
    WHERE writer OPERATOR(pg_catalog.<>) 0;

-- TRUNCATE of this table (a reset of all usage, though it says "do not
-- edit") takes shared-memory mode's counters with it, which would keep the
-- old usage (src/pg/usage_parts_truncated.cpp).  ALWAYS: also under
-- session_replication_role = replica.
CREATE FUNCTION billing._usage_parts_truncated()
RETURNS trigger
AS 'MODULE_PATHNAME', 'zb_usage_parts_truncated'
LANGUAGE C;
CREATE TRIGGER counters_truncated
    AFTER TRUNCATE ON billing.usage_parts
    FOR EACH STATEMENT EXECUTE FUNCTION billing._usage_parts_truncated();
ALTER TABLE billing.usage_parts ENABLE ALWAYS TRIGGER counters_truncated;

-- A hand INSERT, UPDATE or DELETE of this table (also COPY, MERGE) makes
-- shared-memory mode's counters of the database load it again, as a
-- TRUNCATE does; the extension's own statements pass
-- (src/pg/usage_parts_edited.cpp).  A statement trigger: the writes of
-- every committing transaction do not go through the executor.
CREATE FUNCTION billing._usage_parts_edited()
RETURNS trigger
AS 'MODULE_PATHNAME', 'zb_usage_parts_edited'
LANGUAGE C;
CREATE TRIGGER counters_edited
    BEFORE INSERT OR UPDATE OR DELETE ON billing.usage_parts
    FOR EACH STATEMENT EXECUTE FUNCTION billing._usage_parts_edited();
ALTER TABLE billing.usage_parts ENABLE ALWAYS TRIGGER counters_edited;

CREATE VIEW billing.usage AS
SELECT tenant_id, resource, period_start, sum(used)::bigint AS used
  FROM billing.usage_parts
 GROUP BY tenant_id, resource, period_start
HAVING sum(used) <> 0;
COMMENT ON VIEW billing.usage IS
    'Committed usage per tenant, resource and period (gauges: period_start = -infinity); keys without usage are left out.';

-- Tables whose changes consume or release a resource (see enforce_quota).
CREATE TABLE billing.enforced_tables (
    tbl           regclass NOT NULL,
    resource      text NOT NULL REFERENCES billing.resources ON UPDATE CASCADE,
    tenant_column name NOT NULL,
    amount_column name,
    PRIMARY KEY (tbl, resource)
);
COMMENT ON TABLE billing.enforced_tables IS 'Tables enforced by billing.enforce_quota and how.';

-- Gauges one of whose enforced tables was dropped since the last full
-- recount(), which takes back what the dropped rows held.  The table's row
-- of enforced_tables goes at the drop (062_enforced_columns_ddl.sql): kept
-- until then, as before 2026-12-06, it named the table by its OID, which
-- PostgreSQL gives out again once its OID counter wraps around; a table
-- created then was taken for the enforced one (recount() counted its rows,
-- or failed for the whole database; a helper's hunt).
CREATE TABLE billing.gauges_to_recount (
    resource text PRIMARY KEY
);
COMMENT ON TABLE billing.gauges_to_recount IS
    'Gauges whose enforced tables were dropped since the last full billing.recount(), which takes back what their rows held.';

SELECT pg_catalog.pg_extension_config_dump('billing.resources',
    $$WHERE resource NOT IN ('messages', 'storage', 'users', 'whatsapp_sessions')$$);
SELECT pg_catalog.pg_extension_config_dump('billing.plans', '');
SELECT pg_catalog.pg_extension_config_dump('billing.plan_limits', '');
SELECT pg_catalog.pg_extension_config_dump('billing.subscriptions', '');
SELECT pg_catalog.pg_extension_config_dump('billing.limit_overrides', '');
SELECT pg_catalog.pg_extension_config_dump('billing.usage_parts', '');
-- Not the rows of tables dropped since (kept for recount, which takes back
-- their share): a dump writes such a row's table as a bare OID, which in
-- the restored database may name another table.
SELECT pg_catalog.pg_extension_config_dump('billing.enforced_tables',
    $$WHERE tbl::oid IN (SELECT c.oid FROM pg_catalog.pg_class c)$$);
SELECT pg_catalog.pg_extension_config_dump('billing.gauges_to_recount', '');
