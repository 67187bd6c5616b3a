#!/usr/bin/env bash
# A limit lowered on a publisher by a prepared transaction and applied on a
# subscriber in shared-memory mode by a subscription with two_phase: the
# apply worker prepares the change, then commits it without the COMMIT
# PREPARED statement that the extension counts as a configuration change
# (config_invalidation.cpp).  A backend of the subscriber that starts
# after it must consume under the new limit, not under terms another
# backend shared before it.  The worker itself takes the change's
# invalidation messages (which also make shared terms out of date) only
# when it next looks, up to a second later when idle: gdb stops it right
# after its commit, before it looks.  Until 2026-12-06 a new backend then
# consumed under the old limit.
#
#   1. the publisher lowers t1's limit from 5 to 2 with PREPARE
#      TRANSACTION; once the subscriber has prepared it, a session there
#      consumes 2 under the old limit (and shares its terms);
#   2. the publisher commits it; the subscriber's worker commits it and
#      stops;
#   3. a new session of the subscriber asks for 1 more: refused (PT402).
source "$(dirname "$0")/../../scripts/lib.sh"

install_packages gdb

PUBLISHER=/tmp/zb-replicated_prepared_pub
work=
gdb_pid=
cleanup() {
    [ -z "$work" ] || touch "$work/go" 2>/dev/null || true # gdb lets the worker go on
    [ -z "$gdb_pid" ] || kill "$gdb_pid" 2>/dev/null || true
    stop_cluster_dir "$PUBLISHER"
    stop_cluster
}
trap cleanup EXIT
fail() { echo "FAILED: $*" >&2; exit 1; }
pub() { psql -X -At -v ON_ERROR_STOP=1 -h "$PUBLISHER" -p 54428 -d terms -c "$1"; }
sub() { psql -X -At -v ON_ERROR_STOP=1 -d terms -c "$1"; }
# consume N on the subscriber, in a new backend: ok, or the SQLSTATE of the refusal
consume() { consumption_outcome terms t1 messages "$1"; }
# The same plan and tenant on both sides; only plan_limits is replicated.
SETUP="CREATE EXTENSION zechat_billing;
INSERT INTO billing.plans (plan_id, name) VALUES ('small', 'Small');
INSERT INTO billing.plan_limits VALUES ('small', 'messages', 5);
SELECT billing.subscribe('t1', 'small');"

start_cluster replicated_prepared_pub 54428 "wal_level = logical"
createdb terms
psql -X -q -v ON_ERROR_STOP=1 -d terms -c "$SETUP" >/dev/null
pub "CREATE PUBLICATION limits FOR TABLE billing.plan_limits" >/dev/null

start_cluster replicated_prepared_sub 54429 "shared_preload_libraries = 'zechat_billing'"
createdb terms
psql -X -q -v ON_ERROR_STOP=1 -d terms -c "$SETUP" >/dev/null
sub "CREATE SUBSCRIPTION limits CONNECTION 'host=$PUBLISHER port=54428 dbname=terms user=postgres'
     PUBLICATION limits WITH (copy_data = false, two_phase = true)" >/dev/null
two_phase_enabled() {
    [ "$(sub "SELECT subtwophasestate FROM pg_subscription WHERE subname = 'limits'")" = e ]
}
wait_until 60 two_phase_enabled || fail "two_phase was never enabled"

pub "BEGIN;
     UPDATE billing.plan_limits SET hard_limit = 2 WHERE plan_id = 'small';
     PREPARE TRANSACTION 'lower'" >/dev/null
prepared_applied() {
    [ "$(sub "SELECT count(*) FROM pg_prepared_xacts")" = 1 ]
}
wait_until 60 prepared_applied || fail "the subscriber never prepared the change"
# Read (and shared) while the change is prepared there: the old limit holds.
[ "$(consume 2)" = ok ] || fail "a prepared change took effect before its commit"

work=$CLUSTER_DIR/work
mkdir -p "$work"
worker=$(sub "SELECT pid FROM pg_stat_subscription WHERE subname = 'limits'")
# Stopped once it has committed the prepared change: at the statistics
# report that follows the commit (apply_handle_commit_prepared).
stop_backend_at "$worker" FinishPreparedTransaction "$work" 'break pgstat_report_stat' continue
gdb_pid=$GDB_PID
wait_for_line "$work/gdb.log" '^armed' || fail "gdb never attached to the apply worker"
pub "COMMIT PREPARED 'lower'" >/dev/null
wait_until 60 test -e "$work/stopped" || { cat "$work/gdb.log" >&2; fail "the worker never stopped"; }
[ "$(sub "SELECT count(*) FROM pg_prepared_xacts")" = 0 ] &&
    [ "$(sub "SELECT hard_limit FROM billing.plan_limits WHERE plan_id = 'small'")" = 2 ] ||
    fail "the worker stopped before it committed the change"
answer=$(consume 1) || true
echo "1 more at 2 of a limit lowered to 2 by a replicated COMMIT PREPARED, from a new backend: $answer"
[ "$answer" = PT402 ] ||
    fail "a new backend consumed under the limit a replicated prepared change replaced"
touch "$work/go"
wait "$gdb_pid" || true
gdb_pid=
[ "$(sub "SELECT used FROM billing.tenant_usage('t1') WHERE resource = 'messages'")" = 2 ] ||
    fail "usage is not what was admitted"
echo "replicated_prepared_terms: ok"
