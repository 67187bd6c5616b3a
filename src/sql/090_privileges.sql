-- Nothing is executable or readable by PUBLIC unless it is harmless.
-- Administrators (the extension owner, or roles it grants) manage plans and
-- enforcement; the application role needs no privilege at all for the
-- triggers to enforce its inserts.  Grant consume_quota & co. explicitly to
-- roles that call them (see README, "Privileges").

GRANT USAGE ON SCHEMA billing TO PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA billing FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    billing.period_bounds(timestamptz, interval, timestamptz),
    billing.usage_percent(bigint, bigint),
    billing.usage_status(bigint, bigint),
    billing._pending_usage(text),
    billing._insert_written(),
    -- The CHECK of plans.billing_interval, evaluated with the rights of
    -- whoever writes a plan.
    billing._valid_billing_interval(interval)
    TO PUBLIC;
