#!/usr/bin/env bash
# Deterministic cost per insert: valgrind's callgrind counts the
# instructions a single-user backend executes for N single-row INSERT
# transactions of one tenant, for each variant (plain table, PL/pgSQL
# counter-row reference, the extension), less what the same backend costs
# with no insert (start-up, shut-down).  Instruction counts do not depend on
# what else the machine is doing, unlike tps.
#
#   bash bench/instructions.sh [inserts] [tenants]   (default 3000 inserts, 1 tenant)
#
# ZB_EXACT_ON_CONFLICT=1 makes the enforced table exact for INSERT ... ON
# CONFLICT first (billing.exact_on_conflict; see README), to measure what it
# costs; ZB_PER_STATEMENT=1 enforces its inserts per statement instead
# (billing.enforce_per_statement).
#
# With tenants > 1 the inserts go to tenants t1..tN in a fixed pseudo-random
# order, like bench/insert_spread.sql: that counts what a backend pays the
# first time it meets a tenant as well as the steady state.
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

INSERTS=${1:-3000}
TENANTS=${2:-1}
BENCH_DIR=$REPO_ROOT/bench

install_build_dependencies
install_packages valgrind
build_and_install_extension
start_cluster instructions 54397
createdb bench
(cd "$BENCH_DIR" && psql -X -q -v ON_ERROR_STOP=1 -d bench -f setup.sql >/dev/null)
if [ -n "${ZB_EXACT_ON_CONFLICT:-}" ]; then
    psql -X -q -v ON_ERROR_STOP=1 -d bench -c "SELECT billing.exact_on_conflict('msg_ext')" >/dev/null
fi
if [ -n "${ZB_PER_STATEMENT:-}" ]; then
    psql -X -q -v ON_ERROR_STOP=1 -d bench -c "SELECT billing.enforce_per_statement('msg_ext')" >/dev/null
fi
stop_cluster

# Variants as name:table:shared_preload_libraries.
# "no quota, preloaded" is what preloading the library costs an insert into
# a table it does not enforce.
VARIANTS=("no quota:msg_plain:" "PL/pgSQL reference:msg_ref:" "lock mode:msg_ext:"
    "no quota, preloaded:msg_plain:zechat_billing" "shared-memory mode:msg_ext:zechat_billing")
declare -A total=() collected=()
for spec in "${VARIANTS[@]}"; do
    IFS=: read -r name table preload <<<"$spec"
    script=$CLUSTER_DIR/inserts_$table.sql
    awk -v n="$INSERTS" -v tenants="$TENANTS" -v table="$table" 'BEGIN {
        srand(42)
        for (i = 0; i < n; i++)
            printf "INSERT INTO %s (tenant_id, body) VALUES (%ct%d%c, %chello%c);\n",
                table, 39, (tenants > 1 ? int(rand() * tenants) + 1 : 1), 39, 39, 39
    }' >"$script"
    chmod 644 "$script"
    # The same backend with no insert at all: what start-up and shut-down
    # cost (loading the library, laying out shared memory) is taken off, so
    # that only the inserts are counted.
    echo "SELECT 1;" >"$CLUSTER_DIR/idle.sql"
    chmod 644 "$CLUSTER_DIR/idle.sql"
    for run in idle inserts; do
        input=$script
        [ "$run" = idle ] && input=$CLUSTER_DIR/idle.sql
        out=$CLUSTER_DIR/callgrind.$table${preload:+.preloaded}${run/inserts/}
        runuser -u "$PG_OS_USER" -- valgrind --tool=callgrind --callgrind-out-file="$out" \
            "$PG_BIN/postgres" --single -D "$CLUSTER_DIR/data" -c fsync=off \
            -c shared_preload_libraries="$preload" bench <"$input" >/dev/null 2>"$out.log"
        collected[$run]=$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$out.log")
    done
    total[$name]=$((collected[inserts] - collected[idle]))
done

echo
echo "Instructions per single-row INSERT transaction ($INSERTS inserts, $TENANTS tenant(s), callgrind):"
echo
echo "| variant | instructions per insert | ratio to plain |"
echo "|---|---|---|"
for spec in "${VARIANTS[@]}"; do
    name=${spec%%:*}
    awk -v name="$name" -v t="${total[$name]}" -v base="${total[no quota]}" -v n="$INSERTS" \
        'BEGIN { printf "| %s | %.0f | %.2f |\n", name, t / n, t / base }'
done
echo
echo "Profiles: $CLUSTER_DIR/callgrind.* (callgrind_annotate --inclusive=yes FILE)"
