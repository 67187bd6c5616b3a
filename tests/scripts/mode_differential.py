#!/usr/bin/python3
"""Driver of tests/scripts/mode_differential.sh (which says what it checks).

    mode_differential.py LOCK_CONNINFO SHM_CONNINFO [SEED...]

Runs every seed's scenario against both servers at once, on the same wall
clock, checks the invariants of each mode and prints one line per failed
invariant.  Given seeds, runs only those and also prints what each step of
each mode did.  Exit status 1 if anything failed.
"""
import datetime
import random
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import psycopg
from psycopg.conninfo import make_conninfo
from psycopg.pq import TransactionStatus

SEEDS = range(1, 201)
# Scenarios in flight at once.  Each slot has a database of its own on each
# server: in lock mode a schedule change waiting for its tenant's open
# transaction holds the database's limit_log turn, which would hold up the
# changes of other scenarios there and put the two modes' timings apart.
SLOTS = 28
# Seconds from the start of a scenario's setup to its time 0.
LEAD = 1.0
INTERVALS = ['3 seconds', '5 seconds', '7 seconds', '10 seconds', '1 day', '1 month', '1 year']
INTERVAL_WEIGHTS = [4, 4, 4, 4, 1, 1, 1]  # mostly periods that end during a scenario
FUNCTIONS = {'consume': 'consume_quota', 'try': 'try_consume_quota', 'release': 'release_quota'}
# Errors a scenario may meet: a refusal, the statements after an error in
# its transaction, a change refused because its period ended before it
# committed while usage counted in a later one (55000: lock mode's change
# waits for the late transaction, which may consume past that end; seed 8),
# and in lock mode a deadlock of a change with a consumer (README).  Any
# other fails the scenario.
EXPECTED_ERRORS = {'PT402', '25P02', '55000'}
EXPECTED_IN_LOCK_MODE = {'40P01'}
CHANGES = ['subscribe_keep', 'subscribe_anchor', 'anchor', 'plan_interval', 'plan_id',
           'suspend', 'anchor_interval']


def make_scenario(seed):
    """The scenario of a seed; times are seconds from time 0.  Drawn in the
    order of the differential model the notes of 2026-12-07 cite seeds of
    (253, 1141, 1235, ...), so that a seed names the same scenario."""
    r = random.Random(seed)

    def interval():
        return r.choices(INTERVALS, INTERVAL_WEIGHTS)[0]

    def operation():  # (function, resource, amount) of the late transaction
        k = r.random()
        if k < 0.45:
            return ('consume', 'messages', r.choice([1, 1, 2, 3, 5]))
        if k < 0.7:
            return ('try', 'messages', r.choice([1, 2, 3, 5, 8]))
        if k < 0.85:
            return ('try', 'users', r.choice([1, 2]))
        return ('release', 'users', r.choice([1, 2]))

    s = SimpleNamespace(seed=seed, tenant='t%d' % seed, plan_a='pa%d' % seed, plan_b='pb%d' % seed)
    s.interval_a, s.interval_b = interval(), interval()
    s.limit = r.choice([4, 6, 10, 20])         # messages, on both plans
    s.gauge_limit = r.choice([3, 5])           # users, on both plans
    s.anchor = r.choice([-9.5, -7, -6.5, -5, -3, -2.5, -1, 0, 0.5, 1.5, 2, 3, 4.5])
    s.pre = r.choice([0, 0, 1, 2, 3])          # messages consumed at 0.25
    s.gauge_pre = r.choice([0, 1, 2])          # users consumed at 0.25
    # The late transaction begins at 0.75 with op1, maybe runs op2 at
    # op2_at, and ends at end_at, across the change made at change_at.
    s.op1 = operation()
    s.op2 = operation() if r.random() < 0.6 else None
    s.change_at = r.choice([1.25, 1.75, 2.25, 2.75, 3.25, 4.25, 5.25])
    s.op2_at = s.change_at + r.choice([-0.5, 0.5, 1.0]) if s.op2 else None
    s.end_at = s.change_at + r.choice([1.0, 1.5, 2.5, 3.5])
    if s.op2:
        s.op2_at = max(min(s.op2_at, s.end_at - 0.5), 1.25)
    s.commit = r.random() < 0.8
    s.change = r.choice(CHANGES)
    new_anchor = r.choice([-8, -5.5, -3, -1.5, 0, 1, 2.5, 4, 6.5]) + s.change_at - 0.25
    s.new_anchor = round(new_anchor * 2) / 2
    s.new_interval = interval()
    s.change_back = r.random() < 0.4
    s.back_at = s.end_at + r.choice([0.5, 1.5, 3.0])
    s.consumed_in_change = r.choice([0, 0, 0, 1, 2])  # messages, tried before the change
    s.post = r.choice([1, 2, 3, 5])            # messages tried once all that ended
    s.post_at = max(s.back_at if s.change_back else 0, s.end_at) + r.choice([0.5, 2.0, 4.0])
    return s


