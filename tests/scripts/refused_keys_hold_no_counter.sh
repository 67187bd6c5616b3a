#!/usr/bin/env bash
# Shared-memory mode: a transaction keeps no counter for a key whose every
# consumption was refused or rolled back.  A role with only INSERT on an
# enforced table, whose rows row-level security refuses for any tenant but
# its own (after the billing trigger counted them), tries one row for each
# of 300 other tenants in one transaction, each in its own exception block,
# through a table of 100 counters, and keeps the transaction open.  Until
# 2026-12-06 every key it tried stayed pinned until it ended: consumption
# that needed a new counter failed with 53400 in every database of the
# server meanwhile (a helper's security hunt).  The same transaction then
# redelivers a row of each of 300 tenants into an exact_on_conflict table
# where they all exist (ON CONFLICT DO NOTHING skips them, after the
# trigger counted them): in one statement, in one statement run from
# PL/pgSQL, and one by one from PL/pgSQL.  Until 2026-12-06 the keys of
# skipped rows stayed pinned too (the statement failed with 53400 once it
# had 100).  Now, while the transaction is still open, another database
# consumes, and a transaction in its own database takes all 100 counters
# at once.
source "$(dirname "$0")/../../scripts/lib.sh"

trap stop_cluster EXIT
fail() { echo "FAILED: $*" >&2; exit 1; }
q() { psql -X -At -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }

start_cluster refused_keys 54433 "shared_preload_libraries = 'zechat_billing'" \
    "zechat_billing.max_counters = 100"
[ "$(q postgres "SHOW zechat_billing.max_counters")" = 100 ] ||
    fail "zechat_billing.max_counters was not applied"
createdb refused
createdb other
psql -X -q -v ON_ERROR_STOP=1 -d refused >/dev/null <<'SQL'
CREATE EXTENSION zechat_billing;
INSERT INTO billing.plans (plan_id, name) VALUES ('small', 'Small');
INSERT INTO billing.plan_limits VALUES ('small', 'messages', 10);
SELECT count(billing.subscribe('r' || g, 'small')) FROM generate_series(0, 300) g;
CREATE TABLE messages (id bigserial PRIMARY KEY, tenant_id text NOT NULL, body text);
SELECT billing.enforce_quota('messages', 'messages');
CREATE ROLE intruder LOGIN;
ALTER TABLE messages ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON messages TO intruder USING (tenant_id = 'r0') WITH CHECK (tenant_id = 'r0');
GRANT SELECT, INSERT ON messages TO intruder;
GRANT USAGE ON SEQUENCE messages_id_seq TO intruder;
CREATE TABLE deliveries (tenant_id text NOT NULL, message_id int NOT NULL,
                         PRIMARY KEY (tenant_id, message_id));
SELECT billing.enforce_quota('deliveries', 'messages');
SELECT billing.exact_on_conflict('deliveries');
GRANT INSERT ON deliveries TO intruder;
SQL
# The rows delivered once, 75 tenants a transaction (each pins its keys).
for first in 1 76 151 226; do
    q refused "INSERT INTO deliveries SELECT 'r' || g, 1 FROM generate_series($first, $first + 74) g" \
        >/dev/null
done
psql -X -q -v ON_ERROR_STOP=1 -d other >/dev/null <<'SQL'
CREATE EXTENSION zechat_billing;
INSERT INTO billing.plans (plan_id, name) VALUES ('p', 'P');
INSERT INTO billing.plan_limits VALUES ('p', 'users', 5);
SELECT billing.subscribe('x', 'p');
SQL

# The intruder's transaction: 300 refused rows, 900 skipped ones, then it
# stays open (its sleep is cancelled below).  A statement that fails is
# rolled back alone (ON_ERROR_ROLLBACK), so that the transaction goes on.
psql -X -At -v ON_ERROR_ROLLBACK=on -U intruder -d refused >"$CLUSTER_DIR/intruder.out" 2>&1 <<'SQL' &
BEGIN;
INSERT INTO deliveries SELECT 'r' || g, 1 FROM generate_series(1, 300) g ON CONFLICT DO NOTHING;
DO $$
DECLARE
    failed int := 0;
BEGIN
    BEGIN
        INSERT INTO deliveries SELECT 'r' || g, 1 FROM generate_series(1, 300) g
            ON CONFLICT DO NOTHING;
    EXCEPTION WHEN OTHERS THEN -- 53400 on the code before
        failed := failed + 1;
    END;
    FOR g IN 1..300 LOOP
        BEGIN
            INSERT INTO deliveries VALUES ('r' || g, 1) ON CONFLICT DO NOTHING;
        EXCEPTION WHEN OTHERS THEN -- 53400 on the code before
            failed := failed + 1;
        END;
    END LOOP;
    RAISE NOTICE 'redelivered rows failed: %', failed;
END $$;
DO $$
DECLARE
    refused int := 0;
    failed int := 0;
BEGIN
    FOR g IN 1..300 LOOP
        BEGIN
            INSERT INTO messages (tenant_id, body) VALUES ('r' || g, 'x');
        EXCEPTION WHEN insufficient_privilege THEN
            refused := refused + 1;
        WHEN OTHERS THEN -- 53400 on the code before
            failed := failed + 1;
        END;
    END LOOP;
    RAISE NOTICE 'refused by the policy: %, failed otherwise: %', refused, failed;
END $$;
SELECT pg_sleep(120);
COMMIT;
SQL
intruder=$!
for _ in $(seq 1 600); do
    [ "$(q postgres "SELECT count(*) FROM pg_stat_activity
                      WHERE usename = 'intruder' AND wait_event = 'PgSleep'")" = 1 ] && break
    sleep 0.1
done
[ "$(q postgres "SELECT count(*) FROM pg_stat_activity
                  WHERE usename = 'intruder' AND wait_event = 'PgSleep'")" = 1 ] ||
    fail "the intruder's loop did not finish: $(cat "$CLUSTER_DIR/intruder.out")"
other=$(consumption_outcome other x users 1 || true)
echo "while the intruder's transaction is open: other database: $other"
[ "$other" = ok ] || fail "another database could not consume ($other)"
all=$(psql -X -At -v VERBOSITY=verbose -d refused \
    -c "SELECT count(billing.consume_quota('r' || g, 'messages', 1)) FROM generate_series(101, 200) g" 2>&1 |
    head -1 || true)
echo "while the intruder's transaction is open: 100 keys in one transaction: $all"
[ "$all" = 100 ] || fail "a transaction could not take every counter ($all)"
grep -q "refused by the policy: 300, failed otherwise: 0" "$CLUSTER_DIR/intruder.out" ||
    fail "not every row was refused by the policy: $(cat "$CLUSTER_DIR/intruder.out")"
grep -q "^INSERT 0 0$" "$CLUSTER_DIR/intruder.out" &&
    grep -q "redelivered rows failed: 0" "$CLUSTER_DIR/intruder.out" ||
    fail "a redelivery failed: $(cat "$CLUSTER_DIR/intruder.out")"

q postgres "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE usename = 'intruder'" >/dev/null
wait "$intruder" || true
[ "$(q refused "SELECT count(*) FROM messages")" = 0 ] || fail "a refused row was written"
[ "$(counters_in_flight refused)" = 0 ] || fail "reservations left behind"
[ "$(q refused "SELECT count(*) FROM deliveries")" = 300 ] || fail "a skipped row was written"
[ "$(q refused "SELECT sum(used) FROM billing.usage WHERE resource = 'messages'")" = 400 ] ||
    fail "usage differs from what was consumed (300 rows delivered once, 100 consumed)"
echo "refused keys hold no counter: ok"
