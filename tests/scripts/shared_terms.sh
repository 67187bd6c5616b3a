#!/usr/bin/env bash
# Shared-memory mode shares the terms one backend read (tenant_terms.cpp,
# shared_hints.hpp) with the backends that start after it: each must still
# consume under the terms committed last.  A terms hint is taken only under
# the count of configuration changes it was read under, and COMMIT PREPARED
# is counted around the statement (it runs no transaction callback): a new
# backend takes no invalidation message sent before it started, so without
# that count it kept the limit a prepared change had replaced.
#
#   1. a session consumes 1 of t1's 5;
#   2. the limit goes to 2 through PREPARE TRANSACTION; a session consumes
#      1 more before COMMIT PREPARED (under the old limit, whose terms it
#      shares), and one after it must be refused;
#   3. the same with an ordinary transaction (limit to 1), and with the
#      subscription suspended.
source "$(dirname "$0")/../../scripts/lib.sh"

trap stop_cluster EXIT
fail() { echo "FAILED: $*" >&2; exit 1; }
q() { psql -X -At -v ON_ERROR_STOP=1 -d terms -c "$1"; }
# consume N: ok, or the SQLSTATE of the refusal
consume() { consumption_outcome terms t1 messages "$1"; }

start_cluster shared_terms 54423 "shared_preload_libraries = 'zechat_billing'" "autovacuum = off"
createdb terms
psql -X -q -v ON_ERROR_STOP=1 -d terms >/dev/null <<'SQL'
CREATE EXTENSION zechat_billing;
INSERT INTO billing.plans (plan_id, name) VALUES ('small', 'Small');
INSERT INTO billing.plan_limits VALUES ('small', 'messages', 5);
SELECT billing.subscribe('t1', 'small');
SQL

[ "$(consume 1)" = ok ] || fail "the first consumption was refused"
psql -X -q -v ON_ERROR_STOP=1 -d terms >/dev/null <<'SQL'
BEGIN;
UPDATE billing.plan_limits SET hard_limit = 2 WHERE plan_id = 'small';
PREPARE TRANSACTION 'lower';
SQL
# Read (and shared) while the change is prepared: the old limit still holds.
[ "$(consume 1)" = ok ] || fail "a prepared change took effect before its commit"
q "COMMIT PREPARED 'lower'" >/dev/null
[ "$(consume 1)" = PT402 ] ||
    fail "a new backend consumed under the limit a committed prepared change replaced"

q "UPDATE billing.plan_limits SET hard_limit = 5 WHERE plan_id = 'small'" >/dev/null
[ "$(consume 1)" = ok ] || fail "a raised limit was not seen"
q "UPDATE billing.plan_limits SET hard_limit = 3 WHERE plan_id = 'small'" >/dev/null
[ "$(consume 1)" = PT402 ] || fail "a new backend consumed under a limit lowered before it started"
q "UPDATE billing.plan_limits SET hard_limit = 4 WHERE plan_id = 'small'" >/dev/null
q "UPDATE billing.subscriptions SET status = 'suspended' WHERE tenant_id = 't1'" >/dev/null
[ "$(consume 1)" = PT402 ] || fail "a new backend consumed for a suspended subscription"
[ "$(q "SELECT used FROM billing.tenant_usage('t1') WHERE resource = 'messages'")" = 3 ] ||
    fail "usage is not what was admitted"
echo "shared_terms: ok"
