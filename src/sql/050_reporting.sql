-- Usage as tenants, admins and DBAs see it.

CREATE FUNCTION billing.usage_percent(used bigint, hard_limit bigint)
RETURNS numeric AS 'MODULE_PATHNAME', 'zb_usage_percent'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION billing.usage_percent(bigint, bigint) IS
    'used * 100 / hard_limit rounded to 2 decimals; NULL when unlimited (hard_limit NULL); 100 when the limit is 0.';

CREATE FUNCTION billing.usage_status(used bigint, hard_limit bigint)
RETURNS text AS 'MODULE_PATHNAME', 'zb_usage_status'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION billing.usage_status(bigint, bigint) IS
    'unlimited, ok (< 80 %), warning (>= 80 %), critical (>= 90 %) or blocked (>= 100 %).';

-- Checks a tenant id the way consumption does (22004 / 22023) and returns it.
CREATE FUNCTION billing._valid_tenant_id(tenant_id text)
RETURNS text AS 'MODULE_PATHNAME', 'zb_valid_tenant_id'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- What this transaction has consumed or released and not yet written to
-- billing.usage_parts (it is written just before commit).  Only the caller's own
-- transaction is visible, so it is safe for PUBLIC.  A few rows, as the
-- planner is told: with its default of 1000 a read of usage_overview over
-- thousands of tenants was costed high enough to switch JIT on.
CREATE FUNCTION billing._pending_usage(tenant_id text)
RETURNS TABLE (resource text, period_start timestamptz, delta bigint)
AS 'MODULE_PATHNAME', 'zb_pending_usage'
LANGUAGE C VOLATILE PARALLEL RESTRICTED ROWS 4;

-- The same for every tenant this transaction changed, with its id, for
-- recount(): until 2026-12-06 it compared the rows with the committed usage
-- alone, skipped a key whose committed usage matched them, and the caller's
-- own release or consumption before it then committed on top (a helper's
-- model-based hunt: a tenant at its limit got one more row).
CREATE FUNCTION billing._own_pending_usage()
RETURNS TABLE (tenant_id text, resource text, period_start timestamptz, delta bigint)
AS 'MODULE_PATHNAME', 'zb_own_pending_usage'
LANGUAGE C VOLATILE PARALLEL RESTRICTED ROWS 4;

-- PARALLEL RESTRICTED, like _pending_usage it calls, and so the
-- tenant_usage functions over it.  `used` is what is committed, as the
-- query's snapshot shows it, plus this transaction's own changes; never
-- below 0: in REPEATABLE READ and SERIALIZABLE that snapshot is the
-- transaction's, while its own releases gave back what the latest usage
-- held (consumption by transactions it cannot see); nor, for the same
-- reason, above the bigint maximum (an unlimited gauge near it, given back
-- by another transaction and consumed again by this one: until 2026-12-05
-- the report failed with 22003).  A subscription that is not active admits
-- nothing: remaining 0 and status blocked, while the limit and percent stay
-- the plan's, as a refusal's DETAIL gives them (until 2026-12-06 a canceled
-- tenant was shown ok, with room left, that every consumption refused).
CREATE FUNCTION billing._usage_rows(p_tenant_id text)
RETURNS TABLE (
    resource     text,
    kind         text,
    used         bigint,
    hard_limit   bigint,
    remaining    bigint,
    percent      numeric,
    period_start timestamptz,
    period_end   timestamptz,
    status       text)
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- PL/pgSQL, whose plan is kept for the session: an SQL function with a
    -- SET clause is planned again at every call (2026-12-05, a helper's
    -- hunt: tenant_usage cost 2 ms, the same rows through usage_overview
    -- 0.13 ms with a prepared statement).
    RETURN QUERY
        SELECT x.resource,
               x.kind,
               x.used,
               x.hard_limit,
               CASE WHEN x.inactive THEN 0
                    WHEN x.unlimited THEN NULL ELSE greatest(x.hard_limit - x.used, 0) END,
               billing.usage_percent(x.used, x.hard_limit),
               x.period_start,
               x.period_end,
               CASE WHEN x.inactive THEN 'blocked' ELSE billing.usage_status(x.used, x.hard_limit) END
          FROM (SELECT t.resource,
                       t.kind,
                       t.unlimited,
                       t.subscribed AND t.subscription_status <> 'active' AS inactive,
                       CASE WHEN t.unlimited THEN NULL ELSE t.hard_limit END AS hard_limit,
                       least(greatest(coalesce(u.used, 0)::numeric + coalesce(pu.delta, 0), 0), 9223372036854775807)::bigint AS used,
                       b.period_start,
                       b.period_end
                  FROM billing._tenant_terms(p_tenant_id) t
                  LEFT JOIN LATERAL billing.period_bounds(t.period_anchor, t.billing_interval, now()) b
                         ON t.kind = 'period'
                  CROSS JOIN LATERAL (
                         SELECT CASE WHEN t.kind = 'gauge' THEN '-infinity'::timestamptz
                                     ELSE b.period_start END AS usage_period) k
                  CROSS JOIN LATERAL (
                         SELECT sum(p.used) AS used FROM billing.usage_parts p
                          WHERE p.tenant_id = p_tenant_id
                            AND p.resource = t.resource
                            AND p.period_start = k.usage_period) u
                  LEFT JOIN billing._pending_usage(p_tenant_id) pu
                         ON pu.resource = t.resource AND pu.period_start = k.usage_period) x
         ORDER BY x.resource;
