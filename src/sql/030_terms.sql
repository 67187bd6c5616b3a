-- A tenant's terms in SQL: for every known resource, its kind, the
-- tenant's subscription state and the effective hard limit.  The reporting
-- functions and the limit log read it.  The C admission path reads the same
-- rows by primary key on a cache miss (src/pg/stored_terms.cpp, the rule in
-- the core's effective_limit()), without planning a join per tenant;
-- sql/12_terms_agree.sql checks the two agree on every combination.
--
-- Effective limit: 0 without a subscription (nothing may be consumed, even
-- with an override); else the tenant's override if there is one (NULL =
-- unlimited), else the plan's limit (NULL = unlimited), else 0: a resource
-- the plan does not list is not included (fail closed).

CREATE FUNCTION billing.period_bounds(
    period_anchor timestamptz,
    billing_interval interval,
    at timestamptz DEFAULT now(),
    OUT period_start timestamptz,
    OUT period_end timestamptz)
AS 'MODULE_PATHNAME', 'zb_period_bounds'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION billing.period_bounds(timestamptz, interval, timestamptz) IS
    'The billing period [anchor + k*interval, anchor + (k+1)*interval) that contains "at".';

-- Plain LANGUAGE sql without SET or SECURITY DEFINER, so the planner inlines
-- it into the callers' queries; every operator is schema-qualified instead
-- of pinning search_path.
CREATE FUNCTION billing._tenant_terms(p_tenant_id text)
RETURNS TABLE (
    resource         text,
    kind             text,
    subscribed       boolean,
    subscription_status text,
    plan_id          text,
    period_anchor    timestamptz,
    billing_interval interval,
    unlimited        boolean,
    hard_limit       bigint)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT r.resource,
           r.kind,
           s.tenant_id IS NOT NULL,
           s.status,
           s.plan_id,
           s.period_anchor,
           p.billing_interval,
           CASE WHEN s.tenant_id IS NULL THEN false
                WHEN o.tenant_id IS NOT NULL THEN o.hard_limit IS NULL
                WHEN l.plan_id IS NOT NULL THEN l.hard_limit IS NULL
                ELSE false END,
           CASE WHEN s.tenant_id IS NULL THEN 0
                WHEN o.tenant_id IS NOT NULL THEN o.hard_limit
                WHEN l.plan_id IS NOT NULL THEN l.hard_limit
                ELSE 0 END
      FROM billing.resources r
      LEFT JOIN billing.subscriptions s ON s.tenant_id OPERATOR(pg_catalog.=) p_tenant_id
      LEFT JOIN billing.plans p ON p.plan_id OPERATOR(pg_catalog.=) s.plan_id
      LEFT JOIN billing.plan_limits l
             ON l.plan_id OPERATOR(pg_catalog.=) s.plan_id
            AND l.resource OPERATOR(pg_catalog.=) r.resource
      LEFT JOIN billing.limit_overrides o
             ON o.tenant_id OPERATOR(pg_catalog.=) p_tenant_id
            AND o.resource OPERATOR(pg_catalog.=) r.resource
$$;
