-- Consumption.  One C function per operation serves every tenant key type:
-- it reads the declared type of its first argument (text, uuid or bigint; an
-- integer key is promoted to bigint) and turns it into the text tenant id.
-- They read and write billing tables with the extension owner's rights, so
-- callers need EXECUTE on the function and nothing else.

CREATE FUNCTION billing.consume_quota(tenant_id text, resource text, amount bigint DEFAULT 1)
RETURNS bigint AS 'MODULE_PATHNAME', 'zb_consume_quota' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION billing.consume_quota(tenant_id uuid, resource text, amount bigint DEFAULT 1)
RETURNS bigint AS 'MODULE_PATHNAME', 'zb_consume_quota' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION billing.consume_quota(tenant_id bigint, resource text, amount bigint DEFAULT 1)
RETURNS bigint AS 'MODULE_PATHNAME', 'zb_consume_quota' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION billing.consume_quota(text, text, bigint) IS
    'Atomically check and consume; returns what remains (NULL = unlimited); raises PT402 and consumes nothing when over the limit.';
COMMENT ON FUNCTION billing.consume_quota(uuid, text, bigint) IS
    'Like billing.consume_quota(text, text, bigint), for a uuid tenant key (its text form is the tenant id).';
COMMENT ON FUNCTION billing.consume_quota(bigint, text, bigint) IS
    'Like billing.consume_quota(text, text, bigint), for a bigint tenant key (its text form is the tenant id).';

CREATE FUNCTION billing.try_consume_quota(tenant_id text, resource text, amount bigint DEFAULT 1)
RETURNS boolean AS 'MODULE_PATHNAME', 'zb_try_consume_quota' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION billing.try_consume_quota(tenant_id uuid, resource text, amount bigint DEFAULT 1)
RETURNS boolean AS 'MODULE_PATHNAME', 'zb_try_consume_quota' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION billing.try_consume_quota(tenant_id bigint, resource text, amount bigint DEFAULT 1)
RETURNS boolean AS 'MODULE_PATHNAME', 'zb_try_consume_quota' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION billing.try_consume_quota(text, text, bigint) IS
    'Like consume_quota, but returns false instead of raising PT402.';
COMMENT ON FUNCTION billing.try_consume_quota(uuid, text, bigint) IS
    'Like billing.try_consume_quota(text, text, bigint), for a uuid tenant key (its text form is the tenant id).';
COMMENT ON FUNCTION billing.try_consume_quota(bigint, text, bigint) IS
    'Like billing.try_consume_quota(text, text, bigint), for a bigint tenant key (its text form is the tenant id).';

CREATE FUNCTION billing.release_quota(tenant_id text, resource text, amount bigint DEFAULT 1)
RETURNS bigint AS 'MODULE_PATHNAME', 'zb_release_quota' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION billing.release_quota(tenant_id uuid, resource text, amount bigint DEFAULT 1)
RETURNS bigint AS 'MODULE_PATHNAME', 'zb_release_quota' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION billing.release_quota(tenant_id bigint, resource text, amount bigint DEFAULT 1)
RETURNS bigint AS 'MODULE_PATHNAME', 'zb_release_quota' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION billing.release_quota(text, text, bigint) IS
    'Give back gauge usage (never below 0); returns what remains (NULL = unlimited).';
COMMENT ON FUNCTION billing.release_quota(uuid, text, bigint) IS
    'Like billing.release_quota(text, text, bigint), for a uuid tenant key (its text form is the tenant id).';
COMMENT ON FUNCTION billing.release_quota(bigint, text, bigint) IS
    'Like billing.release_quota(text, text, bigint), for a bigint tenant key (its text form is the tenant id).';

-- Corrections that are not checked against the limit (recount and
-- enforce_quota use them): they go through the same path as consumption,
-- the key's row lock in lock mode or its shared-memory counter, so they
-- compose with consumption in flight.  Internal; not granted to PUBLIC.
CREATE FUNCTION billing._adjust_usage(tenant_id text, resource text, period_start timestamptz,
                                      delta bigint)
RETURNS void AS 'MODULE_PATHNAME', 'zb_adjust_usage' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION billing._set_usage(tenant_id text, resource text, period_start timestamptz,
                                   used bigint)
