#!/usr/bin/env bash
# Gauge rows moved between two tenants in both directions at once, by
# single-row UPDATEs of distinct rows (8 pgbench clients, 4 seconds): plain
# PostgreSQL never deadlocks there, and neither must the enforcement.  Lock
# mode locks each tenant's usage row until commit; before 2026-12-04 a move
# locked the new tenant's row, then the old one's, so two opposite moves
# deadlocked (5 of 7 transactions in 5 s); now the two rows are locked in
# tenant id order.  Usage must equal the rows stored, in both modes.
source "$(dirname "$0")/../../scripts/lib.sh"

fail() { echo "FAILED ($MODE): $*" >&2; exit 1; }
STRESS=$(dirname "$0")/stress
trap stop_cluster EXIT

run_moves() { # MODE [postgresql.conf lines...]
    MODE=$1
    shift
    start_cluster opposite_moves 54419 "$@"
    createdb moves
    psql -X -q -v ON_ERROR_STOP=1 -d moves >/dev/null <<'SQL'
CREATE EXTENSION zechat_billing;
INSERT INTO billing.plans (plan_id, name) VALUES ('om', 'Moves');
INSERT INTO billing.plan_limits VALUES ('om', 'users', 1000000);
SELECT billing.subscribe('om_a', 'om'), billing.subscribe('om_b', 'om');
CREATE TABLE seats (id int PRIMARY KEY, tenant_id text NOT NULL);
SELECT billing.enforce_quota('seats', 'users');
INSERT INTO seats SELECT g, CASE WHEN g % 2 = 0 THEN 'om_a' ELSE 'om_b' END
  FROM generate_series(1, 1000) g;
SQL
    cp "$STRESS/opposite_moves.sql" "$CLUSTER_DIR/"
    chmod 644 "$CLUSTER_DIR/opposite_moves.sql"
    local out
    out=$(pgbench -n -d moves -c 8 -j 8 -T 4 --failures-detailed \
        -f "$CLUSTER_DIR/opposite_moves.sql" 2>&1) || {
        echo "$out"
        fail "pgbench failed"
    }
    local processed deadlocks
    processed=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' <<<"$out")
    deadlocks=$(sed -n 's/^number of deadlock failures: \([0-9]*\).*/\1/p' <<<"$out")
    echo "$MODE: $processed moves, ${deadlocks:-?} deadlocks"
    [ "${deadlocks:-x}" = 0 ] || { echo "$out"; fail "moves deadlocked"; }
    [ "${processed:-0}" -gt 100 ] || { echo "$out"; fail "too few moves went through"; }
    local mismatch
    mismatch=$(psql -X -At -d moves -c "
        SELECT count(*) FROM (SELECT tenant_id, count(*) AS n FROM seats GROUP BY 1) s
          FULL JOIN (SELECT tenant_id, used FROM billing.usage WHERE resource = 'users') u
            USING (tenant_id)
         WHERE coalesce(s.n, 0) <> coalesce(u.used, 0)")
    [ "$mismatch" = 0 ] || fail "usage differs from the rows stored for $mismatch tenants"
    stop_cluster
}

install_build_dependencies
build_and_install_extension
run_moves "lock mode"
run_moves "shared-memory mode" "shared_preload_libraries = 'zechat_billing'"
echo "opposite_moves: ok"
