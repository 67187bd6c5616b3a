#!/usr/bin/env bash
# Alerts as a listener sees them, and billing periods that end within
# seconds.  In lock mode and in shared-memory mode:
#  * a session that LISTENs on billing_alerts receives, when another session
#    commits a consumption crossing 80 %, one JSON payload {"tenant_id",
#    "resource", "threshold", "used", "limit", "period_start"} (valid JSON for
#    a tenant id with quotes, backslashes and non-ASCII letters); a crossing
#    that rolls back sends nothing;
#  * with a 5-second billing interval, a tenant blocked at its limit is let
#    through again once the boundary has passed, with no job running: the
#    first consumption (or read) after it sees a fresh period, and the alert
#    thresholds can be crossed again in it; billing.usage_history then shows
#    the closed periods with the limit each closed with.
source "$(dirname "$0")/../../scripts/lib.sh"

trap stop_cluster EXIT
fail() { echo "FAILED ($MODE): $*" >&2; exit 1; }
q() { psql -X -At -v ON_ERROR_STOP=1 -d alerts -c "$1"; }
TENANT='O'"'"'Brien "ü" \x'   # O'Brien "ü" \x
TENANT_SQL="'O''Brien \"ü\" \\x'"

# Runs CONSUMING_SQL in a second session while this one listens; prints the
# payloads received, one per line.
payloads_while() { # CONSUMING_SQL
    echo "$1" >"$CLUSTER_DIR/consume.sql"
    psql -X -q -d alerts 2>&1 <<SQL | sed -n 's/^Asynchronous notification "billing_alerts" with payload "\(.*\)" received from server process with PID [0-9]*\.$/\1/p'
LISTEN billing_alerts;
\! psql -X -q -d alerts -f $CLUSTER_DIR/consume.sql >/dev/null 2>&1
SELECT 1 \g /dev/null
SQL
}

# Sleeps until 0.1 s after the end of fast_tenant's current period.
sleep_past_period_end() {
    sleep "$(q "SELECT greatest(extract(epoch FROM period_end - clock_timestamp()), 0) + 0.1
                  FROM billing.tenant_usage('fast_tenant') WHERE resource = 'messages'")"
}

