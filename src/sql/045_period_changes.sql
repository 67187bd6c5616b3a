-- A period resource's usage is kept under its period's start.  When a
-- tenant's periods change (a plan with another billing interval, through
-- subscribe() or an UPDATE of subscriptions; an edit of the plan's
-- interval; a moved anchor), the period it is in now starts elsewhere, and
-- the usage of the period it was in must go there: left behind, it would
-- no longer count, and the tenant would start its period again from zero.
-- As the extension owner (through _carry_period_usage): whoever may edit
-- plans and subscriptions needs no right on usage.
--
-- The tenant's closed periods must not stay where they are either: the new
-- schedule may start a period where one of them started (monthly to yearly:
-- the year starts where its first month did), and that period's usage would
-- count again in it.  So they move first, with the end and plan they had,
-- into billing.closed_periods, where billing.usage_history shows them.

CREATE TABLE billing.closed_periods (
    tenant_id    text NOT NULL,
    resource     text NOT NULL,
    period_start timestamptz NOT NULL,
    period_end   timestamptz NOT NULL,
    used         bigint NOT NULL,
    plan_id      text REFERENCES billing.plans ON UPDATE CASCADE ON DELETE SET NULL,
    PRIMARY KEY (tenant_id, resource, period_start, period_end)
);
COMMENT ON TABLE billing.closed_periods IS
    'Usage of closed periods (period resources) under a tenant''s earlier billing schedule, kept for billing.usage_history.';
SELECT pg_catalog.pg_extension_config_dump('billing.closed_periods', '');

-- Spans of a tenant's time whose usage a schedule change counted in a later
-- period: from the start of the period the change carried to the start of
-- the new schedule's period at the change, time whose periods under the new
-- schedule ended before the change and hold nothing.  A transaction begun in
-- such a span whose first consumption comes after the change counts in the
-- tenant's period at that moment (counts_in_abandoned_period), not in such
-- an ended period.  Until 2026-12-07 it counted there, in
-- both modes: 10-second periods made 7-second 14.5 s after the anchor, a
-- transaction begun at 13 s consumed 5 in [7 s, 14 s) while the 5 of
-- [10 s, 20 s) went to [14 s, 21 s), 10 of 5 (a helper's hunt).  Apart from
-- closed_periods: a row there takes in the late COMMIT of a transaction
-- admitted in a period starting where it does.
CREATE TABLE billing.carried_spans (
    tenant_id  text NOT NULL,
    span_start timestamptz NOT NULL,
    span_end   timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, span_start, span_end)
);
COMMENT ON TABLE billing.carried_spans IS
    'Spans of a tenant''s time, under a new billing schedule, whose usage a schedule change counted in a later period: a first consumption dated in one counts in the period at that moment.';
SELECT pg_catalog.pg_extension_config_dump('billing.carried_spans', '');

-- Raised by _close_past_periods: a schedule change in a transaction begun
-- in a billing period of the tenant's that has ended since, where usage of
-- p_resource is committed in a later period (late_schedule_changes.hpp
-- refuses the same way at commit).
CREATE FUNCTION billing._refuse_change_after_period_end(p_tenant_id text, p_resource text)
RETURNS void AS 'MODULE_PATHNAME', 'zb_refuse_change_after_period_end' LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
-- Notes a change of the tenant's schedule in this (sub)transaction, from
-- periods of p_interval from p_anchor, whose period under them ends at
-- p_period_end, to a schedule whose period starts at p_to: the old
-- schedule's later periods are claimed and checked for usage just before
-- the commit.
CREATE FUNCTION billing._check_change_at_commit(p_tenant_id text, p_anchor timestamptz,
                                                p_interval interval, p_period_end timestamptz,
                                                p_to timestamptz)
RETURNS void AS 'MODULE_PATHNAME', 'zb_check_change_at_commit' LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;

