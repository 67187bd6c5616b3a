-- ALTER TABLE of enforced tables.  The enforcement triggers (and
-- billing.enforced_tables) name their columns, so without this a column
-- renamed or dropped would make every later write of the table fail, and
-- recount with it.  At the end of every ALTER TABLE, the event trigger
-- (src/pg/enforced_columns_ddl.cpp) hands the table altered and, for RENAME
-- COLUMN, the old and new names ('' otherwise) to the function below; at
-- the end of an ALTER TYPE of a composite type, each table of that type
-- (CREATE TABLE ... OF), whose columns ALTER TYPE ... CASCADE changes.

-- tbl and the tables inheriting from it, at any depth (which an ALTER TABLE
-- of a column reaches too).
CREATE FUNCTION billing._table_and_inheritors(tbl regclass)
RETURNS SETOF oid
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH RECURSIVE family(relid) AS (
        SELECT tbl::oid
        UNION
        SELECT i.inhrelid FROM pg_inherits i JOIN family f ON i.inhparent = f.relid)
    SELECT f.relid FROM family f
$$;

-- What the functions below read of the enforcements an ALTER TABLE of tbl
-- can affect is read with the transaction's snapshot: in REPEATABLE READ
-- and SERIALIZABLE, once the command has locked tbl, 40001 when that
-- differs from what was committed since (_enforcement_as_in_snapshot) for
-- tbl and its partitions, the tables inheriting from it (as they are now:
-- the command reaches them too), and the partition tree tbl is in (whose
-- gauges count its rows).  Until 2026-12-05 a column of a table enforced,
-- or a partition created, after the snapshot was renamed, dropped or
-- retyped, or the table made unlogged, as if neither were there: every
-- later insert failed, or the usage kept what the rows held before a
-- retype, or a gauge counted an unlogged table.  Trees that nothing
-- enforces, in the snapshot or now, pass: an ALTER TABLE of them is not
-- this extension's business.
CREATE FUNCTION billing._altered_as_in_snapshot(tbl regclass)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_table regclass;
BEGIN
    IF pg_catalog.current_setting('transaction_isolation') NOT IN ('repeatable read', 'serializable') THEN
        RETURN;
    END IF;
    FOR v_table IN
        SELECT s.t FROM (
            SELECT tbl, 0
            UNION ALL
            SELECT pg_partition_root(tbl), 1
            UNION ALL
            -- A partition's are in the tree of tbl already.
            SELECT f::regclass, 2
              FROM unnest(billing._latest_text(format(
                       'SELECT ARRAY(SELECT f FROM billing._table_and_inheritors(%s) f
                                       JOIN pg_class c ON c.oid = f AND NOT c.relispartition)::text',
                       tbl::oid))::oid[]) f) AS s(t, n)
         WHERE s.t IS NOT NULL
         GROUP BY s.t
         ORDER BY min(s.n), s.t::oid
    LOOP
        PERFORM billing._enforcement_as_in_snapshot(v_table, p_only_if_enforced => true);
    END LOOP;
END;
$$;

-- The enforcements of tbl and of the tables inheriting from it (which a
-- rename or a drop reaches too) follow a renamed column; a change that
-- leaves them a column they cannot read (dropped, of another type,
-- generated) is refused, like dropping a column a view uses, and so is
-- making a gauge's table unlogged.  SECURITY DEFINER: the table's owner
-- may alter it without rights on billing.enforced_tables.  Not executable
-- by PUBLIC: the event trigger calls it directly.
CREATE FUNCTION billing._enforced_columns_altered(tbl regclass, p_old_name text, p_new_name text)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e         record;
    v_tenant  name;
    v_amount  name;
    v_missing name;
    v_trigger record;
