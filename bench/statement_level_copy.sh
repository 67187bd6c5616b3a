#!/usr/bin/env bash
# An experiment for a contract decision, not a variant of the benchmark:
# what COPY would gain if enforcement were an AFTER INSERT statement trigger
# over the transition table (consuming once per tenant per statement) instead
# of the contract's BEFORE ROW trigger, and what a one-row INSERT would pay.
# A BEFORE ROW trigger turns off COPY's multi-row batching; a statement
# trigger does not.  The prototype is PL/pgSQL calling
# billing.consume_quota() (bench/statement_level_trigger.sql); a C version
# would cost less per statement, about the same per row.
#
#   bash bench/statement_level_copy.sh [rounds]    (default 3; shared-memory mode)
#
# Variants, measured A B C A B C ..., medians: no quota; the extension's
# trigger (enforce_quota); the statement-level prototype.  COPY of 1,000,000
# rows over 1000 tenants, then 5-second pgbench runs of one-row inserts of
# one tenant from 1 client.
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

ROUNDS=${1:-3}
BENCH_DIR=$REPO_ROOT/bench

install_build_dependencies
build_and_install_extension
start_cluster statement_copy 54389 "shared_buffers = '256MB'" "synchronous_commit = off" \
    "max_wal_size = '2GB'" "shared_preload_libraries = 'zechat_billing'"
trap stop_cluster EXIT
createdb bench
(cd "$BENCH_DIR" && psql -X -q -v ON_ERROR_STOP=1 -d bench -f setup.sql \
    -f statement_level_trigger.sql >/dev/null)

COPY_FILE=$CLUSTER_DIR/copy.tsv
psql -X -q -d bench -c "COPY (SELECT 't' || (g % 1000 + 1), 'hello' FROM generate_series(1, 1000000) g) TO '$COPY_FILE'"
empty() { psql -X -q -d bench -c "TRUNCATE $1" -c "VACUUM ANALYZE $1" >/dev/null; }
copy_ms() {
    empty "$1"
    psql -X -q -d bench -c '\timing on' -c "COPY $1 (tenant_id, body) FROM '$COPY_FILE'" 2>&1 |
        sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -1
}
insert_tps() {
    empty "$1"
    pgbench -n -d bench -c 1 -T 5 -D tbl="$1" -f "$BENCH_DIR/insert_hot.sql" 2>&1 |
        sed -n 's/^tps = \([0-9.]*\).*/\1/p'
}
source "$BENCH_DIR/stats.sh"

TABLES=(msg_plain msg_ext msg_statement)
declare -A copy=() insert=()
for table in "${TABLES[@]}"; do copy_ms "$table" >/dev/null; done # warm-up
for ((round = 1; round <= ROUNDS; round++)); do
    for table in "${TABLES[@]}"; do copy[$table]+="$(copy_ms "$table") "; done
done
for ((round = 1; round <= ROUNDS; round++)); do
    for table in "${TABLES[@]}"; do insert[$table]+="$(insert_tps "$table") "; done
done

echo
echo "Statement-level enforcement experiment, $(date -u +%Y-%m-%d), $(nproc) cores, $ROUNDS rounds"
echo
echo "| variant | COPY 1000000 rows, ms | COPY ratio | one-row INSERT tps, 1 client | INSERT ratio |"
echo "|---|---|---|---|---|"
copy_base=$(median_of "${copy[msg_plain]}")
insert_base=$(median_of "${insert[msg_plain]}")
for spec in "msg_plain:no quota" "msg_ext:enforce_quota (BEFORE ROW)" \
    "msg_statement:statement-level prototype"; do
    table=${spec%%:*}
    c=$(median_of "${copy[$table]}")
    i=$(median_of "${insert[$table]}")
    awk -v n="${spec#*:}" -v c="$c" -v cb="$copy_base" -v i="$i" -v ib="$insert_base" \
        'BEGIN { printf "| %s | %.0f | %.2f | %.0f | %.2f |\n", n, c, cb / c, i, i / ib }'
done
