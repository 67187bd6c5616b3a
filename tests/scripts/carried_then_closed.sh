#!/usr/bin/env bash
# Shared-memory mode: a transaction admitted in a 2-second period that one
# change makes 8-second (nothing moves), a second one 4-second once 4
# seconds have passed (the 8-second period's usage, and what the transaction
# holds in flight, carried to the 4-second period at that moment), and a
# third one 8-second again (that usage carried back to [A, A+8); the
# 4-second [A, A+4), past, closed).  Its COMMIT belongs to [A, A+8), where
# its usage was carried: until 2026-12-07 the third change kept [A, A+4)
# as a closed period of 0 for it, as its counter was pinned, and the COMMIT
# went there; one more was then admitted, 3 of 2 (a helper's attack).  A
# counter whose in-flight usage a move carried elsewhere no longer keeps a
# period closed for it (billing._usage_in_flight).
#
# The same with the second and third changes in one transaction: the
# first version of the look after the close (c7151da) kept what the second
# change found in flight for the third, and closed [A, A+4) at 0 again: 3
# of 2 (a helper's attack).
#
# Lock mode cannot reach this: the second change waits for the transaction
# (an isolation spec would block there), so it is a script, in
# shared-memory mode only.
source "$(dirname "$0")/../../scripts/lib.sh"

install_packages python3-psycopg

fail() { echo "FAILED: $*" >&2; exit 1; }
trap stop_cluster EXIT
start_cluster carried_then_closed 54436 "shared_preload_libraries = 'zechat_billing'"

scenario() {
    local how=$1 out elapsed
    dropdb --if-exists carried 2>/dev/null
    createdb carried
    psql -X -q -v ON_ERROR_STOP=1 -d carried -c "CREATE EXTENSION zechat_billing" >/dev/null
    out=$(/usr/bin/python3 - "host=$CLUSTER_DIR port=$PGPORT user=postgres dbname=carried" "$how" <<'PY'
import sys, time
import psycopg

one_transaction = sys.argv[2] == 'one_transaction'
late = psycopg.connect(sys.argv[1], autocommit=True)
changer = psycopg.connect(sys.argv[1], autocommit=True)
q = lambda c, sql, *a: c.execute(sql, a).fetchone()
change = ("SELECT billing.subscribe('cc', %s, (SELECT period_anchor FROM billing.subscriptions"
          " WHERE tenant_id = 'cc'))")
changer.execute("INSERT INTO billing.plans (plan_id, name, billing_interval) VALUES"
                " ('cc_2', '2 s', '2 seconds'), ('cc_4', '4 s', '4 seconds'), ('cc_8', '8 s', '8 seconds')")
changer.execute("INSERT INTO billing.plan_limits SELECT p, 'messages', 2 FROM unnest(ARRAY['cc_2', 'cc_4', 'cc_8']) p")
changer.execute("SELECT billing.subscribe('cc', 'cc_2', now() - interval '0.5 seconds')")
start = time.monotonic()
q(changer, "SELECT billing.consume_quota('cc', 'messages', 1)")
late.execute("BEGIN")
q(late, "SELECT billing.consume_quota('cc', 'messages', 1)")  # 2 of 2 in [A, A+2)
q(changer, change, 'cc_8')
time.sleep(max(0, start + 3.7 - time.monotonic()))  # past A+4
if one_transaction:
    changer.execute("BEGIN")
q(changer, change, 'cc_4')
q(changer, change, 'cc_8')
if one_transaction:
    changer.execute("COMMIT")
late.execute("COMMIT")
one_more = q(changer, "SELECT billing.try_consume_quota('cc', 'messages', 1)")[0]
used = q(changer, "SELECT sum(used) FROM billing.usage_parts WHERE tenant_id = 'cc'")[0]
closed = q(changer, "SELECT coalesce(sum(used), 0) FROM billing.closed_periods WHERE tenant_id = 'cc'")[0]
elapsed = time.monotonic() - start
print('one_more=%s used=%s closed=%s elapsed=%.1f' % (one_more, used, closed, elapsed))
PY
    ) || fail "$how: the scenario: $out"
    echo "$how: $out"
    # All of it within A+8 (A is 0.5 s before the start), or the periods moved on.
    elapsed=$(echo "$out" | sed -n 's/.*elapsed=\([0-9.]*\).*/\1/p')
    awk -v e="$elapsed" 'BEGIN { exit !(e < 7.0) }' || fail "$how: too slow to stay within the 8-second period: $out"
    [ "$(echo "$out" | cut -d' ' -f1-3)" = "one_more=False used=2 closed=0" ] ||
        fail "$how: the late commit left the period its usage was carried to: $out"
}

scenario separate
scenario one_transaction
echo "carried_then_closed: ok"
