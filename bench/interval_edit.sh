#!/usr/bin/env bash
# How long an edit of a plan's billing interval takes with N subscribers,
# each with usage in its current period (counters loaded, in shared-memory
# mode) and in two past ones: the UPDATE, which carries every subscriber's
# usage to its new period, and the COMMIT, which writes it; in both modes.
#
#   bash bench/interval_edit.sh [subscribers...]   (default 2000 4000 12000)
#
# Each size runs on a fresh throwaway cluster; times are psql's \timing.
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(2000 4000 12000)

install_build_dependencies
build_and_install_extension

echo
echo "| mode | subscribers | UPDATE | COMMIT |"
echo "|---|---|---|---|"
for mode in lock shared_memory; do
    for n in "${SIZES[@]}"; do
        if [ "$mode" = lock ]; then
            start_cluster interval_edit 54389 >/dev/null
        else
            start_cluster interval_edit 54389 "shared_preload_libraries = 'zechat_billing'" \
                "zechat_billing.max_counters = $((n * 8 + 1000))" >/dev/null
        fi
        createdb bench
        psql -X -q -v ON_ERROR_STOP=1 -d bench >/dev/null <<SQL
CREATE EXTENSION zechat_billing;
INSERT INTO billing.plans (plan_id, name) VALUES ('p', 'P');
INSERT INTO billing.plan_limits VALUES ('p', 'messages', 1000000);
SELECT billing.subscribe('t' || g, 'p', now() - interval '3 months 2 days') FROM generate_series(1, $n) g;
SELECT billing.consume_quota('t' || g, 'messages', 3) FROM generate_series(1, $n) g;
-- Two past periods each, as consumption in them would have left them.
INSERT INTO billing.usage_parts
SELECT 't' || g, 'messages',
       (billing.period_bounds(now() - interval '3 months 2 days', '1 month', now() - interval '1 month' * k)).period_start,
       0, 5
  FROM generate_series(1, $n) g, generate_series(1, 2) k;
SQL
        times=$(psql -X -q -v ON_ERROR_STOP=1 -d bench -c '\timing on' -c "BEGIN" \
            -c "UPDATE billing.plans SET billing_interval = '1 year' WHERE plan_id = 'p'" -c "COMMIT" |
            sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -2 | tr '\n' ' ')
        read -r update commit <<<"$times"
        echo "| $mode | $n | $update ms | $commit ms |"
        stop_cluster
    done
done
