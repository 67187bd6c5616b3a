#!/usr/bin/env bash
# What a backend pays the first time it meets a tenant, against what it pays
# once it knows it: callgrind counts the instructions a single-user backend
# executes for one pass of single-row INSERT transactions over 1000 tenants
# (each met once), and for two passes (each met, then seen again); the second
# pass, the difference, is the warm cost.  Each variant's usage rows are made
# by an unmeasured pass first, as pgbench's warm-up makes them.
#
#   bash bench/first_meeting.sh
#
# In shared-memory mode the first pass also loads each key's counter, which a
# server does once (pgbench's warm-up does it), not once per backend: that
# part is taken from the profile and shown apart.
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

TENANTS=1000
BENCH_DIR=$REPO_ROOT/bench

install_build_dependencies
install_packages valgrind
build_and_install_extension
start_cluster first_meeting 54396
createdb bench
(cd "$BENCH_DIR" && psql -X -q -v ON_ERROR_STOP=1 -d bench -f setup.sql >/dev/null)
stop_cluster

single_user() { # preload input [callgrind output]
    local preload=$1 input=$2 out=${3:-}
    local cmd=("$PG_BIN/postgres" --single -D "$CLUSTER_DIR/data" -c fsync=off
        -c shared_preload_libraries="$preload" bench)
    if [ -n "$out" ]; then
        runuser -u "$PG_OS_USER" -- valgrind --tool=callgrind --callgrind-out-file="$out" \
            "${cmd[@]}" <"$input" >/dev/null 2>"$out.log"
        sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$out.log"
    else
        runuser -u "$PG_OS_USER" -- "${cmd[@]}" <"$input" >/dev/null 2>&1
    fi
}

passes() { # passes table
    awk -v passes="$1" -v tenants=$TENANTS -v table="$2" 'BEGIN {
        for (p = 0; p < passes; p++)
            for (i = 1; i <= tenants; i++)
                printf "INSERT INTO %s (tenant_id, body) VALUES (%ct%d%c, %chello%c);\n",
                    table, 39, i, 39, 39, 39
    }'
}

echo "SELECT 1;" >"$CLUSTER_DIR/idle.sql"
echo
echo "Instructions per single-row INSERT transaction over $TENANTS tenants (callgrind):"
echo
echo "| variant | first meeting | of which loading the counter (once per server) | warm | first meeting less warm, per backend and tenant |"
echo "|---|---|---|---|---|"
# Variants as name:table:shared_preload_libraries.
for spec in "no quota:msg_plain:" "lock mode:msg_ext:" "shared-memory mode:msg_ext:zechat_billing"; do
    IFS=: read -r name table preload <<<"$spec"
    passes 1 "$table" >"$CLUSTER_DIR/one_$table.sql"
    passes 2 "$table" >"$CLUSTER_DIR/two_$table.sql"
    chmod 644 "$CLUSTER_DIR"/*.sql
    single_user "$preload" "$CLUSTER_DIR/one_$table.sql"
    profile=$CLUSTER_DIR/callgrind.$table${preload:+.preloaded}
    idle=$(single_user "$preload" "$CLUSTER_DIR/idle.sql" "$profile.idle")
    one=$(single_user "$preload" "$CLUSTER_DIR/one_$table.sql" "$profile.one")
    two=$(single_user "$preload" "$CLUSTER_DIR/two_$table.sql" "$profile.two")
    loading=$(callgrind_annotate --inclusive=yes --threshold=100 "$profile.one" 2>/dev/null |
        awk '/load_counter/ && !found { gsub(",", "", $1); print $1; found = 1 }')
    awk -v name="$name" -v idle="$idle" -v one="$one" -v two="$two" -v loading="${loading:-0}" \
        -v n=$TENANTS 'BEGIN {
            first = (one - idle) / n; warm = (two - one) / n; load = loading / n
            printf "| %s | %.0f | %.0f | %.0f | %.0f |\n", name, first, load, warm, first - load - warm
        }'
done
echo
echo "Profiles: $CLUSTER_DIR/callgrind.* (callgrind_annotate --inclusive=yes FILE)"
