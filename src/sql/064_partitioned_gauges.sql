-- Gauges enforced on a partitioned table.  PostgreSQL clones the row
-- triggers (INSERT, UPDATE, DELETE) to every partition, present and future,
-- but not statement triggers: a TRUNCATE of the table fires those of its
-- partitions, a TRUNCATE of one partition only that partition's.  So each
-- leaf partition gets the TRUNCATE trigger: enforce_quota puts it on the
-- leaves there are, the event triggers below on those created later, and on
-- those attached, whose rows are then counted (as the backfill counts them);
-- a detached leaf loses it, and what its rows held is given back.  A dropped
-- partition takes its rows with it uncounted, as DROP TABLE of any enforced
-- table does (recount repairs).  Only these commands act: a restore, which
-- creates the triggers itself, attaches its partitions before the billing
-- tables have their rows.

-- The partitions of tbl that hold rows: tbl itself when it is one.
CREATE FUNCTION billing._partition_leaves(tbl regclass)
RETURNS SETOF regclass
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT t.relid::regclass
      FROM pg_partition_tree(tbl) t JOIN pg_class c ON c.oid = t.relid
     WHERE t.isleaf AND c.relkind = 'r'
     ORDER BY t.relid
$$;

-- tbl (a table or a partitioned table) has joined a partitioned table: each
-- of its leaves gets the TRUNCATE trigger of every gauge enforced on a
-- partitioned table above it, with its rows counted when p_count_rows (an
-- attached table; a created one has none).
CREATE FUNCTION billing._partitions_joined(tbl regclass, p_count_rows boolean)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e         record;
    v_counted text[] := '{}';
BEGIN
    -- Every partition joining, foreign ones too, which the leaves below
    -- leave out.
    PERFORM billing._check_gauge_persistence(_partitions_joined.tbl, x.resource)
       FROM billing.enforced_tables x
      WHERE x.tbl IN (SELECT a.relid FROM pg_partition_ancestors(_partitions_joined.tbl) a);
    FOR e IN SELECT l AS leaf, x.tbl, x.resource, x.tenant_column, x.amount_column
               FROM billing._partition_leaves(tbl) l
               JOIN billing.enforced_tables x ON x.tbl IN (SELECT a.relid FROM pg_partition_ancestors(l) a)
               JOIN billing.resources r ON r.resource = x.resource AND r.kind = 'gauge'
               JOIN pg_class c ON c.oid = x.tbl AND c.relkind = 'p'
              WHERE NOT EXISTS (SELECT FROM billing._enforcement_triggers(l, x.resource) t
                                 WHERE t.event = 'trunc')
              ORDER BY 1, 3
    LOOP
        PERFORM billing._check_gauge_persistence(e.leaf, e.resource);
        PERFORM billing._create_enforcement_trigger(e.leaf, e.resource, 'trunc',
                                                    e.tenant_column, e.amount_column);
        IF p_count_rows THEN
            PERFORM billing._count_gauge_rows(
                billing._gauge_rows_query(e.leaf, e.resource, e.tenant_column, e.amount_column), 1);
            v_counted := array_append(v_counted, e.resource);
        END IF;
    END LOOP;
    -- The rows attached can put tenants over their limit, as a backfill can
    -- (until 2026-12-06 nothing said so).
    PERFORM billing._notice_tenants_over_limit(r.resource, format('attaching %s', tbl))
       FROM (SELECT DISTINCT c.resource FROM unnest(v_counted) AS c(resource) ORDER BY 1) r;
END;
$$;

-- tbl has left a partitioned table: each of its leaves (tbl itself when it
-- is a plain table now) loses the TRUNCATE trigger of a gauge no table above
-- it enforces any more, and what its rows held is given back.  The
-- trigger's arguments name the columns they were counted by.
CREATE FUNCTION billing._partitions_left(tbl regclass)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e      record;
    v_args text[];
    v_rest bytea;
    v_end  integer;
BEGIN
    FOR e IN SELECT t.tgrelid::regclass AS leaf, t.tgname, t.tgargs, r.resource
               FROM (SELECT tbl UNION SELECT l FROM billing._partition_leaves(tbl) l) AS s(leaf)
               JOIN billing.resources r ON r.kind = 'gauge'
               JOIN pg_trigger t ON t.tgrelid = s.leaf AND t.tgname = 'zzz_billing_' || r.resource || '_trunc'
                                AND t.tgfoid = 'billing._enforce_quota_trigger()'::regprocedure
              WHERE NOT EXISTS (SELECT FROM billing.enforced_tables x
                                 WHERE x.resource = r.resource
                                   AND x.tbl IN (SELECT t.tgrelid UNION
                                                 SELECT a.relid FROM pg_partition_ancestors(t.tgrelid) a))
              ORDER BY 1, 4
    LOOP
        -- Each argument ends with a zero byte, split on as a byte: a
        -- column named with the text \000 split its escaped form wrongly
        -- (until 2026-12-06 DETACH failed, and CONCURRENTLY stayed pending).
        v_args := '{}';
        v_rest := e.tgargs;
        LOOP
            v_end := position(decode('00', 'hex') IN v_rest);
            EXIT WHEN v_end = 0;
            v_args := v_args || convert_from(substring(v_rest FROM 1 FOR v_end - 1),
                                             getdatabaseencoding());
            v_rest := substring(v_rest FROM v_end + 1);
        END LOOP;
        PERFORM billing._count_gauge_rows(
            billing._gauge_rows_query(e.leaf, e.resource, v_args[2], nullif(v_args[3], '')), -1);
        EXECUTE format('DROP TRIGGER %I ON %s', e.tgname, e.leaf);
    END LOOP;
