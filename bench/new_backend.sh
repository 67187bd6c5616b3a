#!/usr/bin/env bash
# What a NEW backend pays per insert over tenants the server already knows,
# against a backend that knows them: what each of pgbench's connections
# pays, since pgbench opens them anew for every run (bench/run.sh).  Unlike
# bench/first_meeting.sh (a single-user backend, whose server starts and
# ends with it), the whole server runs under callgrind, one profile per
# process, so what a backend leaves in shared memory for the next one
# (shared-memory mode's shared hints: src/pg/shared_hints.hpp) counts.
#
#   bash bench/new_backend.sh [tenants]
#
# Per variant: one session inserts one row per tenant (unmeasured: usage
# rows made, counters loaded), then, each in a new session, an idle one, a
# pass over the tenants and two passes.  New backend = (one pass - idle) /
# tenants; warm = (two passes - one pass) / tenants.
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

TENANTS=${1:-1000}
BENCH_DIR=$REPO_ROOT/bench

install_build_dependencies
install_packages valgrind
build_and_install_extension
start_cluster new_backend 54424 "autovacuum = off"
createdb bench
(cd "$BENCH_DIR" && psql -X -q -v ON_ERROR_STOP=1 -d bench -f setup.sql >/dev/null)
stop_cluster

passes() { # passes table
    awk -v passes="$1" -v tenants="$TENANTS" -v table="$2" 'BEGIN {
        for (p = 0; p < passes; p++)
            for (i = 1; i <= tenants; i++)
                printf "INSERT INTO %s (tenant_id, body) VALUES (%ct%d%c, %chello%c);\n",
                    table, 39, i, 39, 39, 39
    }'
}

# total PROFILE: the instructions a profile counted.
total() {
    callgrind_annotate "$1" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }'
}

echo "SELECT 1;" >"$CLUSTER_DIR/idle.sql"
echo
echo "Instructions per single-row INSERT transaction over $TENANTS tenants, server under callgrind:"
echo
echo "| variant | new backend | warm | new backend less warm |"
echo "|---|---|---|---|"
for spec in "no quota:msg_plain:" "lock mode:msg_ext:" "shared-memory mode:msg_ext:zechat_billing"; do
    IFS=: read -r name table preload <<<"$spec"
    passes 1 "$table" >"$CLUSTER_DIR/one.sql"
    passes 2 "$table" >"$CLUSTER_DIR/two.sql"
    chmod 644 "$CLUSTER_DIR"/*.sql
    profiles=$CLUSTER_DIR/profiles.$table${preload:+.preloaded}
    rm -rf "$profiles" && mkdir -p "$profiles" && chown "$PG_OS_USER:" "$profiles"
    runuser -u "$PG_OS_USER" -- valgrind --tool=callgrind --trace-children=yes \
        --callgrind-out-file="$profiles/callgrind.%p" "$PG_BIN/postgres" -D "$CLUSTER_DIR/data" \
        -c shared_preload_libraries="$preload" >"$profiles/server.log" 2>&1 &
    server=$!
    for _ in $(seq 1 120); do
        psql -X -At -d bench -c 'SELECT 1' >/dev/null 2>&1 && break
        sleep 1
    done
    # session FILE: runs FILE in a new backend; prints its profile's total.
    session() {
        local pid
        psql -X -q -At -d bench -v ON_ERROR_STOP=1 -c "SELECT pg_backend_pid()" -f "$1" \
            >"$profiles/session.out"
        pid=$(head -1 "$profiles/session.out" | tr -d ' ')
        for _ in $(seq 1 60); do
            [ -s "$profiles/callgrind.$pid" ] && sleep 1 && break
            sleep 0.5
        done
        total "$profiles/callgrind.$pid"
    }
    session "$CLUSTER_DIR/one.sql" >/dev/null
    idle=$(session "$CLUSTER_DIR/idle.sql")
    one=$(session "$CLUSTER_DIR/one.sql")
    two=$(session "$CLUSTER_DIR/two.sql")
    kill -INT "$(head -1 "$CLUSTER_DIR/data/postmaster.pid")" # a fast shutdown
    wait "$server" || true
    awk -v name="$name" -v idle="$idle" -v one="$one" -v two="$two" -v n="$TENANTS" 'BEGIN {
        first = (one - idle) / n; warm = (two - one) / n
        printf "| %s | %.0f | %.0f | %.0f |\n", name, first, warm, first - warm
    }'
done
echo
echo "Profiles: $CLUSTER_DIR/profiles.*/callgrind.<backend pid>"
