-- A period resource's usage is kept under its period's start.  When a
-- tenant's periods change (a plan with another billing interval, through
-- subscribe() or an UPDATE of subscriptions; an edit of the plan's
-- interval; a moved anchor), the period it is in now starts elsewhere, and
-- the usage of the period it was in must go there: left behind, it would
-- no longer count, and the tenant would start its period again from zero.
-- As the extension owner (through _carry_period_usage): whoever may edit
-- plans and subscriptions needs no right on usage.

-- Carries the tenant's usage from its period now under the old anchor and
-- interval to its period now under the new ones.
CREATE FUNCTION billing._carry_to_new_periods(p_tenant_id text,
                                              p_old_anchor timestamptz, p_old_interval interval,
                                              p_new_anchor timestamptz, p_new_interval interval)
RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_from timestamptz;
    v_to   timestamptz;
BEGIN
    IF p_old_interval IS NULL OR p_new_interval IS NULL THEN
        RETURN;
    END IF;
    v_from := (billing.period_bounds(p_old_anchor, p_old_interval, now())).period_start;
    v_to := (billing.period_bounds(p_new_anchor, p_new_interval, now())).period_start;
    IF v_from <> v_to THEN
        PERFORM billing._carry_period_usage(p_tenant_id, v_from, v_to);
    END IF;
END;
$$;

CREATE FUNCTION billing._subscription_periods_changed()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- A renamed plan (ON UPDATE CASCADE) is the same plan: OLD's is not
    -- found, nothing moves.
    PERFORM billing._carry_to_new_periods(
        NEW.tenant_id,
        OLD.period_anchor, (SELECT p.billing_interval FROM billing.plans p WHERE p.plan_id = OLD.plan_id),
        NEW.period_anchor, (SELECT p.billing_interval FROM billing.plans p WHERE p.plan_id = NEW.plan_id));
    RETURN NULL;
END;
$$;

CREATE FUNCTION billing._plan_interval_changed()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM billing._carry_to_new_periods(s.tenant_id, s.period_anchor, OLD.billing_interval,
                                          s.period_anchor, NEW.billing_interval)
       FROM billing.subscriptions s
      WHERE s.plan_id = NEW.plan_id
      ORDER BY s.tenant_id;
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
    FOR EACH ROW WHEN (OLD.billing_interval IS DISTINCT FROM NEW.billing_interval)
    EXECUTE FUNCTION billing._plan_interval_changed();