BEGIN
    PERFORM billing._altered_as_in_snapshot(tbl);
    -- A rename of an enforced table's column may update what is read below:
    -- locked for the write first (a REINDEX of the table begun in between
    -- deadlocked with the UPDATE until 2026-12-06).  After the altered
    -- table, as recount() takes them.  Not for a table nothing enforces,
    -- which would wait for a recount() in progress for nothing.
    IF p_old_name <> '' AND EXISTS (
        SELECT FROM pg_trigger g
         WHERE g.tgrelid IN (SELECT billing._table_and_inheritors(_enforced_columns_altered.tbl))
           AND g.tgfoid = 'billing._enforce_quota_trigger()'::regprocedure) THEN
        LOCK TABLE billing.enforced_tables IN ROW EXCLUSIVE MODE;
    END IF;
    FOR e IN
        SELECT x.tbl, x.resource, x.tenant_column, x.amount_column
          FROM billing.enforced_tables x
         WHERE x.tbl IN (SELECT billing._table_and_inheritors(_enforced_columns_altered.tbl))
         ORDER BY x.tbl::oid, x.resource
           FOR UPDATE
    LOOP
        v_tenant := e.tenant_column;
        v_amount := e.amount_column;
        IF p_old_name <> '' THEN
            IF v_tenant = p_old_name THEN
                v_tenant := p_new_name;
            END IF;
            IF v_amount = p_old_name THEN
                v_amount := p_new_name;
            END IF;
        END IF;
        v_missing := billing._missing_column(e.tbl, v_tenant, v_amount);
        IF v_missing IS NOT NULL THEN
            RAISE EXCEPTION 'column "%" of "%" is needed to enforce "%"', v_missing, billing._relation_name(e.tbl), e.resource
                USING ERRCODE = 'dependent_objects_still_exist',
                      HINT = format('Call billing.unenforce_quota(%L, %L) first.', e.tbl::text, e.resource);
        END IF;
        PERFORM billing._check_enforced_columns(e.tbl, v_tenant, v_amount);
        PERFORM billing._check_gauge_persistence(e.tbl, e.resource);

        IF v_tenant IS DISTINCT FROM e.tenant_column OR v_amount IS DISTINCT FROM e.amount_column THEN
            -- First: the ALTER TABLE below comes back here, and must find
            -- the new names.
            UPDATE billing.enforced_tables x
               SET tenant_column = v_tenant, amount_column = v_amount
             WHERE x.tbl = e.tbl AND x.resource = e.resource;
            -- A partitioned table's gauge has a TRUNCATE trigger on each leaf.
            FOR v_trigger IN
                SELECT t.*, e.tbl AS tbl FROM billing._enforcement_triggers(e.tbl, e.resource) t
                UNION ALL
                SELECT t.*, l FROM billing._partition_leaves(e.tbl) l,
                                   billing._enforcement_triggers(l, e.resource) t
                 WHERE l <> e.tbl AND t.event = 'trunc'
            LOOP
                EXECUTE format('DROP TRIGGER %I ON %s', v_trigger.tgname, v_trigger.tbl);
                PERFORM billing._create_enforcement_trigger(v_trigger.tbl, e.resource, v_trigger.event,
                                                            v_tenant, v_amount);
                PERFORM billing._enable_trigger_as(v_trigger.tbl, v_trigger.tgname, v_trigger.tgenabled);
            END LOOP;
        END IF;
    END LOOP;
    -- A partition made unlogged holds rows a gauge of a partitioned table
    -- above it counts.
    FOR e IN SELECT x.tbl, x.resource
               FROM billing.enforced_tables x
              WHERE x.tbl IN (SELECT a.relid FROM pg_catalog.pg_partition_ancestors(_enforced_columns_altered.tbl) a
                               WHERE a.relid <> _enforced_columns_altered.tbl)
              ORDER BY x.tbl::oid, x.resource
    LOOP
        PERFORM billing._check_gauge_persistence(e.tbl, e.resource);
    END LOOP;
END;
$$;

-- ALTER COLUMN ... TYPE writes the column's values again, as its USING
-- expression or the cast makes them ('007' becomes 7, USING size * 1000
-- multiplies): a gauge counted from the old values would no longer hold
-- what the rows do.  So the gauges whose tenant or amount column is
-- retyped (on tbl or, through inheritance, below it) give back what the
-- rows held before the change (p_sign -1, at ddl_command_start, once the
-- event trigger has locked the tables as ALTER TABLE will) and count what
-- they hold after it (+1, at ddl_command_end): as unenforcing and enforcing
-- again would, in the same transaction.  Nothing can change the tables'
-- rows or enforcements in between, so both count the same enforcements.
CREATE FUNCTION billing._retyped_gauges(tbl regclass, p_columns text[], p_sign integer)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e record;
BEGIN
    PERFORM billing._altered_as_in_snapshot(tbl);
    FOR e IN
        SELECT x.tbl, x.resource
          FROM billing.enforced_tables x
          JOIN billing.resources r ON r.resource = x.resource AND r.kind = 'gauge'
         WHERE x.tbl IN (SELECT billing._table_and_inheritors(_retyped_gauges.tbl))
           AND (x.tenant_column = ANY (p_columns) OR x.amount_column = ANY (p_columns))
         ORDER BY x.tbl::oid, x.resource
    LOOP
        PERFORM billing._count_gauge_rows(billing._gauge_amounts_query(e.tbl, e.resource), p_sign);
        -- The values written again can put tenants over their limit, as a
        -- backfill can (until 2026-12-06 nothing said so).
        IF p_sign > 0 THEN
            PERFORM billing._notice_tenants_over_limit(e.resource, 'the retype');
        END IF;
    END LOOP;
