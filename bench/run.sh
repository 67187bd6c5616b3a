#!/usr/bin/env bash
# The benchmark: pgbench on a throwaway cluster, each scenario measured
# A B A B ... interleaved, reported as medians and as ratios to "no quota"
# measured in the same run (these machines are shared and noisy: only
# ratios from one run mean anything).
#
#   bash bench/run.sh [seconds-per-measurement] [rounds]    (default 10 s, 3 rounds)
#
# Variants: plain inserts without enforcement; the PL/pgSQL counter-row
# reference (bench/plpgsql_reference.sql); the extension in lock mode.
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

SECONDS_EACH=${1:-10}
ROUNDS=${2:-3}
BENCH_DIR=$REPO_ROOT/bench

install_build_dependencies
build_and_install_extension
start_cluster bench 54390 "shared_buffers = '256MB'" "synchronous_commit = off" "max_wal_size = '2GB'"
trap stop_cluster EXIT
createdb bench
(cd "$BENCH_DIR" && psql -X -q -v ON_ERROR_STOP=1 -d bench -f setup.sql >/dev/null)

# tps SCRIPT CLIENTS TABLE
tps() {
    local out
    out=$(pgbench -n -d bench -c "$2" -j 2 -T "$SECONDS_EACH" -D tbl="$3" -f "$BENCH_DIR/$1" 2>&1) || {
        echo "$out" >&2
        return 1
    }
    echo "$out" | sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -1
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

reset_tables() {
    psql -X -q -d bench -c "TRUNCATE msg_plain, msg_ref; DELETE FROM msg_ext; DELETE FROM billing.usage;" \
        -c "UPDATE ref_counters SET used = 0" -c "VACUUM ANALYZE" >/dev/null
}

RESULTS=()
# scenario NAME SCRIPT CLIENTS VARIANT:TABLE...
scenario() {
    local name=$1 script=$2 clients=$3
    shift 3
    declare -A samples=()
    local round variant table
    for ((round = 1; round <= ROUNDS; round++)); do
        for spec in "$@"; do
            variant=${spec%%:*}
            table=${spec#*:}
            reset_tables
            samples[$variant]+="$(tps "$script" "$clients" "$table") "
        done
    done
    local base
    base=$(echo "${samples[${1%%:*}]}" | tr ' ' '\n' | grep . | median)
    for spec in "$@"; do
        variant=${spec%%:*}
        local m
        m=$(echo "${samples[$variant]}" | tr ' ' '\n' | grep . | median)
        RESULTS+=("| $name | $variant | $(printf '%.0f' "$m") | $(awk -v a="$m" -v b="$base" 'BEGIN {printf "%.2f", a / b}') |")
        log "$name / $variant: samples ${samples[$variant]}-> median $m"
    done
}

scenario "1 hot tenant, 1 client" insert_hot.sql 1 "no quota:msg_plain" "PL/pgSQL reference:msg_ref" "lock mode:msg_ext"
scenario "1 hot tenant, 16 clients" insert_hot.sql 16 "no quota:msg_plain" "PL/pgSQL reference:msg_ref" "lock mode:msg_ext"
scenario "1000 tenants, 16 clients" insert_spread.sql 16 "no quota:msg_plain" "PL/pgSQL reference:msg_ref" "lock mode:msg_ext"

# COPY of rows spread over 1000 tenants, from a server-side file, timed by
# psql; ratio = time without quota / time of the variant.
COPY_ROWS=${COPY_ROWS:-1000000}
COPY_FILE=$CLUSTER_DIR/copy.tsv
psql -X -q -d bench -c "COPY (SELECT 't' || (g % 1000 + 1), 'hello' FROM generate_series(1, $COPY_ROWS) g) TO '$COPY_FILE'"
copy_ms() { # TABLE
    psql -X -q -d bench -c '\timing on' -c "COPY $1 (tenant_id, body) FROM '$COPY_FILE'" 2>&1 |
        sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -1
}
declare -A copy_samples=()
for ((round = 1; round <= ROUNDS; round++)); do
    for spec in "no quota:msg_plain" "lock mode:msg_ext"; do
        reset_tables
        copy_samples[${spec%%:*}]+="$(copy_ms "${spec#*:}") "
    done
done
copy_base=$(echo "${copy_samples[no quota]}" | tr ' ' '\n' | grep . | median)
for variant in "no quota" "lock mode"; do
    m=$(echo "${copy_samples[$variant]}" | tr ' ' '\n' | grep . | median)
    RESULTS+=("| COPY $COPY_ROWS rows, 1000 tenants | $variant | $(awk -v m="$m" -v n="$COPY_ROWS" 'BEGIN {printf "%.0f", n / (m / 1000)}') rows/s | $(awk -v a="$copy_base" -v b="$m" 'BEGIN {printf "%.2f", a / b}') |")
    log "COPY / $variant: samples ${copy_samples[$variant]}ms -> median $m ms"
done

reset_tables
scenario "consume_quota() calls, 16 clients" consume_hot.sql 16 "lock mode:msg_ext"

echo
echo "zechat_billing benchmark, $(date -u +%Y-%m-%d), $(nproc) cores, PostgreSQL $(pg_config --version 2>/dev/null | awk '{print $2}'), ${SECONDS_EACH}s x ${ROUNDS} rounds"
echo
echo "| scenario | variant | median tps | ratio to first variant |"
echo "|---|---|---|---|"
printf '%s\n' "${RESULTS[@]}"
