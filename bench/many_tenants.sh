#!/usr/bin/env bash
# What a backend pays when one statement meets more tenants than its cache
# of tenants' terms holds (20,000): a rolled-back DELETE of ROWS rows of an
# enforced gauge table, their tenants N in turn, for each N, in lock mode.
# Reads are the index scans of billing.subscriptions the DELETE made (one
# per read of a tenant's terms from the tables); the time is psql's,
# the median of ROUNDS rounds run in turn (N1 N2 ... N1 N2 ...), each
# DELETE in a new backend.
#
#   bash bench/many_tenants.sh [N...]   (default 15000 19000 21000 25000 40000)
#   ROWS=400000 ROUNDS=5 (the defaults)
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(15000 19000 21000 25000 40000)
ROWS=${ROWS:-400000}
ROUNDS=${ROUNDS:-5}
subscribers=$(printf '%s\n' "${SIZES[@]}" | sort -n | tail -1)

install_build_dependencies
build_and_install_extension
start_cluster many_tenants 54387 >/dev/null
createdb bench
psql -X -q -v ON_ERROR_STOP=1 -d bench >/dev/null <<SQL
CREATE EXTENSION zechat_billing;
INSERT INTO billing.plans (plan_id, name) VALUES ('p', 'P');
INSERT INTO billing.plan_limits VALUES ('p', 'storage', 1000000000000);
SELECT billing.subscribe('t' || g, 'p') FROM generate_series(1, $subscribers) g;
SQL
for n in "${SIZES[@]}"; do
    psql -X -q -v ON_ERROR_STOP=1 -d bench >/dev/null <<SQL
CREATE TABLE files_$n (id bigserial PRIMARY KEY, tenant_id text NOT NULL, size_bytes bigint NOT NULL);
SELECT billing.enforce_quota('files_$n', 'storage', 'tenant_id', 'size_bytes');
INSERT INTO files_$n (tenant_id, size_bytes)
SELECT 't' || (1 + i % $n), 10 FROM generate_series(1, $ROWS) i;
SQL
done

subscription_scans() {
    psql -X -At -d bench -c "SELECT idx_scan FROM pg_stat_user_tables
                              WHERE schemaname = 'billing' AND relname = 'subscriptions'"
}

# run N: prints "milliseconds scans" of one DELETE.
run() {
    local before after ms
    before=$(subscription_scans)
    ms=$(psql -X -q -v ON_ERROR_STOP=1 -d bench -c '\timing on' -c 'BEGIN' \
        -c "DELETE FROM files_$1" -c 'ROLLBACK' |
        sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | sed -n 2p)
    # The backend reports its statistics as it exits, after psql has.
    for _ in $(seq 50); do
        after=$(subscription_scans)
        [ "$after" != "$before" ] && break
        sleep 0.1
    done
    echo "$ms $((after - before))"
}

declare -A times scans
for _ in $(seq "$ROUNDS"); do
    for n in "${SIZES[@]}"; do
        read -r ms count < <(run "$n")
        times[$n]+="$ms "
        scans[$n]=$count
    done
done
stop_cluster

median() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

echo
echo "DELETE of $ROWS rows of an enforced gauge table, over N tenants in turn (lock mode, median of $ROUNDS):"
echo
echo "| tenants | DELETE, ms | terms read from the tables |"
echo "|---|---|---|"
for n in "${SIZES[@]}"; do
    ms=$(median <<<"${times[$n]}")
    awk -v n="$n" -v ms="$ms" -v scans="${scans[$n]}" \
        'BEGIN { printf "| %d | %.0f | %d |\n", n, ms, scans }'
done
