#!/usr/bin/env bash
# Crashes lose nothing and count nothing twice.  In lock mode and in
# shared-memory mode:
#  * the server is killed while 8 clients insert into enforced tables (a
#    period resource, and a gauge with inserts and deletes): with kill -9 of
#    the postmaster and all its processes at the same instant (a power cut),
#    with kill -9 of the postmaster alone (its backends notice and exit on
#    their own), and with "pg_ctl stop -m immediate".  After crash recovery every
#    tenant's usage equals what its committed rows say, nothing is left
#    reserved, and a race of 16 clients for a tenant's last 40 messages
#    stores exactly 40;
#  * one backend is killed with kill -9 in the middle of a transaction that
#    consumed the last unit: the postmaster restarts every backend, and the
#    unit is free again (no reservation survives), exactly once.
source "$(dirname "$0")/../../scripts/lib.sh"

STRESS=$(dirname "$0")/stress
trap stop_cluster EXIT
fail() { echo "FAILED ($MODE, $CRASH): $*" >&2; exit 1; }
q() { psql -X -At -v ON_ERROR_STOP=1 -d crash -c "$1"; }

postmaster_pid() { head -1 "$CLUSTER_DIR/data/postmaster.pid"; }

wait_until_accepting() {
    local i
    for ((i = 0; i < 120; i++)); do
        if psql -X -At -d crash -c "SELECT 1" >/dev/null 2>&1; then return 0; fi
        sleep 0.5
    done
    fail "the server did not accept connections again"
}

# Kills the server while the load runs, by the method in $CRASH, and starts
# it again (crash recovery).
crash_and_restart() {
    case $CRASH in
    kill-9)
        # A power cut: the postmaster and every process it started die at
        # the same instant.
        local pm
        pm=$(postmaster_pid)
        kill -STOP "$pm"
        pkill -9 -P "$pm" || true
        kill -9 "$pm"
        # Until its parent has reaped it, PostgreSQL takes the dead
        # postmaster for a live one and refuses to start.
        local i
        for ((i = 0; i < 200; i++)); do
            kill -0 "$pm" 2>/dev/null || break
            sleep 0.1
        done
        ;;
    kill-9-postmaster)
        # Only the postmaster: its backends go on until they notice, and
        # may commit meanwhile; then they exit by themselves.
        local pm
        pm=$(postmaster_pid)
        kill -9 "$pm"
        local i
        for ((i = 0; i < 200; i++)); do
            kill -0 "$pm" 2>/dev/null || break
            sleep 0.1
        done
        ;;
    immediate)
        as_pg "$PG_BIN/pg_ctl" -D "$CLUSTER_DIR/data" -m immediate -w stop >/dev/null
        ;;
    esac
    # pg_ctl start refuses while a killed backend still holds shared memory.
    local i
    for ((i = 0; i < 300; i++)); do
        pgrep -f "postgres: .*crash" >/dev/null || break
        sleep 0.1
    done
    as_pg "$PG_BIN/pg_ctl" -D "$CLUSTER_DIR/data" -l "$CLUSTER_DIR/server.log" -w -t 120 start >/dev/null
    wait_until_accepting
}

# Every tenant's usage against its committed rows: "N tenants, N exact".
exact_usage() {
    q "SELECT count(*) || ' tenants, ' || count(*) FILTER (WHERE messages = used_messages
                                                         AND bytes = used_bytes) || ' exact'
         FROM (SELECT s.tenant_id,
                      (SELECT count(*) FROM crash_messages m WHERE m.tenant_id = s.tenant_id) AS messages,
                      (SELECT coalesce(sum(size_bytes), 0) FROM crash_files f
                        WHERE f.tenant_id = s.tenant_id) AS bytes,
                      (SELECT used FROM billing.tenant_usage(s.tenant_id) WHERE resource = 'messages') AS used_messages,
                      (SELECT used FROM billing.tenant_usage(s.tenant_id) WHERE resource = 'storage') AS used_bytes
                 FROM billing.subscriptions s WHERE s.tenant_id LIKE 'c%') t"
}

nothing_reserved() {
    [ "$MODE" = shared_memory ] || return 0
    local held
    held=$(q "SELECT count(*) FROM billing.counters WHERE reserved <> 0 OR releasing <> 0")
    [ "$held" = 0 ] || fail "$held counters hold reservations with no transaction in flight"
}

crash_under_load() {
    local rows_before rows_after out
    rows_before=$(q "SELECT count(*) FROM crash_messages")
    out=$CLUSTER_DIR/pgbench-$CRASH.log
    pgbench -n -d crash -c 8 -j 2 -T 60 -f "$STRESS/crash_load.sql" >"$out" 2>&1 &
    local load=$!
    # Crash once the load is well under way.
    local i
    for ((i = 0; i < 100; i++)); do
        rows_after=$(q "SELECT count(*) FROM crash_messages")
        [ "$rows_after" -lt $((rows_before + 2000)) ] || break
        sleep 0.2
    done
    crash_and_restart
    wait "$load" || true # its connections were cut
    rows_after=$(q "SELECT count(*) FROM crash_messages")
    echo "$MODE, $CRASH: $((rows_after - rows_before)) transactions committed before the crash"
    [ "$rows_after" -gt $((rows_before + 500)) ] || fail "the load did not run before the crash"
    result=$(exact_usage)
    echo "$MODE, $CRASH: usage after recovery: $result"
    [ "$result" = "20 tenants, 20 exact" ] || fail "usage differs from the committed rows: $result"
    nothing_reserved
}

