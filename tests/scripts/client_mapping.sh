#!/usr/bin/env bash
# The README's client examples, run for real: Node (node-postgres) and
# Python (psycopg 3) each insert into an enforced messages table until the
# plan refuses, and must answer 201 three times and then 402 with
# "limit of messages reached - upgrade" and the JSON detail.
source "$(dirname "$0")/../../scripts/lib.sh"

install_packages python3-psycopg
command -v node >/dev/null && command -v npm >/dev/null || install_packages nodejs npm

start_cluster clients 54380
trap stop_cluster EXIT
fail() { echo "FAILED: $*" >&2; exit 1; }

createdb clients
psql -X -q -v ON_ERROR_STOP=1 -d clients >/dev/null <<'SQL'
CREATE EXTENSION zechat_billing;
INSERT INTO billing.plans (plan_id, name) VALUES ('starter', 'Starter');
INSERT INTO billing.plan_limits VALUES ('starter', 'messages', 3);
SELECT billing.subscribe('node-tenant', 'starter');
SELECT billing.subscribe('python-tenant', 'starter');
CREATE TABLE messages (id bigserial PRIMARY KEY, tenant_id text NOT NULL, body text NOT NULL);
SELECT billing.enforce_quota('messages', 'messages');
SQL
export PGDATABASE=clients

check_output() { # NAME TENANT OUTPUT
    local name=$1 tenant=$2 out=$3
    echo "$name:"
    echo "$out"
    [ "$(echo "$out" | cut -d' ' -f1 | tr '\n' ' ')" = "201 201 201 402 " ] ||
        fail "$name: expected 201 201 201 402"
    local refusal
    refusal=$(echo "$out" | sed -n 4p | cut -d' ' -f2-)
    /usr/bin/python3 - "$refusal" "$tenant" <<'PY' || fail "$name: wrong 402 body"
import json, sys
body = json.loads(sys.argv[1])
assert body["error"] == "limit of messages reached - upgrade", body
d = body["detail"]
assert d == {"tenant_id": sys.argv[2], "resource": "messages", "limit": 3, "used": 3,
             "requested": 1, "reason": "limit_reached"}, d
PY
}

(cd "$REPO_ROOT/examples/node" && npm ci --no-audit --no-fund --silent) || fail "npm ci failed"
out=$(node "$REPO_ROOT/examples/node/quota_402.js" node-tenant) || fail "the Node example failed"
check_output "node" node-tenant "$out"

out=$(/usr/bin/python3 "$REPO_ROOT/examples/python/quota_402.py" python-tenant) || fail "the Python example failed"
check_output "python" python-tenant "$out"

stored=$(psql -X -At -c "SELECT count(*) FROM messages")
[ "$stored" = 6 ] || fail "expected 6 stored messages (3 per tenant), found $stored"
echo "client mapping: ok"
