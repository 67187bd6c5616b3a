#!/usr/bin/env bash
# Restarting the server in the other mode loses and double-counts nothing:
# lock mode -> shared-memory mode -> lock mode -> shared-memory mode, with
# consumption, gauge releases and refusals at the limit in each, while
# usage always equals what the enforced tables hold.
source "$(dirname "$0")/../../scripts/lib.sh"

start_cluster modes 54397
trap stop_cluster EXIT
fail() { echo "FAILED: $*" >&2; exit 1; }
q() { psql -X -At -v ON_ERROR_STOP=1 -d postgres -c "$1"; }
PRELOAD="shared_preload_libraries = 'zechat_billing'"
NO_PRELOAD="shared_preload_libraries = ''"

q "CREATE EXTENSION zechat_billing" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d postgres >/dev/null <<'SQL'
INSERT INTO billing.plans (plan_id, name) VALUES ('m', 'Modes');
INSERT INTO billing.plan_limits VALUES ('m', 'messages', 10), ('m', 'storage', 100);
SELECT billing.subscribe('acme', 'm');
CREATE TABLE msgs (id serial PRIMARY KEY, tenant_id text NOT NULL);
CREATE TABLE files (id serial PRIMARY KEY, tenant_id text NOT NULL, size_bytes int NOT NULL);
SELECT billing.enforce_quota('msgs', 'messages');
SELECT billing.enforce_quota('files', 'storage', amount_column => 'size_bytes');
-- Inserts one message; false when refused.
CREATE FUNCTION send() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO msgs (tenant_id) VALUES ('acme');
    RETURN true;
EXCEPTION WHEN sqlstate 'PT402' THEN
    RETURN false;
END $$;
SQL

mode() { q "SELECT CASE WHEN current_setting('zechat_billing.max_counters', true) IS NULL
                        THEN 'lock' ELSE 'shared_memory' END"; }
usage_of() { q "SELECT used FROM billing.tenant_usage('acme') WHERE resource = '$1'"; }
check() { # LABEL MESSAGES-SENT
    local msgs=$2 files
    files=$(q "SELECT coalesce(sum(size_bytes), 0) FROM files")
    [ "$(usage_of messages)" = "$msgs" ] || fail "$1: messages usage $(usage_of messages), sent $msgs"
    [ "$(usage_of storage)" = "$files" ] || fail "$1: storage usage $(usage_of storage), bytes $files"
    echo "$1 ($(mode)): messages $msgs, storage $files: ok"
}

[ "$(mode)" = lock ] || fail "expected lock mode first"
q "SELECT send() FROM generate_series(1, 3)" >/dev/null
q "INSERT INTO files (tenant_id, size_bytes) VALUES ('acme', 40), ('acme', 30)" >/dev/null
check "lock mode, first" 3

restart_cluster "$PRELOAD"
[ "$(mode)" = shared_memory ] || fail "expected shared-memory mode"
q "SELECT send() FROM generate_series(1, 4)" >/dev/null
q "DELETE FROM files WHERE size_bytes = 40" >/dev/null # a part of its own, negative
q "INSERT INTO files (tenant_id, size_bytes) VALUES ('acme', 50)" >/dev/null
check "shared-memory mode" 7
admitted=$(q "SELECT count(*) FILTER (WHERE send()) FROM generate_series(1, 5)")
[ "$admitted" = 3 ] || fail "shared-memory mode admitted $admitted of the last 3 messages"

restart_cluster "$NO_PRELOAD"
[ "$(mode)" = lock ] || fail "expected lock mode again"
check "lock mode, after shared memory" 10
[ "$(q "SELECT send()")" = f ] || fail "lock mode admitted an 11th message"
q "DELETE FROM files WHERE size_bytes = 50" >/dev/null # lock mode's part goes negative
q "DELETE FROM msgs WHERE id IN (SELECT id FROM msgs ORDER BY id LIMIT 2)" >/dev/null
# messages are a period resource: deleting rows gives nothing back.
check "lock mode, after deletes" 10

restart_cluster "$PRELOAD"
[ "$(mode)" = shared_memory ] || fail "expected shared-memory mode again"
[ "$(q "SELECT send()")" = f ] || fail "shared-memory mode admitted an 11th message"
q "INSERT INTO files (tenant_id, size_bytes) VALUES ('acme', 70)" >/dev/null
state=$(psql -X -At -v VERBOSITY=sqlstate -d postgres -c "INSERT INTO files (tenant_id, size_bytes) VALUES ('acme', 1)" 2>&1 || true)
echo "$state" | grep -q PT402 || fail "storage over the limit was admitted: $state"
files=$(q "SELECT coalesce(sum(size_bytes), 0) FROM files")
[ "$files" = 100 ] || fail "storage should be exactly at the limit, is $files"
[ "$(usage_of storage)" = 100 ] || fail "storage usage $(usage_of storage), expected 100"
echo "mode switch: ok"
