#!/usr/bin/env bash
# Shared-memory mode: the marks a schedule change's record of its whole
# database leaves on counters placed meanwhile.  A change that finds more
# keys without a counter than the records for single keys hold (an edit of
# the interval of a plan with 1100 idle subscribers) records the whole
# database, and every counter placed there until it ends starts marked as
# moved out by it, of the keys it moves or not.  At its end, a mark stands
# only where the change moved the key and that move committed.
#
# Tenant rt, 10-second periods, limit 5, is on none of those plans: a
# consumer's counter of [0 s, 10 s), placed (and its consumption rolled
# back) while the edit ran, is not moved out after it.  So at 10.3 s a 5 of
# 5 in [10 s, 20 s) is admitted while a transaction begun at 7.6 s holds 3
# in flight on [0 s, 10 s), and a change to 14-second periods closes
# [0 s, 10 s) with those 3 and carries the 5 to [0 s, 14 s).  Until
# 2026-12-07 the mark stayed (also with a change of rt's own plan in the
# same transaction, rolled back, whose record for the key the record of the
# database replaced), and the COMMIT of the 3 went to [0 s, 14 s): 8 of 5
# (a helper's attack).
#
# Lock mode records nothing (it claims rows), so shared-memory mode only.
source "$(dirname "$0")/../../scripts/lib.sh"

install_packages python3-psycopg

fail() { echo "FAILED: $*" >&2; exit 1; }
trap stop_cluster EXIT
start_cluster database_record_marks 54438 "shared_preload_libraries = 'zechat_billing'"

scenario() {
    local how=$1 out elapsed
    dropdb --if-exists marks 2>/dev/null
    createdb marks
    psql -X -q -v ON_ERROR_STOP=1 -d marks >/dev/null <<'SQL'
CREATE EXTENSION zechat_billing;
INSERT INTO billing.plans (plan_id, name, billing_interval) VALUES
    ('idle_30', '30 days', '30 days'), ('rt_7', '7 s', '7 seconds'),
    ('rt_10', '10 s', '10 seconds'), ('rt_14', '14 s', '14 seconds');
INSERT INTO billing.plan_limits SELECT p, 'messages', 5
  FROM unnest(ARRAY['idle_30', 'rt_7', 'rt_10', 'rt_14']) p;
SELECT billing.subscribe('idle' || i, 'idle_30', now() - interval '45 days')
  FROM generate_series(1, 1100) i;
SQL
    out=$(/usr/bin/python3 - "host=$CLUSTER_DIR port=$PGPORT user=postgres dbname=marks" "$how" <<'PY'
import sys, threading, time
import psycopg

how = sys.argv[2]
connect = lambda: psycopg.connect(sys.argv[1], autocommit=True)
late, changer, placer, other = connect(), connect(), connect(), connect()
q = lambda c, sql, *a: c.execute(sql, a).fetchone()
change = ("SELECT billing.subscribe('rt', %s, (SELECT period_anchor FROM billing.subscriptions"
          " WHERE tenant_id = 'rt'))")
edit = "UPDATE billing.plans SET billing_interval = '31 days' WHERE plan_id = 'idle_30'"
q(other, "SELECT billing.subscribe('rt', 'rt_10', now() - interval '7.6 seconds')")
anchor = time.monotonic() - 7.6
at = lambda t: time.sleep(max(0, anchor + t - time.monotonic()))
late.execute("BEGIN")
q(late, "SELECT 1")  # begun in [0 s, 10 s)
at(7.8)
changer.execute("BEGIN")
if how == 'rolled_back':
    # rt's key recorded alone, by a subtransaction (a savepoint released):
    # the record of the database replaces that record later.
    changer.execute("SAVEPOINT alone")
    q(changer, change, 'rt_7')
    changer.execute("RELEASE alone")
else:
    changer.execute(edit)  # the whole database recorded
def place():  # places rt's counter of [0 s, 10 s), marked, and waits
    placer.execute("BEGIN")
    q(placer, "SELECT billing.consume_quota('rt', 'messages', 1)")
    placer.execute("ROLLBACK")
placing = threading.Thread(target=place)
placing.start()
time.sleep(0.5)
if how == 'rolled_back':
    changer.execute(edit)  # the whole database recorded, in place of rt's key
    changer.execute("ROLLBACK")
else:
    changer.execute("COMMIT")
placing.join()
at(10.3)
five = q(other, "SELECT billing.try_consume_quota('rt', 'messages', 5)")[0]  # [10 s, 20 s)
q(late, "SELECT billing.consume_quota('rt', 'messages', 3)")  # [0 s, 10 s)
q(other, change, 'rt_14')  # [0 s, 14 s)
late.execute("COMMIT")
closed = q(other, "SELECT coalesce(sum(used), 0) FROM billing.closed_periods"
                  " WHERE tenant_id = 'rt'")[0]
used = q(other, "SELECT used FROM billing.tenant_usage('rt') WHERE resource = 'messages'")[0]
one_more = q(other, "SELECT billing.try_consume_quota('rt', 'messages', 1)")[0]
print('five=%s closed=%s used=%s one_more=%s elapsed=%.1f'
      % (five, closed, used, one_more, time.monotonic() - anchor))
PY
    ) || fail "$how: the scenario: $out"
    echo "$how: $out"
    # All of it within [0 s, 14 s), or the periods moved on.
    elapsed=$(echo "$out" | sed -n 's/.*elapsed=\([0-9.]*\).*/\1/p')
    awk -v e="$elapsed" 'BEGIN { exit !(e < 13.5) }' || fail "$how: too slow to stay within the 14-second period: $out"
    [ "${out% elapsed=*}" = "five=True closed=3 used=5 one_more=False" ] ||
        fail "$how: a mark of the record of the database outlived it: $out"
}

# The edit commits; rt's key is not among those it moved.
scenario committed
# A change of rt's plan (in a savepoint released) and the edit, in one
# transaction rolled back.
scenario rolled_back
echo "database_record_marks: ok"