class ModeRun:
    """One scenario on one server: its sessions, its clock, and what
    committed.  `committed` lists the (function, resource, amount) of every
    consumption or release whose transaction committed, in commit order."""

    def __init__(self, mode, conninfo, scenario, t0, mono0):
        self.mode = mode
        self.s = scenario
        self.t0, self.mono0 = t0, mono0
        self.late = psycopg.connect(conninfo, autocommit=True)
        self.changer = psycopg.connect(conninfo, autocommit=True)
        for c in (self.late, self.changer):
            c.execute("SET statement_timeout = '20s'")  # a hang fails the scenario
        self.committed = []
        self.events = []
        self.unexpected = []  # errors not expected in the mode
        self.deadlocked = False  # which transaction a deadlock ends is PostgreSQL's choice

    def timestamp(self, offset):
        return self.t0 + datetime.timedelta(seconds=offset)

    def wait_until(self, offset):
        delay = self.mono0 + offset - time.monotonic()
        if delay > 0:
            time.sleep(delay)

    def note(self, *what):
        self.events.append((round(time.monotonic() - self.mono0, 2),) + what)

    def error(self, what, e):
        """Notes an error; one not in EXPECTED_ERRORS fails the scenario."""
        message = str(e).splitlines()[0] if str(e) else ''
        self.note(what, e.sqlstate, message)
        expected = EXPECTED_ERRORS | (EXPECTED_IN_LOCK_MODE if self.mode == 'lock' else set())
        if e.sqlstate not in expected:
            self.unexpected.append('%s: %s %s' % (what, e.sqlstate, message))
        self.deadlocked = self.deadlocked or e.sqlstate == '40P01'

    def call(self, conn, op):
        """Runs op in conn's transaction; returns True if it consumed or
        released, False if try_consume_quota refused, else the SQLSTATE."""
        function, resource, amount = op
        try:
            value = conn.execute("SELECT billing.%s(%%s, %%s, %%s)" % FUNCTIONS[function],
                                 (self.s.tenant, resource, amount)).fetchone()[0]
        except psycopg.Error as e:
            self.error(op, e)
            return e.sqlstate
        outcome = value if function == 'try' else True
        self.note(op, outcome)
        return outcome

    def autocommit_call(self, conn, op):
        if self.call(conn, op) is True:
            self.committed.append(op)

    def transaction(self, name, conn, steps, ending='COMMIT'):
        """Runs steps in one transaction: an operation, SQL with its
        parameters, or a callable (a wait); records the operations that
        took effect as committed only if the transaction committed."""
        done = []
        what = 'BEGIN'
        try:
            conn.execute("BEGIN")
            for step in steps:
                if callable(step):
                    step()
                elif step[0] in FUNCTIONS:
                    if self.call(conn, step) is True:
                        done.append(step)
                else:
                    what = '%s: %s' % (name, step[0])
                    conn.execute(*step)
            # An error left the transaction aborted: its COMMIT rolls back.
            aborted = conn.info.transaction_status == TransactionStatus.INERROR
            what = '%s: %s' % (name, ending)
            conn.execute(ending)
        except psycopg.Error as e:
            self.error(what, e)
            if conn.info.transaction_status != TransactionStatus.IDLE:
                conn.execute("ROLLBACK")
            return
        self.note(name, ending, 'rolled back' if aborted else 'ok')
        if ending == 'COMMIT' and not aborted:
            self.committed.extend(done)

    def setup(self):
        s = self.s
        self.changer.execute(
            "INSERT INTO billing.plans (plan_id, name, billing_interval) VALUES (%s, 'a', %s), (%s, 'b', %s)",
            (s.plan_a, s.interval_a, s.plan_b, s.interval_b))
        self.changer.execute(
            "INSERT INTO billing.plan_limits VALUES (%s, 'messages', %s), (%s, 'users', %s),"
            " (%s, 'messages', %s), (%s, 'users', %s)",
            (s.plan_a, s.limit, s.plan_a, s.gauge_limit, s.plan_b, s.limit, s.plan_b, s.gauge_limit))
        self.changer.execute("SELECT billing.subscribe(%s, %s, %s)",
                             (s.tenant, s.plan_a, self.timestamp(s.anchor)))

    def change_statements(self):
        s = self.s
        sub = "UPDATE billing.subscriptions SET %s WHERE tenant_id = %%s"
        anchor = self.timestamp(s.new_anchor)
        return {
            'subscribe_keep': ("SELECT billing.subscribe(%s, %s)", (s.tenant, s.plan_b)),
            'subscribe_anchor': ("SELECT billing.subscribe(%s, %s, %s)", (s.tenant, s.plan_b, anchor)),
            'anchor': (sub % "period_anchor = %s", (anchor, s.tenant)),
            'plan_interval': ("UPDATE billing.plans SET billing_interval = %s WHERE plan_id = %s",
                              (s.new_interval, s.plan_a)),
            'plan_id': (sub % "plan_id = %s", (s.plan_b, s.tenant)),
            'suspend': (sub % "status = 'suspended'", (s.tenant,)),
            'anchor_interval': (sub % "period_anchor = %s, plan_id = %s", (anchor, s.plan_b, s.tenant)),
        }[s.change]

    def back_statement(self):
        s = self.s
        if s.change == 'plan_interval':
            return ("UPDATE billing.plans SET billing_interval = %s WHERE plan_id = %s",
                    (s.interval_a, s.plan_a))
        if s.change == 'suspend':
            return ("UPDATE billing.subscriptions SET status = 'active' WHERE tenant_id = %s", (s.tenant,))
        return ("UPDATE billing.subscriptions SET plan_id = %s, period_anchor = %s WHERE tenant_id = %s",
                (s.plan_a, self.timestamp(s.anchor), s.tenant))

    def run_changer(self):
        try:
            self.change_and_back()
        except Exception as e:  # a lost connection, a failed ROLLBACK: no invariant holds then
            self.unexpected.append('changer: %s: %s' % (type(e).__name__, e))

    def change_and_back(self):
        s = self.s
        self.wait_until(s.change_at)
        steps = [('try', 'messages', s.consumed_in_change)] if s.consumed_in_change else []
        self.transaction('change', self.changer, steps + [self.change_statements()])
        if s.change_back:
            self.wait_until(s.back_at)
            self.transaction('change back', self.changer, [self.back_statement()])

    def run(self):
        s = self.s
        self.setup()
        self.wait_until(0.25)
        if s.pre:
            self.autocommit_call(self.changer, ('consume', 'messages', s.pre))
        if s.gauge_pre:
            self.autocommit_call(self.changer, ('consume', 'users', s.gauge_pre))
        changer = threading.Thread(target=self.run_changer)
        changer.start()
        self.wait_until(0.75)
        steps = [s.op1]
        if s.op2:
            steps.append(lambda: self.wait_until(s.op2_at))
            steps.append(s.op2)
        # Open until end_at, so that it spans the change where end_at is past it.
        steps.append(lambda: self.wait_until(s.end_at))
        self.transaction('late', self.late, steps, 'COMMIT' if s.commit else 'ROLLBACK')
        changer.join()
        self.wait_until(s.post_at)
        self.autocommit_call(self.late, ('try', 'messages', s.post))
        return self.observe()

    def observe(self):
        q = lambda sql, *args: self.late.execute(sql, args).fetchall()
        t = self.s.tenant
        o = SimpleNamespace()
        o.parts = dict(q("SELECT resource, sum(used) FROM billing.usage_parts WHERE tenant_id = %s"
                         " GROUP BY resource", t))
        o.closed = dict(q("SELECT resource, sum(used) FROM billing.closed_periods WHERE tenant_id = %s"
                          " GROUP BY resource", t))
        o.over_history = q(
            "SELECT resource, round(extract(epoch FROM period_start - %s)::numeric, 2),"
            " round(extract(epoch FROM period_end - period_start)::numeric, 2), used, hard_limit"
            " FROM billing.usage_history WHERE tenant_id = %s AND used > hard_limit ORDER BY 1, 2",
            self.t0, t)
        o.current = {r: (used, limit) for r, used, limit in q(
            "SELECT resource, used, hard_limit FROM billing.tenant_usage(%s)"
            " WHERE resource IN ('messages', 'users')", t)}
        return o

    def close(self):
        self.late.close()
        self.changer.close()


