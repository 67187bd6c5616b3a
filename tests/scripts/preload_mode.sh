#!/usr/bin/env bash
# With the library in shared_preload_libraries: the postmaster setting
# zechat_billing.max_counters exists and cannot change at run time;
# billing.counters shows what shared memory holds (committed, reserved,
# releasing, limit); a transaction that needs more counters than exist is
# refused with 53400 and frees them on abort; a dropped and re-created
# extension starts from fresh counters.  (The pg_regress and isolation
# suites also run on such a server: see scripts/test.sh.)
source "$(dirname "$0")/../../scripts/lib.sh"

start_cluster preload 54396 "shared_preload_libraries = 'zechat_billing'" "zechat_billing.max_counters = 100"
trap stop_cluster EXIT
fail() { echo "FAILED: $*" >&2; exit 1; }

q() { psql -X -At -v ON_ERROR_STOP=1 -d postgres -c "$1"; }
q "CREATE EXTENSION zechat_billing" >/dev/null
[ "$(q "SHOW zechat_billing.max_counters")" = 100 ] || fail "zechat_billing.max_counters is not 100"
[ "$(q "SELECT context FROM pg_settings WHERE name = 'zechat_billing.max_counters'")" = postmaster ] ||
    fail "zechat_billing.max_counters must be a postmaster setting"
[ "$(q "SELECT count(*) FROM billing.counters")" = 0 ] || fail "billing.counters should start empty"
state=$(psql -X -At -v VERBOSITY=sqlstate -d postgres -c "SET zechat_billing.max_counters = 10" 2>&1 || true)
echo "$state" | grep -q 55P02 || fail "max_counters must not be settable at run time, got: $state"

psql -X -q -v ON_ERROR_STOP=1 -d postgres >/dev/null <<'SQL'
INSERT INTO billing.plans (plan_id, name) VALUES ('p', 'Preload');
INSERT INTO billing.plan_limits VALUES ('p', 'messages', 10), ('p', 'storage', 500);
SELECT billing.subscribe('acme', 'p');
SELECT billing.subscribe('t' || g, 'p') FROM generate_series(1, 150) g;
SELECT billing.consume_quota('acme', 'messages', 3);
SELECT billing.consume_quota('acme', 'storage', 200);
SQL

counters() { q "SELECT string_agg(resource || ':' || committed || '/' || reserved || '/' || releasing
                                  || '/' || coalesce(hard_limit::text, 'unlimited'), ' ' ORDER BY resource)
                  FROM billing.counters WHERE tenant_id = 'acme'"; }
[ "$(counters)" = "messages:3/0/0/10 storage:200/0/0/500" ] || fail "counters after commit: $(counters)"
# Inside a transaction: what it reserves and releases, until it ends.
in_flight=$(psql -X -q -At -v ON_ERROR_STOP=1 -d postgres <<'SQL'
BEGIN;
SELECT billing.consume_quota('acme', 'messages', 2) \g /dev/null
SELECT billing.release_quota('acme', 'storage', 50) \g /dev/null
SELECT string_agg(resource || ':' || committed || '/' || reserved || '/' || releasing, ' ' ORDER BY resource)
  FROM billing.counters WHERE tenant_id = 'acme';
ROLLBACK;
SQL
)
[ "$in_flight" = "messages:3/2/0 storage:200/0/50" ] || fail "counters in flight: $in_flight"
[ "$(counters)" = "messages:3/0/0/10 storage:200/0/0/500" ] || fail "counters after rollback: $(counters)"

# 150 tenants in one transaction need 150 counters at once: refused, clearly.
state=$(psql -X -At -v VERBOSITY=sqlstate -d postgres \
    -c "SELECT billing.consume_quota('t' || g, 'messages') FROM generate_series(1, 150) g" 2>&1 || true)
echo "$state" | grep -q 53400 || fail "a transaction needing more counters than exist: $state"
[ "$(q "SELECT count(*) FROM billing.counters WHERE reserved <> 0")" = 0 ] ||
    fail "the refused transaction left reservations behind"
# The same work in smaller transactions goes through, evicting idle counters.
for start in 1 51 101; do
    q "SELECT billing.consume_quota('t' || g, 'messages') FROM generate_series($start, $((start + 49))) g" >/dev/null
done
[ "$(q "SELECT count(*) FROM billing.usage WHERE tenant_id LIKE 't%' AND used = 1")" = 150 ] ||
    fail "not every tenant got its message"

# A re-created extension starts from its own (empty) usage, not old counters.
q "DROP EXTENSION zechat_billing" >/dev/null
q "CREATE EXTENSION zechat_billing" >/dev/null
[ "$(q "SELECT count(*) FROM billing.counters")" = 0 ] || fail "old counters shown after re-creation"
psql -X -q -v ON_ERROR_STOP=1 -d postgres >/dev/null <<'SQL'
INSERT INTO billing.plans (plan_id, name) VALUES ('p', 'Preload');
INSERT INTO billing.plan_limits VALUES ('p', 'messages', 10);
SELECT billing.subscribe('acme', 'p');
SQL
[ "$(q "SELECT billing.consume_quota('acme', 'messages', 10)")" = 0 ] ||
    fail "the re-created extension did not start from zero usage"
echo "preload mode: ok"