# 16 clients race for the last 40 messages of tenant c1: exactly 40 stored.
race_for_last_units() {
    local before after
    before=$(q "SELECT count(*) FROM crash_messages WHERE tenant_id = 'c1'")
    q "INSERT INTO billing.limit_overrides VALUES ('c1', 'messages', $before + 40)
       ON CONFLICT (tenant_id, resource) DO UPDATE SET hard_limit = EXCLUDED.hard_limit" >/dev/null
    pgbench -n -d crash -c 16 -j 2 -t 10 -f "$STRESS/crash_race.sql" >/dev/null 2>&1 ||
        fail "pgbench failed in the race for the last units"
    after=$(q "SELECT count(*) FROM crash_messages WHERE tenant_id = 'c1'")
    echo "$MODE, $CRASH: race for the last 40 units stored $((after - before))"
    [ $((after - before)) = 40 ] || fail "the race stored $((after - before)) messages, not 40"
    q "DELETE FROM billing.limit_overrides WHERE tenant_id = 'c1'" >/dev/null
}

# A backend killed while its transaction holds the tenant's last unit.
backend_crash() {
    CRASH="backend kill -9"
    local used
    used=$(q "SELECT used FROM billing.tenant_usage('c2') WHERE resource = 'messages'")
    q "INSERT INTO billing.limit_overrides VALUES ('c2', 'messages', $used + 1)" >/dev/null
    psql -X -q -d crash -c "BEGIN" -c "INSERT INTO crash_messages (tenant_id) VALUES ('c2')" \
        -c "SELECT pg_sleep(60)" >/dev/null 2>&1 &
    local client=$! pid="" i
    for ((i = 0; i < 100; i++)); do
        pid=$(q "SELECT pid FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%'")
        [ -n "$pid" ] && break
        sleep 0.1
    done
    [ -n "$pid" ] || fail "the consuming session did not start"
    if [ "$MODE" = shared_memory ]; then
        [ "$(q "SELECT reserved FROM billing.counters WHERE tenant_id = 'c2' AND resource = 'messages'")" = 1 ] ||
            fail "the consuming session holds no reservation"
    fi
    kill -9 "$pid"
    wait "$client" || true
    sleep 1 # the postmaster notices and restarts every backend
    wait_until_accepting
    nothing_reserved
    [ "$(q "SELECT billing.try_consume_quota('c2', 'messages')")" = t ] ||
        fail "the killed transaction's unit was not given back"
    [ "$(q "SELECT billing.try_consume_quota('c2', 'messages')")" = f ] ||
        fail "more than the one unit was free after the backend crash"
    echo "$MODE, $CRASH: the unit held by the killed transaction was free again, once"
}

run_crashes() { # MODE [postgresql.conf lines...]
    MODE=$1
    CRASH=setup
    shift
    start_cluster crash 54399 "max_connections = 40" "restart_after_crash = on" "$@"
    createdb crash
    psql -X -q -v ON_ERROR_STOP=1 -d crash >/dev/null <<'SQL'
CREATE EXTENSION zechat_billing;
INSERT INTO billing.plans (plan_id, name) VALUES ('crash', 'Crash');
INSERT INTO billing.plan_limits VALUES ('crash', 'messages', 1000000000), ('crash', 'storage', 1000000000000);
SELECT billing.subscribe('c' || g, 'crash') FROM generate_series(1, 20) g;
CREATE TABLE crash_messages (id bigserial PRIMARY KEY, tenant_id text NOT NULL);
CREATE TABLE crash_files (id bigserial PRIMARY KEY, tenant_id text NOT NULL, size_bytes int NOT NULL);
CREATE INDEX ON crash_files (tenant_id, id);
SELECT billing.enforce_quota('crash_messages', 'messages');
SELECT billing.enforce_quota('crash_files', 'storage', amount_column => 'size_bytes');
-- pgbench stops a client at its first error: refusals are caught here.
CREATE FUNCTION crash_send(p_tenant text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO crash_messages (tenant_id) VALUES (p_tenant);
    RETURN true;
EXCEPTION WHEN sqlstate 'PT402' THEN
    RETURN false;
END $$;
SQL
    for CRASH in kill-9 kill-9-postmaster immediate; do
        crash_under_load
        race_for_last_units
    done
    backend_crash
    stop_cluster
    echo "crash recovery ($MODE): ok"
}

run_crashes lock
run_crashes shared_memory "shared_preload_libraries = 'zechat_billing'"
