#!/usr/bin/env bash
# A schedule change (a plan of 20 s to one of 14 s, same anchor A) made in a
# transaction begun in [A, A+20 s), committed around that period's end.
# Just before its COMMIT (late_schedule_changes.cpp) it claims the tenant's
# keys of the old schedule's later periods, so that a consumer under the old
# schedule waits for it, and is decided again under the new one.  gdb stops
# the changer's backend at the entry of ProcArrayEndTransaction, inside its
# COMMIT: after that claim and its commit record, before it leaves the
# running transactions and releases its locks.  A consumer's first
# consumption then reads the old schedule, in [A+20 s, A+40 s), which the new
# schedule's periods leave out; it must wait, and the new current period
# [A+14 s, A+28 s) must then refuse 5 more:
#  * COMMIT at A+20.5 s, after the period's end: until 2026-12-07 the check
#    only looked for usage there, and the consumer was admitted at once,
#    10 of 5;
#  * COMMIT at A+19.3 s, stopped until after the end: until 2026-12-07
#    nothing was claimed when the period had not ended at the check, 10 of 5
#    (a helper's attack).
# And (clock_moves_while_claiming) a lock-mode claim that waits for a
# consumer in flight goes on claiming the periods that began meanwhile:
# until 2026-12-07 it went by the clock read before the wait, and a consumer
# that began in a later period during the wait committed there, outside the
# new schedule's periods, 10 of 5 (a helper's attack).  Runs in both modes.
source "$(dirname "$0")/../../scripts/lib.sh"

install_packages gdb

work=
trap 'end_test_with_gdb "$work"' EXIT
fail() { echo "FAILED ($MODE): $*" >&2; exit 1; }
q() { psql -X -At -v ON_ERROR_STOP=1 -d window -c "$1"; }
wait_for() { wait_for_line "$1" "$2" || fail "timed out waiting for \"$2\" in $1"; }
sleep_until() { # EXPRESSION: sleeps until that time by the server's clock
    sleep "$(q "SELECT greatest(0, extract(epoch FROM $1 - clock_timestamp()))")"
}

# The tenant's committed usage by period, as "A+<s>s <used>, ...".
committed_periods() { # TENANT A
    q "SELECT string_agg('A+' || extract(epoch FROM period_start - $2)::int || 's ' || used,
                         ', ' ORDER BY period_start)
         FROM billing.usage WHERE tenant_id = '$1' AND resource = 'messages'"
}

# A tenant whose period [A, A+20 s) ends 3 s from now; prints A as epoch.
subscribed_until_soon() { # TENANT
    q "SELECT billing.subscribe('$1', 'late_20', now() - interval '17 seconds')" >/dev/null
    q "SELECT extract(epoch FROM period_anchor) FROM billing.subscriptions WHERE tenant_id = '$1'"
}

