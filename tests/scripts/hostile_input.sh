#!/usr/bin/env bash
# Hostile input against every SQL entry point (hostile_input.sql): random
# unicode tenants with quotes and control characters, 63/64-byte edges,
# unknown resources, amounts at the bigint edges, NULLs.  Never a crash,
# never a SQLSTATE other than the contract's, and a refused call never
# changes usage nor leaves a reservation behind.  In lock mode and in
# shared-memory mode, 3000 calls each, from a fixed seed (failures name the
# call, so they can be replayed).
source "$(dirname "$0")/../../scripts/lib.sh"

trap stop_cluster EXIT
fail() { echo "FAILED ($MODE): $*" >&2; exit 1; }
q() { psql -X -At -v ON_ERROR_STOP=1 -d hostile -c "$1"; }

run_hostile() { # MODE [postgresql.conf lines...]
    MODE=$1
    shift
    start_cluster hostile 54403 "$@"
    createdb hostile
    (cd "$(dirname "$0")" && psql -X -q -d hostile -f hostile_input.sql >/dev/null) ||
        fail "setting up the property test"
    psql -X -q -v ON_ERROR_STOP=1 -d hostile -c "SELECT setseed(0.42)" -c "CALL fz_run(3000)" >/dev/null ||
        fail "the property test did not run to its end (a crash?)"
    echo "$MODE: outcomes: $(q "SELECT string_agg(outcome || '=' || n, ' ' ORDER BY outcome)
                               FROM (SELECT outcome, count(*) AS n FROM fz_outcomes GROUP BY 1) s")"
    local failures
    failures=$(q "SELECT count(*) FROM fz_failures")
    if [ "$failures" != 0 ]; then
        q "SELECT iteration, call, 'expected ' || expected, 'got ' || got FROM fz_failures ORDER BY iteration LIMIT 20"
        fail "$failures calls broke the contract"
    fi
    # Every path was taken, refusals included.
    for outcome in ok PT402 22004 22023; do
        [ "$(q "SELECT count(*) FROM fz_outcomes WHERE outcome = '$outcome'")" -gt 0 ] ||
            fail "no call ended with $outcome: the generator does not cover it"
    done
    if [ "$MODE" = shared_memory ]; then
        local differ
        differ=$(q "SELECT count(*) FROM billing.counters c
                     WHERE c.committed <> coalesce((SELECT sum(used) FROM billing.usage_parts p
                                                     WHERE p.tenant_id = c.tenant_id AND p.resource = c.resource
                                                       AND p.period_start = coalesce(c.period_start, '-infinity')), 0)")
        [ "$differ" = 0 ] || fail "$differ counters differ from the durable usage"
    fi
    if grep -E "PANIC|terminated by signal|TRAP" "$CLUSTER_DIR/server.log"; then
        fail "the server crashed"
    fi
    stop_cluster
    echo "hostile input ($MODE): ok"
}

run_hostile lock
run_hostile shared_memory "shared_preload_libraries = 'zechat_billing'"