def expected_usage(committed):
    """What the committed operations leave: messages in total, and users
    now (a release never takes a gauge below 0)."""
    messages = users = 0
    for function, resource, amount in committed:
        if resource == 'messages':
            messages += amount
        elif function == 'release':
            users = max(0, users - amount)
        else:
            users += amount
    return {'messages': messages, 'users': users}


def check_mode(s, mode, o, expected):
    """The failed invariants of one mode, one line each."""
    fails = []
    for resource in ('messages', 'users'):
        stored = o.parts.get(resource, 0) + o.closed.get(resource, 0)
        if stored != expected[resource]:
            fails.append("%s conservation: committed %d, stored %d (usage_parts %d + closed_periods %d)"
                         % (resource, expected[resource], stored, o.parts.get(resource, 0),
                            o.closed.get(resource, 0)))
    if o.current['users'][0] != expected['users']:
        fails.append("users: tenant_usage shows %d, committed net %d" % (o.current['users'][0], expected['users']))
    for row in o.over_history:
        fails.append("usage_history over the limit: %s period at %ss of %ss, used %d, limit %d" % row)
    for resource, (used, limit) in sorted(o.current.items()):
        if used > limit:
            fails.append("tenant_usage over the limit: %s used %d, limit %d" % (resource, used, limit))
    return ["FAIL seed %d (%s) %s: %s" % (s.seed, s.change, mode, f) for f in fails]