END;
$$;

-- The tables are locked first, and read by the next statement with a
-- snapshot of its own, taken once they are (VOLATILE: a STABLE function
-- reads with its caller's, and a saved plan locks them only as it runs).
-- An ALTER TABLE rewriting one of them, committed while this waited for
-- its lock, writes every row again under its own transaction id, and an
-- older snapshot sees none: until 2026-12-06 every resource read as
-- unused during a rewrite of usage_parts (tests/scripts/config_rewrite.sh).
-- Locked in the order the query below names them, as before.
CREATE FUNCTION billing.tenant_usage(tenant_id text)
RETURNS TABLE (
    resource     text,
    kind         text,
    used         bigint,
    hard_limit   bigint,
    remaining    bigint,
    percent      numeric,
    period_start timestamptz,
    period_end   timestamptz,
    status       text)
LANGUAGE plpgsql VOLATILE PARALLEL RESTRICTED SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    LOCK TABLE billing.resources, billing.subscriptions, billing.plans, billing.plan_limits,
               billing.limit_overrides, billing.usage_parts IN ACCESS SHARE MODE;
    RETURN QUERY SELECT * FROM billing._usage_rows(billing._valid_tenant_id(tenant_id));
END;
$$;
-- As the extension owner, so that EXECUTE on one of these is enough, as
-- it is for the uuid and bigint forms of consume_quota & co.  VOLATILE as
-- the text form they call.  PL/pgSQL for the reason _usage_rows is: as SQL
-- functions with a SET clause they were planned at every call, and ran at
-- 0.91 of the text form's rate (bigint; 0.98 since; bench/key_forms.sh).
CREATE FUNCTION billing.tenant_usage(tenant_id uuid)
RETURNS TABLE (resource text, kind text, used bigint, hard_limit bigint, remaining bigint,
               percent numeric, period_start timestamptz, period_end timestamptz, status text)
LANGUAGE plpgsql VOLATILE PARALLEL RESTRICTED SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ BEGIN RETURN QUERY SELECT * FROM billing.tenant_usage(tenant_id::text); END $$;
CREATE FUNCTION billing.tenant_usage(tenant_id bigint)
RETURNS TABLE (resource text, kind text, used bigint, hard_limit bigint, remaining bigint,
               percent numeric, period_start timestamptz, period_end timestamptz, status text)
LANGUAGE plpgsql VOLATILE PARALLEL RESTRICTED SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ BEGIN RETURN QUERY SELECT * FROM billing.tenant_usage(tenant_id::text); END $$;
COMMENT ON FUNCTION billing.tenant_usage(text) IS
    'Usage of every resource for one tenant: used, limit, remaining, percent, current period, status.';
COMMENT ON FUNCTION billing.tenant_usage(uuid) IS
    'Like billing.tenant_usage(text), for a uuid tenant key (its text form is the tenant id).';
COMMENT ON FUNCTION billing.tenant_usage(bigint) IS
    'Like billing.tenant_usage(text), for a bigint tenant key (its text form is the tenant id).';

-- The same rows as tenant_usage (an inactive subscription blocked), for
-- every subscribed tenant.  Written with plain joins (no internal function)
-- because functions in a view run with the privileges of whoever reads it:
-- an admin role needs only SELECT here.
CREATE VIEW billing.usage_overview AS
SELECT s.tenant_id,
       s.plan_id,
       x.resource,
       x.kind,
       x.used,
       x.hard_limit,
       CASE WHEN s.status <> 'active' THEN 0
            WHEN x.unlimited THEN NULL ELSE greatest(x.hard_limit - x.used, 0) END AS remaining,
       billing.usage_percent(x.used, x.hard_limit) AS percent,
       x.period_start,
       x.period_end,
       CASE WHEN s.status <> 'active' THEN 'blocked'
            ELSE billing.usage_status(x.used, x.hard_limit) END AS status
  FROM billing.subscriptions s
  JOIN billing.plans p ON p.plan_id = s.plan_id
 CROSS JOIN LATERAL (
        SELECT r.resource,
               r.kind,
               least(greatest(coalesce(u.used, 0)::numeric + coalesce(pu.delta, 0), 0), 9223372036854775807)::bigint AS used,
               lim.unlimited,
               CASE WHEN lim.unlimited THEN NULL ELSE lim.hard_limit END AS hard_limit,
               b.period_start,
               b.period_end
          FROM billing.resources r
          LEFT JOIN billing.plan_limits l ON l.plan_id = s.plan_id AND l.resource = r.resource
          LEFT JOIN billing.limit_overrides o ON o.tenant_id = s.tenant_id AND o.resource = r.resource
         CROSS JOIN LATERAL (
                SELECT CASE WHEN o.tenant_id IS NOT NULL THEN o.hard_limit IS NULL
                            WHEN l.plan_id IS NOT NULL THEN l.hard_limit IS NULL
                            ELSE false END AS unlimited,
                       CASE WHEN o.tenant_id IS NOT NULL THEN o.hard_limit
                            WHEN l.plan_id IS NOT NULL THEN l.hard_limit
                            ELSE 0 END AS hard_limit) lim
          LEFT JOIN LATERAL billing.period_bounds(s.period_anchor, p.billing_interval, now()) b
                 ON r.kind = 'period'
         CROSS JOIN LATERAL (
                SELECT CASE WHEN r.kind = 'gauge' THEN '-infinity'::timestamptz
                            ELSE b.period_start END AS usage_period) k
         CROSS JOIN LATERAL (
                SELECT sum(p.used) AS used FROM billing.usage_parts p
                 WHERE p.tenant_id = s.tenant_id
                   AND p.resource = r.resource
                   AND p.period_start = k.usage_period) u
          LEFT JOIN billing._pending_usage(s.tenant_id) pu
                 ON pu.resource = r.resource AND pu.period_start = k.usage_period) x;
COMMENT ON VIEW billing.usage_overview IS 'Usage of every subscribed tenant and resource, for admins.';

-- What the shared-memory counter table holds for this database (DBAs).
-- Empty unless the library is in shared_preload_libraries.  carried_in:
-- what transactions in flight reserved in a period a schedule change moved
-- to this one, where they commit it (admission counts it).
CREATE FUNCTION billing._counters()
RETURNS TABLE (tenant_id text, resource text, period_start timestamptz, committed bigint,
               reserved bigint, releasing bigint, hard_limit bigint, state text,
               carried_in bigint)
AS 'MODULE_PATHNAME', 'zb_counters'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

CREATE VIEW billing.counters AS SELECT * FROM billing._counters();
COMMENT ON VIEW billing.counters IS
    'Counters in shared memory (shared_preload_libraries mode): committed usage, and what transactions in flight reserved, are releasing, or carry in from a moved period, per tenant, resource and period.';
