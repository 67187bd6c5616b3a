-- Merging the parts of billing.usage_parts, for the DBA's maintenance.
--
-- In shared-memory mode every backend writes its own part of a key (writer =
-- its backend slot), and nothing merges them: the table grows towards keys x
-- writers on a server whose connections come and go (6.6 rows a key in a
-- helper's soak test), and lock mode, after the server ran in shared-memory
-- mode, adds those parts to every admission until they are gone.  This
-- writes each key's usage as one writer-0 row (none when it sums to 0), the
-- sum unchanged.
--
-- It is a hand edit of the table, made safe: the table's ACCESS EXCLUSIVE
-- lock, taken first, waits for every transaction that consumed (each holds
-- ROW EXCLUSIVE on the table until it ends) and holds new consumers and
-- counter loads until this one ends, so no part changes under it; the
-- table's statement trigger (usage_parts_edited.cpp) then has the counters
-- load it again in shared-memory mode, and lock mode's backends ask again
-- whether there are parts of other writers.  SECURITY DEFINER: a role granted
-- EXECUTE needs no privilege on the table, which no role should get.
CREATE FUNCTION billing.merge_usage_parts()
RETURNS bigint
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_removed bigint;
BEGIN
    LOCK TABLE billing.usage_parts IN ACCESS EXCLUSIVE MODE;
    -- One statement: the DELETE is done before the first row is summed, and
    -- a key's writer-0 row it deleted is no conflict for the row it adds.
    WITH keys AS (
        SELECT q.tenant_id, q.resource, q.period_start
          FROM billing.usage_parts q
         GROUP BY q.tenant_id, q.resource, q.period_start
        HAVING count(*) > 1 OR bool_or(q.writer <> 0) OR sum(q.used) = 0),
    taken AS (
        DELETE FROM billing.usage_parts p
         USING keys k
         WHERE p.tenant_id = k.tenant_id AND p.resource = k.resource
           AND p.period_start = k.period_start
        RETURNING p.tenant_id, p.resource, p.period_start, p.used),
    written AS (
        INSERT INTO billing.usage_parts (tenant_id, resource, period_start, writer, used)
        SELECT t.tenant_id, t.resource, t.period_start, 0, sum(t.used)
          FROM taken t
         GROUP BY t.tenant_id, t.resource, t.period_start
        HAVING sum(t.used) <> 0
        RETURNING 1)
    SELECT (SELECT count(*) FROM taken) - (SELECT count(*) FROM written) INTO v_removed;
    RETURN v_removed;
END;
$$;
COMMENT ON FUNCTION billing.merge_usage_parts() IS
    'Write each key''s usage as one row of billing.usage_parts (none when it is 0); returns how many rows fewer the table holds. Waits for every transaction that consumed, and holds consumption until it commits.';