END;
$$;

CREATE FUNCTION billing._enforced_columns_ddl()
RETURNS event_trigger AS 'MODULE_PATHNAME', 'zb_enforced_columns_ddl' LANGUAGE C;

-- PostgreSQL renames a table's column by ALTER VIEW, ALTER MATERIALIZED
-- VIEW or ALTER FOREIGN TABLE ... RENAME COLUMN as well: until 2026-12-06
-- such a rename was not followed, and every later write of the table, and
-- every recount(), failed (a helper's audit; sql/06_triggers.sql).
CREATE EVENT TRIGGER zechat_billing_enforced_columns ON ddl_command_end
    WHEN TAG IN ('ALTER TABLE', 'ALTER TYPE', 'ALTER VIEW', 'ALTER MATERIALIZED VIEW',
                 'ALTER FOREIGN TABLE')
    EXECUTE FUNCTION billing._enforced_columns_ddl();
-- ALWAYS: see zechat_billing_schema_kept_safe (005_schema_guard.sql).
ALTER EVENT TRIGGER zechat_billing_enforced_columns ENABLE ALWAYS;
-- The same function, before the change: see _retyped_gauges.
CREATE EVENT TRIGGER zechat_billing_retyped_columns ON ddl_command_start
    WHEN TAG IN ('ALTER TABLE')
    EXECUTE FUNCTION billing._enforced_columns_ddl();
ALTER EVENT TRIGGER zechat_billing_retyped_columns ENABLE ALWAYS;

-- A column an enforcement reads can also go as a dependent of something
-- else dropped with CASCADE: its domain or type (DROP DOMAIN, DROP TYPE,
-- DROP EXTENSION citext), its collation.  No ALTER TABLE runs then, so the
-- check above never sees it, and until 2026-12-05 the drop went through:
-- every later write of the table failed, and every recount() with it.
-- Refused here as ALTER TABLE ... DROP COLUMN is (which comes here too,
-- first), by the name the dropped column had: also when the same command
-- adds a column of that name again (DROP COLUMN kb, ADD COLUMN kb), whose
-- values are new while usage still counts the old ones (until 2026-12-06
-- that passed, uncounted; a helper's hunt, sql/06_triggers.sql).  A column
-- dropped with its whole table is not this: the table is among the objects
-- dropped.  SECURITY DEFINER: whoever drops the type needs no right on
-- billing.enforced_tables.  Called by billing._objects_dropped() (below).
CREATE FUNCTION billing._enforced_columns_dropped()
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e record;
BEGIN
    -- Each table that lost a column, locked by the drop, as for ALTER TABLE.
    PERFORM billing._enforcement_as_in_snapshot(d.objid::pg_catalog.regclass, p_only_if_enforced => true)
       FROM (SELECT DISTINCT d.objid FROM pg_event_trigger_dropped_objects() d
              WHERE d.object_type = 'table column'
                AND d.objid NOT IN (SELECT x.objid FROM pg_event_trigger_dropped_objects() x
                                     WHERE x.object_type IN ('table', 'foreign table'))
              ORDER BY d.objid) d;
    -- A column's address is its schema, table and name.
    SELECT x.tbl, x.resource, d.address_names[3] AS missing INTO e
      FROM billing.enforced_tables x
      JOIN pg_event_trigger_dropped_objects() d
        ON d.objid = x.tbl AND d.object_type = 'table column'
       AND d.address_names[3] IN (x.tenant_column, x.amount_column)
     WHERE x.tbl NOT IN (SELECT t.objid FROM pg_event_trigger_dropped_objects() t
                          WHERE t.object_type IN ('table', 'foreign table'))
     ORDER BY x.tbl::oid, x.resource, d.objsubid
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'column "%" of "%" is needed to enforce "%"', e.missing, billing._relation_name(e.tbl), e.resource
            USING ERRCODE = 'dependent_objects_still_exist',
                  HINT = format('Call billing.unenforce_quota(%L, %L) first.', e.tbl::text, e.resource);
    END IF;
END;
$$;

-- An enforced table dropped (DROP TABLE, DROP SCHEMA ... CASCADE, DROP
-- OWNED): its enforcement goes with it, and a gauge it counted is noted for
-- the next full recount(), which takes back what the rows held
-- (billing.gauges_to_recount), and named in a NOTICE.  So is a gauge whose
-- partition was dropped (its TRUNCATE trigger, zzz_billing_<gauge>_trunc,
-- went with it), though its partitioned table stays enforced.
--
-- enforced_tables is read and written with the latest snapshot: the drop
-- holds the table, so every enforcement of it has committed, but in
-- REPEATABLE READ one committed after the transaction's snapshot would be
-- missed and its row left behind (a helper's attack, 2026-12-06).  It is
-- written only when a table dropped is enforced: its ROW EXCLUSIVE lock
-- waits for a recount() in flight (which holds the table SHARE ROW
-- EXCLUSIVE and then has counted with the rows still there), and every other
-- DROP in the database, of an index or a temporary table, would wait too.
-- SECURITY DEFINER: whoever drops the table needs no right on the
-- extension's tables.  Called by billing._objects_dropped() (below).
CREATE FUNCTION billing._enforced_tables_dropped()
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_tables   oid[];
    v_enforced text[];
    v_gauges   text[];
BEGIN
    v_tables := ARRAY(SELECT d.objid FROM pg_event_trigger_dropped_objects() d
                       WHERE d.object_type IN ('table', 'foreign table'));
    IF cardinality(v_tables) = 0 THEN
        RETURN;
    END IF;
    v_enforced := billing._latest_text(format(
        'SELECT ARRAY(SELECT x.resource FROM billing.enforced_tables x
                       WHERE x.tbl OPERATOR(pg_catalog.=) ANY (%L::pg_catalog.oid[]))::text',
        v_tables))::text[];
    IF cardinality(v_enforced) > 0 THEN
        PERFORM billing._execute_after_locks(format(
            'DELETE FROM billing.enforced_tables x
              WHERE x.tbl OPERATOR(pg_catalog.=) ANY (%L::pg_catalog.oid[])', v_tables),
            NULL::text, NULL::text[]);
    END IF;
    -- A trigger's address is its table's schema and name, then its own name.
    v_gauges := ARRAY(
        SELECT DISTINCT s.resource
          FROM (SELECT unnest(v_enforced)
                UNION
                SELECT substr(d.address_names[3], length('zzz_billing_') + 1,
                              length(d.address_names[3]) - length('zzz_billing_') - length('_trunc'))
                  FROM pg_event_trigger_dropped_objects() d
                 WHERE d.object_type = 'trigger' AND d.address_names[3] LIKE E'zzz\\_billing\\_%\\_trunc'
                   AND d.address_names[1:2] IN (SELECT t.address_names FROM pg_event_trigger_dropped_objects() t
                                                 WHERE t.object_type IN ('table', 'foreign table'))) AS s(resource)
          JOIN billing.resources r ON r.resource = s.resource AND r.kind = 'gauge'
         ORDER BY 1);
    IF cardinality(v_gauges) > 0 THEN
        PERFORM billing._execute_after_locks(
            'INSERT INTO billing.gauges_to_recount (resource) SELECT pg_catalog.unnest($2)
             ON CONFLICT DO NOTHING', NULL::text, v_gauges);
        RAISE NOTICE 'the usage of % keeps what the dropped rows held until billing.recount()',
                     (SELECT string_agg(format('"%s"', g), ', ') FROM unnest(v_gauges) AS g)
            USING HINT = 'Run billing.recount() to take it back.';
    END IF;
END;
$$;

-- The extension's one sql_drop event trigger, for both checks above.  One,
-- so that nothing of the extension is looked up after they may have waited
-- for billing.enforced_tables: PostgreSQL finds a command's event trigger
-- functions as it starts, and until 2026-12-07 any DROP in the database
-- that waited so while another transaction dropped and created the
-- extension failed, when that committed, calling the second trigger's
-- function, gone (XX000, "cache lookup failed for function"; a helper's
-- attack).  The wait comes first, in _lock_enforced_tables
-- (src/pg/enforced_tables_lock.cpp), and the checks are found by name after
-- it, in the new installation; with the extension dropped and not created
-- again, there is nothing left to check, and the DROP goes on.
CREATE FUNCTION billing._lock_enforced_tables()
RETURNS boolean
AS 'MODULE_PATHNAME', 'zb_lock_enforced_tables'
LANGUAGE C VOLATILE;

CREATE FUNCTION billing._objects_dropped()
RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- Only temporary objects dropped (a temporary table, its columns, its
    -- indexes): none is enforced, as enforce_quota refuses temporary tables,
    -- so there is nothing to check, and the wait and both checks cost such
    -- a DROP about 0.25 ms (2026-12-07).  A temporary table that 1.0
    -- enforced loses its row of enforced_tables no more at an explicit
    -- DROP than it ever did at the end of its session, where no event
    -- trigger fires.
    IF NOT EXISTS (SELECT FROM pg_event_trigger_dropped_objects() o WHERE NOT o.is_temporary) THEN
        RETURN;
    END IF;
    IF billing._lock_enforced_tables() THEN
        PERFORM billing._enforced_columns_dropped();
        PERFORM billing._enforced_tables_dropped();
    END IF;
END;
$$;

CREATE EVENT TRIGGER zechat_billing_dropped_objects ON sql_drop
    EXECUTE FUNCTION billing._objects_dropped();
ALTER EVENT TRIGGER zechat_billing_dropped_objects ENABLE ALWAYS;

-- ALTER TRIGGER on an enforcement trigger: the extension finds its
-- triggers by name (_enforcement_triggers), so a renamed one was left in
-- place by unenforce_quota and, after enforce_quota again, counted every
-- row a second time (a helper's hunt, 2026-12-06).  Refused, as the drop of
-- an enforced column is, with the command's other form (DEPENDS ON
-- EXTENSION), which nothing needs.  The extension itself never alters a
-- trigger.
CREATE FUNCTION billing._enforcement_trigger_altered()
RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t record;
BEGIN
    SELECT g.tgrelid::regclass AS tbl INTO t
      FROM pg_event_trigger_ddl_commands() c
      JOIN pg_trigger g ON g.oid = c.objid
     WHERE c.classid = 'pg_trigger'::regclass
       AND g.tgfoid = 'billing._enforce_quota_trigger()'::regprocedure
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'the enforcement triggers of "%" cannot be renamed or altered', billing._relation_name(t.tbl)
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = 'zechat_billing finds its triggers by name.',
                  HINT = 'Call billing.unenforce_quota() on the table first.';
    END IF;
END;
$$;

CREATE EVENT TRIGGER zechat_billing_triggers_kept ON ddl_command_end
    WHEN TAG IN ('ALTER TRIGGER')
    EXECUTE FUNCTION billing._enforcement_trigger_altered();
ALTER EVENT TRIGGER zechat_billing_triggers_kept ENABLE ALWAYS;

-- The arguments _create_enforcement_trigger gives an enforcement trigger, as
-- pg_trigger.tgargs holds them: each ended by a zero byte (decode: a '\x00'
-- literal would read otherwise under standard_conforming_strings = off).
CREATE FUNCTION billing._enforcement_trigger_args(p_resource text, p_tenant_column name, p_amount_column name)
RETURNS bytea
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT convert_to(p_resource, getdatabaseencoding()) || decode('00', 'hex')
           || convert_to(p_tenant_column, getdatabaseencoding()) || decode('00', 'hex')
           || convert_to(coalesce(p_amount_column, ''), getdatabaseencoding()) || decode('00', 'hex')
$$;

-- Whether trigger p_trigger, made with the enforcement trigger function, is
-- one of those enforce_quota and the functions changing an enforcement make
-- (_create_enforcement_trigger) for a row of enforced_tables, of its table
-- or, for a partitioned table's gauge (a TRUNCATE trigger on each leaf), of
-- an ancestor: named for the row's resource and an event the resource's kind
-- has, firing as that event's trigger does (tgtype: ROW 1, BEFORE 2, INSERT
-- 4, DELETE 8, UPDATE 16, TRUNCATE 32), with its WHEN clause and transition
-- table and no other, no column list, not a constraint trigger, and with the
-- row's arguments (_enforcement_trigger_args).  The WHEN clause is compared
-- as printed, with quote_all_identifiers off whatever the caller's (on, it
-- quoted the name, and every exact table's trigger was refused).
CREATE FUNCTION billing._is_enforcement_trigger_of_record(p_trigger oid)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
SET quote_all_identifiers = off
AS $$
    SELECT EXISTS (
        SELECT FROM pg_trigger g
          JOIN billing.enforced_tables x
            ON x.tbl IN (SELECT g.tgrelid UNION ALL SELECT a.relid FROM pg_partition_ancestors(g.tgrelid) a)
          JOIN billing.resources r ON r.resource = x.resource
          JOIN (VALUES ('ins', 7), ('inserted', 5), ('stmt', 4), ('upd', 19), ('moved', 19),
                       ('del', 9), ('trunc', 34)) AS k(event, tgtype)
            ON g.tgname = 'zzz_billing_' || x.resource || '_' || k.event
         WHERE g.oid = p_trigger
           AND g.tgfoid = 'billing._enforce_quota_trigger()'::regprocedure
           AND (k.event IN ('ins', 'inserted', 'stmt')
                OR k.event IN ('upd', 'del', 'trunc') AND r.kind = 'gauge'
                OR k.event = 'moved' AND r.kind = 'period')
           AND g.tgtype = k.tgtype
           AND pg_get_expr(g.tgqual, g.tgrelid) IS NOT DISTINCT FROM
               CASE k.event WHEN 'inserted' THEN 'billing._insert_written()' END
           AND g.tgnewtable IS NOT DISTINCT FROM CASE k.event WHEN 'stmt' THEN 'zzz_billing_new_rows' END
           AND g.tgoldtable IS NULL
           AND cardinality(g.tgattr::int2[]) = 0
           AND g.tgconstraint = 0
           AND g.tgargs = billing._enforcement_trigger_args(x.resource, x.tenant_column, x.amount_column))
$$;

-- CREATE TRIGGER (and CREATE OR REPLACE TRIGGER, and CREATE SCHEMA with a
-- trigger among its elements) with the enforcement trigger function: only
-- the extension's own (_is_enforcement_trigger_of_record), which
-- enforce_quota and the functions changing an enforcement make after
-- writing (or updating) the row of enforced_tables they belong to.  Until
-- 2026-12-07 a partial or schema-only restore (pg_restore -n public,
-- --schema-only into a database with the extension) brought the triggers
-- back without that row: they counted rows that recount() and
-- unenforce_quota knew nothing of, and enforce_quota failed on the trigger
-- that existed.  Refused, the table is left unenforced, whole, for
-- enforce_quota.  A full restore loads enforced_tables before it creates
-- triggers; pg_upgrade creates event triggers last.
CREATE FUNCTION billing._enforcement_trigger_created()
RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t record;
BEGIN
    SELECT g.tgrelid::regclass AS tbl, g.tgname, pg_get_triggerdef(g.oid) AS def INTO t
      FROM pg_event_trigger_ddl_commands() c
      JOIN pg_trigger g ON g.oid = c.objid
     WHERE c.classid = 'pg_trigger'::regclass
       AND g.tgfoid = 'billing._enforce_quota_trigger()'::regprocedure
       AND NOT billing._is_enforcement_trigger_of_record(g.oid)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'trigger "%" on "%" is not one billing.enforce_quota() made', t.tgname, billing._relation_name(t.tbl)
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = format('No row of billing.enforced_tables matches it: %s', t.def),
                  HINT = 'Enforce the table with billing.enforce_quota(), which makes its triggers.';
    END IF;
END;
$$;

CREATE EVENT TRIGGER zechat_billing_triggers_made ON ddl_command_end
    WHEN TAG IN ('CREATE TRIGGER', 'CREATE SCHEMA')
    EXECUTE FUNCTION billing._enforcement_trigger_created();
-- ALWAYS: see zechat_billing_schema_kept_safe (005_schema_guard.sql).
ALTER EVENT TRIGGER zechat_billing_triggers_made ENABLE ALWAYS;
