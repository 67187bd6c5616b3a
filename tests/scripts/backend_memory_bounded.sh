#!/usr/bin/env bash
# A backend that serves many tenants keeps what it caches per tenant (terms,
# where its part of each key's usage is) within bounds: past 20000 entries
# each cache lets a sixteenth of them go (tenant_terms.cpp,
# own_usage_part.cpp).  One session of a
# shared-memory-mode server consumes for 25000 tenants, one transaction
# each; then no cache of the extension may use more than 20000 entries'
# worth of memory (the terms cache uses about 4.3 MB, 213 bytes an entry;
# 25000 entries would take 5.3 MB), and every consumption is counted once.  And a transaction over many keys
# leaves nothing of that size behind for the next ones.  And the triggers
# of tables enforced and dropped again leave nothing behind either (until
# 2026-12-05 each trigger that had fired stayed in the layouts cache).  And
# a procedure that consumes and commits in a loop keeps nothing of each
# commit (until 2026-12-05 writing the usage part at COMMIT allocated in the
# procedure's memory, about 60 bytes for each key it looked up again).
# And, in lock mode, a transaction's rollbacks to savepoints leave nothing
# of each behind.
source "$(dirname "$0")/../../scripts/lib.sh"

trap stop_cluster EXIT
fail() { echo "FAILED: $*" >&2; exit 1; }

start_cluster backend_memory_bounded 54414 "shared_preload_libraries = 'zechat_billing'" \
    "zechat_billing.max_counters = 30000"
createdb bounded
out=$(psql -X -At -v ON_ERROR_STOP=1 -d bounded 2>&1 <<'SQL'
CREATE EXTENSION zechat_billing;
INSERT INTO billing.plans (plan_id, name) VALUES ('p', 'P');
INSERT INTO billing.plan_limits VALUES ('p', 'messages', 10);
INSERT INTO billing.subscriptions (tenant_id, plan_id)
SELECT 't' || i, 'p' FROM generate_series(1, 25000) i;
DO $$
BEGIN
    FOR i IN 1..25000 LOOP
        PERFORM billing.consume_quota('t' || i, 'messages');
        COMMIT;
    END LOOP;
END $$;
SELECT 'context ' || name || ' ' || used_bytes
  FROM pg_backend_memory_contexts WHERE name LIKE 'zechat_billing%' ORDER BY name;
SELECT 'parts ' || count(*) || ' used ' || sum(used) FROM billing.usage_parts;
-- One transaction over 8000 tenants, then one over a single tenant: what
-- the big one needed per key is not kept for the rest of the session.
SELECT count(billing.consume_quota('t' || i, 'messages')) FROM generate_series(1, 8000) i;
SELECT billing.consume_quota('t1', 'messages');
SELECT 'top ' || total_bytes FROM pg_backend_memory_contexts WHERE name = 'TopMemoryContext';
INSERT INTO billing.plan_limits VALUES ('p', 'users', 1000000);
CREATE PROCEDURE enforce_and_drop(n int) LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1..n LOOP
        CREATE TABLE cycled (tenant_id text);
        PERFORM billing.enforce_quota('cycled', 'users');
        INSERT INTO cycled VALUES ('t1');
        DELETE FROM cycled;
        DROP TABLE cycled;
        COMMIT;
    END LOOP;
END $$;
CALL enforce_and_drop(3000);
CREATE PROCEDURE consume_and_commit(n int) LANGUAGE plpgsql AS $$
DECLARE
    v_before bigint;
    v_after  bigint;
BEGIN
    SELECT sum(used_bytes) INTO v_before FROM pg_backend_memory_contexts WHERE name = 'SPI Proc';
    COMMIT;
    FOR i IN 1..n LOOP
        PERFORM billing.consume_quota('t' || (1 + i * 7 % 25000), 'messages');
        COMMIT;
    END LOOP;
    SELECT sum(used_bytes) INTO v_after FROM pg_backend_memory_contexts WHERE name = 'SPI Proc';
    RAISE NOTICE 'per commit %', (v_after - v_before) / n;
END $$;
CALL consume_and_commit(8000);
SELECT 'layouts ' || total_bytes FROM pg_backend_memory_contexts
 WHERE name = 'zechat_billing trigger layouts';
SQL
) || { echo "$out"; fail "the session failed"; }
echo "$out"
grep -q "^context zechat_billing usage part locations " <<<"$out" || fail "no location cache seen"
grep -q "^context zechat_billing tenant terms " <<<"$out" || fail "no terms cache seen"
over=$(awk '/^context / && $NF >= 4700000' <<<"$out")
[ -z "$over" ] || fail "a cache outgrew its bound: $over"
grep -qxF "parts 25000 used 25000" <<<"$out" || fail "consumption was lost or counted twice"
# A per-key array kept from the 8000-key transaction would hold over 1 MB.
top=$(sed -n 's/^top //p' <<<"$out")
[ -n "$top" ] && [ "$top" -lt 600000 ] || fail "TopMemoryContext kept $top bytes after a transaction over 8000 keys"
# PostgreSQL's own loop keeps 24 bytes per COMMIT.
per_commit=$(sed -n 's/.*NOTICE:  per commit //p' <<<"$out")
[ -n "$per_commit" ] && [ "$per_commit" -lt 40 ] || fail "a procedure kept $per_commit bytes per commit"
# 6000 triggers fired, each kept, would hold about 500 kB.
layouts=$(sed -n 's/^layouts //p' <<<"$out")
[ -n "$layouts" ] && [ "$layouts" -lt 100000 ] || fail "the trigger layouts cache kept $layouts bytes"

