#!/usr/bin/env bash
# A backend takes over from its predecessor under the same BackendId where
# the predecessor last committed its part of a key (shared_hints.hpp,
# published when it exits), and checks it as its own remembered place is
# checked: the xmin of the tuple there, heap_update, and here what a
# rewrite of the table does.  A rewrite (VACUUM FULL) while no backend of
# that BackendId lives moves rows and keeps their xmin, so the published
# place of a key can hold another key's row written by the same
# transaction; the successor must notice (another relfilenode) and find
# its part again, not add to the row now sitting there.
#
#   1. session A consumes c1 alone, then c1 and c2 in one transaction:
#      c1's new version is the second row, c2's part the third, both with
#      that transaction's xmin; A exits and publishes c1 at the second place;
#   2. VACUUM FULL packs the live rows: c2's row is now at that place;
#   3. session B, under A's BackendId, consumes c1; then, with no rewrite,
#      session C consumes c1 and c2 from B's published places.
source "$(dirname "$0")/../../scripts/lib.sh"

trap stop_cluster EXIT
fail() { echo "FAILED: $*" >&2; exit 1; }
q() { psql -X -At -v ON_ERROR_STOP=1 -d hints -c "$1"; }

start_cluster part_hints 54422 "shared_preload_libraries = 'zechat_billing'" "autovacuum = off"
createdb hints
psql -X -q -v ON_ERROR_STOP=1 -d hints >/dev/null <<'SQL'
CREATE EXTENSION zechat_billing;
INSERT INTO billing.plans (plan_id, name) VALUES ('big', 'Big');
INSERT INTO billing.plan_limits VALUES ('big', 'messages', 1000000);
SELECT billing.subscribe('c1', 'big'), billing.subscribe('c2', 'big');
SQL

psql -X -q -At -v ON_ERROR_STOP=1 -d hints >/dev/null <<'SQL'
SELECT billing.consume_quota('c1', 'messages');
BEGIN;
SELECT billing.consume_quota('c1', 'messages');
SELECT billing.consume_quota('c2', 'messages');
COMMIT;
SQL
before=$(q "SELECT string_agg(tenant_id || '@' || ctid, ', ' ORDER BY ctid) FROM billing.usage_parts")
[ "$before" = "c1@(0,2), c2@(0,3)" ] || fail "the rows are not where this test needs them: $before"
q "VACUUM FULL billing.usage_parts"
after=$(q "SELECT string_agg(tenant_id || '@' || ctid, ', ' ORDER BY ctid) FROM billing.usage_parts")
[ "$after" = "c1@(0,1), c2@(0,2)" ] || fail "VACUUM FULL did not put c2 where c1 was: $after"

q "SELECT billing.consume_quota('c1', 'messages')" >/dev/null
usage() { q "SELECT string_agg(tenant_id || '=' || used, ', ' ORDER BY tenant_id)
               FROM (SELECT tenant_id, sum(used) AS used FROM billing.usage_parts GROUP BY 1) p"; }
[ "$(q "SELECT count(DISTINCT writer) FROM billing.usage_parts")" = 1 ] ||
    fail "session B wrote under another BackendId than A: the test proves nothing"
[ "$(usage)" = "c1=3, c2=1" ] || fail "after the rewrite a write landed on the wrong row: $(usage)"

psql -X -q -At -v ON_ERROR_STOP=1 -d hints >/dev/null <<'SQL'
SELECT billing.consume_quota('c1', 'messages');
SELECT billing.consume_quota('c2', 'messages');
SQL
[ "$(usage)" = "c1=4, c2=2" ] || fail "a write from a published place went wrong: $(usage)"
[ "$(q "SELECT count(*) FROM billing.usage_parts")" = 2 ] || fail "a part was written twice"
echo "part_hints: ok"
