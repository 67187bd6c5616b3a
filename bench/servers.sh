# The throwaway servers of the benchmark scripts; sourced, not run (after
# scripts/lib.sh).

# COMMITS=durable (the default) runs the servers as PostgreSQL ships: fsync
# and synchronous_commit on, each commit waits for its WAL to reach the
# disk.  COMMITS=relaxed turns both off, leaving only CPU work to compare.
COMMITS=${COMMITS:-durable}
case $COMMITS in
durable) BENCH_CONF=("fsync = on" "synchronous_commit = on") ;;
relaxed) BENCH_CONF=("fsync = off" "synchronous_commit = off") ;;
*) log "COMMITS must be durable or relaxed, not '$COMMITS'"; exit 2 ;;
esac
BENCH_CONF+=("shared_buffers = '256MB'" "max_wal_size = '2GB'")

declare -A BENCH_DIRS BENCH_PORTS

# start_bench_server SERVER CLUSTER PORT [postgresql.conf lines...]: a
# throwaway cluster with BENCH_CONF and the lines, which `on SERVER` reaches
# and stop_bench_servers stops.
start_bench_server() {
    local server=$1 cluster=$2 port=$3
    shift 3
    start_cluster "$cluster" "$port" "${BENCH_CONF[@]}" "$@"
    BENCH_DIRS[$server]=$CLUSTER_DIR
    BENCH_PORTS[$server]=$port
}

stop_bench_servers() {
    local server
    for server in "${!BENCH_DIRS[@]}"; do stop_cluster_dir "${BENCH_DIRS[$server]}"; done
}

# on SERVER COMMAND...: runs a client of that server.
on() {
    local server=$1
    shift
    PGHOST=${BENCH_DIRS[$server]} PGPORT=${BENCH_PORTS[$server]} "$@"
}
