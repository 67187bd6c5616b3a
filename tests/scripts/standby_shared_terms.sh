#!/usr/bin/env bash
# Shared-memory mode shares the terms one backend read with the backends
# after it (tenant_terms.cpp), under a stamp that a committed configuration
# change moves.  On a hot standby nothing moves it: replay runs no commit
# callback and no relcache callback, and a backend started after the replay
# takes no message sent before.  So terms are neither shared nor taken
# during recovery; before that, a standby's new sessions kept a limit the
# primary had replaced, and after promotion admitted past the new one.
#
#   1. primary and standby both preload the library; on the standby a
#      session checks t1's quota (limit 5), which read its terms;
#   2. the primary lowers t1's limit to 2 by an override; once replayed,
#      a new standby session must find 3 over it;
#   3. the standby is promoted; consuming 3 must be refused, 2 admitted.
source "$(dirname "$0")/../../scripts/lib.sh"

fail() { echo "FAILED: $*" >&2; exit 1; }
STANDBY_DIR=/tmp/zb-standby_shared_terms
cleanup() {
    stop_cluster_dir "$STANDBY_DIR"
    stop_cluster
}
trap cleanup EXIT

start_cluster primary_shared_terms 54425 "shared_preload_libraries = 'zechat_billing'" \
    "wal_level = replica" "max_wal_senders = 4"
echo "local replication all trust" >>"$CLUSTER_DIR/data/pg_hba.conf"
as_pg "$PG_BIN/pg_ctl" -D "$CLUSTER_DIR/data" reload >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d postgres >/dev/null <<'SQL'
CREATE EXTENSION zechat_billing;
INSERT INTO billing.plans (plan_id, name) VALUES ('small', 'Small');
INSERT INTO billing.plan_limits VALUES ('small', 'messages', 5);
SELECT billing.subscribe('t1', 'small');
SQL

start_standby "$STANDBY_DIR" 54426 || fail "the standby could not be made and started"
standby() { psql -X -At -h "$STANDBY_DIR" -p 54426 -d postgres "$@"; }

[ "$(standby -c "SELECT billing.check_quota('t1', 'messages', 5)")" = t ] ||
    fail "check_quota on the standby before the change"
psql -X -q -v ON_ERROR_STOP=1 -d postgres -c \
    "INSERT INTO billing.limit_overrides VALUES ('t1', 'messages', 2)" >/dev/null
for _ in $(seq 1 50); do
    [ "$(standby -c "SELECT count(*) FROM billing.limit_overrides")" = 1 ] && break
    sleep 0.2
done
[ "$(standby -c "SELECT count(*) FROM billing.limit_overrides")" = 1 ] || fail "the override was not replayed"
[ "$(standby -c "SELECT billing.check_quota('t1', 'messages', 3)")" = f ] ||
    fail "a new standby session checked against the limit the replayed override replaced"

as_pg "$PG_BIN/pg_ctl" -D "$STANDBY_DIR/data" -w promote >/dev/null || fail "promotion failed"
state=$(standby -v VERBOSITY=sqlstate -c "SELECT billing.consume_quota('t1', 'messages', 3)" 2>&1 || true)
echo "$state" | grep -q PT402 || fail "the promoted server admitted past the replayed limit: $state"
[ "$(standby -c "SELECT billing.consume_quota('t1', 'messages', 2)")" = 0 ] ||
    fail "the promoted server refused what the limit allows"
echo "standby_shared_terms: ok"
