-- Usage alerts (see src/pg/usage_alerts.hpp): one row per tenant, resource,
-- threshold and billing period, written by the committing transaction that
-- crossed the threshold, with a NOTIFY billing_alerts carrying the same
-- facts as JSON.
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

