-- zechat_billing 1.0 -> 1.1, run by ALTER EXTENSION zechat_billing UPDATE.
-- Usage alerts (billing.alerts, NOTIFY billing_alerts), usage history
-- (billing.usage_history, billing.limit_log), and descriptions for the uuid
-- and bigint overloads like their text versions have.  Existing tenants
-- get their limits logged now.
\echo Use "ALTER EXTENSION zechat_billing UPDATE TO '1.1'" to load this file. \quit

COMMENT ON FUNCTION billing.consume_quota(uuid, text, bigint) IS
    'Like billing.consume_quota(text, text, bigint), for a uuid tenant key (its text form is the tenant id).';
COMMENT ON FUNCTION billing.consume_quota(bigint, text, bigint) IS
    'Like billing.consume_quota(text, text, bigint), for a bigint tenant key (its text form is the tenant id).';
COMMENT ON FUNCTION billing.try_consume_quota(uuid, text, bigint) IS
    'Like billing.try_consume_quota(text, text, bigint), for a uuid tenant key (its text form is the tenant id).';
COMMENT ON FUNCTION billing.try_consume_quota(bigint, text, bigint) IS
    'Like billing.try_consume_quota(text, text, bigint), for a bigint tenant key (its text form is the tenant id).';
COMMENT ON FUNCTION billing.release_quota(uuid, text, bigint) IS
    'Like billing.release_quota(text, text, bigint), for a uuid tenant key (its text form is the tenant id).';
COMMENT ON FUNCTION billing.release_quota(bigint, text, bigint) IS
    'Like billing.release_quota(text, text, bigint), for a bigint tenant key (its text form is the tenant id).';
COMMENT ON FUNCTION billing.check_quota(uuid, text, bigint) IS
    'Like billing.check_quota(text, text, bigint), for a uuid tenant key (its text form is the tenant id).';
COMMENT ON FUNCTION billing.check_quota(bigint, text, bigint) IS
    'Like billing.check_quota(text, text, bigint), for a bigint tenant key (its text form is the tenant id).';
COMMENT ON FUNCTION billing.tenant_usage(uuid) IS
    'Like billing.tenant_usage(text), for a uuid tenant key (its text form is the tenant id).';
COMMENT ON FUNCTION billing.tenant_usage(bigint) IS
    'Like billing.tenant_usage(text), for a bigint tenant key (its text form is the tenant id).';

-- Usage alerts (070_alerts.sql).
CREATE TABLE billing.alerts (
    tenant_id    text NOT NULL,
    resource     text NOT NULL,
    threshold    integer NOT NULL,
    period_start timestamptz NOT NULL,
    used         bigint NOT NULL,
    hard_limit   bigint NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, resource, threshold, period_start)
);
COMMENT ON TABLE billing.alerts IS
    'Usage alerts: a committed consumption took usage to threshold % of the limit (once per tenant, resource, threshold and billing period).';
SELECT pg_catalog.pg_extension_config_dump('billing.alerts', '');

CREATE FUNCTION billing._record_alert(p_tenant_id text, p_resource text, p_threshold integer,
                                      p_period_start timestamptz, p_used bigint, p_limit bigint)
RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_payload text;
BEGIN
    -- A second transaction crossing the same threshold in the same period
    -- (shared-memory mode lets two commit at once) waits here for the
    -- first and then records nothing.
    INSERT INTO billing.alerts AS a (tenant_id, resource, threshold, period_start, used, hard_limit)
    VALUES (p_tenant_id, p_resource, p_threshold, p_period_start, p_used, p_limit)
    ON CONFLICT DO NOTHING
    RETURNING json_build_object('tenant_id', a.tenant_id, 'resource', a.resource,
                                'threshold', a.threshold, 'used', a.used,
                                'limit', a.hard_limit, 'period_start', a.period_start)::text
    INTO v_payload;
    IF v_payload IS NOT NULL THEN
        PERFORM pg_notify('billing_alerts', v_payload);
    END IF;
END;
$$;
REVOKE ALL ON FUNCTION billing._record_alert(text, text, integer, timestamptz, bigint, bigint) FROM PUBLIC;

