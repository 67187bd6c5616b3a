-- Every backend caches the terms of the tenants it serves (limit, plan,
-- subscription state).  A change to a configuration table must reach all of
-- them for "the next consumption after the change commits": this trigger
-- queues a relcache invalidation of the changed table, which PostgreSQL
-- delivers to every backend of the database at commit (and discards on
-- rollback), and the extension's invalidation callback drops its cache.

-- The relation whose relcache invalidation the trigger queues: not the
-- changed table's own, which would also make every backend plan again each
-- saved query that reads that table (PL/pgSQL's in subscribe() and the
-- limit log, an application's), as a change of its definition does; a
-- change of its rows needs none of that.  Nothing reads this view.
CREATE VIEW billing._config_changes AS SELECT;
COMMENT ON VIEW billing._config_changes IS
    'Nothing to read: its relcache invalidations tell backends that a configuration table changed.';

CREATE FUNCTION billing._config_changed()
RETURNS trigger
AS 'MODULE_PATHNAME', 'zb_config_changed'
LANGUAGE C;

-- Row triggers, and a statement trigger for TRUNCATE (which has no rows),
-- enabled ALWAYS: a change made with session_replication_role = replica
-- (some bulk loaders, and the apply worker of logical replication, which
-- fires row triggers only) must reach the caches too.
--
-- An UPDATE counts only where it changes what the terms are read from: a
-- plan renamed or repriced, a resource's unit or description edited, or a
-- row written again as it was, leaves every cache valid.  Counted, it would
-- make every backend read its tenants' terms again, and while its commit is
-- in flight (shared-memory mode) every consumption read them from the
-- tables.  An interval is compared as written: '1 month' = '30 days'.
CREATE TRIGGER config_changed
    AFTER INSERT OR DELETE ON billing.resources
    FOR EACH ROW EXECUTE FUNCTION billing._config_changed();
CREATE TRIGGER config_updated
    AFTER UPDATE ON billing.resources
    FOR EACH ROW WHEN (OLD.resource IS DISTINCT FROM NEW.resource OR OLD.kind IS DISTINCT FROM NEW.kind)
    EXECUTE FUNCTION billing._config_changed();
CREATE TRIGGER config_truncated
    AFTER TRUNCATE ON billing.resources
    FOR EACH STATEMENT EXECUTE FUNCTION billing._config_changed();
ALTER TABLE billing.resources
    ENABLE ALWAYS TRIGGER config_changed, ENABLE ALWAYS TRIGGER config_updated,
    ENABLE ALWAYS TRIGGER config_truncated;
CREATE TRIGGER config_changed
    AFTER INSERT OR DELETE ON billing.plans
    FOR EACH ROW EXECUTE FUNCTION billing._config_changed();
CREATE TRIGGER config_updated
    AFTER UPDATE ON billing.plans
    FOR EACH ROW WHEN (OLD.plan_id IS DISTINCT FROM NEW.plan_id
          OR OLD.billing_interval::text IS DISTINCT FROM NEW.billing_interval::text)
    EXECUTE FUNCTION billing._config_changed();
CREATE TRIGGER config_truncated
    AFTER TRUNCATE ON billing.plans
    FOR EACH STATEMENT EXECUTE FUNCTION billing._config_changed();
ALTER TABLE billing.plans
    ENABLE ALWAYS TRIGGER config_changed, ENABLE ALWAYS TRIGGER config_updated,
    ENABLE ALWAYS TRIGGER config_truncated;
CREATE TRIGGER config_changed
    AFTER INSERT OR DELETE ON billing.plan_limits
    FOR EACH ROW EXECUTE FUNCTION billing._config_changed();
CREATE TRIGGER config_updated
    AFTER UPDATE ON billing.plan_limits
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION billing._config_changed();
CREATE TRIGGER config_truncated
    AFTER TRUNCATE ON billing.plan_limits
    FOR EACH STATEMENT EXECUTE FUNCTION billing._config_changed();
ALTER TABLE billing.plan_limits
    ENABLE ALWAYS TRIGGER config_changed, ENABLE ALWAYS TRIGGER config_updated,
    ENABLE ALWAYS TRIGGER config_truncated;
CREATE TRIGGER config_changed
    AFTER INSERT OR DELETE ON billing.subscriptions
    FOR EACH ROW EXECUTE FUNCTION billing._config_changed();
CREATE TRIGGER config_updated
    AFTER UPDATE ON billing.subscriptions
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION billing._config_changed();
CREATE TRIGGER config_truncated
    AFTER TRUNCATE ON billing.subscriptions
    FOR EACH STATEMENT EXECUTE FUNCTION billing._config_changed();
ALTER TABLE billing.subscriptions
    ENABLE ALWAYS TRIGGER config_changed, ENABLE ALWAYS TRIGGER config_updated,
    ENABLE ALWAYS TRIGGER config_truncated;
CREATE TRIGGER config_changed
    AFTER INSERT OR DELETE ON billing.limit_overrides
    FOR EACH ROW EXECUTE FUNCTION billing._config_changed();
CREATE TRIGGER config_updated
    AFTER UPDATE ON billing.limit_overrides
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION billing._config_changed();
CREATE TRIGGER config_truncated
    AFTER TRUNCATE ON billing.limit_overrides
    FOR EACH STATEMENT EXECUTE FUNCTION billing._config_changed();
ALTER TABLE billing.limit_overrides
    ENABLE ALWAYS TRIGGER config_changed, ENABLE ALWAYS TRIGGER config_updated,
    ENABLE ALWAYS TRIGGER config_truncated;
