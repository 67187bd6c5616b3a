-- Inserts enforced per statement (billing.enforce_per_statement): an AFTER
-- INSERT statement trigger over the rows the statement wrote consumes each
-- tenant's sum once, at the end of the statement, so that COPY keeps its
-- multi-row batching.  Over the limit the statement fails and its rows go
-- with it: all or nothing per statement, as with the row trigger.
\set SHOW_CONTEXT never

INSERT INTO billing.plans (plan_id, name) VALUES ('ps_plan', 'PS');
INSERT INTO billing.plan_limits VALUES ('ps_plan', 'messages', 5), ('ps_plan', 'storage', 1000);
SELECT billing.subscribe(t, 'ps_plan') FROM unnest(ARRAY['ps_a', 'ps_b', 'ps_c', '42',
    '6a3c52a8-5d1f-4b8e-9c57-2f1d7e0b9a11']) AS t;

CREATE FUNCTION ps_usage(p_tenant text) RETURNS TABLE (messages bigint, storage bigint)
LANGUAGE sql AS $$
    SELECT max(used) FILTER (WHERE resource = 'messages'), max(used) FILTER (WHERE resource = 'storage')
      FROM billing.tenant_usage(p_tenant)
$$;

CREATE TABLE ps_messages (id bigserial PRIMARY KEY, tenant_id text NOT NULL, body text);
SELECT billing.enforce_quota('ps_messages', 'messages');
SELECT billing.enforce_per_statement('ps_messages');
SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger
 WHERE tgrelid = 'ps_messages'::regclass AND tgname LIKE 'zzz_billing%' ORDER BY tgname;
-- Again: nothing changes.
SELECT billing.enforce_per_statement('ps_messages');
SELECT count(*) AS billing_triggers FROM pg_trigger
 WHERE tgrelid = 'ps_messages'::regclass AND tgname LIKE 'zzz_billing%';

-- One statement, rows of several tenants: each tenant's rows counted.
INSERT INTO ps_messages (tenant_id, body) VALUES ('ps_a', 'x'), ('ps_b', 'x'), ('ps_a', 'x');
SELECT t, (ps_usage(t)).messages FROM unnest(ARRAY['ps_a', 'ps_b']) t;

-- COPY: counted as an INSERT is.
COPY ps_messages (tenant_id, body) FROM STDIN;
ps_a	c1
ps_b	c2
ps_b	c3
\.
SELECT t, (ps_usage(t)).messages FROM unnest(ARRAY['ps_a', 'ps_b']) t;

-- Over the limit (ps_a has 3 of 5): the statement fails with PT402, asking
-- for all its rows of the tenant, and nothing of it stays — neither its
-- rows nor what the other tenant's rows consumed.
SELECT * FROM regress_util.error_of($$
    INSERT INTO ps_messages (tenant_id, body) VALUES ('ps_c', 'x'), ('ps_a', 'x'), ('ps_a', 'x'), ('ps_a', 'x')$$);
COPY ps_messages (tenant_id, body) FROM STDIN;
ps_a	c4
ps_a	c5
ps_a	c6
\.
SELECT t, (ps_usage(t)).messages FROM unnest(ARRAY['ps_a', 'ps_c']) t;
SELECT tenant_id, count(*) FROM ps_messages GROUP BY 1 ORDER BY 1;
-- What fits still goes in, up to the limit exactly.
INSERT INTO ps_messages (tenant_id, body) VALUES ('ps_a', 'x'), ('ps_a', 'x');
SELECT regress_util.sqlstate_of($$INSERT INTO ps_messages (tenant_id, body) VALUES ('ps_a', 'x')$$);
SELECT (ps_usage('ps_a')).messages, count(*) AS stored FROM ps_messages WHERE tenant_id = 'ps_a';

-- INSERT ... SELECT of no rows, and rows a WHERE keeps out: nothing counted.
INSERT INTO ps_messages (tenant_id, body) SELECT 'ps_a', 'x' WHERE false;

-- A tenant without a subscription is refused as by the row trigger.
SELECT state, detail::json->>'reason' AS reason
  FROM regress_util.error_of($$INSERT INTO ps_messages (tenant_id) VALUES ('ps_nobody')$$);

