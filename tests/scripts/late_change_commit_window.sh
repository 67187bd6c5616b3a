#!/usr/bin/env bash
# A schedule change (a plan of 20 s to one of 14 s, same anchor A) made in a
# transaction whose period [A, A+20 s) has ended by its COMMIT is checked
# again at PRE_COMMIT (late_schedule_changes.cpp) for usage committed or in
# flight in the tenant's later periods under the old schedule.  gdb stops
# the changer's backend at the entry of ProcArrayEndTransaction, inside its
# COMMIT: after that check and its commit record, before it leaves the
# running transactions and releases its locks.  A consumer's first
# consumption then reads the old schedule; until 2026-12-07 it was admitted
# at once in [A+20 s, A+40 s), which the new schedule's periods leave out,
# and the new current period [A+14 s, A+28 s) admitted 5 more: 10 of 5.
# Now the check claims the tenant's keys of those periods first, as a change
# claims the keys it moves: the consumer waits for the change's commit and
# is decided under the new schedule, and the 5 more are refused before
# A+28 s.  Runs in both modes.
source "$(dirname "$0")/../../scripts/lib.sh"

install_packages gdb

work=
trap 'end_test_with_gdb "$work"' EXIT
fail() { echo "FAILED ($MODE): $*" >&2; exit 1; }
q() { psql -X -At -v ON_ERROR_STOP=1 -d window -c "$1"; }
wait_for() { wait_for_line "$1" "$2" || fail "timed out waiting for \"$2\" in $1"; }

run_window() { # MODE [postgresql.conf lines...]
    MODE=$1
    shift
    start_cluster late_change_commit_window 54439 "$@"
    createdb window
    psql -X -q -v ON_ERROR_STOP=1 -d window >/dev/null <<'SQL'
CREATE EXTENSION zechat_billing;
INSERT INTO billing.plans (plan_id, name, billing_interval)
VALUES ('late_20', '20 s', '20 seconds'), ('late_14', '14 s', '14 seconds');
INSERT INTO billing.plan_limits VALUES ('late_20', 'messages', 5), ('late_14', 'messages', 5);
SQL
    work=$CLUSTER_DIR/work
    mkdir -p "$work"
    # One backend each throughout; the consumer's never touches the tenant
    # before its first consumption.
    start_fifo_session "$work" consumer 3 window
    start_fifo_session "$work" changer 4 window
    echo "SELECT 'ready';" >&3
    wait_for "$work/consumer.out" '^ready'

    # The tenant's period [A, A+20 s) ends 3 s from now.
    q "SELECT billing.subscribe('late_t', 'late_20', now() - interval '17 seconds')" >/dev/null
    local anchor
    anchor=$(q "SELECT extract(epoch FROM period_anchor) FROM billing.subscriptions
                 WHERE tenant_id = 'late_t'")
    local at="to_timestamp($anchor)"

    # 1. The change, in a transaction begun in [A, A+20 s).
    echo "BEGIN;" >&4
    echo "SELECT billing.subscribe('late_t', 'late_14',
            (SELECT period_anchor FROM billing.subscriptions WHERE tenant_id = 'late_t'));" >&4
    echo "SELECT 'backend ' || pg_backend_pid() || ' ' || (now() < $at + interval '20 seconds');" >&4
    wait_for "$work/changer.out" '^backend '
    grep -q ERROR "$work/changer.out" && { cat "$work/changer.out"; fail "the change failed"; }
    grep -q '^backend [0-9]* true$' "$work/changer.out" ||
        fail "too slow: the change's transaction began after its period ended"

    # 2., 3. gdb armed on the changer; its COMMIT sent once the old period
    # has ended (A+20.5 s by the server's clock), and stopped there.
    rm -f "$work/stopped" "$work/go"
    stop_backend_at "$(sed -n 's/^backend \([0-9]*\) .*/\1/p' "$work/changer.out")" \
        'ProcArrayEndTransaction' "$work"
    wait_for "$work/gdb.log" '^armed'
    sleep "$(q "SELECT greatest(0, extract(epoch FROM $at + interval '20.5 seconds'
                                          - clock_timestamp()))")"
    echo "COMMIT;" >&4
    wait_until 60 test -e "$work/stopped" ||
        { cat "$work/gdb.log"; fail "the changer's COMMIT never reached ProcArrayEndTransaction"; }
    grep -q 'Breakpoint 1, .*ProcArrayEndTransaction' "$work/gdb.log" ||
        { cat "$work/gdb.log"; fail "gdb stopped the changer elsewhere"; }

    # 4. The consumer's first consumption in the old schedule's later period,
    # in the window: it waits for the changer's commit.
    echo "SELECT 'first ' || billing.try_consume_quota('late_t', 'messages', 5);" >&3
    sleep 2
    local waited=yes
    grep -q '^first ' "$work/consumer.out" && waited=no
    let_stopped_backend_go "$work"
    wait_for "$work/consumer.out" '^first \|ERROR'
    echo "SELECT 'committed';" >&4
    wait_for "$work/changer.out" '^committed'
    grep -q ERROR "$work/consumer.out" && { cat "$work/consumer.out"; fail "the consumer failed"; }
    grep -q ERROR "$work/changer.out" && { cat "$work/changer.out"; fail "the changer's COMMIT failed"; }
    [ "$(q "SELECT plan_id FROM billing.subscriptions WHERE tenant_id = 'late_t'")" = late_14 ] ||
        fail "the change is not committed"
    local first
    first=$(sed -n 's/^first //p' "$work/consumer.out")

    # 5. Before A+28 s, in one transaction (one now()): 5 more, and the usage.
    local after more used in_time
    after=$(psql -X -q -At -v ON_ERROR_STOP=1 -d window -1 <<SQL
SELECT billing.try_consume_quota('late_t', 'messages', 5)::text;
SELECT used FROM billing.tenant_usage('late_t') WHERE resource = 'messages';
SELECT now() < $at + interval '28 seconds';
SQL
    ) || fail "the 5 more failed"
    more=$(sed -n 1p <<<"$after")
    used=$(sed -n 2p <<<"$after")
    in_time=$(sed -n 3p <<<"$after")
    local periods
    periods=$(q "SELECT string_agg('A+' || extract(epoch FROM period_start - $at)::int || 's ' || used,
                                   ', ' ORDER BY period_start)
                   FROM billing.usage WHERE tenant_id = 'late_t' AND resource = 'messages'")
    echo "late change commit window ($MODE): first admitted after the change: $first," \
        "waited $waited; 5 more: $more; used $used (committed by period: $periods)"
    [ "$in_time" = t ] || fail "too slow: the 5 more came after the new period [A+14 s, A+28 s) ended"
    [ "$first" = true ] || fail "the first 5 were refused"
    [ "$waited" = yes ] || fail "the first consumption did not wait for the change"
    [ "$more" = false ] || fail "10 of 5 admitted"
    [ "$used" = 5 ] || fail "used $used, not 5"

    end_fifo_sessions
    stop_cluster
    echo "late change commit window ($MODE): ok"
}

run_window lock
run_window shared_memory "shared_preload_libraries = 'zechat_billing'"
