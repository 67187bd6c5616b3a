#!/usr/bin/env bash
# Shared-memory mode takes its backend's part at a remembered place when the
# tuple there still carries the xmin of the transaction that last committed
# it (src/pg/own_usage_part.cpp).  A rewrite of the table (VACUUM FULL,
# CLUSTER) moves rows and keeps their xmin, so after one the remembered
# place of a key can hold another key's row written by the same
# transaction.  The write must notice the rewrite and find the part again,
# not add to the row that now sits there.
#
#   1. c1 consumes alone: its part is the table's first row;
#   2. one transaction consumes c1 and c2: c1's new version is the second
#      row, c2's part (created) the third, both with that transaction's
#      xmin, and the session remembers c1 at the second place;
#   3. VACUUM FULL packs the two live rows into places one and two: c2's
#      row is now at the place remembered for c1; then c1 consumes again.
#
# A rewrite cannot come in the middle of a transaction that consumed: it
# holds the table's lock from its first consumption (as lock mode does), so
# VACUUM FULL waits for it (tried here with a lock_timeout).
source "$(dirname "$0")/../../scripts/lib.sh"

trap stop_cluster EXIT
fail() { echo "FAILED: $*" >&2; exit 1; }
q() { psql -X -At -v ON_ERROR_STOP=1 -d rewrite -c "$1"; }

start_cluster own_part_rewrite 54413 "shared_preload_libraries = 'zechat_billing'" "autovacuum = off"
createdb rewrite
psql -X -q -v ON_ERROR_STOP=1 -d rewrite >/dev/null <<'SQL'
CREATE EXTENSION zechat_billing;
INSERT INTO billing.plans (plan_id, name) VALUES ('big', 'Big');
INSERT INTO billing.plan_limits VALUES ('big', 'messages', 1000000);
SELECT billing.subscribe('c1', 'big'), billing.subscribe('c2', 'big');
SQL

other="psql -X -q -v ON_ERROR_STOP=1 -d rewrite"
out=$(psql -X -At -d rewrite 2>&1 <<SQL
SELECT billing.consume_quota('c1', 'messages');
BEGIN;
SELECT billing.consume_quota('c1', 'messages');
SELECT billing.consume_quota('c2', 'messages');
COMMIT;
SELECT 'before: ' || string_agg(tenant_id || '@' || ctid, ', ' ORDER BY ctid) FROM billing.usage_parts;
BEGIN;
SELECT billing.consume_quota('c1', 'messages');
\! $other -c "SET lock_timeout = '300ms'" -c "VACUUM FULL billing.usage_parts" 2>&1 | sed -n 's/^.*\(canceling statement due to lock timeout\).*$/rewrite in flight: \1/p'
COMMIT;
\! $other -c "VACUUM FULL billing.usage_parts"
SELECT billing.consume_quota('c1', 'messages');
SELECT 'usage: ' || string_agg(tenant_id || '=' || used, ', ' ORDER BY tenant_id)
  FROM (SELECT tenant_id, sum(used) AS used FROM billing.usage_parts GROUP BY 1) p;
SQL
)
echo "$out"
grep -qxF "before: c1@(0,2), c2@(0,3)" <<<"$out" || fail "the rows are not where this test needs them"
grep -qxF "rewrite in flight: canceling statement due to lock timeout" <<<"$out" ||
    fail "VACUUM FULL did not wait for the transaction in flight"
grep -qxF "usage: c1=4, c2=1" <<<"$out" || fail "a write landed on the wrong row after the rewrite"
[ "$(q "SELECT count(*) FROM billing.usage_parts")" = 2 ] || fail "a part was written twice"
echo "own_part_rewrite: ok"
