#!/usr/bin/env bash
# A transaction begun in a period that has ended, with nothing committed in
# it, consumes for the first time while a schedule change is in flight
# between closing that period and carrying the usage of the period at the
# change (5, the limit) to the new one, which starts where the closed one
# did (10-second periods made 14-second, from the same anchor).
#
# Lock mode: the consumption waits for the change's claim of the closed
# period's row, then counts in the new period, which is full (PT402).
# Shared-memory mode: admitted at once on the closed period's counter,
# holding nothing, then waiting for the change; until 2026-12-07 the
# admission stood after the wait, as the new period starts where the
# admitted one did, and the COMMIT added its 3 to the 5 carried there: 8
# of 5.  Now admitted again once the change has ended, it is refused.
#
# The change is held between its close and its carry by an advisory lock
# that this throwaway cluster's copy of billing._carry_period_usage takes
# first (an isolation spec cannot stop inside a statement).  Both modes, on
# one cluster restarted.
source "$(dirname "$0")/../../scripts/lib.sh"

install_packages python3-psycopg

fail() { echo "FAILED: $*" >&2; exit 1; }
trap stop_cluster EXIT
start_cluster consumed_while_closing 54437

scenario() {
    local mode=$1 point=$2 expected=$3 out
    dropdb --if-exists closing 2>/dev/null
    createdb closing
    psql -X -q -v ON_ERROR_STOP=1 -d closing -c "CREATE EXTENSION zechat_billing" >/dev/null
    out=$(/usr/bin/python3 - "host=$CLUSTER_DIR port=$PGPORT user=postgres dbname=closing" "$point" <<'PY'
import sys, threading, time
import psycopg

dsn, point = sys.argv[1:3]
admin, late, changer = (psycopg.connect(dsn, autocommit=True) for _ in range(3))
q = lambda c, sql, *a: c.execute(sql, a).fetchone()
pause = "PERFORM pg_advisory_lock(4711); PERFORM pg_advisory_unlock(4711);\n"
if point == 'carry':  # after the close, before the carry
    name, before = '_carry_period_usage(text,timestamptz,timestamptz,timestamptz)', 'PERFORM billing._move_usage'
else:                 # before the close of the period starting where the new one does
    name, before = ('_close_past_periods(text,text,timestamptz,interval,timestamptz)',
                    'v_used := billing._close_usage(p_tenant_id, r.resource, p_to, p_to);')
body = q(admin, "SELECT pg_get_functiondef(%s::regprocedure)", 'billing.' + name)[0]
assert body.count(before) == 1
admin.execute(body.replace(before, pause + before))
admin.execute("INSERT INTO billing.plans (plan_id, name, billing_interval) VALUES"
              " ('cwc_10', '10 s', '10 seconds'), ('cwc_14', '14 s', '14 seconds')")
admin.execute("INSERT INTO billing.plan_limits VALUES ('cwc_10', 'messages', 5), ('cwc_14', 'messages', 5)")
admin.execute("SELECT billing.subscribe('cwc', 'cwc_10', now() - interval '9 seconds')")
start = time.monotonic()
late.execute("BEGIN")
q(late, "SELECT 1")                       # begun in [A, A+10)
time.sleep(1.5)                           # past A+10
q(changer, "SELECT billing.consume_quota('cwc', 'messages', 5)")  # 5 of 5 in [A+10, A+20)
q(admin, "SELECT pg_advisory_lock(4711)")
result = {}
def run(name, conn, sql):
    try:
        row = conn.execute(sql).fetchone()
        result[name] = row[0] if name == 'late' else 'ok'
    except psycopg.Error as e:
        result[name] = e.sqlstate
def waiting(pid, event):  # a heavyweight lock wait ("advisory", ...; None: any)
    kind, name = q(admin, "SELECT wait_event_type, wait_event FROM pg_stat_activity"
                          " WHERE pid = %s", pid)
    return kind == 'Lock' and event in (None, name)
def until(done):
    for _ in range(300):
        if done():
            return True
        time.sleep(0.02)
    return False
change = threading.Thread(target=run, args=('change', changer,
    "SELECT billing.subscribe('cwc', 'cwc_14', (SELECT period_anchor"
    " FROM billing.subscriptions WHERE tenant_id = 'cwc'))"))
change.start()
assert until(lambda: waiting(changer.info.backend_pid, 'advisory')), 'the change did not pause'
consume = threading.Thread(target=run, args=('late', late,
    "SELECT billing.consume_quota('cwc', 'messages', 3)"))
consume.start()
# Done at once, or waiting for the change (after the close: lock mode for
# its claim of the row, shared-memory mode after admitting).
assert until(lambda: not consume.is_alive() or waiting(late.info.backend_pid, None)), \
    'the consumption neither ended nor waited'
q(admin, "SELECT pg_advisory_unlock(4711)")
consume.join()
# Lock mode's close waits for this COMMIT, shared-memory mode's COMMIT for the change.
commit = threading.Thread(target=run, args=('commit', late, "COMMIT"))
commit.start()
change.join(); commit.join()
used = q(admin, "SELECT used FROM billing.tenant_usage('cwc') WHERE resource = 'messages'")[0]
closed = q(admin, "SELECT coalesce(sum(used), 0) FROM billing.closed_periods WHERE tenant_id = 'cwc'")[0]
print('change=%s late=%s used=%s closed=%s elapsed=%.1f'
      % (result['change'], result['late'], used, closed, time.monotonic() - start))
PY
    ) || fail "$mode, $point: the scenario: $out"
    echo "$mode, paused before the $point: $out"
    # All of it within [A, A+14) (A is 9 s before the start).
    elapsed=$(echo "$out" | sed -n 's/.*elapsed=\([0-9.]*\).*/\1/p')
    awk -v e="$elapsed" 'BEGIN { exit !(e < 4.5) }' ||
        fail "$mode, $point: too slow to stay within the 14-second period: $out"
    [ "$(echo "$out" | cut -d' ' -f1-4)" = "$expected" ] ||
        fail "$mode, $point: expected $expected: $out"
}

# Admitted before the close: its 3 go to the closed period.  Admitted after:
# refused in the new period, full.
for mode in lock shared_memory; do
    [ $mode = lock ] || restart_cluster "shared_preload_libraries = 'zechat_billing'"
    scenario $mode close "change=ok late=2 used=5 closed=3"
    scenario $mode carry "change=ok late=PT402 used=5 closed=0"
done
echo "consumed_while_closing: ok"