-- Moves the usage of every period of the tenant but the one it is in now
-- under this schedule (anchor, interval of plan p_plan_id) into
-- billing.closed_periods.  p_to is the period it is in under its new
-- schedule, where what a transaction still in flight on a past period
-- (begun before it ended) holds reserved counts until it ends.  Its
-- consumption closes with the period: lock mode waits for it, in
-- shared-memory mode its COMMIT adds it to the closed period (until
-- 2026-12-05 it landed in the closed period's usage, and usage_history
-- showed that period twice; then in the new schedule's period, which it
-- could take past its limit).
CREATE FUNCTION billing._close_past_periods(p_tenant_id text, p_plan_id text,
                                            p_anchor timestamptz, p_interval interval,
                                            p_to timestamptz)
RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_current timestamptz;
    v_current_end timestamptz;
    v_used    bigint;
    v_in_flight boolean;
    r record;
BEGIN
    SELECT b.period_start, b.period_end INTO v_current, v_current_end
      FROM billing.period_bounds(p_anchor, p_interval, now()) b;
    -- Two changes of this tenant's schedule at once (its plan's interval
    -- edited while it moves to another plan) would both move the same
    -- periods: the second waits here, and then reads what the first left.
    PERFORM FROM billing.subscriptions s WHERE s.tenant_id = p_tenant_id FOR UPDATE;
    -- Locked for the writes below (here and in _carry_period_usage) before
    -- the read: the read's locks first, and a REINDEX of the table begun in
    -- between deadlocked with the write (40P01; until 2026-12-06, isolation
    -- reindex_usage_parts).
    LOCK TABLE billing.usage_parts IN ROW EXCLUSIVE MODE;
    -- Usage in a period after the one at now() is refused here if committed
    -- (the loop below), and just before commit if committed or in flight,
    -- the old schedule's later periods claimed first so that a consumer
    -- coming then waits for the change (late_schedule_changes.hpp): it
    -- would commit there after the change, in a period the new schedule
    -- does not count, and its period would admit the limit again (until
    -- 2026-12-07, both modes: 5 in flight in [10 s, 20 s), 5 more in
    -- [7 s, 14 s), of 5; a helper's attack).
    PERFORM billing._check_change_at_commit(p_tenant_id, p_anchor, p_interval, v_current_end, p_to);
    -- Usage as this transaction sees it, with its own changes not written
    -- yet (an earlier schedule change in it carried the period it was in:
    -- until 2026-12-05 a change and its reverse in one transaction closed
    -- that period as a past one, and usage_history counted it twice).
    FOR r IN SELECT u.resource, u.period_start, b.period_end, u.used
               FROM (SELECT coalesce(c.resource, p.resource) AS resource,
                            coalesce(c.period_start, p.period_start) AS period_start,
                            coalesce(c.used, 0) + coalesce(p.delta, 0) AS used
                       FROM (SELECT c.resource, c.period_start, c.used FROM billing.usage c
                              WHERE c.tenant_id = p_tenant_id) c
                       FULL JOIN billing._pending_usage(p_tenant_id) p
                         ON p.resource = c.resource AND p.period_start = c.period_start) u
               JOIN billing.resources res ON res.resource = u.resource AND res.kind = 'period'
              CROSS JOIN LATERAL billing.period_bounds(p_anchor, p_interval, u.period_start) b
              WHERE u.period_start <> v_current AND u.used > 0
              ORDER BY u.resource, u.period_start
    LOOP
        -- A period after the one the transaction's now() is in (its usage
        -- counted by consumers that began later): the change, begun in a
        -- period that has ended since, would take the tenant's current
        -- period for a past one and close it, and the new schedule's period
        -- would admit its limit again (until 2026-12-07, both modes: 5 in
        -- [10 s, 20 s) closed by a change to 7-second periods begun at
        -- 8.5 s, and 5 more in [7 s, 14 s), of 5; a helper's attack).  Not
        -- usage kept under another start within the current period (a late
        -- commit into a period an earlier schedule change did not close):
        -- 9c0a790 refused every change of such a tenant, fresh or not,
        -- until its period ended (a helper's attack).
        IF r.period_start >= v_current_end THEN
            PERFORM billing._refuse_change_after_period_end(p_tenant_id, r.resource);
        END IF;
        v_used := billing._close_usage(p_tenant_id, r.resource, r.period_start, p_to);
        IF v_used > 0 THEN
            INSERT INTO billing.closed_periods AS c
            VALUES (p_tenant_id, r.resource, r.period_start, r.period_end, v_used, p_plan_id)
                ON CONFLICT (tenant_id, resource, period_start, period_end)
                DO UPDATE SET used = c.used + EXCLUDED.used;
        END IF;
    END LOOP;
    -- The past period starting where the tenant's period under the new
    -- schedule starts (10-second periods made 7-second, a month made a year,
    -- from the same anchor, once the first has ended) closes even with
    -- nothing committed in it: a transaction admitted there and still in
    -- flight would otherwise commit into the new period, on top of the usage
    -- carried to it (until 2026-12-07, both modes, a helper's hunt: 3 in
    -- flight and 5 carried, of 5).  Lock mode's close waits for it and
    -- closes what it committed.  In shared-memory mode its COMMIT adds to
    -- the closed row (check_period_again), kept where another transaction
    -- was in flight on the key at the close (asked after it: one coming
    -- later waits for this change, and is admitted again after it);
    -- usage_history leaves out a closed period of 0.
    IF p_to < v_current AND (billing.period_bounds(p_anchor, p_interval, p_to)).period_start = p_to THEN
        FOR r IN SELECT res.resource, b.period_end
                   FROM billing.resources res
                  CROSS JOIN LATERAL billing.period_bounds(p_anchor, p_interval, p_to) b
                  WHERE res.kind = 'period'
                  ORDER BY res.resource
        LOOP
            v_used := billing._close_usage(p_tenant_id, r.resource, p_to, p_to);
            v_in_flight := billing._usage_in_flight(p_tenant_id, r.resource, p_to);
            IF v_used > 0 OR v_in_flight THEN
                INSERT INTO billing.closed_periods AS c
                VALUES (p_tenant_id, r.resource, p_to, r.period_end, v_used, p_plan_id)
                    ON CONFLICT (tenant_id, resource, period_start, period_end)
                    DO UPDATE SET used = c.used + EXCLUDED.used;
            END IF;
        END LOOP;
    END IF;
END;
$$;

-- Closes the tenant's past periods under the old anchor and interval (of
-- plan p_old_plan_id), and carries its usage from its period now under them
-- to its period now under the new ones.
CREATE FUNCTION billing._carry_to_new_periods(p_tenant_id text, p_old_plan_id text,
                                              p_old_anchor timestamptz, p_old_interval interval,
                                              p_new_anchor timestamptz, p_new_interval interval)
RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_from     timestamptz;
    v_from_end timestamptz;
    v_to       timestamptz;
    v_to_end   timestamptz;
BEGIN
    -- Intervals as written: '1 month' = '30 days' for the = operator.
    IF p_old_interval IS NULL OR p_new_interval IS NULL
       OR (p_old_anchor = p_new_anchor AND p_old_interval::text = p_new_interval::text) THEN
        RETURN;
    END IF;
    SELECT b.period_start, b.period_end INTO v_from, v_from_end
      FROM billing.period_bounds(p_old_anchor, p_old_interval, now()) b;
    SELECT b.period_start, b.period_end INTO v_to, v_to_end
      FROM billing.period_bounds(p_new_anchor, p_new_interval, now()) b;
    PERFORM billing._close_past_periods(p_tenant_id, p_old_plan_id, p_old_anchor, p_old_interval, v_to);
    -- A new period ending before the old one: a consumer under the old
    -- schedule after its end counts in the old period, which goes (or
    -- stays) in the ended new one.  So the period is claimed also where it
    -- starts in both schedules (10-second periods made 7-second from the
    -- same anchor at 6.5 s), and the consumer waits for the change; until
    -- 2026-12-07 nothing was, and one at 8 s, before the change committed
    -- at 9 s, counted in [0 s, 7 s): 10 of 5 in [7 s, 14 s), both modes.
    -- One before the claim, once that end had passed, refuses the change
    -- (_move_usage).  Where both start it and the new one ends it no
    -- sooner, the period's counter loses the mark of such a claim.
    PERFORM billing._carry_period_usage(
        p_tenant_id, v_from, v_to,
        CASE WHEN v_to_end < v_from_end THEN v_to_end ELSE 'infinity' END);
    -- The time from the carried period's start to the new schedule's
    -- period now, whose periods of the new schedule ended before the change
    -- (billing.carried_spans).  Not from the start of the new schedule's
    -- period holding v_from: the time before v_from was an earlier period's,
    -- not carried.  Spans reaching the new period are cut at its start: a
    -- change back makes that time the tenant's current period again (a
    -- change to 7-second periods and back left [7 s, 14 s) in a span, and a
    -- transaction begun at 13 s was refused at 21.5 s although [10 s, 20 s)
    -- had room; a helper's attack on the first version of this).
    INSERT INTO billing.carried_spans
    SELECT s.tenant_id, s.span_start, v_to FROM billing.carried_spans s
     WHERE s.tenant_id = p_tenant_id AND s.span_start < v_to AND s.span_end > v_to
        ON CONFLICT DO NOTHING;
    DELETE FROM billing.carried_spans s WHERE s.tenant_id = p_tenant_id AND s.span_end > v_to;
    IF v_from < v_to THEN
        INSERT INTO billing.carried_spans VALUES (p_tenant_id, v_from, v_to)
            ON CONFLICT DO NOTHING;
    END IF;
END;
$$;

-- Under session_replication_role = replica (a bulk loader; logical
-- replication's apply worker, which fires row triggers only) the triggers
-- that carry usage at a schedule change, keep ended schedules and log
-- limits fire too: they are enabled ALWAYS, like the guards of
-- 015_key_changes.sql.  Until 2026-12-06 they were not, and a plan change
-- made there (subscribe() included), or applied to a subscriber that
-- keeps usage of its own, started the tenant's period from zero: 5 of 5
-- used, then 5 more admitted (a helper's hunt).  Except where the table
-- such a trigger writes arrives from a publisher itself (a move by
-- logical replication): the publisher's rows come as it wrote them, and
-- writing them here too would clash with them.
--
-- PL/pgSQL, whose plan is kept for the session: an SQL function with a SET
-- clause is parsed and planned again in every transaction, at each place
-- it is called from, and every change of a configuration table calls it
-- (one subscribe() a transaction ran 1,100 a second, 1,550 to 2,000 so).
CREATE FUNCTION billing._replicated_here(p_table regclass)
RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF current_setting('session_replication_role') <> 'replica' THEN
        RETURN false;
    END IF;
    RETURN EXISTS (SELECT FROM pg_subscription_rel r WHERE r.srrelid = p_table);
END;
$$;

CREATE FUNCTION billing._subscription_periods_changed()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_new_interval interval;
BEGIN
    IF billing._replicated_here('billing.usage_parts') THEN
        RETURN NULL;
    END IF;
    -- A tenant moving to another plan locks that plan's row first: an edit
    -- of its interval (which carries the plan's subscribers) either
    -- committed before, and the interval is read here as it left it, or
    -- waits for this transaction and then finds this tenant among the plan's
    -- subscribers.  Without the lock, a tenant moving onto a plan whose
    -- interval was being edited was carried by neither change.  A tenant
    -- staying on its plan is among its subscribers already: an edit waits
    -- for its row (and locking the plan here, after the row, would deadlock
    -- with the edit, which locks them the other way round).  subscribe()
    -- locks the plan before the row; a hand UPDATE of plan_id locks it here,
    -- after the row, and can deadlock with an edit of the plan's interval.
    IF NEW.plan_id IS DISTINCT FROM OLD.plan_id THEN
        SELECT p.billing_interval INTO v_new_interval
          FROM billing.plans p WHERE p.plan_id = NEW.plan_id FOR SHARE;
    ELSE
        SELECT p.billing_interval INTO v_new_interval
          FROM billing.plans p WHERE p.plan_id = NEW.plan_id;
    END IF;
    -- A renamed plan (ON UPDATE CASCADE) is the same plan: OLD's is not
    -- found, nothing moves.
    PERFORM billing._carry_to_new_periods(
        NEW.tenant_id, OLD.plan_id,
        OLD.period_anchor, (SELECT p.billing_interval FROM billing.plans p WHERE p.plan_id = OLD.plan_id),
        NEW.period_anchor, v_new_interval);
    RETURN NULL;
END;
$$;

CREATE FUNCTION billing._plan_interval_changed()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record;
BEGIN
    IF billing._replicated_here('billing.usage_parts') THEN
        RETURN NULL;
    END IF;
    -- The subscribers are locked, and those another transaction was moving
    -- read as it left them (FOR UPDATE checks each row it waited for again):
    -- one that left the plan meanwhile is not carried a second time (its
    -- new period's usage closed as a past month of this plan), one that
    -- joined it is (_subscription_periods_changed makes it wait for this
    -- plan's row, so it is seen here).
    FOR r IN SELECT s.tenant_id, s.period_anchor
               FROM billing.subscriptions s
              WHERE s.plan_id = NEW.plan_id
              ORDER BY s.tenant_id
                FOR UPDATE
    LOOP
        PERFORM billing._carry_to_new_periods(r.tenant_id, NEW.plan_id, r.period_anchor,
                                              OLD.billing_interval, r.period_anchor,
                                              NEW.billing_interval);
    END LOOP;
    RETURN NULL;
END;
$$;

CREATE TRIGGER carry_usage_to_new_period
    AFTER UPDATE OF plan_id, period_anchor ON billing.subscriptions
    FOR EACH ROW WHEN (OLD.plan_id IS DISTINCT FROM NEW.plan_id
                       OR OLD.period_anchor IS DISTINCT FROM NEW.period_anchor)
    EXECUTE FUNCTION billing._subscription_periods_changed();
CREATE TRIGGER carry_usage_to_new_period
    AFTER UPDATE OF billing_interval ON billing.plans
    FOR EACH ROW WHEN (OLD.billing_interval::text IS DISTINCT FROM NEW.billing_interval::text)
    EXECUTE FUNCTION billing._plan_interval_changed();

-- A subscription row deleted (or truncated away) leaves its tenant's usage
-- where it is, under the periods of its schedule: that schedule is kept
-- here, so that billing.usage_history still knows where those periods end,
-- and so that subscribing the tenant again is a schedule change like any
-- other.  Without it a DELETE and a new subscribe() started the running
-- period again from zero under the new anchor (the usage of the old one no
-- longer counting, and shown as a closed period ending at the new anchor),
-- which an UPDATE of the anchor or plan never does.
CREATE TABLE billing.ended_subscriptions (
    tenant_id        text PRIMARY KEY,
    plan_id          text REFERENCES billing.plans ON UPDATE CASCADE ON DELETE SET NULL,
    period_anchor    timestamptz NOT NULL,
    billing_interval interval NOT NULL,  -- the plan's when it ended: later edits of the plan are not its
    ended_at         timestamptz NOT NULL
);
COMMENT ON TABLE billing.ended_subscriptions IS
    'Billing schedule of each tenant whose subscription was deleted, until it subscribes again: its usage keeps its periods.';
SELECT pg_catalog.pg_extension_config_dump('billing.ended_subscriptions', '');

-- Keeps one tenant's schedule as its subscription ended.  The plan is not
-- locked (an interval edit locks the plan, then the subscribers: locking
-- them the other way round would deadlock with it).  It need not be: an
-- edit still in flight waits for the deleted row and then skips it, and
-- one committed before the DELETE is read, in READ COMMITTED.  A REPEATABLE
-- READ snapshot may predate such an edit, which carried the tenant to the
-- new interval: then this fails (40001) rather than keep the old one.
CREATE FUNCTION billing._keep_ended_schedule(p_tenant_id text, p_plan_id text,
                                             p_anchor timestamptz, p_interval interval)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        PERFORM billing._execute_after_locks(format(
            'SELECT billing._schedule_changed_meanwhile(p.plan_id)
               FROM billing.plans p
              WHERE p.plan_id = $1 AND p.billing_interval::text IS DISTINCT FROM %L',
            p_interval::text), p_plan_id, NULL::text[]);
    END IF;
    INSERT INTO billing.ended_subscriptions
    VALUES (p_tenant_id, p_plan_id, p_anchor, p_interval, now())
    ON CONFLICT (tenant_id) DO UPDATE
       SET plan_id = EXCLUDED.plan_id, period_anchor = EXCLUDED.period_anchor,
           billing_interval = EXCLUDED.billing_interval, ended_at = EXCLUDED.ended_at;
END;
$$;

-- The query that keeps the schedules of the subscriptions in p_rows (a
-- relation with their columns).
CREATE FUNCTION billing._keep_ended_schedules_sql(p_rows text)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT format(
        'SELECT billing._keep_ended_schedule(s.tenant_id, s.plan_id, s.period_anchor, p.billing_interval)
           FROM %s s
           JOIN billing.plans p ON p.plan_id = s.plan_id',
        p_rows)
$$;

CREATE FUNCTION billing._subscriptions_ended()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF billing._replicated_here('billing.ended_subscriptions') THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'TRUNCATE' THEN
        -- With the latest snapshot (the TRUNCATE holds the table's ACCESS
        -- EXCLUSIVE lock, so it sees every subscription it empties), not a
        -- REPEATABLE READ transaction's, which misses those committed since.
        PERFORM billing._execute_after_locks(
            billing._keep_ended_schedules_sql('billing.subscriptions'), NULL::text, NULL::text[]);
    ELSE
        EXECUTE billing._keep_ended_schedules_sql('old_rows');
    END IF;
    RETURN NULL;
END;
$$;

-- Raised by _subscription_resumed and _keep_ended_schedule: what the
-- transaction's snapshot shows of a tenant's schedule (or of plan p_what's
-- interval) was changed since by a transaction that committed.
CREATE FUNCTION billing._schedule_changed_meanwhile(p_what text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION 'could not serialize access: the billing schedule of "%" changed after this transaction began',
                    p_what
        USING ERRCODE = 'serialization_failure',
              HINT = 'Retry the transaction.';
END;
$$;

-- A tenant subscribed again: its usage moves as at any schedule change,
-- from the schedule it ended with to the new one (its closed periods into
-- billing.closed_periods, the period it is in now under the old schedule,
-- if it has not ended yet, to the one it is in now under the new).
CREATE FUNCTION billing._subscription_resumed()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_ended billing.ended_subscriptions;
    v_new_interval interval;
BEGIN
    IF billing._replicated_here('billing.usage_parts') THEN
        RETURN NULL;
    END IF;
    DELETE FROM billing.ended_subscriptions e WHERE e.tenant_id = NEW.tenant_id
    RETURNING * INTO v_ended;
    IF NOT FOUND THEN
        -- In REPEATABLE READ and SERIALIZABLE the transaction's snapshot may
        -- predate the DELETE that kept the tenant's schedule: subscribing it
        -- as a new tenant would start its period again from zero.
        IF current_setting('transaction_isolation') <> 'read committed' THEN
            PERFORM billing._execute_after_locks(
                'SELECT billing._schedule_changed_meanwhile(e.tenant_id)
                   FROM billing.ended_subscriptions e WHERE e.tenant_id = $1',
                NEW.tenant_id, NULL::text[]);
        END IF;
        RETURN NULL;
    END IF;
    -- As in _subscription_periods_changed: an edit of the new plan's
    -- interval either committed before and is read here, or waits for this
    -- transaction and then finds this tenant among the plan's subscribers.
    SELECT p.billing_interval INTO v_new_interval
      FROM billing.plans p WHERE p.plan_id = NEW.plan_id FOR SHARE;
    PERFORM billing._carry_to_new_periods(
        NEW.tenant_id, v_ended.plan_id, v_ended.period_anchor, v_ended.billing_interval,
        NEW.period_anchor, v_new_interval);
    RETURN NULL;
END;
$$;

CREATE TRIGGER keep_ended_schedule
    AFTER DELETE ON billing.subscriptions
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION billing._subscriptions_ended();
CREATE TRIGGER keep_ended_schedules_on_truncate
    BEFORE TRUNCATE ON billing.subscriptions
    FOR EACH STATEMENT EXECUTE FUNCTION billing._subscriptions_ended();
CREATE TRIGGER carry_usage_to_new_period_on_return
    AFTER INSERT ON billing.subscriptions
    FOR EACH ROW EXECUTE FUNCTION billing._subscription_resumed();

-- Whether any tenant has usage, or a closed period: what the TRUNCATE
-- guards of billing.resources (015_key_changes.sql) and of the history
-- tables below keep.  As the extension owner, through them.
CREATE FUNCTION billing._usage_kept()
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT EXISTS (SELECT FROM billing.usage_parts p
                    GROUP BY p.tenant_id, p.resource, p.period_start HAVING sum(p.used) <> 0)
        OR EXISTS (SELECT FROM billing.closed_periods)
$$;

-- Closed periods are billing history, and an ended subscription's schedule
-- keeps its tenant's usage in its periods: while any usage or closed period
-- exists, neither table may be truncated, nor billing.plans, which
-- TRUNCATE ... CASCADE empties them with (until 2026-12-05 it did: a tenant
-- subscribing again started its period from zero, its history gone).
-- DELETE removes chosen rows.
CREATE FUNCTION billing._history_truncate_allowed()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF billing._usage_kept() THEN
        RAISE EXCEPTION 'billing.% cannot be truncated while tenants have usage', TG_TABLE_NAME
            USING ERRCODE = 'object_in_use',
                  DETAIL = 'It would take closed billing periods or the schedules of ended subscriptions with it, which usage_history and returning tenants need.',
                  HINT = 'Delete the rows meant instead.';
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER history_truncate_allowed
    BEFORE TRUNCATE ON billing.plans
    FOR EACH STATEMENT EXECUTE FUNCTION billing._history_truncate_allowed();
CREATE TRIGGER history_truncate_allowed
    BEFORE TRUNCATE ON billing.closed_periods
    FOR EACH STATEMENT EXECUTE FUNCTION billing._history_truncate_allowed();
CREATE TRIGGER history_truncate_allowed
    BEFORE TRUNCATE ON billing.ended_subscriptions
    FOR EACH STATEMENT EXECUTE FUNCTION billing._history_truncate_allowed();

-- ALWAYS: see billing._replicated_here.
ALTER TABLE billing.subscriptions
    ENABLE ALWAYS TRIGGER carry_usage_to_new_period,
    ENABLE ALWAYS TRIGGER carry_usage_to_new_period_on_return,
    ENABLE ALWAYS TRIGGER keep_ended_schedule,
    ENABLE ALWAYS TRIGGER keep_ended_schedules_on_truncate;
ALTER TABLE billing.plans
    ENABLE ALWAYS TRIGGER carry_usage_to_new_period,
    ENABLE ALWAYS TRIGGER history_truncate_allowed;
ALTER TABLE billing.closed_periods ENABLE ALWAYS TRIGGER history_truncate_allowed;
ALTER TABLE billing.ended_subscriptions ENABLE ALWAYS TRIGGER history_truncate_allowed;