END;
$$;

-- ATTACH or DETACH PARTITION, as the ALTER TABLE event trigger
-- (src/pg/enforced_columns_ddl.cpp) sees it.  SECURITY DEFINER: whoever
-- may attach a partition needs no right on usage.  Not executable by
-- PUBLIC: the event trigger calls it directly.
CREATE FUNCTION billing._partition_attached(tbl regclass, p_attached boolean)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- What is read here of the enforcement is read with the transaction's
    -- snapshot: in REPEATABLE READ and SERIALIZABLE, one changed since it was
    -- taken fails with 40001 (until 2026-12-05 a table attached after a
    -- gauge was enforced had its rows left out of the usage, and a partition
    -- detached after the gauge was unenforced gave its rows back again).
    -- A tree without enforcement passes, as PostgreSQL lets it.
    PERFORM billing._enforcement_as_in_snapshot(
        CASE WHEN p_attached THEN pg_partition_root(tbl) ELSE tbl END, p_only_if_enforced => true);
    IF p_attached AND billing._enforced_per_statement(tbl) THEN
        RAISE EXCEPTION '"%" cannot become a partition: its inserts are enforced per statement', billing._relation_name(tbl)
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = 'The statement triggers of a partition do not see the rows inserted through the partitioned table.',
                  HINT = format('Call billing.enforce_per_statement(%L, false) first.', tbl::text);
    END IF;
    IF p_attached THEN
        -- The columns an enforcement above reads must be readable in every
        -- leaf joining: ATTACH takes a table whose column is generated,
        -- which CREATE TABLE ... PARTITION OF refuses (until 2026-12-05
        -- every write routed there, and every DELETE of the tree, then
        -- failed).
        PERFORM billing._check_enforced_columns(l, x.tenant_column, x.amount_column)
           FROM billing._partition_leaves(tbl) l
           JOIN billing.enforced_tables x
             ON x.tbl IN (SELECT a.relid FROM pg_partition_ancestors(l) a);
        PERFORM billing._partitions_joined(tbl, true);
    ELSE
        PERFORM billing._partitions_left(tbl);
    END IF;
END;
$$;

-- CREATE TABLE ... PARTITION OF a partitioned table whose gauge is
-- enforced, also inside CREATE SCHEMA (whose tag the command has: until
-- 2026-12-06 such a partition got no TRUNCATE trigger, recount() left it
-- out, and an unlogged one was accepted; a helper's audit).
CREATE FUNCTION billing._partitions_created()
RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_created regclass;
BEGIN
    -- In REPEATABLE READ and SERIALIZABLE the snapshot may be older than an
    -- enforcement: each partition created is checked (_partition_attached).
    IF pg_catalog.current_setting('transaction_isolation') = 'read committed'
       AND NOT EXISTS (SELECT FROM billing.enforced_tables x
                         JOIN billing.resources r ON r.resource = x.resource AND r.kind = 'gauge'
                         JOIN pg_class c ON c.oid = x.tbl AND c.relkind = 'p') THEN
        RETURN;
    END IF;
    FOR v_created IN SELECT d.objid::regclass
                       FROM pg_event_trigger_ddl_commands() d
                       JOIN pg_class c ON c.oid = d.objid AND c.relispartition
                      WHERE d.classid = 'pg_class'::regclass
                        AND d.object_type IN ('table', 'foreign table')
    LOOP
        PERFORM billing._enforcement_as_in_snapshot(pg_partition_root(v_created), p_only_if_enforced => true);
        PERFORM billing._partitions_joined(v_created, false);
    END LOOP;
END;
$$;

CREATE EVENT TRIGGER zechat_billing_partitions ON ddl_command_end
    WHEN TAG IN ('CREATE TABLE', 'CREATE FOREIGN TABLE', 'CREATE SCHEMA')
    EXECUTE FUNCTION billing._partitions_created();
-- ALWAYS: see zechat_billing_schema_kept_safe (005_schema_guard.sql).
ALTER EVENT TRIGGER zechat_billing_partitions ENABLE ALWAYS;
