#!/usr/bin/env bash
# What a long-running server's counter table costs: shared-memory mode on a
# table through which many more keys have come and gone than it holds (as
# happens over a few billing periods: tenants x resources x periods),
# against the same server whose table has only met the keys measured.
#
#   bash bench/counter_churn.sh [seconds-per-measurement] [rounds]   (default 8 s, 5 rounds)
#   MAX_COUNTERS=50000        zechat_billing.max_counters of both servers (the default)
#   COMMITS=relaxed           fsync and synchronous_commit off (default: durable)
#   WARMUP_SECONDS=4          the unmeasured first run on each server
#
# Two identical preloaded clusters, with the same plans, 1000 measured
# tenants and 2 x MAX_COUNTERS other subscribed tenants.  On the "churned"
# one, each of those others consumes once, in its own transaction: the
# table fills, then evicts for every new key.  Then both run the same
# pgbench (16 clients, consume_quota() for one of the 1000 tenants at
# random), A B A B interleaved, reported as medians and ratios.
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

SECONDS_EACH=${1:-8}
ROUNDS=${2:-5}
WARMUP_SECONDS=${WARMUP_SECONDS:-4}
MAX_COUNTERS=${MAX_COUNTERS:-50000}
CHURN_KEYS=$((2 * MAX_COUNTERS))
BENCH_DIR=$REPO_ROOT/bench
source "$BENCH_DIR/servers.sh" # COMMITS, BENCH_CONF, start_bench_server, on

install_build_dependencies
build_and_install_extension
trap stop_bench_servers EXIT
PRELOADED=("shared_preload_libraries = 'zechat_billing'" "zechat_billing.max_counters = $MAX_COUNTERS")
start_bench_server fresh churn_fresh 54395 "${PRELOADED[@]}"
start_bench_server churned churn_churned 54396 "${PRELOADED[@]}"

SETUP="
CREATE EXTENSION zechat_billing;
INSERT INTO billing.plans (plan_id, name) VALUES ('bench', 'Bench');
INSERT INTO billing.plan_limits VALUES ('bench', 'messages', 1000000000000);
INSERT INTO billing.subscriptions (tenant_id, plan_id, period_anchor, status)
SELECT 't' || g, 'bench', now(), 'active' FROM generate_series(1, 1000) g
UNION ALL
SELECT 'c' || g, 'bench', now(), 'active' FROM generate_series(1, $CHURN_KEYS) g;
CREATE PROCEDURE churn(n int) LANGUAGE plpgsql AS \$\$
BEGIN
    FOR i IN 1..n LOOP
        PERFORM billing.consume_quota('c' || i, 'messages');
        COMMIT;
    END LOOP;
END
\$\$;"
for server in fresh churned; do
    on $server createdb bench
    on $server psql -X -q -v ON_ERROR_STOP=1 -d bench -c "$SETUP" >/dev/null
done
log "churned: $CHURN_KEYS keys through a table of $MAX_COUNTERS counters"
started=$(date +%s)
on churned psql -X -q -v ON_ERROR_STOP=1 -d bench -c "SET synchronous_commit = off" \
    -c "CALL churn($CHURN_KEYS)" >/dev/null
log "churned: done in $(($(date +%s) - started)) s; counters held: $(on churned psql -X -At -d bench \
    -c 'SELECT count(*) FROM billing.counters')"
for server in fresh churned; do
    on $server psql -X -q -d bench -c "VACUUM ANALYZE" >/dev/null
done

SCRIPT=$(mktemp /tmp/zb-churn-XXXXXX.sql)
chmod 644 "$SCRIPT"
trap 'rm -f "$SCRIPT"; stop_bench_servers' EXIT
cat >"$SCRIPT" <<'EOF'
\set t random(1, 1000)
SELECT billing.consume_quota('t' || :t, 'messages');
EOF
tps() { # SERVER SECONDS
    local out
    out=$(on "$1" pgbench -n -d bench -c 16 -j 2 -T "$2" -f "$SCRIPT" 2>&1) || {
        echo "$out" >&2
        return 1
    }
    echo "$out" | sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -1
}

source "$BENCH_DIR/stats.sh"
for server in fresh churned; do
    log "$server: warm-up $(tps $server "$WARMUP_SECONDS") tps (not counted)"
done
declare -A samples=()
for ((round = 1; round <= ROUNDS; round++)); do
    for server in fresh churned; do
        samples[$server]+="$(tps $server "$SECONDS_EACH") "
    done
done
fresh=$(median_of "${samples[fresh]}")
churned=$(median_of "${samples[churned]}")
log "fresh: samples ${samples[fresh]}-> median $fresh"
log "churned: samples ${samples[churned]}-> median $churned"
echo
echo "| table | median tps | ratio of medians to fresh | median of round ratios |"
echo "|---|---|---|---|"
echo "| fresh (1000 keys met) | $(printf '%.0f' "$fresh") | 1.00 | 1.00 |"
echo "| churned ($CHURN_KEYS more keys came and went) | $(printf '%.0f' "$churned") |" \
    "$(awk -v a="$churned" -v b="$fresh" 'BEGIN {printf "%.2f", a / b}') |" \
    "$(printf '%.2f' "$(round_ratios "${samples[fresh]}" "${samples[churned]}")") |"
