#!/usr/bin/env bash
# Schedule changes under load lose no usage: 8 pgbench clients insert into
# an enforced table (two rows per transaction: for f1 or f2, then for f3 or
# f4, an order that cannot deadlock on lock mode's usage rows) while two
# other sessions keep moving the tenants' billing periods:
#  * f1 and f2 go back and forth between a monthly and a yearly plan (each
#    move carries the usage of the period they were in to the other one);
#  * the plan of f3 and f4 has its interval edited between a month and a
#    year (the edit carries every subscriber's usage).
# The tenants subscribed 40 days ago, so the current month and the year
# start at different instants and every change moves usage.  Whatever was
# in flight when a change committed, each tenant's usage in its current
# period must equal the rows it has stored.  Runs in lock mode and in
# shared-memory mode, and there once more with a new connection for every
# transaction (pgbench -C): each new backend then takes the terms and the
# places of its parts that the backends before it shared (shared_hints.hpp),
# which must be those of the latest committed schedule.
source "$(dirname "$0")/../../scripts/lib.sh"

fail() { echo "FAILED ($MODE): $*" >&2; exit 1; }
trap stop_cluster EXIT
SECONDS_OF_LOAD=${SECONDS_OF_LOAD:-8}

run_flips() { # MODE [postgresql.conf lines...]
    MODE=$1
    shift
    local connect=""
    [ "$MODE" = "shared_memory, new connections" ] && connect=-C
    start_cluster schedule_flips 54416 "$@"
    createdb flips
    psql -X -q -v ON_ERROR_STOP=1 -d flips >/dev/null <<'SQL'
CREATE EXTENSION zechat_billing;
INSERT INTO billing.plans (plan_id, name) VALUES ('flip_m', 'Monthly'), ('flip_e', 'Edited');
INSERT INTO billing.plans (plan_id, name, billing_interval) VALUES ('flip_y', 'Yearly', '1 year');
INSERT INTO billing.plan_limits
SELECT p, 'messages', 1000000000 FROM unnest(ARRAY['flip_m', 'flip_y', 'flip_e']) p;
SELECT billing.subscribe('f1', 'flip_m', now() - interval '40 days'),
       billing.subscribe('f2', 'flip_y', now() - interval '40 days'),
       billing.subscribe('f3', 'flip_e', now() - interval '40 days'),
       billing.subscribe('f4', 'flip_e', now() - interval '40 days');
CREATE TABLE flip_messages (id bigserial PRIMARY KEY, tenant_id text NOT NULL);
SELECT billing.enforce_quota('flip_messages', 'messages');
SQL
    cat >"$CLUSTER_DIR/two_rows.sql" <<'SQL'
\set a random(1, 2)
\set b random(3, 4)
BEGIN;
INSERT INTO flip_messages (tenant_id) VALUES ('f' || :a);
INSERT INTO flip_messages (tenant_id) VALUES ('f' || :b);
COMMIT;
SQL
    # More load on a machine too busy for 5 interval edits in one run (other
    # jobs sharing its 2 cores: 4 edits in 8 seconds).
    local load moves=0 edits=0 runs=0
    while [ "$edits" -lt 5 ] && [ "$runs" -lt 4 ]; do
        runs=$((runs + 1))
        pgbench -n $connect -d flips -c 8 -j 2 -T "$SECONDS_OF_LOAD" -f "$CLUSTER_DIR/two_rows.sql" \
            >"$CLUSTER_DIR/pgbench.log" 2>&1 &
        load=$!
        while kill -0 "$load" 2>/dev/null; do
            psql -X -q -v ON_ERROR_STOP=1 -d flips -c "
                UPDATE billing.subscriptions
                   SET plan_id = CASE plan_id WHEN 'flip_m' THEN 'flip_y' ELSE 'flip_m' END
                 WHERE tenant_id IN ('f1', 'f2')" || fail "moving f1 and f2 failed"
            psql -X -q -v ON_ERROR_STOP=1 -d flips -c "
                UPDATE billing.plans
                   SET billing_interval = CASE WHEN billing_interval = '1 month' THEN '1 year'
                                               ELSE '1 month' END::interval
                 WHERE plan_id = 'flip_e'" || fail "editing the interval of flip_e failed"
            moves=$((moves + 2))
            edits=$((edits + 1))
        done
        wait "$load" || {
            cat "$CLUSTER_DIR/pgbench.log"
            fail "pgbench failed"
        }
        grep "actually processed" "$CLUSTER_DIR/pgbench.log"
    done
    echo "schedule changes while it ran: $moves moves, $edits interval edits"
    [ "$edits" -ge 5 ] || fail "only $edits interval edits: the test did not race"
    local result
    result=$(rows_and_usage flips flip_messages)
    echo "stored/used per tenant: $result"
    local stored used pair
    for pair in ${result//, / }; do
        case $pair in
        */*)
            stored=${pair%/*}
            used=${pair#*/}
            [ "$stored" = "$used" ] || fail "usage differs from the rows stored: $result"
            ;;
        esac
    done
    if [ "$MODE" != lock ]; then
        local in_flight
        in_flight=$(counters_in_flight flips)
        [ "$in_flight" = 0 ] || fail "$in_flight counters still hold reservations or carries"
    fi
    stop_cluster
    echo "schedule flips ($MODE): ok"
}

run_flips lock
run_flips shared_memory "shared_preload_libraries = 'zechat_billing'"
run_flips "shared_memory, new connections" "shared_preload_libraries = 'zechat_billing'"
