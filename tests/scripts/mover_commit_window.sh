#!/usr/bin/env bash
# A transaction leaves the list of running ones before it sends the
# invalidation messages that make its changes seen, and releases its locks
# only after.  A schedule change caught in that instant (gdb stops its
# backend as ProcArrayEndTransaction returns, inside its COMMIT, before its
# COMMIT callbacks) has committed for every new snapshot, but a backend that
# cached the tenant's terms still holds the old ones.  The change is made in
# a savepoint, released: waiting for the savepoint ends once the transaction
# leaves that list (until 2026-12-05 shared-memory mode's consumer then
# kept the old period, and the tenant could pass its limit).  A consumption made by such a backend then must not land in the
# period the change moved away from:
#  * win_t had usage: the change carried it to the year and left the month's
#    row at 0 (lock mode) or marked its counter (shared-memory mode);
#  * win_fresh had none: the change claimed its row (lock mode) or recorded
#    its key (shared-memory mode);
#  * win_e_t's plan had its interval edited (a month to a year) in the same
#    change: its plan id stays, so the consumer must read the plan's
#    interval again too, not only the tenant's subscription (until
#    2026-12-05 lock mode kept the month from its per-backend cache of what
#    tenants share, left the consumption in the month, and the next change
#    took it out as a closed period: schedule_flips.sh lost one in a few runs
#    of a heavier variant).
# Lock mode finds the row it created, or found at 0, and reads the terms
# again from the tables; shared-memory mode waits on the change's lock.
# Either way both count in the year.  Runs in both modes.
#
# Shared-memory mode also: a limit change caught in the same instant.  The
# consumer, which cached the old limit, must not consume under it any more:
# the change is counted in shared memory as committing from its PRE_COMMIT
# until its COMMIT callback (config_invalidation.cpp), and the consumer reads
# the terms from the tables meanwhile.  Until 2026-12-05 it consumed 3 more
# under the old limit although it could read the new one.  And the same for
# ALTER TABLE enabling the trigger again after the limit was lowered with it
# disabled (reenable_window).  Lock mode has no shared memory of its own
# and keeps that instant (README).
source "$(dirname "$0")/../../scripts/lib.sh"

install_packages gdb

work=
trap 'end_test_with_gdb "$work"' EXIT
fail() { echo "FAILED ($MODE): $*" >&2; exit 1; }
q() { psql -X -At -v ON_ERROR_STOP=1 -d window -c "$1"; }
wait_for() { wait_for_line "$1" "$2" || fail "timed out waiting for \"$2\" in $1"; }
used_now() {
    q "SELECT used FROM billing.tenant_usage('$1') WHERE resource = 'messages'"
}

# The mover session (its backend's pid in mover.out) commits the change it
# has made, and gdb stops it there, once the change became visible and
# before its COMMIT callbacks and its invalidation messages.
commit_stopped_when_visible() { # WHAT
    rm -f "$work/stopped" "$work/go"
    stop_backend_at "$(sed -n 's/^backend //p' "$work/mover.out")" 'ProcArrayEndTransaction' \
        "$work" finish
    wait_for "$work/gdb.log" '^armed'
    echo "COMMIT;" >&4
    wait_until 60 test -e "$work/stopped" ||
        { cat "$work/gdb.log"; fail "$1 never left the running transactions"; }
}

# While the mover is stopped in its COMMIT, the consumer tries 3 more of
# win_t's units, 6 of its limit of 6 used (its answer marked TAG in its
# output); then the mover goes on.  They must have been refused.
three_more_refused() { # TAG WHAT FAILURE
    echo "SELECT '$1 ' || billing.try_consume_quota('win_t', 'messages', 3);" >&3
    wait_for "$work/consumer.out" "^$1 "
    let_stopped_backend_go "$work"
    echo "SELECT 'went on after $1';" >&4
    wait_for "$work/mover.out" "^went on after $1"
    local admitted
    admitted=$(sed -n "s/^$1 //p" "$work/consumer.out")
    echo "3 more $2 with 6 used: admitted $admitted, used $(used_now win_t)"
    [ "$admitted" = false ] && [ "$(used_now win_t)" = 6 ] || fail "$3"
}

# The sessions of run_window, once its schedule change is done: the mover
# lowers the yearly plan's limit to what win_t uses, and is stopped in its
# COMMIT as above; the consumer, with the old limit cached, tries 3 more.
limit_change_window() {
    echo "SELECT 'cached ' || billing.check_quota('win_t', 'messages', 1);" >&3
    wait_for "$work/consumer.out" '^cached '
    echo "BEGIN;" >&4
    echo "UPDATE billing.plan_limits SET hard_limit = 6 WHERE plan_id = 'win_y';" >&4
    echo "SELECT 'limit lowered';" >&4
    wait_for "$work/mover.out" '^limit lowered'
    commit_stopped_when_visible "the limit change"
    [ "$(q "SELECT hard_limit FROM billing.plan_limits WHERE plan_id = 'win_y'")" = 6 ] ||
        fail "the limit change is not committed for new snapshots"
    three_more_refused fits "under the new limit of 6" "consumed under the old limit"
}