stopped_commit() { # TENANT COMMIT_AT (seconds after A)
    local tenant=$1 commit_at=$2 at
    at="to_timestamp($(subscribed_until_soon "$tenant"))"

    # 1. The change, in a transaction begun in [A, A+20 s).
    echo "BEGIN;" >&4
    echo "SELECT billing.subscribe('$tenant', 'late_14',
            (SELECT period_anchor FROM billing.subscriptions WHERE tenant_id = '$tenant'));" >&4
    echo "SELECT 'backend $tenant ' || pg_backend_pid() || ' ' ||
                 (now() < $at + interval '20 seconds');" >&4
    wait_for "$work/changer.out" "^backend $tenant "
    grep -q ERROR "$work/changer.out" && { cat "$work/changer.out"; fail "the change failed"; }
    grep -q "^backend $tenant [0-9]* true$" "$work/changer.out" ||
        fail "too slow: the change's transaction began after its period ended"

    # 2. gdb armed on the changer; its COMMIT sent at A+COMMIT_AT by the
    # server's clock, and stopped there until A+20.5 s at least.
    rm -f "$work/stopped" "$work/go"
    stop_backend_at "$(sed -n "s/^backend $tenant \([0-9]*\) .*/\1/p" "$work/changer.out")" \
        'ProcArrayEndTransaction' "$work"
    wait_for "$work/gdb.log" '^armed'
    sleep_until "$at + interval '$commit_at seconds'"
    echo "COMMIT;" >&4
    wait_until 60 test -e "$work/stopped" ||
        { cat "$work/gdb.log"; fail "the changer's COMMIT never reached ProcArrayEndTransaction"; }
    grep -q 'Breakpoint 1, .*ProcArrayEndTransaction' "$work/gdb.log" ||
        { cat "$work/gdb.log"; fail "gdb stopped the changer elsewhere"; }
    sleep_until "$at + interval '20.5 seconds'"

    # 3. The consumer's first consumption in the old schedule's later period,
    # in the window: it waits for the changer's commit.
    echo "SELECT 'first $tenant ' || billing.try_consume_quota('$tenant', 'messages', 5);" >&3
    sleep 2
    local waited=yes
    grep -q "^first $tenant " "$work/consumer.out" && waited=no
    let_stopped_backend_go "$work"
    wait_for "$work/consumer.out" "^first $tenant \|ERROR"
    echo "SELECT 'committed $tenant';" >&4
    wait_for "$work/changer.out" "^committed $tenant"
    grep -q ERROR "$work/consumer.out" && { cat "$work/consumer.out"; fail "the consumer failed"; }
    grep -q ERROR "$work/changer.out" && { cat "$work/changer.out"; fail "the changer's COMMIT failed"; }
    [ "$(q "SELECT plan_id FROM billing.subscriptions WHERE tenant_id = '$tenant'")" = late_14 ] ||
        fail "the change is not committed"
    local first
    first=$(sed -n "s/^first $tenant //p" "$work/consumer.out")

    # 4. Before A+28 s, in one transaction (one now()): 5 more, and the usage.
    local after more used in_time
    after=$(psql -X -q -At -v ON_ERROR_STOP=1 -d window -1 <<SQL
SELECT billing.try_consume_quota('$tenant', 'messages', 5)::text;
SELECT used FROM billing.tenant_usage('$tenant') WHERE resource = 'messages';
SELECT now() < $at + interval '28 seconds';
SQL
    ) || fail "the 5 more failed"
    more=$(sed -n 1p <<<"$after")
    used=$(sed -n 2p <<<"$after")
    in_time=$(sed -n 3p <<<"$after")
    local periods
    periods=$(committed_periods "$tenant" "$at")
    echo "late change commit window ($MODE, COMMIT at A+${commit_at} s): first admitted after" \
        "the change: $first, waited $waited; 5 more: $more; used $used (committed by period:" \
        "$periods)"
    [ "$in_time" = t ] || fail "too slow: the 5 more came after the new period [A+14 s, A+28 s) ended"
    [ "$first" = true ] || fail "the first 5 were refused"
    [ "$waited" = yes ] || fail "the first consumption did not wait for the change"
    [ "$more" = false ] || fail "10 of 5 admitted"
    [ "$used" = 5 ] || fail "used $used, not 5"
}

# A session of its own, in the background: at A+FROM s (by the server's
# clock) it begins a transaction and runs SQL, at A+TO s it ends it with END;
# its output in $work/clock_NAME.out.
timed_session() { # NAME A FROM SQL TO END
    local w="SELECT pg_sleep(greatest(0, extract(epoch FROM $2 + interval '%s seconds'
                                                 - clock_timestamp())));"
    printf "$w\nBEGIN;\n%s\n$w\n%s;\n" "$3" "$4" "$5" "$6" |
        psql -X -At -d window >"$work/clock_$1.out" 2>&1 &
}