-- Rolled back, whole or to a savepoint: not counted.
BEGIN;
INSERT INTO ps_messages (tenant_id) VALUES ('ps_c'), ('ps_c');
SAVEPOINT s;
INSERT INTO ps_messages (tenant_id) VALUES ('ps_c');
SELECT (ps_usage('ps_c')).messages AS in_savepoint;
ROLLBACK TO SAVEPOINT s;
SELECT (ps_usage('ps_c')).messages AS after_rollback_to_savepoint;
ROLLBACK;
SELECT (ps_usage('ps_c')).messages AS after_rollback;

-- ON CONFLICT: the rows not written are not in the statement's new rows, so
-- a duplicate counts nothing, and passes at the limit.
CREATE TABLE ps_inbox (id bigint PRIMARY KEY, tenant_id text NOT NULL);
SELECT billing.enforce_quota('ps_inbox', 'messages');
SELECT billing.enforce_per_statement('ps_inbox');
INSERT INTO ps_inbox VALUES (1, 'ps_b'), (2, 'ps_b') ON CONFLICT DO NOTHING;
SELECT (ps_usage('ps_b')).messages;
INSERT INTO ps_inbox VALUES (1, 'ps_b'), (2, 'ps_b'), (2, 'ps_b') ON CONFLICT DO NOTHING;
SELECT (ps_usage('ps_b')).messages AS at_the_limit;
INSERT INTO ps_inbox VALUES (1, 'ps_b') ON CONFLICT (id) DO UPDATE SET tenant_id = excluded.tenant_id;
SELECT (ps_usage('ps_b')).messages AS still_at_the_limit;
SELECT regress_util.sqlstate_of($$INSERT INTO ps_inbox VALUES (1, 'ps_b'), (3, 'ps_b') ON CONFLICT DO NOTHING$$);
-- exact_on_conflict has nothing to add, and cannot take that away.
SELECT billing.exact_on_conflict('ps_inbox');
SELECT * FROM regress_util.error_of($$SELECT billing.exact_on_conflict('ps_inbox', false)$$);

-- A gauge with an amount column, and tenant keys of other types.
CREATE TABLE ps_files (id serial PRIMARY KEY, owner_id uuid, size_bytes integer);
SELECT billing.enforce_quota('ps_files', 'storage', 'owner_id', 'size_bytes');
SELECT billing.enforce_per_statement('ps_files');
SELECT tgname FROM pg_trigger WHERE tgrelid = 'ps_files'::regclass AND tgname LIKE 'zzz_billing%' ORDER BY 1;
INSERT INTO ps_files (owner_id, size_bytes) VALUES
    ('6a3c52a8-5d1f-4b8e-9c57-2f1d7e0b9a11', 300), ('6a3c52a8-5d1f-4b8e-9c57-2f1d7e0b9a11', 200),
    ('6a3c52a8-5d1f-4b8e-9c57-2f1d7e0b9a11', NULL);
SELECT (ps_usage('6a3c52a8-5d1f-4b8e-9c57-2f1d7e0b9a11')).storage;
SELECT * FROM regress_util.error_of($$INSERT INTO ps_files (owner_id, size_bytes)
    VALUES ('6a3c52a8-5d1f-4b8e-9c57-2f1d7e0b9a11', 400), ('6a3c52a8-5d1f-4b8e-9c57-2f1d7e0b9a11', 101)$$);
-- Rows that cannot be billed are refused as by the row trigger.
SELECT regress_util.sqlstate_of($$INSERT INTO ps_files (owner_id, size_bytes) VALUES (NULL, 1)$$) AS null_tenant,
       regress_util.sqlstate_of($$INSERT INTO ps_files (owner_id, size_bytes)
           VALUES ('6a3c52a8-5d1f-4b8e-9c57-2f1d7e0b9a11', -1)$$) AS negative_amount;