-- Usage history (075_usage_history.sql).
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

-- Logs the effective limits (billing._tenant_terms, the one definition) of
-- these tenants where they differ from the last ones logged.
CREATE FUNCTION billing._log_limits(p_tenants text[])
RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    INSERT INTO billing.limit_log (tenant_id, resource, hard_limit, logged_at)
    SELECT t.tenant_id, e.resource, e.hard_limit, now()
      FROM (SELECT DISTINCT unnest(p_tenants) AS tenant_id) t
     CROSS JOIN LATERAL billing._tenant_terms(t.tenant_id) e
      LEFT JOIN LATERAL (SELECT g.hard_limit FROM billing.limit_log g
                          WHERE g.tenant_id = t.tenant_id AND g.resource = e.resource
                          ORDER BY g.logged_at DESC LIMIT 1) last ON true
     WHERE e.subscribed AND e.kind = 'period'
       AND (last IS NULL OR last.hard_limit IS DISTINCT FROM e.hard_limit)
    ON CONFLICT (tenant_id, resource, logged_at) DO UPDATE SET hard_limit = EXCLUDED.hard_limit
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
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM billing._log_limits(ARRAY(SELECT tenant_id FROM new_rows));
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
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM billing._log_limits(ARRAY(SELECT s.tenant_id FROM billing.subscriptions s
                                           WHERE s.plan_id IN (SELECT plan_id FROM new_rows)));
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM billing._log_limits(ARRAY(SELECT s.tenant_id FROM billing.subscriptions s
                                           WHERE s.plan_id IN (SELECT plan_id FROM old_rows)));
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER log_limits_insert AFTER INSERT ON billing.subscriptions
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION billing._log_limits_of_tenants();
CREATE TRIGGER log_limits_update AFTER UPDATE ON billing.subscriptions
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION billing._log_limits_of_tenants();
CREATE TRIGGER log_limits_insert AFTER INSERT ON billing.limit_overrides
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION billing._log_limits_of_tenants();
CREATE TRIGGER log_limits_update AFTER UPDATE ON billing.limit_overrides
    REFERENCING NEW TABLE AS new_rows
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

-- Closed periods of period resources in which anything was consumed.  The
-- period's end follows from the subscription's anchor and its plan's
-- billing interval (a period begun under another interval is shown with the
-- current one's end).  Plain joins, like usage_overview, so that a reader
-- needs only SELECT.
CREATE VIEW billing.usage_history AS
SELECT u.tenant_id,
       u.resource,
       u.period_start,
       b.period_end,
       u.used,
       CASE WHEN h.logged THEN h.hard_limit
            WHEN o.tenant_id IS NOT NULL THEN o.hard_limit
            WHEN l.plan_id IS NOT NULL THEN l.hard_limit
            ELSE 0 END AS hard_limit
  FROM billing.usage u
  JOIN billing.resources r ON r.resource = u.resource AND r.kind = 'period'
  JOIN billing.subscriptions s ON s.tenant_id = u.tenant_id
  JOIN billing.plans p ON p.plan_id = s.plan_id
 CROSS JOIN LATERAL billing.period_bounds(s.period_anchor, p.billing_interval, u.period_start) b
  LEFT JOIN billing.plan_limits l ON l.plan_id = s.plan_id AND l.resource = u.resource
  LEFT JOIN billing.limit_overrides o ON o.tenant_id = u.tenant_id AND o.resource = u.resource
  LEFT JOIN LATERAL (SELECT true AS logged, g.hard_limit FROM billing.limit_log g
                      WHERE g.tenant_id = u.tenant_id AND g.resource = u.resource
                        AND g.logged_at < b.period_end
                      ORDER BY g.logged_at DESC LIMIT 1) h ON true
 WHERE b.period_end <= now();
COMMENT ON VIEW billing.usage_history IS
    'Usage of closed billing periods (period resources), with the limit as it stood when each closed.';
REVOKE ALL ON FUNCTION billing._log_limits(text[]),
    billing._log_limits_of_tenants(), billing._log_limits_of_plans() FROM PUBLIC;
SELECT billing._log_limits(ARRAY(SELECT tenant_id FROM billing.subscriptions));
