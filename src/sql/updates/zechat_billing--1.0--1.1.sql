-- zechat_billing 1.0 -> 1.1, run by ALTER EXTENSION zechat_billing UPDATE.
-- Usage alerts (billing.alerts, NOTIFY billing_alerts), and descriptions for
-- the uuid and bigint overloads like their text versions have.
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