RETURNS void AS 'MODULE_PATHNAME', 'zb_set_usage' LANGUAGE C VOLATILE PARALLEL UNSAFE;
-- Moves all of a key's usage from one period to another (a change of billing
-- schedule) and returns how much: read under the key's lock or from its
-- counter, so it holds what committed after the caller's snapshot and what
-- the caller's own transaction consumed.  With period_to = period_from
-- (a new schedule starting its period where the old one did, and ending
-- it sooner) nothing moves, but the key is claimed all the same, and the
-- usage there returned (ending it no sooner: not claimed, 0).  A key claimed from counted_until on (the end of
-- the new schedule's period at the change's now(), when it ends first)
-- with usage refuses the change (usage_moves.hpp).  Internal; not granted
-- to PUBLIC.
CREATE FUNCTION billing._move_usage(tenant_id text, resource text, period_from timestamptz,
                                    period_to timestamptz, counted_until timestamptz)
RETURNS bigint AS 'MODULE_PATHNAME', 'zb_move_usage' LANGUAGE C VOLATILE PARALLEL UNSAFE;
-- The same for a past period of the schedule being left: the usage taken
-- out goes to billing.closed_periods, not to period_to, which only says
-- where transactions still in flight on the past period commit theirs.
CREATE FUNCTION billing._close_usage(tenant_id text, resource text, period_start timestamptz,
                                     period_to timestamptz)
RETURNS bigint AS 'MODULE_PATHNAME', 'zb_close_usage' LANGUAGE C VOLATILE PARALLEL UNSAFE;
-- Shared-memory mode, after _close_usage of the key in this transaction:
-- whether another transaction held consumption of it in flight then (its
-- counter was pinned); false in lock mode.
CREATE FUNCTION billing._usage_in_flight(tenant_id text, resource text, period_start timestamptz)
RETURNS boolean AS 'MODULE_PATHNAME', 'zb_usage_in_flight' LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;

-- PARALLEL RESTRICTED: the answer counts what this transaction has consumed,
-- which only its backend knows until commit (and reading usage takes a
-- fresh snapshot, which a parallel worker may not).
CREATE FUNCTION billing.check_quota(tenant_id text, resource text, amount bigint DEFAULT 1)
RETURNS boolean AS 'MODULE_PATHNAME', 'zb_check_quota' LANGUAGE C STABLE PARALLEL RESTRICTED;
CREATE FUNCTION billing.check_quota(tenant_id uuid, resource text, amount bigint DEFAULT 1)
RETURNS boolean AS 'MODULE_PATHNAME', 'zb_check_quota' LANGUAGE C STABLE PARALLEL RESTRICTED;
CREATE FUNCTION billing.check_quota(tenant_id bigint, resource text, amount bigint DEFAULT 1)
RETURNS boolean AS 'MODULE_PATHNAME', 'zb_check_quota' LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION billing.check_quota(text, text, bigint) IS
    'Would amount fit now? Consumes nothing.';
COMMENT ON FUNCTION billing.check_quota(uuid, text, bigint) IS
    'Like billing.check_quota(text, text, bigint), for a uuid tenant key (its text form is the tenant id).';
COMMENT ON FUNCTION billing.check_quota(bigint, text, bigint) IS
    'Like billing.check_quota(text, text, bigint), for a bigint tenant key (its text form is the tenant id).';

-- Moves a tenant's usage of period resources from one period start to
-- another: a plan change to another billing interval (monthly to yearly)
-- puts the tenant in a period that starts elsewhere, and the usage it had
-- goes with it.  Through _move_usage, which reads what to move under the
-- key's lock or from its counter (not with this statement's snapshot, which
-- misses what committed after it, and in shared-memory mode this
-- transaction's own consumption), for every period resource (usage may have
-- committed since a snapshot showed none).  p_counted_until: see
-- _move_usage.  As the extension owner: whoever may call subscribe() needs
-- no right on usage.
CREATE FUNCTION billing._carry_period_usage(p_tenant_id text, p_from timestamptz,
                                            p_to timestamptz, p_counted_until timestamptz)
RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM billing._move_usage(p_tenant_id, res.resource, p_from, p_to, p_counted_until)
       FROM billing.resources res
      WHERE res.kind = 'period'
      ORDER BY res.resource;
END;
$$;

