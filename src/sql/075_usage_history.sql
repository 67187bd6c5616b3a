-- Usage history: closed billing periods of period resources, with the limit
-- as it stood when each period closed.
--
-- Limits can change mid-period (plan change, override, plan edit), so the
-- effective limit of each subscribed tenant is logged whenever a change to
-- the configuration may have changed it; the history takes the last entry
-- logged before the period ended, or the limit now when nothing was logged
-- (tenants whose limits have not changed since before this log existed).
CREATE TABLE billing.limit_log (
    tenant_id  text NOT NULL,
    resource   text NOT NULL,
    hard_limit bigint,      -- NULL = unlimited
    logged_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, resource, logged_at)
);
COMMENT ON TABLE billing.limit_log IS
    'Effective limits of period resources per tenant, logged when the configuration changes them (for billing.usage_history).';
SELECT pg_catalog.pg_extension_config_dump('billing.limit_log', '');

-- When this transaction's changes of limits are logged: the time of its
-- first change (the clock's), not of its start.  A change takes effect
-- when it commits, and one begun in a period that ended before the change
-- was made must not be dated in it, as it was until 2026-12-04
-- (usage_history then showed that period under the new limit).  One time
-- for the whole transaction, so that its statements log only what it
-- commits (TRUNCATE plan_limits then INSERT them again logs the limits
-- once, not 0 in between); a savepoint rolled back forgets it with the
-- rows it logged.  Kept in the backend (src/pg/limit_log_marks.hpp), where
-- no role can set it.
CREATE FUNCTION billing._limit_log_time()
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'zb_limit_log_time'
LANGUAGE C VOLATILE;

-- Transactions that log limits take turns, each holding the turn until it
-- ends: it updates the one row of billing.limit_log_turn before it reads
-- which tenants to log and their limits.  One that waited for another's
-- turn then reads with a snapshot that sees the other's change (READ
-- COMMITTED takes one per statement), and dates its log after it; one whose
-- snapshot cannot (REPEATABLE READ, SERIALIZABLE) fails with 40001, to be
-- retried.  Until 2026-12-05 each logged the limits as its own snapshot
-- showed them, dated at its first change: an override begun first and
-- committed last, with a plan edit between, left the plan's limit logged
-- last, and usage_history showed it for every later period (isolation
-- limit_log_race).  Changes of limits are an administrator's, rare: taking
-- turns costs them a wait.  The turn is taken before the rows a statement
-- changes are locked (log_limits_turn, below).
CREATE TABLE billing.limit_log_turn (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    turns    bigint NOT NULL DEFAULT 0
);
COMMENT ON TABLE billing.limit_log_turn IS
    'One row, updated by each transaction that logs limits into billing.limit_log, so that they log one at a time.';
INSERT INTO billing.limit_log_turn DEFAULT VALUES;

-- Once per transaction (marked in the backend, src/pg/limit_log_marks.hpp):
-- the row stays locked until it ends, and updating one row again and again
-- in one transaction makes each update walk the versions before it.  A
-- savepoint rolled back gives up the lock and the mark together.
CREATE FUNCTION billing._limit_log_turn_to_take()
RETURNS boolean
AS 'MODULE_PATHNAME', 'zb_limit_log_turn_to_take'
LANGUAGE C VOLATILE;

CREATE FUNCTION billing._take_limit_log_turn()
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF billing._limit_log_turn_to_take() THEN
        UPDATE billing.limit_log_turn SET turns = turns + 1;
    END IF;
END;
$$;

-- Logs the effective limits (billing._tenant_terms, the one definition) of
-- these tenants where they differ from the last ones logged.
-- PL/pgSQL, whose plan is kept for the session (an SQL function with a SET
-- clause is planned again at every call: 0.5 ms of the 0.9 ms an inserted
-- subscription cost), and generic, as a custom plan for each array would be
-- the same again.
CREATE FUNCTION billing._log_limits(p_tenants text[])
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
    INSERT INTO billing.limit_log (tenant_id, resource, hard_limit, logged_at)
    SELECT t.tenant_id, e.resource, e.hard_limit, billing._limit_log_time()
      FROM (SELECT DISTINCT unnest(p_tenants) AS tenant_id) t
     CROSS JOIN LATERAL billing._tenant_terms(t.tenant_id) e
      LEFT JOIN LATERAL (SELECT true AS logged, g.hard_limit FROM billing.limit_log g
                          WHERE g.tenant_id = t.tenant_id AND g.resource = e.resource
                          ORDER BY g.logged_at DESC LIMIT 1) last ON true
     -- last.logged, not "last IS NULL", which is also true of a row whose
     -- only column is NULL: an unlimited limit was logged again on every
     -- change.
     WHERE e.subscribed AND e.kind = 'period'
       AND (last.logged IS NULL OR last.hard_limit IS DISTINCT FROM e.hard_limit)
    ON CONFLICT (tenant_id, resource, logged_at) DO UPDATE SET hard_limit = EXCLUDED.hard_limit;
