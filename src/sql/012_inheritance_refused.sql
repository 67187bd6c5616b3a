-- No table may inherit from one of the extension's tables.  A child's rows
-- count in the reads of its parent that do not say ONLY, while writes to
-- the child fire none of the parent's triggers: a child of usage_parts
-- added usage that shared-memory mode's counters never loaded again and
-- lock mode's refusal of an edit over a transaction's own usage never saw
-- (until 2026-12-07; a helper's attack stored 1045 of a limit of 1000).
-- Only the parent's owner, a superuser, can make one; CREATE TABLE ...
-- INHERITS, ALTER TABLE ... INHERIT (also of foreign tables) and CREATE
-- SCHEMA with such a table are refused at their end.  A partition needs a
-- partitioned parent, which the extension has none of.
CREATE FUNCTION billing._inheritance_refused()
RETURNS event_trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_child regclass;
    v_parent regclass;
BEGIN
    SELECT i.inhrelid::regclass, i.inhparent::regclass INTO v_child, v_parent
      FROM pg_event_trigger_ddl_commands() d
      JOIN pg_inherits i ON i.inhrelid = d.objid
      JOIN pg_depend m ON m.classid = 'pg_class'::regclass AND m.objid = i.inhparent
                      AND m.refclassid = 'pg_extension'::regclass AND m.deptype = 'e'
      JOIN pg_extension x ON x.oid = m.refobjid AND x.extname = 'zechat_billing'
     WHERE d.classid = 'pg_class'::regclass
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'table % cannot inherit from table %', v_child, v_parent
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = 'Tables of extension zechat_billing have no inheritance children: their rows would count as the parent''s, written past its triggers.',
                  HINT = 'Copy its columns with CREATE TABLE ... (LIKE ...) instead; a child made under 1.0 leaves with ALTER TABLE ... NO INHERIT.';
    END IF;
END;
$$;

CREATE EVENT TRIGGER zechat_billing_inheritance_refused ON ddl_command_end
    WHEN TAG IN ('CREATE TABLE', 'CREATE FOREIGN TABLE', 'ALTER TABLE',
                 'ALTER FOREIGN TABLE', 'CREATE SCHEMA')
    EXECUTE FUNCTION billing._inheritance_refused();
-- ALWAYS: see zechat_billing_schema_kept_safe (005_schema_guard.sql).
ALTER EVENT TRIGGER zechat_billing_inheritance_refused ENABLE ALWAYS;