-- Updates, deletes and TRUNCATE keep their row and statement triggers.
UPDATE ps_files SET size_bytes = 100 WHERE size_bytes = 300;
SELECT (ps_usage('6a3c52a8-5d1f-4b8e-9c57-2f1d7e0b9a11')).storage AS after_update;
DELETE FROM ps_files WHERE size_bytes = 200;
SELECT (ps_usage('6a3c52a8-5d1f-4b8e-9c57-2f1d7e0b9a11')).storage AS after_delete;
TRUNCATE ps_files;
SELECT (ps_usage('6a3c52a8-5d1f-4b8e-9c57-2f1d7e0b9a11')).storage AS after_truncate;

-- Integer tenants; a tenant id that is empty or too long is refused.
CREATE TABLE ps_numbered (tenant_id bigint, body text);
SELECT billing.enforce_quota('ps_numbered', 'messages');
SELECT billing.enforce_per_statement('ps_numbered');
INSERT INTO ps_numbered VALUES (42, 'a'), (42, 'b');
SELECT (ps_usage('42')).messages;
SELECT regress_util.sqlstate_of($$INSERT INTO ps_messages (tenant_id) VALUES ('')$$) AS empty_tenant,
       regress_util.sqlstate_of(format('INSERT INTO ps_messages (tenant_id) VALUES (%L)', repeat('x', 64)))
           AS long_tenant;

-- Sums past bigint are refused, not wrapped round.
CREATE TABLE ps_big (tenant_id text, amount bigint);
SELECT billing.enforce_quota('ps_big', 'storage', amount_column => 'amount');
SELECT billing.enforce_per_statement('ps_big');
SELECT * FROM regress_util.error_of($$INSERT INTO ps_big VALUES ('ps_c', 9223372036854775807), ('ps_c', 1)$$);

-- Another resource enforced later on the table is enforced per statement
-- too; both read the one copy of the rows PostgreSQL keeps.
CREATE TABLE ps_sized (tenant_id text, bytes bigint);
SELECT billing.enforce_quota('ps_sized', 'messages');
SELECT billing.enforce_per_statement('ps_sized');
SELECT billing.enforce_quota('ps_sized', 'storage', amount_column => 'bytes');
SELECT tgname FROM pg_trigger WHERE tgrelid = 'ps_sized'::regclass AND tgname LIKE 'zzz_billing%' ORDER BY 1;
INSERT INTO ps_sized VALUES ('ps_c', 10), ('ps_c', 20);
SELECT * FROM ps_usage('ps_c');