# 2-second periods made 3-second from the same anchor A, the change begun at
# A+0.3 s and committed at A+4.3 s.  X consumes 1 at A+2.5 s, in the old
# schedule's later period [A+2 s, A+4 s), and stays in flight until A+9.6 s
# (lock mode's claim waits for it; shared-memory mode refuses the change at
# once); Z begins at A+9.3 s, consumes 5 in [A+8 s, A+10 s) and commits at
# A+10 s.  Either the change is refused, or every period with usage is one
# of the schedule that counts: none outside the 3-second periods.
clock_moves_while_claiming() {
    q "SELECT billing.subscribe('late_c', 'late_2', now())" >/dev/null
    local at
    at="to_timestamp($(q "SELECT extract(epoch FROM period_anchor) FROM billing.subscriptions
                           WHERE tenant_id = 'late_c'"))"
    timed_session changer "$at" 0.3 "SELECT billing.subscribe('late_c', 'late_3', $at);" 4.3 COMMIT
    local changer=$!
    timed_session x "$at" 2.5 "SELECT 'x ' || billing.try_consume_quota('late_c', 'messages', 1);" \
        9.6 ROLLBACK
    local x=$!
    timed_session z "$at" 9.3 "SELECT 'z ' || billing.try_consume_quota('late_c', 'messages', 5);" \
        10 COMMIT
    local z=$!
    wait "$changer" "$x" "$z" || true
    grep -q '^x true' "$work/clock_x.out" || { cat "$work/clock_x.out"; fail "X was not admitted"; }
    grep -q '^z true' "$work/clock_z.out" || { cat "$work/clock_z.out"; fail "Z was not admitted"; }
    local plan outside periods
    plan=$(q "SELECT plan_id FROM billing.subscriptions WHERE tenant_id = 'late_c'")
    outside=$(q "SELECT count(*) FROM billing.usage
                  WHERE tenant_id = 'late_c' AND used > 0
                    AND (extract(epoch FROM period_start - $at)::int % 3) <> 0")
    periods=$(committed_periods late_c "$at")
    echo "late change commit window ($MODE, clock moving while claiming): plan $plan;" \
        "committed by period: $periods; change: $(grep -c ERROR "$work/clock_changer.out") error(s)"
    if [ "$plan" = late_3 ]; then
        [ "$outside" = 0 ] || fail "usage outside the 3-second periods after the change: $periods"
    else
        grep -q 'cannot change the billing schedule' "$work/clock_changer.out" ||
            { cat "$work/clock_changer.out"; fail "the change failed otherwise"; }
    fi
}

run_window() { # MODE [postgresql.conf lines...]
    MODE=$1
    shift
    start_cluster late_change_commit_window 54439 "$@"
    createdb window
    psql -X -q -v ON_ERROR_STOP=1 -d window >/dev/null <<'SQL'
CREATE EXTENSION zechat_billing;
INSERT INTO billing.plans (plan_id, name, billing_interval)
VALUES ('late_20', '20 s', '20 seconds'), ('late_14', '14 s', '14 seconds'),
       ('late_2', '2 s', '2 seconds'), ('late_3', '3 s', '3 seconds');
INSERT INTO billing.plan_limits
VALUES ('late_20', 'messages', 5), ('late_14', 'messages', 5),
       ('late_2', 'messages', 5), ('late_3', 'messages', 5);
SQL
    work=$CLUSTER_DIR/work
    mkdir -p "$work"
    # One backend each throughout; the consumer's never touches a tenant
    # before its first consumption.
    start_fifo_session "$work" consumer 3 window
    start_fifo_session "$work" changer 4 window
    echo "SELECT 'ready';" >&3
    wait_for "$work/consumer.out" '^ready'

    stopped_commit late_t 20.5
    stopped_commit late_e 19.3
    end_fifo_sessions
    clock_moves_while_claiming
    stop_cluster
    echo "late change commit window ($MODE): ok"
}

run_window lock
run_window shared_memory "shared_preload_libraries = 'zechat_billing'"
