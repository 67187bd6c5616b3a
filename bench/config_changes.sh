#!/usr/bin/env bash
# What changes of configuration cost (lock mode): subscribe() of BATCH new
# tenants in one statement, against an INSERT of as many rows into a copy
# of billing.subscriptions without triggers (the same rows, nothing else to
# do); an edit of a plan's limit over SUBSCRIBERS subscribers (every one's
# limit logged); and one subscribe() a transaction, as signups come, against
# one plain insert a transaction (pgbench, 1 client, SECONDS each). All run
# in turn, ROUNDS times, each in a new session; medians, and the ratios of
# subscribe() to the plain insert.
#
#   bash bench/config_changes.sh
#   SUBSCRIBERS=30000 BATCH=2000 ROUNDS=5 SECONDS_EACH=4 (the defaults)
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

SUBSCRIBERS=${SUBSCRIBERS:-30000}
BATCH=${BATCH:-2000}
ROUNDS=${ROUNDS:-5}
SECONDS_EACH=${SECONDS_EACH:-4}

install_build_dependencies
build_and_install_extension
start_cluster config_changes 54388 >/dev/null
createdb bench
psql -X -q -v ON_ERROR_STOP=1 -d bench >/dev/null <<SQL
CREATE EXTENSION zechat_billing;
INSERT INTO billing.plans (plan_id, name) VALUES ('p', 'P');
INSERT INTO billing.plan_limits VALUES ('p', 'messages', 1000), ('p', 'storage', 1000000);
SELECT billing.subscribe('s' || g, 'p') FROM generate_series(1, $SUBSCRIBERS) g;
CREATE TABLE plain_subscriptions (LIKE billing.subscriptions INCLUDING ALL);
SQL

# timed SQL: prints the milliseconds the statement took.
timed() {
    psql -X -q -v ON_ERROR_STOP=1 -d bench -c '\timing on' -c "$1" |
        sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p'
}

# pgbench SCRIPT: prints the transactions a second of one client.
tps() {
    pgbench -n -d bench -c 1 -T "$SECONDS_EACH" -f "$CLUSTER_DIR/$1" 2>&1 |
        sed -n 's/^tps = \([0-9.]*\) .*/\1/p'
}
cat >"$CLUSTER_DIR/signup.sql" <<'SQL'
\set t random(1, 2000000000)
SELECT billing.subscribe('n' || :t, 'p');
SQL
cat >"$CLUSTER_DIR/plain_signup.sql" <<'SQL'
\set t random(1, 2000000000)
INSERT INTO plain_subscriptions (tenant_id, plan_id, period_anchor, status)
VALUES ('n' || :t, 'p', now(), 'active') ON CONFLICT DO NOTHING;
SQL

declare -A times
counts=""
for round in $(seq "$ROUNDS"); do
    times[subscribe]+="$(timed "SELECT count(billing.subscribe('r${round}_' || g, 'p'))
                                  FROM generate_series(1, $BATCH) g") "
    times[plain]+="$(timed "INSERT INTO plain_subscriptions (tenant_id, plan_id, period_anchor, status)
                             SELECT 'r${round}_' || g, 'p', now(), 'active'
                               FROM generate_series(1, $BATCH) g") "
    times[edit]+="$(timed "UPDATE billing.plan_limits SET hard_limit = hard_limit + 1
                            WHERE plan_id = 'p' AND resource = 'messages'") "
    counts+="$(psql -X -At -d bench -c 'SELECT count(*) FROM billing.subscriptions') "
    times[signup]+="$(tps signup.sql) "
    times[plain_signup]+="$(tps plain_signup.sql) "
done
stop_cluster

median() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
subscribe=$(median <<<"${times[subscribe]}")
plain=$(median <<<"${times[plain]}")
edit=$(median <<<"${times[edit]}")
signup=$(median <<<"${times[signup]}")
plain_signup=$(median <<<"${times[plain_signup]}")

echo
echo "Configuration changes, lock mode, median of $ROUNDS rounds:"
echo
echo "| change | ms | per row, ms |"
echo "|---|---|---|"
awk -v ms="$subscribe" -v plain="$plain" -v n="$BATCH" 'BEGIN {
    printf "| subscribe() of %d new tenants, one statement | %.0f | %.3f |\n", n, ms, ms / n
    printf "| INSERT of as many rows into a copy without triggers | %.0f | %.3f |\n", plain, plain / n
    printf "| ratio subscribe() / plain INSERT | %.1f | |\n", ms / plain }'
first=$(tr ' ' '\n' <<<"$counts" | sed '/^$/d' | head -1)
last=$(tr ' ' '\n' <<<"$counts" | sed '/^$/d' | tail -1)
awk -v ms="$edit" -v first="$first" -v last="$last" 'BEGIN {
    printf "| a plan limit edited, over %d to %d subscribers | %.0f | |\n", first, last, ms }'
awk -v tps="$signup" -v plain="$plain_signup" 'BEGIN {
    printf "| subscribe() of a new tenant, one a transaction, tps | %.0f | |\n", tps
    printf "| INSERT of one row into the copy, one a transaction, tps | %.0f | |\n", plain
    printf "| ratio subscribe() / plain INSERT, tps | %.2f | |\n", tps / plain }'