# The same instant for a change that fires no trigger: the limit was
# lowered while the table's trigger was disabled (a known limit: no backend
# hears of it), and ALTER TABLE enables the trigger again.  That ALTER
# TABLE is counted as a configuration change by the utility hook
# (config_invalidation.cpp), so the consumer, with the old limit cached,
# must read the terms from the tables in the instant it commits.  Until
# 2026-12-06 it consumed under the cached limit.
reenable_window() {
    q "UPDATE billing.plan_limits SET hard_limit = 20 WHERE plan_id = 'win_y'" >/dev/null
    q "ALTER TABLE billing.plan_limits DISABLE TRIGGER config_updated" >/dev/null
    echo "SELECT 'cached ' || billing.check_quota('win_t', 'messages', 1);" >&3
    wait_for "$work/consumer.out" '^cached true'
    q "UPDATE billing.plan_limits SET hard_limit = 6 WHERE plan_id = 'win_y'" >/dev/null
    echo "SELECT 'unseen ' || billing.check_quota('win_t', 'messages', 1);" >&3
    wait_for "$work/consumer.out" '^unseen true' # the known limit
    echo "BEGIN;" >&4
    echo "ALTER TABLE billing.plan_limits ENABLE ALWAYS TRIGGER config_updated;" >&4
    echo "SELECT 'enabled';" >&4
    wait_for "$work/mover.out" '^enabled'
    commit_stopped_when_visible "enabling the trigger"
    three_more_refused room "under the limit of 6 restored" \
        "consumed under a limit cached while the trigger was disabled"
}

run_window() { # MODE [postgresql.conf lines...]
    MODE=$1
    shift
    start_cluster mover_commit_window 54418 "$@"
    createdb window
    psql -X -q -v ON_ERROR_STOP=1 -d window >/dev/null <<'SQL'
CREATE EXTENSION zechat_billing;
INSERT INTO billing.plans (plan_id, name) VALUES ('win_m', 'Monthly');
INSERT INTO billing.plans (plan_id, name, billing_interval) VALUES ('win_y', 'Yearly', '1 year');
INSERT INTO billing.plans (plan_id, name) VALUES ('win_e', 'Edited');
INSERT INTO billing.plan_limits VALUES ('win_m', 'messages', 1000), ('win_y', 'messages', 1000),
                                       ('win_e', 'messages', 1000);
SELECT billing.subscribe('win_t', 'win_m', now() - interval '40 days'),
       billing.subscribe('win_fresh', 'win_m', now() - interval '40 days'),
       billing.subscribe('win_e_t', 'win_e', now() - interval '40 days');
SQL
    work=$CLUSTER_DIR/work
    mkdir -p "$work"
    # Both sessions read their statements from a FIFO: one backend each
    # throughout, the consumer's with the terms it cached.
    start_fifo_session "$work" consumer 3 window
    start_fifo_session "$work" mover 4 window

    echo "SELECT billing.consume_quota('win_t', 'messages', 1);" >&3
    echo "SELECT billing.check_quota('win_fresh', 'messages', 1);" >&3
    echo "SELECT billing.consume_quota('win_e_t', 'messages', 1);" >&3
    echo "SELECT 'cached';" >&3
    wait_for "$work/consumer.out" '^cached'

    echo "BEGIN;" >&4
    echo "SAVEPOINT change;" >&4
    echo "UPDATE billing.subscriptions SET plan_id = 'win_y' WHERE tenant_id IN ('win_t', 'win_fresh');" >&4
    echo "UPDATE billing.plans SET billing_interval = '1 year' WHERE plan_id = 'win_e';" >&4
    echo "RELEASE SAVEPOINT change;" >&4
    echo "SELECT 'backend ' || pg_backend_pid();" >&4
    wait_for "$work/mover.out" '^backend '
    commit_stopped_when_visible "the mover"
    [ "$(q "SELECT plan_id FROM billing.subscriptions WHERE tenant_id = 'win_t'")" = win_y ] ||
        fail "the change is not committed for new snapshots"

    echo "SELECT billing.consume_quota('win_t', 'messages', 5);" >&3
    echo "SELECT billing.consume_quota('win_fresh', 'messages', 5);" >&3
    echo "SELECT billing.consume_quota('win_e_t', 'messages', 5);" >&3
    echo "SELECT 'consumed';" >&3
    sleep 2 # lock mode goes through meanwhile; shared-memory mode waits
    let_stopped_backend_go "$work"
    wait_for "$work/consumer.out" '^consumed'
    echo "SELECT 'done';" >&4
    wait_for "$work/mover.out" '^done'
    if [ "$MODE" != lock ]; then
        limit_change_window
        reenable_window
    fi
    end_fifo_sessions
    grep -q ERROR "$work/consumer.out" && { cat "$work/consumer.out"; fail "the consumer failed"; }

    local t fresh edited
    t=$(used_now win_t)
    fresh=$(used_now win_fresh)
    edited=$(used_now win_e_t)
    echo "in the year: win_t $t (of 6), win_fresh $fresh (of 5), win_e_t $edited (of 6)"
    [ "$t" = 6 ] && [ "$fresh" = 5 ] && [ "$edited" = 6 ] || fail "usage left in the month"
    stop_cluster
    echo "mover commit window ($MODE): ok"
}

run_window lock
run_window shared_memory "shared_preload_libraries = 'zechat_billing'"
