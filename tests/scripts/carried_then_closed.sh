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
# And a change back: 10-second periods made 7-second 7.8 s after the anchor
# (the usage of [0 s, 10 s) carried to [7 s, 14 s)) and 10-second again (it
# comes back).  A transaction in flight on [0 s, 10 s), admitted after the
# change back or before the first change, is in flight on the tenant's
# period again, not on one carried elsewhere: a 5 of 5 in [10 s, 20 s) is
# admitted, and a change to 14-second periods at 10.4 s closes [0 s, 10 s)
# with its 3 and carries the 5 to [0 s, 14 s).  Until 2026-12-07 the counter of
# [0 s, 10 s) stayed marked as carried away: the 5 was refused (the 3
# counted in [10 s, 20 s) too), and with nothing committed in [0 s, 10 s)
# the COMMIT went to [0 s, 14 s), where it made 8 of 5 once the 5 was
# admitted (a helper's attack).  The change back rolled back, to a savepoint
# or wholly, leaves [0 s, 10 s) carried away again.
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

# `how`: when the transaction in flight was admitted, or how the change back
# rolled back; `expected`: what the scenario ends with.
change_back() {
    local how=$1 expected=$2 out elapsed
    dropdb --if-exists returned 2>/dev/null
    createdb returned
    psql -X -q -v ON_ERROR_STOP=1 -d returned -c "CREATE EXTENSION zechat_billing" >/dev/null
    out=$(/usr/bin/python3 - "host=$CLUSTER_DIR port=$PGPORT user=postgres dbname=returned" "$how" <<'PY'
import sys, threading, time
import psycopg

how = sys.argv[2]
late = psycopg.connect(sys.argv[1], autocommit=True)
changer = psycopg.connect(sys.argv[1], autocommit=True)
q = lambda c, sql, *a: c.execute(sql, a).fetchone()
try_consume = lambda n: q(changer, "SELECT billing.try_consume_quota('rt', 'messages', %s)", n)[0]
change = ("SELECT billing.subscribe('rt', %s, (SELECT period_anchor FROM billing.subscriptions"
          " WHERE tenant_id = 'rt'))")
changer.execute("INSERT INTO billing.plans (plan_id, name, billing_interval) VALUES"
                " ('rt_7', '7 s', '7 seconds'), ('rt_10', '10 s', '10 seconds'),"
                " ('rt_14', '14 s', '14 seconds')")
changer.execute("INSERT INTO billing.plan_limits SELECT p, 'messages', 5"
                " FROM unnest(ARRAY['rt_7', 'rt_10', 'rt_14']) p")
changer.execute("SELECT billing.subscribe('rt', 'rt_10', now() - interval '7.6 seconds')")
anchor = time.monotonic() - 7.6
at = lambda t: time.sleep(max(0, anchor + t - time.monotonic()))
def consume_late():
    q(late, "SELECT billing.consume_quota('rt', 'messages', 3)")
def admit_late():
    late.execute("BEGIN")
    consume_late()
def close_with_late(five):  # at 10.3 s: the 5 tried in [10 s, 20 s)
    q(changer, change, 'rt_14')  # [0 s, 14 s)
    late.execute("COMMIT")
    closed = q(changer, "SELECT coalesce(sum(used), 0) FROM billing.closed_periods"
                        " WHERE tenant_id = 'rt'")[0]
    return 'five=%s closed=%s' % (five, closed)
if how == 'after_the_change_back':
    # Rolled back: the period has a counter for the first change to mark,
    # and nothing committed (its close keeps a row of 0 for what is in flight).
    late.execute("BEGIN")
    q(late, "SELECT billing.consume_quota('rt', 'messages', 1)")
    late.execute("ROLLBACK")
elif how == 'noted_change_rolled_back':
    late.execute("BEGIN")
    q(late, "SELECT 1")  # begun in [0 s, 10 s)
else:
    admit_late()  # in [0 s, 10 s)
at(7.8)
if how == 'noted_change_rolled_back':
    # [0 s, 10 s) has no counter: the change records its move, and the
    # counter placed meanwhile (for the 3, which wait for the change)
    # starts marked by it; the change back clears the mark, and the
    # rollback of both takes the mark back too.
    changer.execute("BEGIN")
    q(changer, change, 'rt_7')
    waiting = threading.Thread(target=consume_late)
    waiting.start()
    time.sleep(0.5)
    q(changer, change, 'rt_10')
    at(10.3)
    other = psycopg.connect(sys.argv[1], autocommit=True)  # the changer is in its change
    five = q(other, "SELECT billing.try_consume_quota('rt', 'messages', 5)")[0]
    changer.execute("ROLLBACK")
    waiting.join()
    result = close_with_late(five)
elif how == 'after_the_change_back' or how == 'before_the_change':
    q(changer, change, 'rt_7')  # [7 s, 14 s)
    q(changer, change, 'rt_10')  # [0 s, 10 s) again
    if how == 'after_the_change_back':
        admit_late()
    at(10.3)
    result = close_with_late(try_consume(5))
else:
    q(changer, change, 'rt_7')  # [7 s, 14 s)
    changer.execute("BEGIN")
    if how == 'rolled_back_to_a_savepoint':
        changer.execute("SAVEPOINT back")
    q(changer, change, 'rt_10')  # [0 s, 10 s) again...
    if how == 'rolled_back_to_a_savepoint':
        changer.execute("ROLLBACK TO back")
        changer.execute("COMMIT")
    else:
        changer.execute("ROLLBACK")  # ...not
    five = try_consume(5)  # [7 s, 14 s)
    two = try_consume(2)
    late.execute("COMMIT")
    result = 'five=%s two=%s' % (five, two)
used = q(changer, "SELECT used FROM billing.tenant_usage('rt') WHERE resource = 'messages'")[0]
print('%s one_more=%s used=%s elapsed=%.1f'
      % (result, try_consume(1), used, time.monotonic() - anchor))
PY
    ) || fail "$how: the scenario: $out"
    echo "$how: $out"
    # All of it within [0 s, 14 s), or the periods moved on.
    elapsed=$(echo "$out" | sed -n 's/.*elapsed=\([0-9.]*\).*/\1/p')
    awk -v e="$elapsed" 'BEGIN { exit !(e < 13.5) }' || fail "$how: too slow to stay within the 14-second period: $out"
    [ "${out% elapsed=*}" = "$expected" ] ||
        fail "$how: the period the tenant's schedule came back to did not count its own: $out"
}

change_back after_the_change_back "five=True closed=3 one_more=False used=5"
change_back before_the_change "five=True closed=3 one_more=False used=5"
# The change back rolled back: [0 s, 10 s) is carried away again, and the 3
# in flight on it count in [7 s, 14 s), where their COMMIT goes.
change_back rolled_back_to_a_savepoint "five=False two=True one_more=False used=5"
change_back rolled_back_wholly "five=False two=True one_more=False used=5"
# A change with no counter to mark, and its change back, both rolled back:
# until 2026-12-07 the counter placed meanwhile kept the mark made under the
# change's record, which the rollback of the change back brought back (3b24345)
# or which nothing took away (before): the 3 were taken for carried ones,
# and committed into [0 s, 14 s), 8 of 5 (a helper's attack on 3b24345).
change_back noted_change_rolled_back "five=True closed=3 one_more=False used=5"
echo "carried_then_closed: ok"
