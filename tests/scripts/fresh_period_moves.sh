#!/usr/bin/env bash
# A first consumption of a period that comes in while the tenant's period
# moves counts in the new period.  8 pgbench clients insert into an
# enforced table for 1100 tenants at random (each tenant a few times a
# second, so that most have nothing yet in their current period when it
# moves: no usage row, no counter) while another session keeps moving every
# tenant's period anchor back by a day, in one transaction (each move starts
# a period that had nothing yet).  Shared-memory mode records the keys the
# move finds without a counter (past 1016 of them, the whole database), and
# a counter placed meanwhile starts marked by the move; lock mode claims
# the key's row (inserts and deletes it), and a consumer inserting it
# waits.  Either way the consumption waits for the move and counts in the
# new period.  Whatever was in flight, each tenant's usage in its current
# period must equal the rows it has stored.  Runs in both modes.
source "$(dirname "$0")/../../scripts/lib.sh"

fail() { echo "FAILED ($MODE): $*" >&2; exit 1; }
trap stop_cluster EXIT
SECONDS_OF_LOAD=${SECONDS_OF_LOAD:-8}

race_moves_and_first_consumptions() {
    createdb fresh
    psql -X -q -v ON_ERROR_STOP=1 -d fresh >/dev/null <<'SQL'
CREATE EXTENSION zechat_billing;
INSERT INTO billing.plans (plan_id, name) VALUES ('fresh_m', 'Monthly');
INSERT INTO billing.plan_limits VALUES ('fresh_m', 'messages', 1000000000);
SELECT billing.subscribe('g' || i, 'fresh_m', now() - interval '40 days')
  FROM generate_series(1, 1100) i;
CREATE TABLE fresh_messages (id bigserial PRIMARY KEY, tenant_id text NOT NULL);
SELECT billing.enforce_quota('fresh_messages', 'messages');
SQL
    cat >"$CLUSTER_DIR/one_row.sql" <<'SQL'
\set t random(1, 1100)
INSERT INTO fresh_messages (tenant_id) VALUES ('g' || :t);
SQL
    pgbench -n -d fresh -c 8 -j 2 -T "$SECONDS_OF_LOAD" -f "$CLUSTER_DIR/one_row.sql" \
        >"$CLUSTER_DIR/pgbench.log" 2>&1 &
    local load=$! moves=0
    while kill -0 "$load" 2>/dev/null; do
        psql -X -q -v ON_ERROR_STOP=1 -d fresh -c "
            UPDATE billing.subscriptions SET period_anchor = period_anchor - interval '1 day'
             WHERE plan_id = 'fresh_m'" || fail "moving the anchors failed"
        moves=$((moves + 1))
    done
    wait "$load" || {
        cat "$CLUSTER_DIR/pgbench.log"
        fail "pgbench failed"
    }
    grep "actually processed" "$CLUSTER_DIR/pgbench.log"
    echo "moves of 1100 tenants while it ran: $moves"
    [ "$moves" -ge 3 ] || fail "only $moves moves: the test did not race"
    local differing
    differing=$(psql -X -At -d fresh -c "
        SELECT count(*) || ' of ' || (SELECT count(DISTINCT tenant_id) FROM fresh_messages)
               || coalesce(': ' || string_agg(tenant_id || ' ' || stored || '/' || used, ', '), '')
          FROM (SELECT m.tenant_id, count(*) AS stored,
                       (SELECT used FROM billing.tenant_usage(m.tenant_id)
                         WHERE resource = 'messages') AS used
                  FROM fresh_messages m GROUP BY m.tenant_id) s
         WHERE stored IS DISTINCT FROM used")
    echo "tenants whose usage differs from the rows stored: $differing"
    case $differing in
    "0 of "*) ;;
    *) fail "usage lost or counted twice" ;;
    esac
}

# Shared-memory mode: past 1016 keys without a counter (1100 tenants that
# never consumed) a move stands for its whole database: the first
# consumption of a tenant it does not move waits for it too (that is the
# price), refused here by lock_timeout while the move is open, and goes
# through once it committed.
whole_database_record() {
    local in_flight
    in_flight=$(psql -X -At -d fresh -c "
        SELECT count(*) FROM billing.counters WHERE reserved <> 0 OR releasing <> 0")
    [ "$in_flight" = 0 ] || fail "$in_flight counters still hold reservations"
    psql -X -q -v ON_ERROR_STOP=1 -d fresh >/dev/null <<'SQL'
INSERT INTO billing.plans (plan_id, name) VALUES ('idle_m', 'Monthly, idle');
SELECT billing.subscribe('h' || i, 'idle_m', now() - interval '40 days')
  FROM generate_series(1, 1100) i;
SELECT billing.subscribe('outsider', 'fresh_m');
SQL
    psql -X -q -v ON_ERROR_STOP=1 -d fresh >/dev/null <<'SQL' &
BEGIN;
UPDATE billing.subscriptions SET period_anchor = period_anchor - interval '1 day'
 WHERE plan_id = 'idle_m';
SELECT pg_sleep(5);
COMMIT;
SQL
    local mover=$! waited after
    wait_until 30 moved || fail "the move did not start"
    waited=$(psql -X -At -d fresh 2>&1 <<'SQL'
SET lock_timeout = '1s';
SELECT billing.consume_quota('outsider', 'messages', 1);
SQL
    )
    case $waited in
    *"canceling statement due to lock timeout"*) ;;
    *) fail "a first consumption did not wait for a move of the whole database: $waited" ;;
    esac
    wait "$mover" || fail "the move of the whole database failed"
    after=$(psql -X -At -d fresh -c "SELECT billing.consume_quota('outsider', 'messages', 1)")
    [ "$after" = 999999999 ] || fail "after the move: $after"
}

moved() {
    [ "$(psql -X -At -d fresh -c "SELECT count(*) FROM pg_stat_activity
                                   WHERE query LIKE '%pg_sleep(5)%' AND state = 'active'
                                     AND pid <> pg_backend_pid()")" = 1 ]
}

MODE=lock
start_cluster fresh_period_moves 54417
race_moves_and_first_consumptions
stop_cluster
echo "fresh period moves ($MODE): ok"

MODE=shared_memory
start_cluster fresh_period_moves 54417 "shared_preload_libraries = 'zechat_billing'"
race_moves_and_first_consumptions
whole_database_record
stop_cluster
echo "fresh period moves ($MODE): ok"