# Lock mode, in a database shared-memory mode never wrote (an existing usage
# row is then written without SQL, and each write remembered): a transaction
# rolling back to a savepoint again and again keeps nothing of each
# rollback (until 2026-12-06, 144 bytes in TopMemoryContext per rolled-back
# write, to the end of the transaction), and counts exactly what stayed.
restart_cluster "shared_preload_libraries = ''"
createdb savepoints
out=$(psql -X -At -v ON_ERROR_STOP=1 -d savepoints 2>&1 <<'SQL'
CREATE EXTENSION zechat_billing;
INSERT INTO billing.plans (plan_id, name) VALUES ('p', 'P');
INSERT INTO billing.plan_limits VALUES ('p', 'messages', 1000000);
SELECT billing.subscribe('t1', 'p');
CREATE TABLE msgs (tenant_id text NOT NULL, n int NOT NULL);
SELECT billing.enforce_quota('msgs', 'messages');
INSERT INTO msgs VALUES ('t1', 0); -- the usage row exists: written in place
BEGIN;
DO $$
BEGIN
    FOR i IN 1..20000 LOOP
        BEGIN
            INSERT INTO msgs VALUES ('t1', i);
            IF i <= 19990 THEN -- the last 10 stay
                RAISE EXCEPTION 'undone';
            END IF;
        EXCEPTION WHEN raise_exception THEN NULL;
        END;
    END LOOP;
END $$;
SELECT 'in transaction ' || total_bytes FROM pg_backend_memory_contexts WHERE name = 'TopMemoryContext';
COMMIT;
INSERT INTO msgs VALUES ('t1', 0);
SELECT 'rows ' || count(*) || ' used ' || (SELECT used FROM billing.tenant_usage('t1') WHERE resource = 'messages')
  FROM msgs;
SQL
) || { echo "$out"; fail "the lock-mode session failed"; }
echo "$out"
grep -qxF "rows 12 used 12" <<<"$out" || fail "savepoints lost or counted twice: $(grep '^rows' <<<"$out")"
top=$(sed -n 's/^in transaction //p' <<<"$out")
[ -n "$top" ] && [ "$top" -lt 600000 ] || fail "TopMemoryContext held $top bytes after 19990 rolled-back writes"
echo "backend_memory_bounded: ok"
