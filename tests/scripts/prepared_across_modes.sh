#!/usr/bin/env bash
# A transaction prepared in lock mode keeps its consumption through a
# restart into shared-memory mode.  Its usage row is still being written
# when the first consumption of the key loads the counter: the load waits
# for it, as lock mode waits on the row, instead of counting without it and
# selling its units a second time once it commits.
source "$(dirname "$0")/../../scripts/lib.sh"

start_cluster prepared_modes 54403
trap stop_cluster EXIT
fail() { echo "FAILED: $*" >&2; exit 1; }
q() { psql -X -At -v ON_ERROR_STOP=1 -d postgres -c "$1"; }
sqlstate_of() { psql -X -At -v VERBOSITY=sqlstate -d postgres -c "$1" 2>&1 || true; }
PRELOAD="shared_preload_libraries = 'zechat_billing'"

q "CREATE EXTENSION zechat_billing" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d postgres >/dev/null <<'SQL'
INSERT INTO billing.plans (plan_id, name) VALUES ('p', 'Prepared');
INSERT INTO billing.plan_limits VALUES ('p', 'messages', 10);
SELECT billing.subscribe('committed', 'p');
SELECT billing.subscribe('rolled_back', 'p');
SELECT billing.consume_quota('committed', 'messages', 2);
BEGIN;
SELECT billing.consume_quota('committed', 'messages', 8);
PREPARE TRANSACTION 'last_units';
BEGIN;
SELECT billing.consume_quota('rolled_back', 'messages', 10);
PREPARE TRANSACTION 'all_units';
SQL

restart_cluster "$PRELOAD"
[ -n "$(q "SELECT current_setting('zechat_billing.max_counters', true)")" ] ||
    fail "expected shared-memory mode"

# While the prepared transactions hold their rows, consumption of their keys
# waits (here until lock_timeout) and admits nothing.
for tenant in committed rolled_back; do
    state=$(PGOPTIONS="-c lock_timeout=500" sqlstate_of "SELECT billing.consume_quota('$tenant', 'messages')")
    [ "$state" = "ERROR:  55P03" ] || fail "$tenant: consumption while prepared gave: $state"
done

# A consumption that waits is admitted or refused by the outcome.
psql -X -At -v VERBOSITY=sqlstate -d postgres \
    -c "SELECT billing.consume_quota('committed', 'messages')" >"$CLUSTER_DIR/waiter.out" 2>&1 &
waiter=$!
blocked() { [ "$(q "SELECT count(*) FROM pg_locks WHERE NOT granted")" != 0 ]; }
wait_until 20 blocked || fail "the consumption did not wait for the prepared transaction"
q "COMMIT PREPARED 'last_units'" >/dev/null
wait "$waiter" || true
grep -q PT402 "$CLUSTER_DIR/waiter.out" ||
    fail "the 11th unit was admitted after COMMIT PREPARED: $(cat "$CLUSTER_DIR/waiter.out")"
[ "$(q "SELECT used FROM billing.tenant_usage('committed') WHERE resource = 'messages'")" = 10 ] ||
    fail "committed: usage $(q "SELECT used FROM billing.tenant_usage('committed') WHERE resource = 'messages'"), expected 10"

q "ROLLBACK PREPARED 'all_units'" >/dev/null
[ "$(q "SELECT billing.consume_quota('rolled_back', 'messages', 10)")" = 0 ] ||
    fail "rolled_back: the units given back were not admitted"
state=$(sqlstate_of "SELECT billing.consume_quota('rolled_back', 'messages')")
[ "$state" = "ERROR:  PT402" ] || fail "rolled_back: an 11th unit gave: $state"
[ "$(q "SELECT used FROM billing.tenant_usage('rolled_back') WHERE resource = 'messages'")" = 10 ] ||
    fail "rolled_back: usage $(q "SELECT used FROM billing.tenant_usage('rolled_back') WHERE resource = 'messages'"), expected 10"
echo "prepared across modes: ok"