-- Through a view, from a function, by MERGE: the statement's rows counted.
CREATE VIEW ps_sized_view AS SELECT * FROM ps_sized;
INSERT INTO ps_sized_view VALUES ('ps_c', 1);
CREATE FUNCTION ps_send(p_tenant text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ps_sized VALUES (p_tenant, 2);
END;
$$;
SELECT ps_send('ps_c');
MERGE INTO ps_sized t USING (VALUES ('ps_c', 3)) s(tenant_id, bytes) ON false
 WHEN NOT MATCHED THEN INSERT VALUES (s.tenant_id, s.bytes);
SELECT * FROM ps_usage('ps_c');
SELECT regress_util.sqlstate_of($$SELECT ps_send('ps_c')$$) AS over_the_limit;

-- A renamed column is followed; a disabled trigger stays disabled, also
-- when the table goes back to row triggers.
ALTER TABLE ps_sized DISABLE TRIGGER zzz_billing_storage_stmt;
ALTER TABLE ps_sized RENAME COLUMN bytes TO size;
SELECT tgname, tgenabled, pg_get_triggerdef(oid) LIKE '%''size'')' AS follows_rename
  FROM pg_trigger WHERE tgrelid = 'ps_sized'::regclass AND tgname LIKE 'zzz_billing%' ORDER BY 1;
SELECT billing.enforce_per_statement('ps_sized', false);
SELECT tgname, tgenabled, pg_get_triggerdef(oid) LIKE '%BEFORE INSERT%FOR EACH ROW%' AS row_trigger
  FROM pg_trigger WHERE tgrelid = 'ps_sized'::regclass AND tgname LIKE 'zzz_billing%' ORDER BY 1;
SELECT billing.enforce_per_statement('ps_sized');

-- zechat_billing.enabled = off bypasses it, as it does the row trigger.
SET zechat_billing.enabled = off;
INSERT INTO ps_messages (tenant_id) VALUES ('ps_a');
RESET zechat_billing.enabled;
SELECT (ps_usage('ps_a')).messages AS still_five;

-- Refused: partitioned tables, partitions, and a table enforced per
-- statement becoming a partition.
CREATE TABLE ps_parted (tenant_id text, day date) PARTITION BY RANGE (day);
CREATE TABLE ps_parted_jan PARTITION OF ps_parted FOR VALUES FROM ('2026-01-01') TO ('2026-02-01');
SELECT billing.enforce_quota('ps_parted', 'messages');
SELECT * FROM regress_util.error_of($$SELECT billing.enforce_per_statement('ps_parted')$$);
SELECT regress_util.sqlstate_of($$SELECT billing.enforce_per_statement('ps_parted_jan')$$);
CREATE TABLE ps_parted_feb (tenant_id text, day date);
SELECT billing.enforce_quota('ps_parted_feb', 'users');
SELECT billing.enforce_per_statement('ps_parted_feb');
SELECT * FROM regress_util.error_of($$
    ALTER TABLE ps_parted ATTACH PARTITION ps_parted_feb FOR VALUES FROM ('2026-02-01') TO ('2026-03-01')$$);
-- And bad arguments; not executable by PUBLIC.
SELECT regress_util.sqlstate_of($$SELECT billing.enforce_per_statement(NULL)$$) AS null_table,
       regress_util.sqlstate_of($$SELECT billing.enforce_per_statement('ps_messages', NULL)$$) AS null_enabled;
CREATE TABLE ps_plain (tenant_id text);
SELECT * FROM regress_util.error_of($$SELECT billing.enforce_per_statement('ps_plain')$$);
-- Nor a table whose enforcement fires for logical replication, whose apply
-- worker fires row triggers only.
SELECT billing.enforce_quota('ps_plain', 'messages');
ALTER TABLE ps_plain ENABLE ALWAYS TRIGGER zzz_billing_messages_ins;
SELECT * FROM regress_util.error_of($$SELECT billing.enforce_per_statement('ps_plain')$$);
ALTER TABLE ps_plain ENABLE REPLICA TRIGGER zzz_billing_messages_ins;
SELECT regress_util.sqlstate_of($$SELECT billing.enforce_per_statement('ps_plain')$$);
SELECT billing.enforce_per_statement('ps_plain', false); -- going back is no change
SELECT billing.unenforce_quota('ps_plain', 'messages');
SELECT has_function_privilege('public', 'billing.enforce_per_statement(regclass, boolean)', 'EXECUTE');

-- unenforce_quota removes the statement trigger with the others.
SELECT billing.unenforce_quota('ps_sized', 'messages');
SELECT billing.unenforce_quota('ps_sized', 'storage');
SELECT count(*) AS billing_triggers FROM pg_trigger
 WHERE tgrelid = 'ps_sized'::regclass AND tgname LIKE 'zzz_billing%';

-- Rows of a statement deleted or updated by what the statement runs, before
-- its statement trigger counts them: counted as they are at its end.
SELECT billing.subscribe(t, 'ps_plan') FROM unnest(ARRAY['ps_r1', 'ps_r2', 'ps_r3']) AS t;
CREATE TABLE ps_stored (tenant_id text, path text, size bigint);
SELECT billing.enforce_quota('ps_stored', 'storage', amount_column => 'size');
SELECT billing.enforce_per_statement('ps_stored');
CREATE FUNCTION ps_stored_usage() RETURNS TABLE (tenant_id text, counted bigint, stored bigint)
LANGUAGE sql AS $$
    SELECT t, (ps_usage(t)).storage, (SELECT coalesce(sum(size), 0) FROM ps_stored s WHERE s.tenant_id = t)
      FROM unnest(ARRAY['ps_r1', 'ps_r2', 'ps_r3']) t
$$;
-- A file replaces the tenant's earlier one of the same path (a BEFORE
-- trigger of the application): three versions of /a in one COPY, one kept.
CREATE FUNCTION ps_replace() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM ps_stored WHERE tenant_id = NEW.tenant_id AND path = NEW.path;
    RETURN NEW;
