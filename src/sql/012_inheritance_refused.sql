-- No table of the extension has inheritance parents or children.  A
-- child's rows count in the reads of its parent that do not say ONLY, while
-- writes to the child fire none of the parent's triggers: a child of
-- usage_parts added usage that shared-memory mode's counters never loaded
-- again and lock mode's refusal of an edit over a transaction's own usage
-- never saw (until 2026-12-07; a helper's attack stored 1045 of a limit of
-- 1000).  The other way round, an UPDATE or DELETE of a parent, or an
-- INSERT routed into a partition, reaches the extension's table past its
-- statement triggers.  Only the owners of both, superusers, can join them;
-- CREATE TABLE ... INHERITS, ALTER TABLE ... INHERIT and ATTACH PARTITION
-- (also of foreign tables) and CREATE SCHEMA with such a table are refused
-- at their end, but not in the extension's own script (_in_own_script;
-- src/pg/own_extension_script.cpp): a table joined so under 1.0 does not
-- stop the update, which warns of it.  SECURITY DEFINER, as the other
-- event triggers' functions: whoever alters a table may have no right on
-- schema billing.
CREATE FUNCTION billing._in_own_script()
RETURNS boolean
AS 'MODULE_PATHNAME', 'zb_in_own_script'
LANGUAGE C VOLATILE;

CREATE FUNCTION billing._inheritance_refused()
RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_child regclass;
    v_parent regclass;
BEGIN
    -- Each direction by its own index of pg_inherits.
    SELECT i.inhrelid::regclass, i.inhparent::regclass INTO v_child, v_parent
      FROM pg_event_trigger_ddl_commands() d
      CROSS JOIN LATERAL (SELECT c.inhrelid, c.inhparent FROM pg_inherits c WHERE c.inhrelid = d.objid
                          UNION ALL
                          SELECT p.inhrelid, p.inhparent FROM pg_inherits p WHERE p.inhparent = d.objid) i
      JOIN pg_depend m ON m.classid = 'pg_class'::regclass
                      AND m.objid = ANY (ARRAY[i.inhrelid, i.inhparent]) AND m.objsubid = 0
                      AND m.refclassid = 'pg_extension'::regclass AND m.deptype = 'e'
      JOIN pg_extension x ON x.oid = m.refobjid AND x.extname = 'zechat_billing'
     WHERE d.classid = 'pg_class'::regclass AND NOT (d.in_extension AND billing._in_own_script())
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'table % cannot inherit from table %', v_child, v_parent
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = 'Tables of extension zechat_billing have no inheritance parents or children: the rows of one would be read and written through the other, past the triggers of the extension''s table.',
                  HINT = 'Copy its columns with CREATE TABLE ... (LIKE ...) instead; a table joined so under 1.0 leaves with ALTER TABLE ... NO INHERIT.';
    END IF;
END;
$$;

CREATE EVENT TRIGGER zechat_billing_inheritance_refused ON ddl_command_end
    WHEN TAG IN ('CREATE TABLE', 'CREATE FOREIGN TABLE', 'ALTER TABLE',
                 'ALTER FOREIGN TABLE', 'CREATE SCHEMA')
    EXECUTE FUNCTION billing._inheritance_refused();
-- ALWAYS: see zechat_billing_schema_kept_safe (005_schema_guard.sql).
ALTER EVENT TRIGGER zechat_billing_inheritance_refused ENABLE ALWAYS;