END;
$$;

-- Statement triggers on the tables a limit comes from: which tenants a
-- change may concern.  They write the log as the extension owner, so an
-- administrator allowed to edit plans needs no right on it.
CREATE FUNCTION billing._log_limits_of_tenants()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF billing._replicated_here('billing.limit_log') THEN
        RETURN NULL;
    END IF;
    PERFORM billing._take_limit_log_turn();
    -- An UPDATE of an override may move it to another tenant, whose limit
    -- then falls back to its plan's: both are logged (until 2026-12-05 only
    -- the new one, and usage_history showed the old tenant the override).
    IF TG_OP = 'INSERT' THEN
        PERFORM billing._log_limits(ARRAY(SELECT tenant_id FROM new_rows));
    ELSIF TG_OP = 'UPDATE' THEN
        PERFORM billing._log_limits(ARRAY(SELECT tenant_id FROM new_rows
                                          UNION SELECT tenant_id FROM old_rows));
    ELSE
        PERFORM billing._log_limits(ARRAY(SELECT tenant_id FROM old_rows));
    END IF;
    RETURN NULL;
END;
$$;

CREATE FUNCTION billing._log_limits_of_plans()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_plans text[] := '{}';
BEGIN
    IF billing._replicated_here('billing.limit_log') THEN
        RETURN NULL;
    END IF;
    PERFORM billing._take_limit_log_turn();
    -- Only rows of period resources change what is logged: a plan's gauge
    -- limit edited over 30000 subscribers took 0.4 s for nothing.
    -- An UPDATE's old and new rows name the same plans, as a rule: their
    -- subscribers are logged once (until 2026-12-05 twice, the second time
    -- finding nothing to log: a limit edited over 32,800 subscribers took
    -- 2.5 s, half of it for that; a helper's hunt).
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        v_plans := v_plans || ARRAY(SELECT n.plan_id FROM new_rows n
                                      JOIN billing.resources r ON r.resource = n.resource
                                     WHERE r.kind = 'period');
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        v_plans := v_plans || ARRAY(SELECT o.plan_id FROM old_rows o
                                      JOIN billing.resources r ON r.resource = o.resource
                                     WHERE r.kind = 'period');
    END IF;
    PERFORM billing._log_limits(ARRAY(
        SELECT s.tenant_id FROM billing.subscriptions s WHERE s.plan_id = ANY (v_plans)));
    RETURN NULL;
END;
$$;

-- TRUNCATE has no transition table: every subscriber's limits are logged
-- where they changed (until 2026-12-04 a TRUNCATE of plan_limits or
-- limit_overrides was not logged, and usage_history showed the limits from
-- before it).
CREATE FUNCTION billing._log_limits_of_all()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF billing._replicated_here('billing.limit_log') THEN
        RETURN NULL;
    END IF;
    PERFORM billing._take_limit_log_turn();
    PERFORM billing._log_limits(ARRAY(SELECT tenant_id FROM billing.subscriptions));
    RETURN NULL;
END;
$$;

CREATE TRIGGER log_limits_insert AFTER INSERT ON billing.subscriptions
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION billing._log_limits_of_tenants();
CREATE TRIGGER log_limits_update AFTER UPDATE ON billing.subscriptions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION billing._log_limits_of_tenants();
CREATE TRIGGER log_limits_insert AFTER INSERT ON billing.limit_overrides
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION billing._log_limits_of_tenants();
CREATE TRIGGER log_limits_update AFTER UPDATE ON billing.limit_overrides
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION billing._log_limits_of_tenants();
CREATE TRIGGER log_limits_delete AFTER DELETE ON billing.limit_overrides
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION billing._log_limits_of_tenants();
CREATE TRIGGER log_limits_insert AFTER INSERT ON billing.plan_limits
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION billing._log_limits_of_plans();
CREATE TRIGGER log_limits_update AFTER UPDATE ON billing.plan_limits
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION billing._log_limits_of_plans();
CREATE TRIGGER log_limits_delete AFTER DELETE ON billing.plan_limits
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION billing._log_limits_of_plans();
CREATE TRIGGER log_limits_truncate AFTER TRUNCATE ON billing.limit_overrides
    FOR EACH STATEMENT EXECUTE FUNCTION billing._log_limits_of_all();
CREATE TRIGGER log_limits_truncate AFTER TRUNCATE ON billing.plan_limits
    FOR EACH STATEMENT EXECUTE FUNCTION billing._log_limits_of_all();

-- The turn is taken before a statement locks any row: taken only after
-- them, by the triggers above (until 2026-12-06), it made transactions
-- that change tenants in the same order deadlock (one held tenant A and
-- the turn and went on to B; the other held B and waited for the turn; a
-- helper's hunt: 8 % of transactions subscribing three tenants each).
CREATE FUNCTION billing._take_limit_log_turn_first()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF billing._replicated_here('billing.limit_log') THEN
        RETURN NULL;
    END IF;
    PERFORM billing._take_limit_log_turn();
    RETURN NULL;
END;
$$;
CREATE TRIGGER log_limits_turn BEFORE INSERT OR UPDATE ON billing.subscriptions
    FOR EACH STATEMENT EXECUTE FUNCTION billing._take_limit_log_turn_first();
CREATE TRIGGER log_limits_turn BEFORE INSERT OR UPDATE OR DELETE ON billing.limit_overrides
    FOR EACH STATEMENT EXECUTE FUNCTION billing._take_limit_log_turn_first();
CREATE TRIGGER log_limits_turn BEFORE INSERT OR UPDATE OR DELETE ON billing.plan_limits
    FOR EACH STATEMENT EXECUTE FUNCTION billing._take_limit_log_turn_first();
-- ALWAYS, for changes made under session_replication_role = replica
-- (billing._replicated_here).
ALTER TABLE billing.subscriptions
    ENABLE ALWAYS TRIGGER log_limits_insert, ENABLE ALWAYS TRIGGER log_limits_update,
    ENABLE ALWAYS TRIGGER log_limits_turn;
ALTER TABLE billing.limit_overrides
    ENABLE ALWAYS TRIGGER log_limits_insert, ENABLE ALWAYS TRIGGER log_limits_update,
    ENABLE ALWAYS TRIGGER log_limits_delete, ENABLE ALWAYS TRIGGER log_limits_truncate,
    ENABLE ALWAYS TRIGGER log_limits_turn;
ALTER TABLE billing.plan_limits
    ENABLE ALWAYS TRIGGER log_limits_insert, ENABLE ALWAYS TRIGGER log_limits_update,
    ENABLE ALWAYS TRIGGER log_limits_delete, ENABLE ALWAYS TRIGGER log_limits_truncate,
    ENABLE ALWAYS TRIGGER log_limits_turn;

-- Closed periods of period resources in which anything was consumed: those
-- under the tenant's current schedule, whose end follows from the
-- subscription's anchor and its plan's billing interval (or, for a tenant
-- whose subscription was deleted, the schedule it ended with), and those a
-- schedule change closed (billing.closed_periods, 045_period_changes.sql),
-- which keep the end and plan they had.  Plain joins, like usage_overview,
-- so that a reader needs only SELECT.
CREATE VIEW billing.usage_history AS
WITH schedules AS (
    SELECT s.tenant_id, s.plan_id, s.period_anchor, p.billing_interval
      FROM billing.subscriptions s
      JOIN billing.plans p ON p.plan_id = s.plan_id
    UNION ALL
    SELECT e.tenant_id, e.plan_id, e.period_anchor, e.billing_interval
      FROM billing.ended_subscriptions e
     WHERE NOT EXISTS (SELECT FROM billing.subscriptions s WHERE s.tenant_id = e.tenant_id)
), periods AS (
    SELECT u.tenant_id, u.resource, u.period_start, b.period_end, u.used, s.plan_id
      FROM billing.usage u
      JOIN billing.resources r ON r.resource = u.resource AND r.kind = 'period'
      JOIN schedules s ON s.tenant_id = u.tenant_id
     CROSS JOIN LATERAL billing.period_bounds(s.period_anchor, s.billing_interval, u.period_start) b
     -- A gauge's row (-infinity) has no period; none should be found under a
     -- period resource, but one must not make the view fail for every reader.
     WHERE isfinite(u.period_start)
    UNION ALL
    SELECT c.tenant_id, c.resource, c.period_start, c.period_end, c.used,
           coalesce(c.plan_id, s.plan_id)
      FROM billing.closed_periods c
      JOIN billing.resources r ON r.resource = c.resource AND r.kind = 'period'
      LEFT JOIN billing.subscriptions s ON s.tenant_id = c.tenant_id
     -- As billing.usage leaves out a period of 0: a period closed while a
     -- transaction may have been in flight on it, which then rolled back
     -- (_close_past_periods).
     WHERE c.used <> 0
)
SELECT x.tenant_id,
       x.resource,
       x.period_start,
       x.period_end,
       x.used,
       CASE WHEN h.logged THEN h.hard_limit
            WHEN o.tenant_id IS NOT NULL THEN o.hard_limit
            WHEN l.plan_id IS NOT NULL THEN l.hard_limit
            ELSE 0 END AS hard_limit
  FROM periods x
  LEFT JOIN billing.plan_limits l ON l.plan_id = x.plan_id AND l.resource = x.resource
  LEFT JOIN billing.limit_overrides o ON o.tenant_id = x.tenant_id AND o.resource = x.resource
  LEFT JOIN LATERAL (SELECT true AS logged, g.hard_limit FROM billing.limit_log g
                      WHERE g.tenant_id = x.tenant_id AND g.resource = x.resource
                        AND g.logged_at < x.period_end
                      ORDER BY g.logged_at DESC LIMIT 1) h ON true
 WHERE x.period_end <= now();
COMMENT ON VIEW billing.usage_history IS
    'Usage of closed billing periods (period resources), with the limit as it stood when each closed.';
