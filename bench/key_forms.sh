#!/usr/bin/env bash
# What the uuid and bigint forms of tenant_usage() and subscribe() cost
# against their text form, which they call (lock mode, pgbench, 1 client,
# SECONDS_EACH each): the forms of one function run in turn, A B A B, ROUNDS
# times, each in a new session; each round's ratio to the text form, then
# their median.
#
#   bash bench/key_forms.sh
#   ROUNDS=7 SECONDS_EACH=4 (the defaults)
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/stats.sh"

ROUNDS=${ROUNDS:-7}
SECONDS_EACH=${SECONDS_EACH:-4}

install_build_dependencies
build_and_install_extension
start_cluster key_forms 54389 >/dev/null
trap stop_cluster EXIT
createdb bench
psql -X -q -v ON_ERROR_STOP=1 -d bench >/dev/null <<'SQL'
CREATE EXTENSION zechat_billing;
INSERT INTO billing.plans (plan_id, name) VALUES ('p', 'P');
INSERT INTO billing.plan_limits VALUES ('p', 'messages', 1000), ('p', 'storage', 1000000);
SELECT billing.subscribe(g::text, 'p') FROM generate_series(1, 1000) g;
SELECT billing.subscribe('00000000-0000-0000-0000-' || lpad(g::text, 12, '0'), 'p')
  FROM generate_series(1, 1000) g;
SQL

# The scripts, by form: a random one of the 1000 tenants of each key type;
# new tenants for subscribe(), one a transaction.
write_script() { cat >"$CLUSTER_DIR/$1.sql"; chmod 644 "$CLUSTER_DIR/$1.sql"; }
write_script usage_text <<'SQL'
\set t random(1, 1000)
SELECT * FROM billing.tenant_usage(:t::text);
SQL
write_script usage_bigint <<'SQL'
\set t random(1, 1000)
SELECT * FROM billing.tenant_usage(:t::bigint);
SQL
write_script usage_uuid <<'SQL'
\set t random(1, 1000)
SELECT * FROM billing.tenant_usage(('00000000-0000-0000-0000-' || lpad(:t::text, 12, '0'))::uuid);
SQL
write_script subscribe_text <<'SQL'
\set t random(1000000, 2000000000)
SELECT billing.subscribe(:t::text, 'p');
SQL
write_script subscribe_bigint <<'SQL'
\set t random(1000000, 2000000000)
SELECT billing.subscribe(:t::bigint, 'p');
SQL

# tps SCRIPT: transactions a second of one client.
tps() {
    pgbench -n -d bench -c 1 -T "$SECONDS_EACH" -f "$CLUSTER_DIR/$1.sql" 2>&1 |
        sed -n 's/^tps = \([0-9.]*\) .*/\1/p'
}

forms="usage_text usage_bigint usage_uuid subscribe_text subscribe_bigint"
declare -A runs
for round in $(seq "$ROUNDS"); do
    for form in $forms; do
        runs[$form]+="$(tps "$form") "
    done
done

echo
echo "Key forms, lock mode, $ROUNDS rounds of $SECONDS_EACH s, 1 client:"
echo
echo "| call | median tps | median ratio to the text form |"
echo "|---|---|---|"
for form in $forms; do
    text=${form%_*}_text
    printf '| %s | %.0f | %.2f |\n' "$form" "$(median_of "${runs[$form]}")" \
        "$(round_ratios "${runs[$text]}" "${runs[$form]}")"
done
