#!/usr/bin/env bash
# A transaction leaves the list of running ones before it sends the
# invalidation messages that make backends drop the terms they cached.  A
# limit change caught in that instant (gdb stops its backend at
# AtEOXact_Inval, inside its COMMIT) is committed for every new snapshot,
# and a backend that cached the tenant's terms must not consume under the
# old limit any more: shared-memory mode counts the commit in shared memory
# before that instant ends (config_invalidation.cpp), and the consumer drops
# its cache.  Until 2026-12-05 it consumed 3 more under the old limit of 5
# although it could read the new limit of 1.  Lock mode has no shared
# memory of its own and keeps that instant (README, Known limits): this
# runs in shared-memory mode only.
source "$(dirname "$0")/../../scripts/lib.sh"

install_packages gdb

consumer_pid=
changer_pid=
gdb_pid=
work=
cleanup() {
    [ -z "$work" ] || touch "$work/go" 2>/dev/null || true # gdb lets the backend go on
    [ -z "$gdb_pid" ] || kill "$gdb_pid" 2>/dev/null || true
    exec 3>&- 4>&- || true
    [ -z "$consumer_pid" ] || wait "$consumer_pid" 2>/dev/null || true
    [ -z "$changer_pid" ] || wait "$changer_pid" 2>/dev/null || true
    stop_cluster
}
trap cleanup EXIT
fail() { echo "FAILED: $*" >&2; exit 1; }
q() { psql -X -At -v ON_ERROR_STOP=1 -d window -c "$1"; }
wait_for() { wait_for_line "$1" "$2" || fail "timed out waiting for \"$2\" in $1"; }

start_cluster config_commit_window 54421 "shared_preload_libraries = 'zechat_billing'"
createdb window
psql -X -q -v ON_ERROR_STOP=1 -d window >/dev/null <<'SQL'
CREATE EXTENSION zechat_billing;
INSERT INTO billing.plans (plan_id, name) VALUES ('cw_p', 'Commit window');
INSERT INTO billing.plan_limits VALUES ('cw_p', 'messages', 5);
SELECT billing.subscribe('cw_t', 'cw_p');
SQL
work=$CLUSTER_DIR/work
mkdir -p "$work"
mkfifo "$work/consumer.in" "$work/changer.in"
# Both sessions read their statements from a FIFO: one backend each
# throughout, the consumer's with the terms it cached.
psql -X -At -d window <"$work/consumer.in" >"$work/consumer.out" 2>&1 &
consumer_pid=$!
exec 3>"$work/consumer.in"
psql -X -At -d window <"$work/changer.in" >"$work/changer.out" 2>&1 &
changer_pid=$!
exec 4>"$work/changer.in"

echo "SELECT billing.consume_quota('cw_t', 'messages', 1);" >&3
echo "SELECT 'cached';" >&3
wait_for "$work/consumer.out" '^cached'

echo "BEGIN;" >&4
echo "UPDATE billing.plan_limits SET hard_limit = 1 WHERE plan_id = 'cw_p';" >&4
echo "SELECT 'backend ' || pg_backend_pid();" >&4
wait_for "$work/changer.out" '^backend '
backend=$(sed -n 's/^backend //p' "$work/changer.out")
stop_backend_at "$backend" 'AtEOXact_Inval' "$work"
gdb_pid=$GDB_PID
wait_for "$work/gdb.log" '^armed'
echo "COMMIT;" >&4
wait_until 60 test -e "$work/stopped" ||
    { cat "$work/gdb.log"; fail "the changer never reached AtEOXact_Inval"; }
[ "$(q "SELECT hard_limit FROM billing.plan_limits WHERE plan_id = 'cw_p'")" = 1 ] ||
    fail "the change is not committed for new snapshots"

echo "SELECT 'fits ' || billing.try_consume_quota('cw_t', 'messages', 3);" >&3
wait_for "$work/consumer.out" '^fits '
touch "$work/go"
wait "$gdb_pid" || true
gdb_pid=
echo "SELECT 'done';" >&4
wait_for "$work/changer.out" '^done'
exec 3>&- 4>&-
wait "$consumer_pid" "$changer_pid" || true
consumer_pid=
changer_pid=

fits=$(sed -n 's/^fits //p' "$work/consumer.out")
used=$(q "SELECT used FROM billing.tenant_usage('cw_t') WHERE resource = 'messages'")
echo "3 more under the new limit of 1, with 1 used: admitted $fits; used $used"
[ "$fits" = false ] && [ "$used" = 1 ] || fail "consumed under the old limit"
stop_cluster
echo "config commit window (shared_memory): ok"
