#!/usr/bin/env bash
# Two things PostgreSQL itself does to a database using zechat_billing:
#  1. a hot standby (streaming replica) serves the reads (tenant_usage,
#     check_quota, usage_overview) and refuses consumption with the
#     standard read-only error, 25006;
#  2. pg_upgrade (15 -> 15, a fresh cluster) carries plans, usage and the
#     enforcement triggers over, and enforcement works after it (the
#     library's _PG_init stays out of the way in binary-upgrade mode).
source "$(dirname "$0")/../../scripts/lib.sh"

fail() { echo "FAILED: $*" >&2; exit 1; }
cleanup() {
    stop_cluster_dir /tmp/zb-standby
    stop_cluster_dir /tmp/zb-upgraded
    stop_cluster_dir /tmp/zb-primary
}
trap cleanup EXIT

start_cluster primary 54391 "wal_level = replica" "max_wal_senders = 4"
PRIMARY_DIR=$CLUSTER_DIR
echo "local replication all trust" >>"$PRIMARY_DIR/data/pg_hba.conf"
as_pg "$PG_BIN/pg_ctl" -D "$PRIMARY_DIR/data" reload >/dev/null

psql -X -q -v ON_ERROR_STOP=1 -d postgres >/dev/null <<'SQL'
CREATE EXTENSION zechat_billing;
INSERT INTO billing.plans (plan_id, name) VALUES ('starter', 'Starter');
INSERT INTO billing.plan_limits VALUES ('starter', 'messages', 3), ('starter', 'storage', 100);
SELECT billing.subscribe('acme', 'starter');
CREATE TABLE messages (id bigserial PRIMARY KEY, tenant_id text NOT NULL);
SELECT billing.enforce_quota('messages', 'messages');
INSERT INTO messages (tenant_id) VALUES ('acme'), ('acme');
SELECT billing.consume_quota('acme', 'storage', 40);
SQL

# --- hot standby -----------------------------------------------------------
STANDBY_DIR=/tmp/zb-standby
start_standby "$STANDBY_DIR" 54392 || fail "the standby could not be made and started"

standby() { psql -X -At -h "$STANDBY_DIR" -p 54392 -d postgres "$@"; }
[ "$(standby -c 'SELECT pg_is_in_recovery()')" = t ] || fail "the standby is not in recovery"
[ "$(standby -c "SELECT used FROM billing.tenant_usage('acme') WHERE resource = 'messages'")" = 2 ] ||
    fail "tenant_usage on the standby"
[ "$(standby -c "SELECT billing.check_quota('acme', 'messages')")" = t ] || fail "check_quota on the standby"
[ "$(standby -c "SELECT count(*) FROM billing.usage_overview")" = 4 ] || fail "usage_overview on the standby"
state=$(standby -v VERBOSITY=sqlstate -c "SELECT billing.consume_quota('acme', 'messages')" 2>&1 || true)
echo "$state" | grep -q "25006" || fail "consume_quota on the standby should fail with 25006, got: $state"
state=$(standby -v VERBOSITY=sqlstate -c "SELECT billing.release_quota('acme', 'storage')" 2>&1 || true)
echo "$state" | grep -q "25006" || fail "release_quota on the standby should fail with 25006, got: $state"
echo "hot standby: reads work, consumption fails with 25006"
stop_cluster_dir "$STANDBY_DIR"

# --- pg_upgrade --------------------------------------------------------------
stop_cluster_dir "$PRIMARY_DIR"
NEW_DIR=/tmp/zb-upgraded
stop_cluster_dir "$NEW_DIR"
rm -rf "$NEW_DIR" && mkdir -p "$NEW_DIR" && chown "$PG_OS_USER:" "$NEW_DIR"
as_pg "$PG_BIN/initdb" -D "$NEW_DIR/data" -U postgres --auth=trust --no-sync -E UTF8 --locale=C.UTF-8 \
    >/dev/null || fail "initdb of the new cluster failed"
(cd "$NEW_DIR" && runuser -u "$PG_OS_USER" -- "$PG_BIN/pg_upgrade" \
    -b "$PG_BIN" -B "$PG_BIN" -d "$PRIMARY_DIR/data" -D "$NEW_DIR/data" \
    -s "$NEW_DIR" -p 54393 -P 54394 >"$NEW_DIR/pg_upgrade.out" 2>&1) || {
    cat "$NEW_DIR/pg_upgrade.out"
    fail "pg_upgrade failed"
}
{
    echo "port = 54394"
    echo "unix_socket_directories = '$NEW_DIR'"
} >>"$NEW_DIR/data/postgresql.conf"
as_pg "$PG_BIN/pg_ctl" -D "$NEW_DIR/data" -l "$NEW_DIR/server.log" -w start >/dev/null ||
    fail "the upgraded cluster did not start"
upgraded() { psql -X -At -h "$NEW_DIR" -p 54394 -d postgres "$@"; }
[ "$(upgraded -c "SELECT used FROM billing.tenant_usage('acme') WHERE resource = 'messages'")" = 2 ] ||
    fail "usage after pg_upgrade"
upgraded -c "INSERT INTO messages (tenant_id) VALUES ('acme')" >/dev/null || fail "insert after pg_upgrade"
state=$(upgraded -v VERBOSITY=sqlstate -c "INSERT INTO messages (tenant_id) VALUES ('acme')" 2>&1 || true)
echo "$state" | grep -q "PT402" || fail "enforcement after pg_upgrade should refuse with PT402, got: $state"
[ "$(upgraded -c "SELECT used FROM billing.tenant_usage('acme') WHERE resource = 'storage'")" = 40 ] ||
    fail "storage usage after pg_upgrade"
echo "pg_upgrade: state and enforcement carried over"
