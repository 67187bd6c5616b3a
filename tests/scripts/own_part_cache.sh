#!/usr/bin/env bash
# Each backend remembers where the version of a key's usage row it last
# committed is, and the transaction that wrote it (src/pg/own_usage_part.cpp):
# shared-memory mode its own part of the key, which it updates without a
# snapshot while that version's xmin is still that transaction; lock mode
# the key's writer-0 row, which every backend writes, and which it takes
# from there when the version is still that transaction's and its snapshot
# sees it (src/pg/usage_part_rows.cpp).  One session keeps consuming while
# a second one does what could make that remembered place wrong; every
# write must still land on the right row, exactly once:
#   1. an administrator changes the row by hand (the remembered version is
#      no longer the newest);
#   2. the row is deleted, VACUUM frees its slot and another key's row
#      takes it (VACUUM also makes every backend forget where its rows
#      are: this checks that the row is created again, once, and that the
#      row in its old slot is left alone);
#   3. the row is deleted, and without VACUUM (which would make the
#      backend forget), pruning frees the slot of its newest version and
#      another row's new version takes it: the tuple in the remembered
#      slot is then a live row of another key;
#   4. the transaction that wrote the row aborts after writing it (an
#      error in what runs after the write, at commit: here a trigger that
#      refuses the usage alert), so the version written is dead and the one
#      before it still the newest.
# Runs in both modes.  The rows of other keys are parts of one tenant in
# shared-memory mode (writers 1 to n) and writer-0 rows of n tenants in
# lock mode, where parts of other writers would turn its reads to sums.
source "$(dirname "$0")/../../scripts/lib.sh"

trap stop_cluster EXIT
fail() { echo "FAILED ($MODE): $*" >&2; exit 1; }
q() { psql -X -At -v ON_ERROR_STOP=1 -d cache -c "$1"; }

