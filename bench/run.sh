#!/usr/bin/env bash
# The benchmark: pgbench on a throwaway cluster, each scenario measured
# A B A B ... interleaved, reported as medians and as ratios to "no quota"
# measured in the same run (these machines are shared and noisy: only
# ratios from one run mean anything).
#
#   bash bench/run.sh [seconds-per-measurement] [rounds]    (default 10 s, 3 rounds)
#   COMMITS=relaxed ...       fsync and synchronous_commit off (default: durable)
#   SCENARIOS="spread copy"   only those scenarios (default: all; names below)
#
# Each scenario starts with one unmeasured run of every variant (WARMUP_SECONDS,
# default 4): work done once per server, not per transaction — creating the
# usage rows of each tenant (in shared-memory mode one per tenant and
# backend: 16000 rows for 1000 tenants and 16 clients), loading the counters
# — would otherwise land in the first round of whichever variant meets it
# first.  pgbench still opens new connections for every run, so what a new
# backend does on meeting a tenant (reading its terms) is measured.
#
# Variants: plain inserts without enforcement (on each server); the PL/pgSQL counter-row
# reference (bench/plpgsql_reference.sql); the extension in lock mode; the
# extension in shared-memory mode; and, for the inserts, shared-memory mode
# with the table's inserts enforced per statement
# (billing.enforce_per_statement; for COPY lock mode too).  The two modes cannot share a server (the
# mode is whether the library is preloaded), so two identical clusters run
# side by side, the second with shared_preload_libraries, and every variant
# names the server it runs on.
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

SECONDS_EACH=${1:-10}
ROUNDS=${2:-3}
WARMUP_SECONDS=${WARMUP_SECONDS:-4}
BENCH_DIR=$REPO_ROOT/bench
source "$BENCH_DIR/servers.sh" # COMMITS, BENCH_CONF, start_bench_server, on
# SCENARIOS (default: all of them) runs only those named, of: hot1 hot16
# spread copy consume.
SCENARIOS=${SCENARIOS:-hot1 hot16 spread copy consume}
wanted() { [[ " $SCENARIOS " == *" $1 "* ]]; }

install_build_dependencies
build_and_install_extension
trap stop_bench_servers EXIT
start_bench_server shm bench_shm 54391 "shared_preload_libraries = 'zechat_billing'"
start_bench_server lock bench 54390

for server in lock shm; do
    on $server createdb bench
    (cd "$BENCH_DIR" && on $server psql -X -q -v ON_ERROR_STOP=1 -d bench -f setup.sql >/dev/null)
done

# tps SCRIPT CLIENTS TABLE@SERVER [SECONDS]
tps() {
    local out
    out=$(on "${3#*@}" pgbench -n -d bench -c "$2" -j 2 -T "${4:-$SECONDS_EACH}" -D tbl="${3%@*}" \
        -f "$BENCH_DIR/$1" 2>&1) || {
        echo "$out" >&2
        return 1
    }
    echo "$out" | sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -1
}

source "$BENCH_DIR/stats.sh"

# Usage is not reset: the limits are never reached, and VACUUM keeps its
# rows as small as after a reset.
reset_tables() {
    local server
    for server in lock shm; do
        on $server psql -X -q -d bench -c "TRUNCATE msg_plain, msg_ref, msg_ext, msg_stmt" \
            -c "UPDATE ref_counters SET used = 0" -c "VACUUM ANALYZE" >/dev/null
    done
}

