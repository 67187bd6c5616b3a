-- Every backend caches the terms of the tenants it serves (limit, plan,
-- subscription state).  A change to a configuration table must reach all of
-- them for "the next consumption after the change commits": this trigger
-- queues a relcache invalidation of the changed table, which PostgreSQL
-- delivers to every backend of the database at commit (and discards on
-- rollback), and the extension's invalidation callback drops its cache.

CREATE FUNCTION billing._config_changed()
RETURNS trigger
AS 'MODULE_PATHNAME', 'zb_config_changed'
LANGUAGE C;

-- Row triggers, and a statement trigger for TRUNCATE (which has no rows),
-- enabled ALWAYS: a change made with session_replication_role = replica
-- (some bulk loaders, and the apply worker of logical replication, which
-- fires row triggers only) must reach the caches too.
CREATE TRIGGER config_changed
    AFTER INSERT OR UPDATE OR DELETE ON billing.resources
    FOR EACH ROW EXECUTE FUNCTION billing._config_changed();
CREATE TRIGGER config_truncated
    AFTER TRUNCATE ON billing.resources
    FOR EACH STATEMENT EXECUTE FUNCTION billing._config_changed();
ALTER TABLE billing.resources
    ENABLE ALWAYS TRIGGER config_changed, ENABLE ALWAYS TRIGGER config_truncated;
CREATE TRIGGER config_changed
    AFTER INSERT OR UPDATE OR DELETE ON billing.plans
    FOR EACH ROW EXECUTE FUNCTION billing._config_changed();
CREATE TRIGGER config_truncated
    AFTER TRUNCATE ON billing.plans
    FOR EACH STATEMENT EXECUTE FUNCTION billing._config_changed();
ALTER TABLE billing.plans
    ENABLE ALWAYS TRIGGER config_changed, ENABLE ALWAYS TRIGGER config_truncated;
CREATE TRIGGER config_changed
    AFTER INSERT OR UPDATE OR DELETE ON billing.plan_limits
    FOR EACH ROW EXECUTE FUNCTION billing._config_changed();
CREATE TRIGGER config_truncated
    AFTER TRUNCATE ON billing.plan_limits
    FOR EACH STATEMENT EXECUTE FUNCTION billing._config_changed();
ALTER TABLE billing.plan_limits
    ENABLE ALWAYS TRIGGER config_changed, ENABLE ALWAYS TRIGGER config_truncated;
CREATE TRIGGER config_changed
    AFTER INSERT OR UPDATE OR DELETE ON billing.subscriptions
    FOR EACH ROW EXECUTE FUNCTION billing._config_changed();
CREATE TRIGGER config_truncated
    AFTER TRUNCATE ON billing.subscriptions
    FOR EACH STATEMENT EXECUTE FUNCTION billing._config_changed();
ALTER TABLE billing.subscriptions
    ENABLE ALWAYS TRIGGER config_changed, ENABLE ALWAYS TRIGGER config_truncated;
CREATE TRIGGER config_changed
    AFTER INSERT OR UPDATE OR DELETE ON billing.limit_overrides
    FOR EACH ROW EXECUTE FUNCTION billing._config_changed();
CREATE TRIGGER config_truncated
    AFTER TRUNCATE ON billing.limit_overrides
    FOR EACH STATEMENT EXECUTE FUNCTION billing._config_changed();
ALTER TABLE billing.limit_overrides
    ENABLE ALWAYS TRIGGER config_changed, ENABLE ALWAYS TRIGGER config_truncated;
