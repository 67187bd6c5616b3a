#!/usr/bin/env bash
# Shared-memory mode loads a counter from usage_parts while the entry waits,
# in state "loading", for its loader; everyone else wanting that key sleeps
# until the load ends (src/pg/counter_shmem.cpp).  A loader that dies with
# FATAL in the middle (pg_terminate_backend, a lost client) must still free
# the entry: FATAL does not unwind through PG_CATCH, so without an exit
# callback the key would hang every later consumption until a restart.
#
# The loader is stopped inside the load (gdb, at read_usage_parts: a
# loader takes every lock the load needs before it marks the entry, so no
# lock can hold it up there any more), terminated, and let go: it dies with
# FATAL during the load; then the key must work.
source "$(dirname "$0")/../../scripts/lib.sh"

install_packages gdb

session_pid=
gdb_pid=
work=
cleanup() {
    [ -z "$work" ] || touch "$work/go" 2>/dev/null || true # gdb lets the backend go on
    [ -z "$gdb_pid" ] || kill "$gdb_pid" 2>/dev/null || true
    exec 3>&- || true
    [ -z "$session_pid" ] || wait "$session_pid" 2>/dev/null || true
    stop_cluster
}
trap cleanup EXIT
fail() { echo "FAILED: $*" >&2; exit 1; }
q() { psql -X -At -v ON_ERROR_STOP=1 -d loads -c "$1"; }

# wait_for FILE PATTERN: until FILE has a line matching PATTERN (60 s).
wait_for() { wait_for_line "$1" "$2" || fail "timed out waiting for \"$2\" in $1"; }

start_cluster counter_load_terminated 54415 "shared_preload_libraries = 'zechat_billing'"
createdb loads
psql -X -q -v ON_ERROR_STOP=1 -d loads >/dev/null <<'SQL'
CREATE EXTENSION zechat_billing;
INSERT INTO billing.plans (plan_id, name) VALUES ('p', 'P');
INSERT INTO billing.plan_limits VALUES ('p', 'messages', 100);
SELECT billing.subscribe('t1', 'p');
SQL

# The loader reads its statements from a FIFO, so that gdb can attach to
# its backend before the consumption starts.
work=$CLUSTER_DIR/work
mkdir -p "$work"
mkfifo "$work/session.in"
psql -X -At -d loads <"$work/session.in" >"$work/session.out" 2>&1 &
session_pid=$!
exec 3>"$work/session.in"
echo "SELECT 'backend ' || pg_backend_pid();" >&3
wait_for "$work/session.out" '^backend '
backend=$(sed -n 's/^backend //p' "$work/session.out")

stop_backend_at "$backend" 'zechat::billing::pg::read_usage_parts' "$work"
gdb_pid=$GDB_PID
wait_for "$work/gdb.log" '^armed'

# Its first consumption of t1 places the counter and stops in the load.
echo "SELECT billing.consume_quota('t1', 'messages');" >&3
wait_until 60 test -e "$work/stopped" ||
    { cat "$work/gdb.log"; fail "the loader never reached read_usage_parts"; }
[ "$(q "SELECT state FROM billing.counters WHERE tenant_id = 't1'")" = loading ] ||
    fail "the counter is not being loaded"

# Terminated while stopped: the signal is handled once gdb lets it go, at
# the first interrupt check of the load's query.
q "SELECT pg_terminate_backend($backend)" >/dev/null
touch "$work/go"
wait "$gdb_pid" 2>/dev/null || true
gdb_pid=
exec 3>&-
wait "$session_pid" 2>/dev/null || true
session_pid=
grep -q "terminating connection" "$work/session.out" ||
    { cat "$work/session.out"; fail "the loader was not terminated during the load"; }
grep -q "^99$" "$work/session.out" && fail "the terminated loader's consumption succeeded"

# The key works again: loaded afresh, counted once.
out=$(psql -X -At -d loads -c "SET statement_timeout = '20s'" \
    -c "SELECT billing.consume_quota('t1', 'messages')" 2>&1) ||
    fail "t1 is stuck after its loader was terminated: $out"
[ "$(q "SELECT state || ' ' || committed FROM billing.counters WHERE tenant_id = 't1'")" = "ready 1" ] ||
    fail "counter: $(q "SELECT * FROM billing.counters WHERE tenant_id = 't1'")"
[ "$(q "SELECT used FROM billing.usage WHERE tenant_id = 't1'")" = 1 ] || fail "usage is not 1"
echo "counter_load_terminated: ok"
