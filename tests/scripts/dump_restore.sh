#!/usr/bin/env bash
# pg_dump of a database using zechat_billing restores into a fresh database
# with plans, limits, subscriptions, overrides, custom resources, usage and
# the enforcement triggers intact (per row, exact for ON CONFLICT, per
# statement, on partitions), and enforcement keeps working there.
# Both formats: custom (pg_restore) and plain SQL (psql). A restore of the
# application's schema alone leaves its tables unenforced, whole.
source "$(dirname "$0")/../../scripts/lib.sh"

start_cluster dumprestore 54370
trap stop_cluster EXIT

run_sql() { psql -X -q -v ON_ERROR_STOP=1 -d "$1" "${@:2}"; }
fail() { echo "FAILED: $*" >&2; exit 1; }

createdb src
run_sql src >/dev/null <<'SQL'
CREATE EXTENSION zechat_billing;
INSERT INTO billing.resources VALUES
    ('api_calls', 'period', 'calls', 'REST API calls'),
    ('contacts', 'gauge', 'contacts', 'Address book entries');
INSERT INTO billing.plans (plan_id, name, price_cents, currency, billing_interval, active) VALUES
    ('starter', 'Starter', 4900, 'BRL', '1 month', true),
    ('annual', 'Annual', 49000, 'USD', '1 year', true),
    ('legacy', 'Legacy', 100, 'BRL', '1 month', false);
INSERT INTO billing.plan_limits VALUES
    ('starter', 'messages', 5), ('starter', 'storage', 1000), ('starter', 'users', NULL),
    ('starter', 'whatsapp_sessions', 2), ('starter', 'api_calls', 100), ('starter', 'contacts', 10),
    ('annual', 'messages', NULL), ('legacy', 'messages', 1);
SELECT billing.subscribe('acme', 'starter', '2026-01-31 10:00+00');
SELECT billing.subscribe('globex', 'starter', '2026-02-15 00:00+00');
SELECT billing.subscribe('0b6e5a4c-1d2e-4f00-9abc-def012345678', 'starter', '2025-06-01 00:00+00');
SELECT billing.subscribe('annual-customer', 'annual', '2025-06-01 00:00+00');
SELECT billing.subscribe('42', 'starter');
INSERT INTO billing.limit_overrides VALUES ('globex', 'messages', 7), ('acme', 'contacts', NULL);
UPDATE billing.subscriptions SET status = 'suspended' WHERE tenant_id = '42';

CREATE TABLE messages (id bigserial PRIMARY KEY, tenant_id text NOT NULL, body text);
CREATE TABLE files (id bigserial PRIMARY KEY, owner uuid NOT NULL, size_bytes bigint NOT NULL);
CREATE SCHEMA "Chat App";
CREATE TABLE "Chat App"."Chat Sessions" ("Tenant Key" text, "Slots" int);
SELECT billing.enforce_quota('messages', 'messages');
SELECT billing.enforce_quota('files', 'storage', 'owner', 'size_bytes');
SELECT billing.enforce_quota('"Chat App"."Chat Sessions"', 'whatsapp_sessions', 'Tenant Key', 'Slots');
SELECT billing.exact_on_conflict('files');
-- Inserts enforced per statement: the trigger over the new rows.
CREATE TABLE api_log (tenant_id text NOT NULL, calls int NOT NULL);
SELECT billing.enforce_quota('api_log', 'api_calls', amount_column => 'calls');
SELECT billing.enforce_per_statement('api_log');
-- A gauge on a partitioned table: TRUNCATE triggers on the leaves.
CREATE TABLE pfiles (owner uuid NOT NULL, day date NOT NULL, size_bytes int NOT NULL) PARTITION BY RANGE (day);
CREATE TABLE pfiles_jan PARTITION OF pfiles FOR VALUES FROM ('2026-01-01') TO ('2026-02-01');
CREATE TABLE pfiles_feb PARTITION OF pfiles FOR VALUES FROM ('2026-02-01') TO ('2026-03-01');
INSERT INTO pfiles VALUES ('0b6e5a4c-1d2e-4f00-9abc-def012345678', '2026-01-05', 50);
SELECT billing.enforce_quota('pfiles', 'storage', 'owner', 'size_bytes');
INSERT INTO pfiles VALUES ('0b6e5a4c-1d2e-4f00-9abc-def012345678', '2026-02-05', 25);

