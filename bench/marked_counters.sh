#!/usr/bin/env bash
# Shared-memory mode: what consuming on counters that schedule changes
# marked costs, once those changes have ended.  A change marks the counters
# it moves (and one placed while it runs); a counter keeps a mark until
# evicted, and a consumer meeting the mark of a mover it has not waited
# for waits for that mover's lock, then admits again.  Four tenants have
# their counters marked by four changes (each rolled back, after a first
# consumption placed the counter while it ran), four others not; one
# session consumes OPS times, the tenants taken in turn, on the marked
# ones and on the others, A B A B, ROUNDS times; the medians, and the
# median of the rounds' ratios (marked / unmarked).
#
#   bash bench/marked_counters.sh
#   ROUNDS=7 OPS=40000 (the defaults)
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/stats.sh"

ROUNDS=${ROUNDS:-7}
OPS=${OPS:-40000}

install_build_dependencies
install_packages python3-psycopg
build_and_install_extension
start_cluster marked_counters 54381 "shared_preload_libraries = 'zechat_billing'" >/dev/null
trap stop_cluster EXIT
createdb bench
psql -X -q -v ON_ERROR_STOP=1 -d bench >/dev/null <<'SQL'
CREATE EXTENSION zechat_billing;
INSERT INTO billing.plans (plan_id, name, billing_interval)
VALUES ('monthly', 'Monthly', '1 month'), ('yearly', 'Yearly', '1 year');
INSERT INTO billing.plan_limits VALUES ('monthly', 'messages', NULL), ('yearly', 'messages', NULL);
-- 40 days in: the yearly period starts elsewhere than the monthly one, so
-- a change to yearly moves the month's usage.
SELECT billing.subscribe(t, 'monthly', now() - interval '40 days')
  FROM unnest(ARRAY['marked1', 'marked2', 'marked3', 'marked4',
                    'plain1', 'plain2', 'plain3', 'plain4']) t;
-- Milliseconds one consumption takes, over n of them, the tenants
-- prefix1..prefix4 in turn.
CREATE FUNCTION ms_per_consumption(prefix text, n integer) RETURNS float8
LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz := clock_timestamp();
BEGIN
    FOR i IN 1 .. n LOOP
        PERFORM billing.consume_quota(prefix || (i % 4 + 1), 'messages', 1);
    END LOOP;
    RETURN extract(epoch FROM clock_timestamp() - t0) * 1000 / n;
END;
$$;
SQL

# The marks: each change in flight while the tenant's first consumption
# places its counter (which waits for the change), then rolled back.
/usr/bin/python3 - "host=$CLUSTER_DIR port=$PGPORT user=postgres dbname=bench" <<'PY'
import sys, threading, time
import psycopg

dsn = sys.argv[1]
admin = psycopg.connect(dsn, autocommit=True)
for t in ['marked1', 'marked2', 'marked3', 'marked4']:
    mover, consumer = psycopg.connect(dsn), psycopg.connect(dsn, autocommit=True)
    mover.execute("SELECT billing.subscribe(%s, 'yearly')", (t,))
    first = threading.Thread(target=consumer.execute,
                             args=("SELECT billing.consume_quota(%s, 'messages', 1)", (t,)))
    first.start()
    for _ in range(500):
        waiting = admin.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s",
                                (consumer.info.backend_pid,)).fetchone()[0]
        if waiting == 'Lock':
            break
        time.sleep(0.01)
    else:
        sys.exit('the first consumption of %s did not wait for the change' % t)
    mover.rollback()
    first.join()
    mover.close()
    consumer.close()
PY

# ms PREFIX: one consumption's time, in a new session.
ms() {
    psql -X -q -At -v ON_ERROR_STOP=1 -d bench -c "SELECT ms_per_consumption('$1', $OPS)"
}

marked= plain=
for round in $(seq "$ROUNDS"); do
    marked+="$(ms marked) "
    plain+="$(ms plain) "
done

echo
echo "Consumption on counters marked by ended schedule changes, shared-memory mode, $ROUNDS rounds of $OPS:"
echo
echo "| counters | µs per consumption (median) |"
echo "|---|---|"
printf '| marked by 4 ended changes | %.2f |\n' "$(median_of "$marked" | awk '{print $1 * 1000}')"
printf '| not marked | %.2f |\n' "$(median_of "$plain" | awk '{print $1 * 1000}')"
echo
printf 'median of the rounds'"'"' ratios, marked / not marked: %.3f\n' "$(round_ratios "$plain" "$marked")"