-- Create or change a subscription.  A plan change keeps the period anchor and
-- the usage and applies at once (with another billing interval, or a moved
-- anchor, the usage of the period the tenant was in moves to the period it
-- is in now: the trigger of 045_period_changes.sql).  The anchor argument
-- defaults to now(): on an existing subscription that default (the
-- transaction's now()) means "keep the anchor"; pass any other timestamp to
-- move it.
CREATE FUNCTION billing.subscribe(tenant_id text, plan_id text, period_anchor timestamptz DEFAULT now())
RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_active boolean;
BEGIN
    IF subscribe.tenant_id IS NULL OR subscribe.plan_id IS NULL OR subscribe.period_anchor IS NULL THEN
        RAISE EXCEPTION 'tenant_id, plan_id and period_anchor must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF octet_length(subscribe.tenant_id) NOT BETWEEN 1 AND 63 THEN
        RAISE EXCEPTION 'tenant id must be 1 to 63 bytes long'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT isfinite(subscribe.period_anchor) THEN
        RAISE EXCEPTION 'period_anchor must be a finite timestamp'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- The plan's row is locked before the subscription row is written, in
    -- the order an edit of the plan's interval takes them (the plan, then
    -- its subscribers: _plan_interval_changed).  Locked after it, by the
    -- subscription's trigger, a tenant moving back onto a plan whose edit
    -- waited for its row deadlocked with the edit (until 2026-12-06; isolation
    -- subscribe_interval_edit).
    SELECT p.active INTO v_active FROM billing.plans p WHERE p.plan_id = subscribe.plan_id FOR SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'plan "%" does not exist', subscribe.plan_id
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- Locked for the write below before the read: a REINDEX of the table
    -- begun in between deadlocked with it (until 2026-12-06).
    LOCK TABLE billing.subscriptions IN ROW EXCLUSIVE MODE;
    -- A plan that is no longer sold keeps its subscribers but takes no new ones.
    IF NOT v_active AND NOT EXISTS (
        SELECT FROM billing.subscriptions s
         WHERE s.tenant_id = subscribe.tenant_id AND s.plan_id = subscribe.plan_id) THEN
        RAISE EXCEPTION 'plan "%" is not active', subscribe.plan_id
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Set billing.plans.active to true to sell it again.';
    END IF;

    INSERT INTO billing.subscriptions AS s (tenant_id, plan_id, period_anchor, status)
    VALUES (subscribe.tenant_id, subscribe.plan_id, subscribe.period_anchor, 'active')
    ON CONFLICT ON CONSTRAINT subscriptions_pkey DO UPDATE
       SET plan_id = excluded.plan_id,
           status = 'active',
           period_anchor = CASE WHEN excluded.period_anchor = now() THEN s.period_anchor
                                ELSE excluded.period_anchor END
     WHERE s.plan_id IS DISTINCT FROM excluded.plan_id
        OR s.status <> 'active'
        OR (excluded.period_anchor <> now() AND excluded.period_anchor <> s.period_anchor);

    -- A resource the plan has no row for has a limit of 0: a plan without
    -- any refuses every consumption, which is easy to miss when limits are
    -- to be added after the subscriptions.
    IF NOT EXISTS (SELECT FROM billing.plan_limits l WHERE l.plan_id = subscribe.plan_id) THEN
        RAISE NOTICE 'plan "%" has no limits: tenant "%" can consume nothing without an override',
                     subscribe.plan_id, subscribe.tenant_id
            USING HINT = 'Add the plan''s limits to billing.plan_limits (a NULL hard_limit is unlimited).';
    END IF;
END;
$$;
COMMENT ON FUNCTION billing.subscribe(text, text, timestamptz) IS
    'Create or change a tenant''s subscription; a plan change keeps the anchor and the usage.';
-- For uuid and bigint tenant keys: their text form is the tenant id, as for
-- consume_quota & co.  With the caller's rights, like subscribe(text), which
-- the caller needs EXECUTE on too.  PL/pgSQL, as tenant_usage's forms
-- (050_reporting.sql): an SQL function with a SET clause is planned at
-- every call.
CREATE FUNCTION billing.subscribe(tenant_id uuid, plan_id text, period_anchor timestamptz DEFAULT now())
RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$ BEGIN PERFORM billing.subscribe($1::text, $2, $3); END $$;
CREATE FUNCTION billing.subscribe(tenant_id bigint, plan_id text, period_anchor timestamptz DEFAULT now())
RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$ BEGIN PERFORM billing.subscribe($1::text, $2, $3); END $$;
COMMENT ON FUNCTION billing.subscribe(uuid, text, timestamptz) IS
    'Like billing.subscribe(text, text, timestamptz), for a uuid tenant key (its text form is the tenant id).';
COMMENT ON FUNCTION billing.subscribe(bigint, text, timestamptz) IS
    'Like billing.subscribe(text, text, timestamptz), for a bigint tenant key (its text form is the tenant id).';