END;
$$;
CREATE TRIGGER ps_replace BEFORE INSERT ON ps_stored FOR EACH ROW EXECUTE FUNCTION ps_replace();
COPY ps_stored FROM STDIN;
ps_r1	/a	400
ps_r1	/a	400
ps_r1	/a	400
\.
INSERT INTO ps_stored VALUES ('ps_r1', '/b', 300), ('ps_r1', '/b', 350), ('ps_r2', '/a', 10);
SELECT * FROM ps_stored_usage();
-- Replaced in a later statement: given back as any stored row.
INSERT INTO ps_stored VALUES ('ps_r1', '/b', 100);
SELECT * FROM ps_stored_usage();
DROP TRIGGER ps_replace ON ps_stored;
-- A delete rolled back (the application's trigger catches its error) keeps
-- the row, counted in full.
CREATE FUNCTION ps_replace_then_fail() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        DELETE FROM ps_stored WHERE tenant_id = NEW.tenant_id AND path = NEW.path;
        RAISE EXCEPTION 'changed my mind';
    EXCEPTION WHEN raise_exception THEN
        NULL;
    END;
    RETURN NEW;
END;
$$;
CREATE TRIGGER ps_replace_then_fail BEFORE INSERT ON ps_stored FOR EACH ROW EXECUTE FUNCTION ps_replace_then_fail();
INSERT INTO ps_stored VALUES ('ps_r2', '/c', 20), ('ps_r2', '/c', 30);
SELECT * FROM ps_stored_usage();
DROP TRIGGER ps_replace_then_fail ON ps_stored;
-- Nor does one rolled back, or an update another BEFORE trigger skips,
-- that a later change of the row, keeping tenant and amount, replaced.
ALTER TABLE ps_stored ADD COLUMN note text;
CREATE FUNCTION ps_undo_then_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        DELETE FROM ps_stored WHERE path = NEW.path;
        RAISE EXCEPTION 'changed my mind';
    EXCEPTION WHEN raise_exception THEN
        NULL;
    END;
    UPDATE ps_stored SET size = 0 WHERE path = NEW.path AND note IS NULL;
    UPDATE ps_stored SET note = 'seen' WHERE path = NEW.path;
    RETURN NULL;
END;
$$;
CREATE FUNCTION ps_keep_size() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.size = 0 THEN
        RETURN NULL;
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER ps_undo_then_touch AFTER INSERT ON ps_stored FOR EACH ROW EXECUTE FUNCTION ps_undo_then_touch();
CREATE TRIGGER zzzz_keep_size BEFORE UPDATE ON ps_stored FOR EACH ROW EXECUTE FUNCTION ps_keep_size();
INSERT INTO ps_stored (tenant_id, path, size) VALUES ('ps_r2', '/g', 100);
SELECT * FROM ps_stored_usage();
DROP TRIGGER ps_undo_then_touch ON ps_stored;
-- A row updated in the same command by a skipped update and a delete
-- (a data-modifying WITH) is credited once.
-- (A tenant without other usage: there a give-back of what was never
-- counted is lost, where other usage would absorb it.)
SELECT billing.subscribe('ps_r4', 'ps_plan');
CREATE FUNCTION ps_skip_then_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.path = '/h' THEN
        WITH skipped AS (UPDATE ps_stored SET size = 0 WHERE path = NEW.path RETURNING 1)
        DELETE FROM ps_stored WHERE path = NEW.path;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER ps_skip_then_delete AFTER INSERT ON ps_stored FOR EACH ROW EXECUTE FUNCTION ps_skip_then_delete();
INSERT INTO ps_stored (tenant_id, path, size) VALUES ('ps_r4', '/h', 100), ('ps_r4', '/i', 50);
SELECT (ps_usage('ps_r4')).storage AS counted, (SELECT sum(size) FROM ps_stored WHERE tenant_id = 'ps_r4') AS stored;
DELETE FROM ps_stored WHERE tenant_id = 'ps_r4';
SELECT * FROM ps_stored_usage();
DROP TRIGGER ps_skip_then_delete ON ps_stored;
DROP TRIGGER zzzz_keep_size ON ps_stored;
-- What an update of such a row consumed for its new version is given back
-- when another BEFORE UPDATE trigger skips it, with tenant and amount kept,
-- or changed.
CREATE FUNCTION ps_touch_skipped() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.path = '/k' THEN
        UPDATE ps_stored SET note = 'x' WHERE path = NEW.path;
        UPDATE ps_stored SET size = 1 WHERE path = NEW.path;
        UPDATE ps_stored SET size = 0 WHERE path = NEW.path;
    ELSIF NEW.path = '/m' THEN
        -- Skipped, then deleted by the same command.
        WITH skipped AS (UPDATE ps_stored SET note = 'x' WHERE path = NEW.path RETURNING 1)
        DELETE FROM ps_stored WHERE path = NEW.path;
    ELSIF NEW.path = '/j' THEN
        -- Skipped, then updated by the next command.
        UPDATE ps_stored SET note = 'x' WHERE path = NEW.path;
        UPDATE ps_stored SET size = size + 2 WHERE path = NEW.path;
    ELSIF NEW.path = '/q' THEN
        -- Reached twice by one command: skipped, then updated.
        UPDATE ps_stored SET size = v.s, note = v.n
          FROM (VALUES (1, 50, 'x'), (2, 70, NULL)) AS v(k, s, n)
         WHERE ps_stored.path = NEW.path;
    END IF;
    RETURN NULL;
END;
$$;
CREATE FUNCTION ps_keep_noted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.note = 'x' OR NEW.size = 1 THEN
        RETURN NULL;
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER ps_touch_skipped AFTER INSERT ON ps_stored FOR EACH ROW EXECUTE FUNCTION ps_touch_skipped();
CREATE TRIGGER zzzz_keep_noted BEFORE UPDATE ON ps_stored FOR EACH ROW EXECUTE FUNCTION ps_keep_noted();
INSERT INTO ps_stored (tenant_id, path, size) VALUES ('ps_r4', '/k', 300), ('ps_r4', '/m', 200), ('ps_r4', '/n', 50),
    ('ps_r4', '/j', 100), ('ps_r4', '/q', 100);
SELECT (ps_usage('ps_r4')).storage AS counted, (SELECT sum(size) FROM ps_stored WHERE tenant_id = 'ps_r4') AS stored;
DROP TRIGGER ps_touch_skipped ON ps_stored;
DROP TRIGGER zzzz_keep_noted ON ps_stored;
DELETE FROM ps_stored WHERE tenant_id = 'ps_r4';
ALTER TABLE ps_stored DROP COLUMN note;
-- A function the INSERT calls deletes the tenant's older rows, and a
-- BEFORE trigger hands earlier rows of the same path to another tenant.
CREATE FUNCTION ps_purge(p_tenant text) RETURNS boolean LANGUAGE sql AS $$
    DELETE FROM ps_stored WHERE tenant_id = p_tenant AND path LIKE '/tmp%';
    SELECT true;
$$;
INSERT INTO ps_stored SELECT 'ps_r3', '/tmp' || g, 100 FROM generate_series(1, 3) g WHERE ps_purge('ps_r3');
SELECT * FROM ps_stored_usage();
CREATE FUNCTION ps_archive() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE ps_stored SET tenant_id = 'ps_r2', size = size / 2
     WHERE tenant_id = NEW.tenant_id AND path = NEW.path;
    RETURN NEW;
END;
$$;
CREATE TRIGGER ps_archive BEFORE INSERT ON ps_stored FOR EACH ROW EXECUTE FUNCTION ps_archive();
INSERT INTO ps_stored VALUES ('ps_r3', '/d', 300), ('ps_r3', '/d', 200);
SELECT * FROM ps_stored_usage();
DROP TRIGGER ps_archive ON ps_stored;
-- An update that changes neither tenant nor amount, then a delete of the
-- new version: the row is counted at the update, and given back.
CREATE FUNCTION ps_supersede() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE ps_stored SET path = path || '~' WHERE tenant_id = NEW.tenant_id AND path = NEW.path;
    DELETE FROM ps_stored WHERE tenant_id = NEW.tenant_id AND path = NEW.path || '~';
    RETURN NEW;
END;
$$;
CREATE TRIGGER ps_supersede BEFORE INSERT ON ps_stored FOR EACH ROW EXECUTE FUNCTION ps_supersede();
INSERT INTO ps_stored VALUES ('ps_r1', '/s', 300), ('ps_r1', '/s', 300), ('ps_r1', '/s', 300);
SELECT * FROM ps_stored_usage();
-- COPY FREEZE writes its rows frozen, with their command id: an update
-- (here handing the earlier version of a path to another tenant) traces
-- them to it all the same.  (Not a delete: it overwrites the command id of
-- a frozen row, see README.)
BEGIN;
CREATE TABLE ps_frozen (tenant_id text, path text, size bigint);
SELECT billing.enforce_quota('ps_frozen', 'storage', amount_column => 'size');
SELECT billing.enforce_per_statement('ps_frozen');
CREATE FUNCTION ps_hand_over_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE ps_frozen SET tenant_id = 'ps_r1', path = path || '~'
     WHERE tenant_id = NEW.tenant_id AND path = NEW.path;
    RETURN NEW;
END;
$$;
CREATE TRIGGER ps_hand_over BEFORE INSERT ON ps_frozen FOR EACH ROW EXECUTE FUNCTION ps_hand_over_frozen();
COPY ps_frozen FROM STDIN WITH (FREEZE);
ps_r4	/z	10
ps_r4	/z	10
\.
COMMIT;
SELECT t, (ps_usage(t)).storage AS counted,
       (SELECT sum(size) FROM ps_stored s WHERE s.tenant_id = t) AS stored_before,
       (SELECT sum(size) FROM ps_frozen f WHERE f.tenant_id = t) AS stored_frozen
  FROM unnest(ARRAY['ps_r1', 'ps_r4']) t;
SELECT billing.unenforce_quota('ps_frozen', 'storage');
DROP TABLE ps_frozen;
DROP FUNCTION ps_hand_over_frozen();
DROP TRIGGER ps_supersede ON ps_stored;
-- An AFTER INSERT statement trigger of the application, firing before the
-- billing one, moves big files out of the table.
CREATE FUNCTION ps_move_big() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM ps_stored WHERE size >= 500;
    RETURN NULL;
END;
$$;
CREATE TRIGGER aaa_move_big AFTER INSERT ON ps_stored FOR EACH STATEMENT EXECUTE FUNCTION ps_move_big();
INSERT INTO ps_stored VALUES ('ps_r3', '/big', 500), ('ps_r3', '/small', 5);
SELECT * FROM ps_stored_usage();
DROP TRIGGER aaa_move_big ON ps_stored;
-- Still refused when what stays is over the limit.
SELECT regress_util.sqlstate_of($$INSERT INTO ps_stored VALUES ('ps_r3', '/e', 500), ('ps_r3', '/f', 500)$$);
SELECT * FROM ps_stored_usage();
SELECT billing.recount();
SELECT * FROM ps_stored_usage();

DROP VIEW ps_sized_view;
DROP FUNCTION ps_send(text);
SELECT billing.unenforce_quota(tbl, resource) FROM billing.enforced_tables
 WHERE tbl::text LIKE 'ps\_%' ORDER BY tbl::text, resource;
DROP TABLE ps_stored, ps_messages, ps_inbox, ps_files, ps_numbered, ps_big, ps_sized, ps_parted, ps_parted_feb, ps_plain;
DROP FUNCTION ps_stored_usage(), ps_replace(), ps_replace_then_fail(), ps_undo_then_touch(), ps_keep_size(), ps_skip_then_delete(), ps_touch_skipped(), ps_keep_noted(), ps_supersede(), ps_purge(text), ps_archive(), ps_move_big();
DROP FUNCTION ps_usage(text);
