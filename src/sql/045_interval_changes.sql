-- A period resource's usage is kept under its period's start.  When a
-- tenant's billing interval changes with its anchor kept (a plan change,
-- through subscribe() or an UPDATE of subscriptions; an edit of the plan's
-- interval), the period it is in now starts elsewhere, and the usage of
-- the period it was in must go there: left behind, it would no longer
-- count, and every such tenant would start its period again from zero.
-- As the extension owner (through _carry_period_usage): whoever may edit
-- plans and subscriptions needs no right on usage.

-- Carries the tenant's usage from its period under one interval to its
-- period under the other, both taken at now().
CREATE FUNCTION billing._carry_to_new_interval(p_tenant_id text, p_anchor timestamptz,
                                               p_old interval, p_new interval)
RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_from timestamptz;
    v_to   timestamptz;
BEGIN
    IF p_old IS NULL OR p_new IS NULL OR p_old = p_new THEN
        RETURN;
    END IF;
    v_from := (billing.period_bounds(p_anchor, p_old, now())).period_start;
    v_to := (billing.period_bounds(p_anchor, p_new, now())).period_start;
    IF v_from <> v_to THEN
        PERFORM billing._carry_period_usage(p_tenant_id, v_from, v_to);
    END IF;
END;
$$;

CREATE FUNCTION billing._subscription_interval_changed()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- A moved anchor starts the periods afresh; a renamed plan (ON UPDATE
    -- CASCADE) is the same plan: OLD's is not found, nothing moves.
    IF NEW.period_anchor = OLD.period_anchor THEN
        PERFORM billing._carry_to_new_interval(
            NEW.tenant_id, NEW.period_anchor,
            (SELECT p.billing_interval FROM billing.plans p WHERE p.plan_id = OLD.plan_id),
            (SELECT p.billing_interval FROM billing.plans p WHERE p.plan_id = NEW.plan_id));
    END IF;
    RETURN NULL;
END;
$$;

CREATE FUNCTION billing._plan_interval_changed()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM billing._carry_to_new_interval(s.tenant_id, s.period_anchor,
                                           OLD.billing_interval, NEW.billing_interval)
       FROM billing.subscriptions s
      WHERE s.plan_id = NEW.plan_id
      ORDER BY s.tenant_id;
    RETURN NULL;
END;
$$;

CREATE TRIGGER carry_usage_to_new_interval
    AFTER UPDATE OF plan_id ON billing.subscriptions
    FOR EACH ROW WHEN (OLD.plan_id IS DISTINCT FROM NEW.plan_id)
    EXECUTE FUNCTION billing._subscription_interval_changed();
CREATE TRIGGER carry_usage_to_new_interval
    AFTER UPDATE OF billing_interval ON billing.plans
    FOR EACH ROW WHEN (OLD.billing_interval IS DISTINCT FROM NEW.billing_interval)
    EXECUTE FUNCTION billing._plan_interval_changed();
