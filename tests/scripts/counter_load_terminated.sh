#!/usr/bin/env bash
# Shared-memory mode loads a counter from usage_parts while the entry waits,
# in state "loading", for its loader; everyone else wanting that key sleeps
# until the load ends (src/pg/counter_shmem.cpp).  A loader that dies with
# FATAL in the middle (pg_terminate_backend, a lost client) must still free
# the entry: FATAL does not unwind through PG_CATCH, so without an exit
# callback the key would hang every later consumption until a restart.
#
# The load is held up by a session that has billing.usage_parts locked; the
# loader is terminated while it waits for that lock; then the key must work.
source "$(dirname "$0")/../../scripts/lib.sh"

holder_pid=
cleanup() {
    [ -z "$holder_pid" ] || kill "$holder_pid" 2>/dev/null || true
    stop_cluster
}
trap cleanup EXIT
fail() { echo "FAILED: $*" >&2; exit 1; }
q() { psql -X -At -v ON_ERROR_STOP=1 -d loads -c "$1"; }

is_true() { [ "$(q "$1")" = t ]; }
# until_true SQL: waits (30 s at most) until the query returns t.
until_true() { wait_until 30 is_true "$1" || fail "timed out waiting for: $1"; }

start_cluster counter_load_terminated 54415 "shared_preload_libraries = 'zechat_billing'"
createdb loads
psql -X -q -v ON_ERROR_STOP=1 -d loads >/dev/null <<'SQL'
CREATE EXTENSION zechat_billing;
INSERT INTO billing.plans (plan_id, name) VALUES ('p', 'P');
INSERT INTO billing.plan_limits VALUES ('p', 'messages', 100);
SELECT billing.subscribe('t1', 'p');
SQL

# The holder keeps usage_parts locked until it is killed.
psql -X -q -d loads -c "BEGIN" -c "LOCK TABLE billing.usage_parts IN ACCESS EXCLUSIVE MODE" \
    -c "SELECT pg_sleep(120)" >/dev/null 2>&1 &
holder_pid=$!
until_true "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(120)%')"

# The loader: its first consumption of t1 places the counter and waits for
# the lock inside the load.
psql -X -q -d loads -c "SELECT billing.consume_quota('t1', 'messages')" >/dev/null 2>&1 &
loader=$!
until_true "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE wait_event_type = 'Lock'
                             AND query LIKE '%consume_quota(''t1''%')"
[ "$(q "SELECT state FROM billing.counters WHERE tenant_id = 't1'")" = loading ] ||
    fail "the counter is not being loaded"

q "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
    WHERE wait_event_type = 'Lock' AND query LIKE '%consume_quota(''t1''%'" >/dev/null
wait "$loader" && fail "the terminated loader's consumption succeeded"
kill "$holder_pid" 2>/dev/null || true
wait "$holder_pid" 2>/dev/null || true
holder_pid=
q "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(120)%'" >/dev/null
until_true "SELECT NOT EXISTS (SELECT FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(120)%')"

# The key works again: loaded afresh, counted once.
out=$(psql -X -At -d loads -c "SET statement_timeout = '20s'" \
    -c "SELECT billing.consume_quota('t1', 'messages')" 2>&1) ||
    fail "t1 is stuck after its loader was terminated: $out"
[ "$(q "SELECT state || ' ' || committed FROM billing.counters WHERE tenant_id = 't1'")" = "ready 1" ] ||
    fail "counter: $(q "SELECT * FROM billing.counters WHERE tenant_id = 't1'")"
[ "$(q "SELECT used FROM billing.usage WHERE tenant_id = 't1'")" = 1 ] || fail "usage is not 1"
echo "counter_load_terminated: ok"