def run_scenario(seed, servers, verbose):
    """Runs one seed in both modes at once; returns its failure lines,
    and if verbose what each mode did and saw (lines not starting FAIL)."""
    s = make_scenario(seed)
    now = datetime.datetime.now(datetime.timezone.utc)
    t0, mono0 = now + datetime.timedelta(seconds=LEAD), time.monotonic() + LEAD
    results, errors = {}, {}

    def one(mode):
        run = None
        try:
            run = ModeRun(mode, servers[mode], s, t0, mono0)
            results[mode] = (run, run.run())
        except Exception as e:  # a failure of the driver or the server, not an invariant's
            errors[mode] = '%s: %s' % (type(e).__name__, e)
        finally:
            if run:
                run.close()

    threads = [threading.Thread(target=one, args=(mode,)) for mode in servers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    fails = ["FAIL seed %d (%s) %s: scenario broke off: %s" % (seed, s.change, m, e)
             for m, e in sorted(errors.items())]
    details = []
    for mode, (run, observed) in sorted(results.items()):
        fails += ["FAIL seed %d (%s) %s: unexpected error at %s" % (seed, s.change, mode, u)
                  for u in run.unexpected]
        fails += check_mode(s, mode, observed, expected_usage(run.committed))
        details += ['seed %d %s: %s' % (seed, mode, vars(s))] + ['  %s' % (e,) for e in run.events]
        details.append('  observed: %s' % (vars(observed),))
    # A deadlock's victim may differ between runs, and with it what commits.
    # A suspension decides the gauge's admissions: lock mode's change may
    # wait for the late transaction (its own consumption waits for the
    # late one's row) and so commit after a gauge operation that it comes
    # before in shared-memory mode (seed 263: users 3 in lock mode, 2).
    if (len(results) == 2 and not any(run.deadlocked for run, _ in results.values())
            and (s.change != 'suspend'
                 or len({gauge_ops_before_change(run) for run, _ in results.values()}) == 1)):
        gauges = {mode: observed.current['users'][0] for mode, (_, observed) in results.items()}
        if gauges['lock'] != gauges['shm']:
            fails.append("FAIL seed %d (%s): users differ between modes: lock %d, shm %d"
                         % (seed, s.change, gauges['lock'], gauges['shm']))
    return (details if verbose else []) + fails


def gauge_ops_before_change(run):
    """The operations on users noted before the change committed."""
    ops = []
    for event in run.events:
        if event[1:3] == ('change', 'COMMIT'):
            break
        if isinstance(event[1], tuple) and 'users' in event[1]:
            ops.append(event[1])
    return tuple(ops)


def make_slot_databases(servers, count):
    """count databases on each server, each with the extension (made side
    by side: one at a time took 6 s of the test's 90)."""
    def make_slot(i):
        slot = {}
        for mode, conninfo in servers.items():
            with psycopg.connect(conninfo, autocommit=True) as c:
                c.execute("CREATE DATABASE dm_%d" % i)
            slot[mode] = make_conninfo(conninfo, dbname='dm_%d' % i)
            with psycopg.connect(slot[mode], autocommit=True) as c:
                c.execute("CREATE EXTENSION zechat_billing")
        return slot

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(make_slot, range(count)))


def main():
    servers = {'lock': sys.argv[1], 'shm': sys.argv[2]}
    seeds = [int(a) for a in sys.argv[3:]] or list(SEEDS)
    verbose = len(sys.argv) > 3
    slots = make_slot_databases(servers, min(SLOTS, len(seeds)))
    free = list(slots)  # each database runs one scenario at a time
    lock = threading.Lock()

    def in_a_slot(seed):
        with lock:
            slot = free.pop()
        try:
            return run_scenario(seed, slot, verbose)
        finally:
            with lock:
                free.append(slot)

    started = time.monotonic()
    with ThreadPoolExecutor(len(slots)) as pool:
        lines = [line for out in pool.map(in_a_slot, seeds) for line in out]
    for line in lines:
        print(line)
    fails = [line for line in lines if line.startswith('FAIL')]
    print('%d scenarios in %.0f s, %d failed invariants' % (len(seeds), time.monotonic() - started, len(fails)))
    return 1 if fails else 0


if __name__ == '__main__':
    sys.exit(main())