INSERT INTO messages (tenant_id, body) VALUES ('acme', 'a'), ('acme', 'b'), ('globex', 'c');
INSERT INTO files (owner, size_bytes) VALUES ('0b6e5a4c-1d2e-4f00-9abc-def012345678', 100);
INSERT INTO files (owner, size_bytes) VALUES ('0b6e5a4c-1d2e-4f00-9abc-def012345678', 700);
INSERT INTO "Chat App"."Chat Sessions" VALUES ('acme', 1), ('acme', 1);
SELECT billing.consume_quota('acme', 'api_calls', 40);
INSERT INTO api_log VALUES ('acme', 20), ('acme', 10);
SELECT billing.consume_quota('globex', 'contacts', 3);
-- An enforced table dropped since: its enforcement goes at the drop (its
-- table would be a bare OID, another table's there), and its gauge waits in
-- billing.gauges_to_recount for the next full recount, dumped with the rest.
CREATE TABLE old_files (owner uuid NOT NULL, size_bytes int NOT NULL);
SELECT billing.enforce_quota('old_files', 'storage', 'owner', 'size_bytes');
DROP TABLE old_files;
-- A closed month taken out of usage by a change to a yearly plan.
SELECT billing.subscribe('switcher', 'starter', '2026-01-31 10:00+00');
SELECT billing._set_usage('switcher', 'messages', '2026-01-31 10:00+00', 4);
SELECT billing.subscribe('switcher', 'annual');
-- A subscription deleted: its schedule is kept, and with it its history.
SELECT billing.subscribe('departed', 'starter', '2026-01-31 10:00+00');
SELECT billing._set_usage('departed', 'messages', '2026-01-31 10:00+00', 6);
DELETE FROM billing.subscriptions WHERE tenant_id = 'departed';
SQL

# What must survive, as text to compare.
snapshot() {
    run_sql "$1" -At <<'SQL'
SELECT 'resource', r.* FROM billing.resources r ORDER BY resource;
SELECT 'plan', p.* FROM billing.plans p ORDER BY plan_id;
SELECT 'limit', l.* FROM billing.plan_limits l ORDER BY plan_id, resource;
SELECT 'subscription', s.* FROM billing.subscriptions s ORDER BY tenant_id;
SELECT 'override', o.* FROM billing.limit_overrides o ORDER BY tenant_id, resource;
SELECT 'usage', u.* FROM billing.usage u ORDER BY tenant_id, resource, period_start;
SELECT 'closed', c.* FROM billing.closed_periods c ORDER BY tenant_id, resource, period_start;
SELECT 'ended', e.tenant_id, e.plan_id, e.period_anchor, e.billing_interval
  FROM billing.ended_subscriptions e ORDER BY tenant_id;
SELECT 'history', h.* FROM billing.usage_history h ORDER BY tenant_id, resource, period_start;
SELECT 'enforced', e.tbl::text, e.resource, e.tenant_column, e.amount_column
  FROM billing.enforced_tables e WHERE e.tbl::oid IN (SELECT oid FROM pg_class) ORDER BY 2, 3;
SELECT 'to recount', g.resource FROM billing.gauges_to_recount g ORDER BY 2;
SELECT 'trigger', t.tgrelid::regclass::text, t.tgname, pg_get_triggerdef(t.oid)
  FROM pg_trigger t WHERE NOT t.tgisinternal AND t.tgrelid::regclass::text NOT LIKE 'billing.%'
 ORDER BY 2, 3;
SELECT 'rows', (SELECT count(*) FROM messages), (SELECT sum(size_bytes) FROM files),
       (SELECT count(*) FROM "Chat App"."Chat Sessions"), (SELECT sum(calls) FROM api_log);
SQL
}

snapshot src >/tmp/zb-dump-src.txt
grep -q '^usage|acme|messages|' /tmp/zb-dump-src.txt || fail "the source database has no usage to compare"
grep -q '^closed|switcher|messages|' /tmp/zb-dump-src.txt || fail "the source database has no closed period to compare"
grep -q '^history|departed|messages|' /tmp/zb-dump-src.txt || fail "the source database has no ended subscription's history to compare"
grep -q '^to recount|storage$' /tmp/zb-dump-src.txt || fail "the source database has no gauge of a dropped table to recount"
[ "$(run_sql src -At -c "SELECT count(*) FROM billing.enforced_tables WHERE tbl::oid NOT IN (SELECT oid FROM pg_class)")" = 0 ] ||
    fail "the source database kept the enforcement of a dropped table"

pg_dump -Fc -f /tmp/zb-dump.custom src
pg_dump -f /tmp/zb-dump.sql src

createdb dst_custom
# Under quote_all_identifiers (a role's or a database's setting may carry
# it): until 2026-12-07 the triggers of exact tables were refused then, and
# skipped rows counted again after the restore.
PGOPTIONS='-c quote_all_identifiers=on' pg_restore --exit-on-error -d dst_custom /tmp/zb-dump.custom ||
    fail "pg_restore of the custom dump failed"
createdb dst_plain
run_sql dst_plain -f /tmp/zb-dump.sql >/dev/null || fail "restoring the plain dump failed"

for db in dst_custom dst_plain; do
    snapshot $db >/tmp/zb-dump-$db.txt
    if ! diff -u /tmp/zb-dump-src.txt /tmp/zb-dump-$db.txt; then
        fail "$db differs from the source: plans, limits, subscriptions, overrides, usage or triggers were not restored exactly"
    fi
    stale=$(run_sql $db -At -c "SELECT count(*) FROM billing.enforced_tables WHERE tbl::oid NOT IN (SELECT oid FROM pg_class)")
    [ "$stale" = 0 ] || fail "$db: the enforcement of a dropped table was restored"
    seeded=$(run_sql $db -At -c "SELECT count(*) FROM billing.resources WHERE resource = 'messages'")
    [ "$seeded" = 1 ] || fail "$db: the seeded resource 'messages' appears $seeded times"

    # Enforcement works on the restored database, from the restored usage.
    out=$(run_sql $db -At <<'SQL'
INSERT INTO messages (tenant_id, body) VALUES ('acme', 'c'), ('acme', 'd'), ('acme', 'e');
DO $$
BEGIN
    INSERT INTO messages (tenant_id, body) VALUES ('acme', 'over the limit');
    RAISE EXCEPTION 'the 6th message of acme was accepted';
EXCEPTION WHEN sqlstate 'PT402' THEN
    NULL;
END $$;
DELETE FROM files WHERE size_bytes = 700;
TRUNCATE pfiles_feb;
DELETE FROM pfiles;
-- api_log counts per statement: 70 of 100 calls, 30 more fit, 1 more not.
INSERT INTO api_log VALUES ('acme', 25), ('acme', 5);
DO $$
BEGIN
    INSERT INTO api_log VALUES ('acme', 1);
    RAISE EXCEPTION 'the 101st api call of acme was accepted';
EXCEPTION WHEN sqlstate 'PT402' THEN
    NULL;
END $$;
-- files was made exact for ON CONFLICT: a skipped duplicate counts nothing.
INSERT INTO files (id, owner, size_bytes) SELECT id, owner, size_bytes FROM files ON CONFLICT DO NOTHING;
SELECT resource || '=' || used FROM billing.tenant_usage('acme')
 WHERE resource IN ('api_calls', 'messages', 'whatsapp_sessions')
UNION ALL
SELECT 'storage=' || used FROM billing.tenant_usage('0b6e5a4c-1d2e-4f00-9abc-def012345678'::uuid) WHERE resource = 'storage'
ORDER BY 1;
SQL
    ) || fail "$db: enforcement after restore failed"
    expected=$'api_calls=100\nmessages=5\nstorage=100\nwhatsapp_sessions=2'
    [ "$out" = "$expected" ] || fail "$db: usage after restore is
$out
expected
$expected"
    echo "$db: restored exactly, enforcement works"
done

# The application's schema alone (pg_restore -n public) into a database with
# the extension: its enforcement triggers come without their rows of
# billing.enforced_tables, and are refused (until 2026-12-07 they came back
# and counted rows that recount() and unenforce_quota knew nothing of); the
# tables come back with their rows, unenforced, for enforce_quota.
createdb dst_partial
run_sql dst_partial -c "CREATE EXTENSION zechat_billing"
if pg_restore -n public -d dst_partial /tmp/zb-dump.custom 2>/tmp/zb-dump-partial.err; then
    fail "the partial restore made enforcement triggers without their enforcement"
fi
refused=$(grep -c 'is not one billing.enforce_quota() made' /tmp/zb-dump-partial.err)
others=$(grep 'ERROR:' /tmp/zb-dump-partial.err | grep -vc 'is not one billing.enforce_quota() made' || true)
[ "$refused" -gt 0 ] && [ "$others" = 0 ] || fail "partial restore: $refused triggers refused, $others other errors:
$(cat /tmp/zb-dump-partial.err)"
out=$(run_sql dst_partial -At <<'SQL'
SELECT count(*) FROM pg_trigger WHERE tgfoid = 'billing._enforce_quota_trigger()'::regprocedure;
SELECT count(*) FROM messages;
SELECT billing.enforce_quota('messages', 'messages');
SELECT billing.enforce_quota('files', 'storage', 'owner', 'size_bytes');
SELECT string_agg(tgname, ',' ORDER BY tgname) FROM pg_trigger
 WHERE tgfoid = 'billing._enforce_quota_trigger()'::regprocedure;
SQL
) || fail "partial restore: enforcing the restored tables failed"
expected=$'0\n3\n\n\nzzz_billing_messages_ins,zzz_billing_storage_del,zzz_billing_storage_ins,zzz_billing_storage_trunc,zzz_billing_storage_upd'
[ "$out" = "$expected" ] || fail "partial restore: got
$out
expected
$expected"
echo "dst_partial: $refused enforcement triggers refused, the tables enforced again"
echo "dump/restore: ok"
