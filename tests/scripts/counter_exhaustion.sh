#!/usr/bin/env bash
# Shared-memory mode out of counters, under load: 16 clients each send one
# message to 16 tenants in one transaction (256 counters wanted at once)
# through a table of 100 counters (the smallest allowed).  Transactions that
# find every counter in use fail with 53400 and the clear message, and change
# nothing; the server does not crash; and no tenant (limit 10, about 48
# attempts each) ever gets past its limit or has usage that differs from its
# stored rows.  Nor do a schedule change and releases for keys without
# usage.
source "$(dirname "$0")/../../scripts/lib.sh"

STRESS=$(dirname "$0")/stress
trap stop_cluster EXIT
fail() { echo "FAILED: $*" >&2; exit 1; }
q() { psql -X -At -v ON_ERROR_STOP=1 -d exhaust -c "$1"; }

start_cluster exhaust 54401 "max_connections = 40" "shared_preload_libraries = 'zechat_billing'" \
    "zechat_billing.max_counters = 100"
[ "$(psql -X -At -d postgres -c "SHOW zechat_billing.max_counters")" = 100 ] ||
    fail "zechat_billing.max_counters was not applied"
createdb exhaust
psql -X -q -v ON_ERROR_STOP=1 -d exhaust >/dev/null <<'SQL'
CREATE EXTENSION zechat_billing;
INSERT INTO billing.plans (plan_id, name) VALUES ('small', 'Small');
INSERT INTO billing.plan_limits VALUES ('small', 'messages', 10);
SELECT billing.subscribe('e' || g, 'small') FROM generate_series(1, 800) g;
CREATE TABLE exhaust_messages (id bigserial PRIMARY KEY, tenant_id text NOT NULL);
SELECT billing.enforce_quota('exhaust_messages', 'messages');
CREATE TABLE outcomes (sqlstate text, message text);

-- One message to each of 16 consecutive tenants, all or nothing; the outcome
-- is recorded (pgbench would stop a client at its first error).
CREATE FUNCTION exhaust_send(p_first int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_state text;
    v_message text;
BEGIN
    BEGIN
        INSERT INTO exhaust_messages (tenant_id)
        SELECT 'e' || ((p_first + g) % 800 + 1) FROM generate_series(0, 15) g;
        PERFORM pg_sleep(0.002); -- hold the counters while others want theirs
        v_state := 'ok';
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_message = MESSAGE_TEXT;
    END;
    INSERT INTO outcomes VALUES (v_state, v_message);
END $$;
SQL

out=$(pgbench -n -d exhaust -c 16 -j 2 -t 150 -f "$STRESS/exhaust_counters.sql" 2>&1) || {
    echo "$out"
    fail "pgbench failed"
}
echo "outcomes: $(q "SELECT string_agg(sqlstate || '=' || n, ' ' ORDER BY sqlstate)
                     FROM (SELECT sqlstate, count(*) AS n FROM outcomes GROUP BY 1) s")"
unexpected=$(q "SELECT string_agg(DISTINCT sqlstate || ': ' || message, '; ')
                  FROM outcomes WHERE sqlstate NOT IN ('ok', 'PT402', '53400')")
[ -z "$unexpected" ] || fail "unexpected errors: $unexpected"
[ "$(q "SELECT count(*) FROM outcomes WHERE sqlstate = '53400'")" -gt 0 ] ||
    fail "no transaction ran out of counters: the test did not exhaust them"
[ "$(q "SELECT count(*) FROM outcomes WHERE sqlstate = 'ok'")" -gt 0 ] || fail "nothing got through"
bad_message=$(q "SELECT count(*) FROM outcomes WHERE sqlstate = '53400'
                    AND message NOT LIKE 'zechat_billing: all 100 usage counters are in use'")
[ "$bad_message" = 0 ] || fail "53400 without the clear message"
result=$(q "SELECT count(*) || ' tenants, ' || count(*) FILTER (WHERE stored = used AND used <= 10) || ' exact'
              FROM (SELECT s.tenant_id,
                           (SELECT count(*) FROM exhaust_messages m WHERE m.tenant_id = s.tenant_id) AS stored,
                           (SELECT used FROM billing.tenant_usage(s.tenant_id) WHERE resource = 'messages') AS used
                      FROM billing.subscriptions s) t")
echo "after the run: $result"
[ "$result" = "800 tenants, 800 exact" ] || fail "usage differs from the stored rows, or passed the limit"
[ "$(q "SELECT count(*) FROM billing.counters WHERE reserved <> 0 OR releasing <> 0")" = 0 ] ||
    fail "reservations left behind"
[ "$(q "SELECT count(*) FROM billing.counters")" -le 100 ] || fail "more counters than max_counters"
# A change of schedule of a plan with more subscribers than counters, none
# with usage, needs no counter (it once pinned one per subscriber and period
# resource until it committed, and ran out).
q "INSERT INTO billing.plans (plan_id, name) VALUES ('wide', 'Wide')" >/dev/null
q "SELECT count(billing.subscribe('w' || g, 'wide', now() - interval '40 days')) FROM generate_series(1, 300) g" >/dev/null
q "UPDATE billing.plans SET billing_interval = '1 year' WHERE plan_id = 'wide'" >/dev/null ||
    fail "a schedule change of 300 subscribers without usage failed"
[ "$(q "SELECT count(*) FROM billing.counters WHERE tenant_id LIKE 'w%'")" = 0 ] ||
    fail "the schedule change placed counters for keys without usage"
# Nor does a release for keys without a counter or usage: 300 made-up
# tenants in one transaction, through 100 counters (until 2026-12-06 each
# took a counter until the transaction ended, and the 101st failed with 53400).
q "SELECT count(billing.release_quota('nobody' || g, 'users')) FROM generate_series(1, 300) g" >/dev/null ||
    fail "releases for 300 keys without usage ran out of counters"
[ "$(q "SELECT count(*) FROM billing.counters WHERE tenant_id LIKE 'nobody%'")" = 0 ] ||
    fail "releases placed counters for keys without usage"
if grep -E "PANIC|terminated by signal|server process .* was terminated" "$CLUSTER_DIR/server.log"; then
    fail "the server crashed"
fi
echo "counter exhaustion: ok"
