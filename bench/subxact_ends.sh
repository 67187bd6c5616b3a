#!/usr/bin/env bash
# What the end of a subtransaction costs in a transaction that has touched
# many keys: one transaction consumes for KEYS keys (KEYS/3 tenants, three
# resources), then runs 10,000 empty PL/pgSQL EXCEPTION blocks (each a
# subtransaction that touches nothing), for each KEYS, in both modes.  The
# time is the blocks' (clock_timestamp() around the loop), the median of
# ROUNDS rounds run in turn (K1 K2 ... K1 K2 ...); the ratio is to the same
# loop with no key touched, in the same run.  Each end used to walk every key
# of the transaction (a helper's measurement, lock mode: 0.01 s with no key,
# 0.28 s after 9,000 keys, 11.7 s after 90,000); it visits only the keys the
# subtransaction touched now, so the ratios stay near 1.
#
#   bash bench/subxact_ends.sh [KEYS...]   (default 0 9000 30000 90000)
#   ROUNDS=3 (the default)
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(0 9000 30000 90000)
ROUNDS=${ROUNDS:-3}
keys=$(printf '%s\n' "${SIZES[@]}" | sort -n | tail -1)
tenants=$(((keys + 2) / 3))
[ "$tenants" -gt 0 ] || tenants=1

install_build_dependencies
build_and_install_extension
start_cluster subxact_ends 54386 >/dev/null
createdb bench
psql -X -q -v ON_ERROR_STOP=1 -d bench >/dev/null <<SQL
CREATE EXTENSION zechat_billing;
INSERT INTO billing.plans (plan_id, name) VALUES ('p', 'P');
INSERT INTO billing.plan_limits VALUES ('p', 'messages', 1000000000), ('p', 'users', 1000000000),
    ('p', 'whatsapp_sessions', 1000000000);
SELECT count(billing.subscribe('t' || g, 'p')) FROM generate_series(1, $tenants) g;
SQL

# run KEYS: prints the milliseconds of the 10,000 blocks after KEYS keys.
run() {
    psql -X -q -v ON_ERROR_STOP=1 -d bench 2>&1 >/dev/null <<SQL | sed -n 's/^NOTICE:  ms=//p'
BEGIN;
SELECT count(billing.consume_quota('t' || (g / 3 + 1),
                                   (ARRAY['messages', 'users', 'whatsapp_sessions'])[g % 3 + 1]))
  FROM generate_series(0, $1 - 1) g;
DO \$\$
DECLARE
    t0 timestamptz := clock_timestamp();
BEGIN
    FOR i IN 1..10000 LOOP
        BEGIN
            PERFORM 1;
        EXCEPTION WHEN others THEN
            NULL;
        END;
    END LOOP;
    RAISE NOTICE 'ms=%', extract(epoch FROM clock_timestamp() - t0) * 1000;
END
\$\$;
ROLLBACK;
SQL
}

median() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

declare -A times
for mode in lock shared_memory; do
    if [ "$mode" = shared_memory ]; then
        restart_cluster "shared_preload_libraries = 'zechat_billing'" \
            "zechat_billing.max_counters = $((keys + 1000))"
    fi
    for _ in $(seq "$ROUNDS"); do
        for n in "${SIZES[@]}"; do
            times[$mode.$n]+="$(run "$n") "
        done
    done
done
stop_cluster

echo
echo "10,000 empty EXCEPTION blocks after KEYS keys in the same transaction (median of $ROUNDS):"
echo
echo "| keys | lock mode, ms | ratio to no key | shared-memory mode, ms | ratio to no key |"
echo "|---|---|---|---|---|"
lock0=$(median <<<"${times[lock.${SIZES[0]}]}")
shm0=$(median <<<"${times[shared_memory.${SIZES[0]}]}")
for n in "${SIZES[@]}"; do
    lock=$(median <<<"${times[lock.$n]}")
    shm=$(median <<<"${times[shared_memory.$n]}")
    awk -v n="$n" -v l="$lock" -v l0="$lock0" -v s="$shm" -v s0="$shm0" \
        'BEGIN { printf "| %d | %.1f | %.2f | %.1f | %.2f |\n", n, l, l / l0, s, s / s0 }'
done