RESULTS=()
# scenario NAME SCRIPT CLIENTS VARIANT:TABLE...
scenario() {
    local name=$1 script=$2 clients=$3
    shift 3
    declare -A samples=()
    local round variant table
    for spec in "$@"; do
        reset_tables
        log "$name / ${spec%%:*}: warm-up $(tps "$script" "$clients" "${spec#*:}" "$WARMUP_SECONDS") tps (not counted)"
    done
    for ((round = 1; round <= ROUNDS; round++)); do
        for spec in "$@"; do
            variant=${spec%%:*}
            table=${spec#*:}
            reset_tables
            samples[$variant]+="$(tps "$script" "$clients" "$table") "
        done
    done
    local base
    base=$(median_of "${samples[${1%%:*}]}")
    for spec in "$@"; do
        variant=${spec%%:*}
        local m
        m=$(median_of "${samples[$variant]}")
        RESULTS+=("| $name | $variant | $(printf '%.0f' "$m") | $(awk -v a="$m" -v b="$base" 'BEGIN {printf "%.2f", a / b}') | $(printf '%.2f' "$(round_ratios "${samples[${1%%:*}]}" "${samples[$variant]}")") |")
        log "$name / $variant: samples ${samples[$variant]}-> median $m"
    done
}

# "no quota, preloading server" is the same plain table on the server that
# runs shared-memory mode: the two servers have a WAL each, and their
# difference shows there (the ratios stay to the first variant).
VARIANTS=("no quota:msg_plain@lock" "PL/pgSQL reference:msg_ref@lock" "lock mode:msg_ext@lock"
    "no quota, preloading server:msg_plain@shm"
    "shared-memory mode:msg_ext@shm" "shared-memory mode, per statement:msg_stmt@shm")
if wanted hot1; then scenario "1 hot tenant, 1 client" insert_hot.sql 1 "${VARIANTS[@]}"; fi
if wanted hot16; then scenario "1 hot tenant, 16 clients" insert_hot.sql 16 "${VARIANTS[@]}"; fi
if wanted spread; then scenario "1000 tenants, 16 clients" insert_spread.sql 16 "${VARIANTS[@]}"; fi

# COPY of rows spread over 1000 tenants, from a server-side file, timed by
# psql; ratio = time without quota / time of the variant.
COPY_ROWS=${COPY_ROWS:-1000000}
COPY_FILE=${BENCH_DIRS[lock]}/copy.tsv
copy_ms() { # TABLE@SERVER
    on "${1#*@}" psql -X -q -d bench -c '\timing on' -c "COPY ${1%@*} (tenant_id, body) FROM '$COPY_FILE'" 2>&1 |
        sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -1
}
copy_scenario() {
    local spec variant m copy_base round
    local variants=("no quota:msg_plain@lock" "lock mode:msg_ext@lock" "shared-memory mode:msg_ext@shm"
        "lock mode, per statement:msg_stmt@lock" "shared-memory mode, per statement:msg_stmt@shm")
    declare -A copy_samples=()
    on lock psql -X -q -d bench -c "COPY (SELECT 't' || (g % 1000 + 1), 'hello' FROM generate_series(1, $COPY_ROWS) g) TO '$COPY_FILE'"
    for spec in "${variants[@]}"; do
        reset_tables
        log "COPY / ${spec%%:*}: warm-up $(copy_ms "${spec#*:}") ms (not counted)"
    done
    for ((round = 1; round <= ROUNDS; round++)); do
        for spec in "${variants[@]}"; do
            reset_tables
            copy_samples[${spec%%:*}]+="$(copy_ms "${spec#*:}") "
        done
    done
    copy_base=$(median_of "${copy_samples[no quota]}")
    for spec in "${variants[@]}"; do
        variant=${spec%%:*}
        m=$(median_of "${copy_samples[$variant]}")
        # Times, not rates: the round ratio is the first variant's time over this one's.
        RESULTS+=("| COPY $COPY_ROWS rows, 1000 tenants | $variant | $(awk -v m="$m" -v n="$COPY_ROWS" 'BEGIN {printf "%.0f", n / (m / 1000)}') rows/s | $(awk -v a="$copy_base" -v b="$m" 'BEGIN {printf "%.2f", a / b}') | $(printf '%.2f' "$(round_ratios "${copy_samples[$variant]}" "${copy_samples[no quota]}")") |")
        log "COPY / $variant: samples ${copy_samples[$variant]}ms -> median $m ms"
    done
}
if wanted copy; then copy_scenario; fi

if wanted consume; then
    reset_tables
    scenario "consume_quota() calls, 1 hot tenant, 16 clients" consume_hot.sql 16 "lock mode:msg_ext@lock" \
        "shared-memory mode:msg_ext@shm"
fi

echo
echo "zechat_billing benchmark, $(date -u +%Y-%m-%d), $(nproc) cores, PostgreSQL $(pg_config --version 2>/dev/null | awk '{print $2}'), ${SECONDS_EACH}s x ${ROUNDS} rounds after a ${WARMUP_SECONDS}s warm-up, $COMMITS commits"
echo
echo "| scenario | variant | median tps | ratio of medians to first variant | median of round ratios |"
echo "|---|---|---|---|---|"
printf '%s\n' "${RESULTS[@]}"
