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

CREATE TRIGGER config_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON billing.resources
    FOR EACH STATEMENT EXECUTE FUNCTION billing._config_changed();
CREATE TRIGGER config_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON billing.plans
    FOR EACH STATEMENT EXECUTE FUNCTION billing._config_changed();
CREATE TRIGGER config_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON billing.plan_limits
    FOR EACH STATEMENT EXECUTE FUNCTION billing._config_changed();
CREATE TRIGGER config_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON billing.subscriptions
    FOR EACH STATEMENT EXECUTE FUNCTION billing._config_changed();
CREATE TRIGGER config_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON billing.limit_overrides
    FOR EACH STATEMENT EXECUTE FUNCTION billing._config_changed();