run_alerts() { # MODE [postgresql.conf lines...]
    MODE=$1
    shift
    start_cluster alerts 54408 "$@"
    createdb alerts
    psql -X -q -v ON_ERROR_STOP=1 -d alerts >/dev/null <<SQL
CREATE EXTENSION zechat_billing;
INSERT INTO billing.plans (plan_id, name) VALUES ('p', 'P');
INSERT INTO billing.plan_limits VALUES ('p', 'messages', 5);
SELECT billing.subscribe($TENANT_SQL, 'p');
INSERT INTO billing.plans (plan_id, name, billing_interval) VALUES ('fast', 'Fast', '5 seconds');
INSERT INTO billing.plan_limits VALUES ('fast', 'messages', 5);
SELECT billing.subscribe('fast_tenant', 'fast');
SQL

    # 3 of 5: below 80 %, no payload; a crossing that rolls back: none.
    [ -z "$(payloads_while "SELECT billing.consume_quota($TENANT_SQL, 'messages', 3)")" ] ||
        fail "a payload below the threshold"
    [ -z "$(payloads_while "BEGIN; SELECT billing.consume_quota($TENANT_SQL, 'messages'); ROLLBACK;")" ] ||
        fail "a payload from a rolled-back consumption"
    # 3 -> 4 of 5 crosses 80 %: exactly one payload, valid JSON, the facts.
    # Its period start is in UTC whatever the committing session's zone
    # (until 2026-12-07 in that zone: "...+14:00" from Kiritimati).
    local payloads
    payloads=$(payloads_while "SET TimeZone = 'Pacific/Kiritimati';
                               SELECT billing.consume_quota($TENANT_SQL, 'messages')")
    [ "$(echo "$payloads" | grep -c .)" = 1 ] || fail "expected one payload, got: $payloads"
    python3 - "$payloads" "$TENANT" "$(PGTZ=UTC q "SELECT to_char(period_start, 'YYYY-MM-DD\"T\"HH24:MI:SS')
                                                      FROM billing.tenant_usage($TENANT_SQL) WHERE resource = 'messages'")" <<'PY' ||
import json, sys
payload, tenant, period_start = sys.argv[1], sys.argv[2], sys.argv[3]
p = json.loads(payload)
assert set(p) == {"tenant_id", "resource", "threshold", "used", "limit", "period_start"}, p
assert p["tenant_id"] == tenant, (p["tenant_id"], tenant)
assert (p["resource"], p["threshold"], p["used"], p["limit"]) == ("messages", 80, 4, 5), p
assert p["period_start"].startswith(period_start) and p["period_start"].endswith("+00:00"), (p, period_start)
print("payload:", payload)
PY
        fail "the payload is not the JSON the contract describes: $payloads"
    [ "$(q "SELECT count(*) FROM billing.alerts WHERE tenant_id = $TENANT_SQL")" = 1 ] ||
        fail "the alert row is missing"

    # A 5-second period (2 seconds were too short on a loaded machine):
    # blocked at 5, free again after the boundary.  Each
    # step starts just after a boundary, so that no other boundary falls
    # between the statements that must share a period.
    local first second
    sleep_past_period_end
    q "SELECT billing.consume_quota('fast_tenant', 'messages', 5)" >/dev/null
    [ "$(q "SELECT billing.try_consume_quota('fast_tenant', 'messages')")" = f ] ||
        fail "the fast tenant was not blocked at its limit"
    first=$(q "SELECT period_start FROM billing.tenant_usage('fast_tenant') WHERE resource = 'messages'")
    sleep_past_period_end
    [ "$(q "SELECT used FROM billing.tenant_usage('fast_tenant') WHERE resource = 'messages'")" = 0 ] ||
        fail "a read after the boundary does not see a fresh period"
    [ "$(q "SELECT billing.consume_quota('fast_tenant', 'messages', 4)")" = 1 ] ||
        fail "the first consumption after the boundary did not start from zero"
    second=$(q "SELECT period_start FROM billing.tenant_usage('fast_tenant') WHERE resource = 'messages'")
    [ "$(q "SELECT '$second'::timestamptz - '$first'::timestamptz >= interval '5 seconds'")" = t ] ||
        fail "the new period ($second) does not follow the old one ($first)"
    # The 80 % alert once in each period.
    [ "$(q "SELECT count(DISTINCT period_start) FROM billing.alerts WHERE tenant_id = 'fast_tenant' AND threshold = 80")" = 2 ] ||
        fail "the 80 % alert was not raised again in the new period"
    # The closed period is history, with the limit it closed with; the limit
    # raised during the second period is the second period's.
    [ "$(q "SELECT used || '/' || hard_limit FROM billing.usage_history
             WHERE tenant_id = 'fast_tenant' AND period_end = '$second'")" = "5/5" ] ||
        fail "history after one period: $(q "SELECT * FROM billing.usage_history WHERE tenant_id = 'fast_tenant'")"
    q "UPDATE billing.plan_limits SET hard_limit = 7 WHERE plan_id = 'fast'" >/dev/null
    sleep_past_period_end
    [ "$(q "SELECT string_agg(used || '/' || hard_limit, ' ' ORDER BY period_start)
              FROM billing.usage_history WHERE tenant_id = 'fast_tenant'")" = "5/5 4/7" ] ||
        fail "history after two periods: $(q "SELECT * FROM billing.usage_history WHERE tenant_id = 'fast_tenant'")"
    stop_cluster
    echo "alerts and periods ($MODE): ok"
}

run_alerts lock
run_alerts shared_memory "shared_preload_libraries = 'zechat_billing'"
