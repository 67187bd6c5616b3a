#!/usr/bin/env bash
# With the library in shared_preload_libraries: the server starts, the
# postmaster setting zechat_billing.max_counters exists, and the counter
# table's view answers.  (The pg_regress and isolation suites also run on
# such a server: see scripts/test.sh.)
source "$(dirname "$0")/../../scripts/lib.sh"

start_cluster preload 54396 "shared_preload_libraries = 'zechat_billing'" "zechat_billing.max_counters = 1234"
trap stop_cluster EXIT
fail() { echo "FAILED: $*" >&2; exit 1; }

q() { psql -X -At -v ON_ERROR_STOP=1 -d postgres -c "$1"; }
q "CREATE EXTENSION zechat_billing" >/dev/null
[ "$(q "SHOW zechat_billing.max_counters")" = 1234 ] || fail "zechat_billing.max_counters is not 1234"
[ "$(q "SELECT context FROM pg_settings WHERE name = 'zechat_billing.max_counters'")" = postmaster ] ||
    fail "zechat_billing.max_counters must be a postmaster setting"
[ "$(q "SELECT count(*) FROM billing.counters")" = 0 ] || fail "billing.counters should be empty"
state=$(psql -X -At -v VERBOSITY=sqlstate -d postgres -c "SET zechat_billing.max_counters = 10" 2>&1 || true)
echo "$state" | grep -q 55P02 || fail "max_counters must not be settable at run time, got: $state"
echo "preload mode: ok"
