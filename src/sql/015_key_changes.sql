-- Names other tables keep by value, without a foreign key to follow a
-- change: a resource's, a subscription's tenant id.

-- What may change in billing.resources.  A resource's name is the key of
-- its usage (usage_parts, shared-memory counters, alerts, limit_log) and an
-- argument of the enforcement triggers, none of which follow a rename: a
-- renamed resource would start again from zero, and its enforced tables
-- would fail every write.  Its kind decides where its usage is kept (one
-- period's row, or the gauge's) and which triggers enforce it, so it may
-- change only while nothing is counted and no table enforces it.
CREATE FUNCTION billing._resource_change_allowed()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    -- Whether a tenant has usage of the resource (read as the extension
    -- owner: administrators need no right on usage_parts).
    v_counted boolean := EXISTS (SELECT FROM billing.usage_parts p WHERE p.resource = OLD.resource
                                  GROUP BY p.tenant_id, p.period_start HAVING sum(p.used) <> 0);
BEGIN
    -- A deleted resource would leave its usage behind (usage_parts has no
    -- foreign key), to count again for a resource added later under the
    -- same name, of either kind.
    IF TG_OP = 'DELETE' THEN
        IF v_counted OR EXISTS (SELECT FROM billing.closed_periods c WHERE c.resource = OLD.resource) THEN
            RAISE EXCEPTION 'resource "%" cannot be deleted while tenants have usage of it', OLD.resource
                USING ERRCODE = 'object_in_use',
                      DETAIL = 'Its usage would stay behind and count again for a resource added under the same name.',
                      HINT = 'Keep the resource; plans without a limit for it allow none of it.';
        END IF;
        -- Said plainly, not as the foreign key's bare 23503 (a table
        -- dropped while enforced keeps its row until a full recount).
        IF EXISTS (SELECT FROM billing.enforced_tables e WHERE e.resource = OLD.resource) THEN
            RAISE EXCEPTION 'resource "%" cannot be deleted while a table enforces it', OLD.resource
                USING ERRCODE = 'object_in_use',
                      HINT = 'Call billing.unenforce_quota on its tables in billing.enforced_tables first; a dropped table''s row goes with a full billing.recount().';
        END IF;
        RETURN OLD;
    END IF;
    IF NEW.resource IS DISTINCT FROM OLD.resource THEN
        RAISE EXCEPTION 'resource "%" cannot be renamed', OLD.resource
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = 'Usage, alerts and enforced tables know the resource by its name.',
                  HINT = 'Add a resource with the new name instead.';
    END IF;
    IF NEW.kind IS DISTINCT FROM OLD.kind THEN
        IF OLD.resource IN ('messages', 'storage', 'users', 'whatsapp_sessions') THEN
            RAISE EXCEPTION 'the kind of resource "%" cannot change: the extension creates it', OLD.resource
                USING ERRCODE = 'feature_not_supported',
                      DETAIL = 'pg_dump leaves out the resources the extension creates: a restore would give it its old kind back, with its usage kept under the new one.',
                      HINT = 'Add a resource of the other kind instead.';
        END IF;
        IF EXISTS (SELECT FROM billing.enforced_tables e WHERE e.resource = OLD.resource) THEN
            RAISE EXCEPTION 'the kind of resource "%" cannot change while a table enforces it', OLD.resource
                USING ERRCODE = 'object_in_use',
                      HINT = 'Call billing.unenforce_quota on the tables in billing.enforced_tables first.';
        END IF;
        -- Closed periods too: usage_history shows a period resource's only
        -- (until 2026-12-05 a change to a gauge hid them).
        IF v_counted OR EXISTS (SELECT FROM billing.closed_periods c WHERE c.resource = OLD.resource) THEN
            RAISE EXCEPTION 'the kind of resource "%" cannot change while tenants have usage of it', OLD.resource
                USING ERRCODE = 'object_in_use',
                      DETAIL = 'A period resource and a gauge keep usage apart: the usage would be lost.',
                      HINT = 'Add a resource of the other kind instead.';
        END IF;
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER resource_change_allowed
    BEFORE UPDATE OF resource, kind OR DELETE ON billing.resources
    FOR EACH ROW EXECUTE FUNCTION billing._resource_change_allowed();

-- TRUNCATE fires no row trigger: it is refused while a DELETE of some row
-- would be, by this trigger or by the foreign key of enforced_tables
-- (TRUNCATE ... CASCADE took the resources and their usage's guard with
-- them until 2026-12-04, and emptied enforced_tables under the triggers).
CREATE FUNCTION billing._resources_truncate_allowed()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF billing._usage_kept() THEN
        RAISE EXCEPTION 'billing.resources cannot be truncated while tenants have usage'
            USING ERRCODE = 'object_in_use',
                  DETAIL = 'Their usage would stay behind and count again for resources added under the same names.',
                  HINT = 'Delete the resources without usage instead.';
    END IF;
    IF EXISTS (SELECT FROM billing.enforced_tables) THEN
        RAISE EXCEPTION 'billing.resources cannot be truncated while tables are enforced'
            USING ERRCODE = 'object_in_use',
                  DETAIL = 'The enforcement triggers of those tables name their resources.',
                  HINT = 'Call billing.unenforce_quota on the tables in billing.enforced_tables first.';
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER resources_truncate_allowed
    BEFORE TRUNCATE ON billing.resources
    FOR EACH STATEMENT EXECUTE FUNCTION billing._resources_truncate_allowed();

-- A subscription's tenant_id is the tenant's key everywhere else too
-- (usage_parts, shared-memory counters, alerts, limit_log, overrides): a
-- subscription moved to another id would leave the usage behind, and the
-- tenant would start again from zero under the new one.
CREATE FUNCTION billing._subscription_tenant_kept()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NEW.tenant_id IS DISTINCT FROM OLD.tenant_id THEN
        RAISE EXCEPTION 'the tenant of subscription "%" cannot change', OLD.tenant_id
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = 'Usage, alerts and overrides know the tenant by its id.',
                  HINT = 'Subscribe the new tenant id with billing.subscribe() instead.';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER subscription_tenant_kept
    BEFORE UPDATE OF tenant_id ON billing.subscriptions
    FOR EACH ROW EXECUTE FUNCTION billing._subscription_tenant_kept();

-- The guards fire under session_replication_role = replica too: a bulk
-- loader's change is refused like any other (until 2026-12-06 a tenant id
-- changed or a resource renamed there went through, and the rename could
-- not be undone; a helper's hunt).  A change logical replication applies
-- was refused on the publisher already.
ALTER TABLE billing.resources
    ENABLE ALWAYS TRIGGER resource_change_allowed,
    ENABLE ALWAYS TRIGGER resources_truncate_allowed;
ALTER TABLE billing.subscriptions ENABLE ALWAYS TRIGGER subscription_tenant_kept;