run_cache() { # MODE [postgresql.conf lines...]
MODE=$1
shift
# Rows of n other keys (tenant names starting with PREFIX): one tenant's
# parts of writers 1..n, or n tenants' writer-0 rows.
others() { # PREFIX N USED
    if [ "$MODE" = shared_memory ]; then
        echo "SELECT '$1', 'messages', now(), w, $3 FROM generate_series(1, $2) w"
    else
        echo "SELECT '$1' || w, 'messages', now(), 0, $3 FROM generate_series(1, $2) w"
    fi
}
# One of those rows, quoted for a string literal.
one_other="tenant_id = ''filler'' AND writer = 1"
[ "$MODE" = shared_memory ] || one_other="tenant_id = ''filler1''"
start_cluster own_part_cache 54410 "autovacuum = off" "$@"
createdb cache
psql -X -q -v ON_ERROR_STOP=1 -d cache >/dev/null <<'SQL'
CREATE EXTENSION zechat_billing;
INSERT INTO billing.plans (plan_id, name) VALUES ('big', 'Big'), ('small', 'Small');
INSERT INTO billing.plan_limits VALUES ('big', 'messages', 1000000), ('small', 'messages', 10);
SELECT billing.subscribe('c1', 'big'), billing.subscribe('c2', 'small');
CREATE FUNCTION public.refuse_alerts() RETURNS trigger LANGUAGE plpgsql
    AS $$ BEGIN RAISE EXCEPTION 'alerts refused'; END $$;
SQL

# The session under test: one backend, one psql.  `\!` runs the other
# session's statements in between.
other="psql -X -q -v ON_ERROR_STOP=1 -d cache"
out=$(psql -X -At -d cache 2>&1 <<SQL
SELECT billing.consume_quota('c1', 'messages');
SELECT billing.consume_quota('c1', 'messages');
SELECT 'after two: ' || used FROM billing.usage_parts WHERE tenant_id = 'c1';
-- 1.
\! $other -c "UPDATE billing.usage_parts SET used = used + 100 WHERE tenant_id = 'c1'"
SELECT billing.consume_quota('c1', 'messages');
SELECT billing.consume_quota('c1', 'messages');
SELECT 'after hand edit: ' || used FROM billing.usage_parts WHERE tenant_id = 'c1';
-- 2.
\! $other -c "CREATE TABLE gone AS SELECT ctid AS place FROM billing.usage_parts WHERE tenant_id = 'c1'" -c "DELETE FROM billing.usage_parts WHERE tenant_id = 'c1'" -c "VACUUM billing.usage_parts" -c "INSERT INTO billing.usage_parts $(others intruder 20 7)"
SELECT 'slot taken: ' || EXISTS (SELECT FROM billing.usage_parts p, gone WHERE p.tenant_id LIKE 'intruder%' AND p.ctid = place);
SELECT billing.consume_quota('c1', 'messages');
SELECT billing.consume_quota('c1', 'messages');
SELECT 'after delete: ' || string_agg(tenant_id || '=' || used, ', ' ORDER BY tenant_id)
  FROM (SELECT CASE WHEN tenant_id LIKE 'intruder%' THEN 'intruder' WHEN tenant_id LIKE 'filler%' THEN 'filler' ELSE tenant_id END AS tenant_id, sum(used) AS used
          FROM billing.usage_parts GROUP BY 1) p;
-- 3. The page is filled to its fillfactor, so that the updates of a
-- filler row make it prunable; each update in its own transaction, until
-- one lands in the slot of c1's newest version.
\! $other -c "CREATE TABLE gone2 AS SELECT ctid AS place FROM billing.usage_parts WHERE tenant_id = 'c1'" -c "INSERT INTO billing.usage_parts $(others filler 100 0)" -c "DELETE FROM billing.usage_parts WHERE tenant_id = 'c1'" -c "DO 'BEGIN FOR i IN 1..20 LOOP UPDATE billing.usage_parts SET used = used + 1 WHERE $one_other; COMMIT; EXIT WHEN EXISTS (SELECT FROM billing.usage_parts p, gone2 WHERE p.tenant_id LIKE ''filler%'' AND p.ctid = place); END LOOP; END'"
SELECT 'slot reused: ' || EXISTS (SELECT FROM billing.usage_parts p, gone2 WHERE p.tenant_id LIKE 'filler%' AND p.ctid = place);
SELECT 'filler before: ' || sum(used) FROM billing.usage_parts WHERE tenant_id LIKE 'filler%';
SELECT billing.consume_quota('c1', 'messages');
SELECT 'after prune: ' || string_agg(tenant_id || '=' || used, ', ' ORDER BY tenant_id)
  FROM (SELECT CASE WHEN tenant_id LIKE 'intruder%' THEN 'intruder' WHEN tenant_id LIKE 'filler%' THEN 'filler' ELSE tenant_id END AS tenant_id, sum(used) AS used
          FROM billing.usage_parts WHERE tenant_id = 'c1' OR tenant_id LIKE 'filler%' GROUP BY 1) p;
-- 4.
SELECT billing.consume_quota('c2', 'messages', 7);
\! $other -c "CREATE TRIGGER refuse_alerts BEFORE INSERT ON billing.alerts FOR EACH ROW EXECUTE FUNCTION public.refuse_alerts()"
SELECT billing.consume_quota('c2', 'messages');
\! $other -c "DROP TRIGGER refuse_alerts ON billing.alerts"
SELECT billing.consume_quota('c2', 'messages');
SELECT billing.consume_quota('c2', 'messages');
SELECT 'after abort: ' || used FROM billing.usage_parts WHERE tenant_id = 'c2';
SELECT 'alerts: ' || string_agg(threshold || '@' || used, ', ' ORDER BY threshold)
  FROM billing.alerts WHERE tenant_id = 'c2';
SQL
)
echo "$out"
expect() { grep -qxF "$1" <<<"$out" || fail "expected the line \"$1\""; }
expect "after two: 2"
expect "after hand edit: 104"
expect "slot taken: true"
expect "after delete: c1=2, intruder=140"
expect "slot reused: true"
filler=$(sed -n 's/^filler before: //p' <<<"$out")
expect "after prune: c1=1, filler=$filler"
expect "ERROR:  alerts refused"
expect "after abort: 9"
expect "alerts: 80@8, 90@9"
[ "$(q "SELECT count(*) FROM billing.usage_parts WHERE tenant_id IN ('c1', 'c2')")" = 2 ] ||
    fail "a row was written twice"
stop_cluster
echo "own_part_cache ($MODE): ok"
}

run_cache lock
run_cache shared_memory "shared_preload_libraries = 'zechat_billing'"
