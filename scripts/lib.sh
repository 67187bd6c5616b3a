# Shared helpers for scripts/demo.sh and scripts/test.sh: installing what the
# project needs, building it, and running throwaway PostgreSQL clusters.
#
# Machines and CI run as root, and PostgreSQL refuses to run as root: every
# initdb / postgres / pg_ctl call below runs as the unprivileged system user
# "postgres" (created by Debian's postgresql-15 package).

set -euo pipefail

PG_MAJOR=15
# PG_BIN may name another installation of the same major version (a private
# copy to test against while the system one is busy).
PG_BIN=${PG_BIN:-/usr/lib/postgresql/$PG_MAJOR/bin}
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_OS_USER=postgres

log() { printf '==> %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Installs the Debian packages given as arguments that are not installed yet.
install_packages() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing ${missing[*]}"
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${missing[@]}" >/dev/null
    fi
}

install_build_dependencies() {
    install_packages postgresql-$PG_MAJOR postgresql-server-dev-$PG_MAJOR postgresql-contrib \
        make g++ libc6-dev
}

build_and_install_extension() {
    log "building zechat_billing with PGXS"
    make -C "$REPO_ROOT" -s PG_CONFIG=$PG_BIN/pg_config >/dev/null
    as_root make -C "$REPO_ROOT" -s PG_CONFIG=$PG_BIN/pg_config install >/dev/null
}

# start_cluster NAME PORT [extra postgresql.conf lines...]
# Creates and starts a fresh cluster in /tmp/zb-NAME, listening only on a
# unix socket in that directory and on 127.0.0.1:PORT, trusting local users.
# Sets PGHOST, PGPORT, PGUSER, CLUSTER_DIR for the caller.
start_cluster() {
    local name=$1 port=$2
    shift 2
    CLUSTER_DIR=/tmp/zb-$name
    stop_cluster_dir "$CLUSTER_DIR"
    rm -rf "$CLUSTER_DIR"
    mkdir -p "$CLUSTER_DIR"
    chown "$PG_OS_USER:" "$CLUSTER_DIR"
    as_pg "$PG_BIN/initdb" -D "$CLUSTER_DIR/data" -U postgres --auth=trust --no-sync \
        -E UTF8 --locale=C.UTF-8 >"$CLUSTER_DIR/initdb.log" 2>&1 || {
        cat "$CLUSTER_DIR/initdb.log" >&2
        return 1
    }
    {
        echo "listen_addresses = '127.0.0.1'"
        echo "port = $port"
        echo "unix_socket_directories = '$CLUSTER_DIR'"
        echo "fsync = off"
        echo "max_connections = 60"
        echo "max_prepared_transactions = 10"
        for line in "$@"; do echo "$line"; done
    } >>"$CLUSTER_DIR/data/postgresql.conf"
    as_pg "$PG_BIN/pg_ctl" -D "$CLUSTER_DIR/data" -l "$CLUSTER_DIR/server.log" -w -t 60 start >/dev/null
    export PGHOST=$CLUSTER_DIR PGPORT=$port PGUSER=postgres
}

# restart_cluster [postgresql.conf lines...]: restarts the current cluster,
# with the lines appended to postgresql.conf (a later line wins).
restart_cluster() {
    local line
    for line in "$@"; do echo "$line"; done >>"$CLUSTER_DIR/data/postgresql.conf"
    as_pg "$PG_BIN/pg_ctl" -D "$CLUSTER_DIR/data" -l "$CLUSTER_DIR/server.log" -w -t 60 -m fast \
        restart >/dev/null
}

stop_cluster_dir() {
    local dir=$1
    if [ -f "$dir/data/postmaster.pid" ]; then
        as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
}

stop_cluster() {
    stop_cluster_dir "$CLUSTER_DIR"
}

# start_standby DIR PORT: a hot standby of the current cluster (which must
# allow replication connections) in DIR, streaming from it, listening on
# PORT and a unix socket in DIR.  Returns non-zero if it cannot be made.
start_standby() {
    local dir=$1 port=$2
    stop_cluster_dir "$dir"
    rm -rf "$dir" && mkdir -p "$dir" && chown "$PG_OS_USER:" "$dir"
    as_pg "$PG_BIN/pg_basebackup" -h "$CLUSTER_DIR" -p "$PGPORT" -U postgres -D "$dir/data" -R \
        -X stream >/dev/null 2>&1 || return 1
    {
        echo "port = $port"
        echo "unix_socket_directories = '$dir'"
        echo "hot_standby = on"
    } >>"$dir/data/postgresql.conf"
    as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start >/dev/null
}

# rows_and_usage DB TABLE: "tenant stored/used, ..." for every tenant with
# rows in TABLE (a tenant_id column): how many rows it stores there, and its
# usage of messages in its current period.
rows_and_usage() {
    psql -X -At -d "$1" -c "
        SELECT string_agg(tenant_id || ' ' || stored || '/' || used, ', ' ORDER BY tenant_id)
          FROM (SELECT m.tenant_id, count(*) AS stored,
                       (SELECT used FROM billing.tenant_usage(m.tenant_id)
                         WHERE resource = 'messages') AS used
                  FROM $2 m GROUP BY m.tenant_id) s"
}

# consumption_outcome DB TENANT RESOURCE AMOUNT: "ok" if consume_quota,
# called in a new session, admits AMOUNT, else the SQLSTATE of its error.
consumption_outcome() {
    psql -X -At -v VERBOSITY=verbose -d "$1" -c "SELECT billing.consume_quota('$2', '$3', $4)" 2>&1 |
        sed -n -e 's/^ERROR: *\([0-9A-Z]\{5\}\):.*$/\1/p' -e 's/^[0-9][0-9]*$/ok/p' | head -1
}

# counters_in_flight DB: how many of DB's shared-memory counters still hold
# something of a transaction (reserved, being released, or carried in from
# a moved period): 0 once every transaction ended.
counters_in_flight() {
    psql -X -At -d "$1" -c "
        SELECT count(*) FROM billing.counters
         WHERE reserved <> 0 OR releasing <> 0 OR carried_in <> 0"
}

# wait_until SECONDS COMMAND [ARGS...]: runs COMMAND every 0.1 s until it
# succeeds (returns 0) or SECONDS have passed (returns 1).
wait_until() {
    local seconds=$1 i
    shift
    for ((i = 0; i < seconds * 10; i++)); do
        "$@" && return 0
        sleep 0.1
    done
    return 1
}

# wait_for_line FILE PATTERN: until FILE has a line matching PATTERN (60 s);
# otherwise prints FILE and returns 1.
wait_for_line() {
    wait_until 60 grep -qs -- "$2" "$1" && return 0
    cat "$1" >&2 || true
    return 1
}

# stop_backend_at PID FUNCTION DIR [THEN...]: from now on backend PID stops
# when it calls FUNCTION (or, with THEN "finish", when that call returns;
# THEN may be several gdb commands, run in turn; gdb
# attached in the background, its pid in GDB_PID, its
# output in DIR/gdb.log, which says "armed" once the breakpoint is set);
# DIR/stopped appears then, and once DIR/go exists gdb lets the backend go
# on and detaches (so does a test's cleanup: a backend left stopped would
# hold up whoever waits for it; after 5 minutes gdb lets it go anyway).  gdb
# keeps none of the test's FIFOs open (fds 3 and 4), so that closing them
# ends the sessions reading them.  For tests that must catch a backend at
# one point of its work; they install gdb.
stop_backend_at() {
    local pid=$1 function=$2 dir=$3 then=() command
    shift 3
    for command in "$@"; do then+=(-ex "$command"); done
    # The shell truncates the log only once the background job starts: an
    # "armed" left by an earlier gdb would be read as this one's, and the
    # caller go on before the breakpoint is set (mover_commit_window.sh, in
    # CI on 2026-12-05: its second stop never came).
    rm -f "$dir/gdb.log"
    gdb -p "$pid" -batch -nx -ex 'set debuginfod enabled off' -ex 'set pagination off' \
        -ex "break $function" -ex 'echo armed\n' -ex 'continue' "${then[@]}" \
        -ex "shell touch $dir/stopped; for i in \$(seq 3000); do [ -e $dir/go ] && break; sleep 0.1; done" \
        -ex 'delete' -ex 'detach' >"$dir/gdb.log" 2>&1 3>&- 4>&- &
    GDB_PID=$!
}

# let_stopped_backend_go DIR: the backend stop_backend_at stopped (DIR/stopped
# is there) goes on, and its gdb has detached on return.
let_stopped_backend_go() {
    touch "$1/go"
    [ -z "${GDB_PID:-}" ] || wait "$GDB_PID" || true
    GDB_PID=
}

# start_fifo_session DIR NAME FD DATABASE: a psql session of its own backend
# throughout, for a test that stops backends with stop_backend_at: it reads
# its statements from the FIFO DIR/NAME.in, which the test writes on file
# descriptor FD (3 or 4, which gdb does not keep), and writes DIR/NAME.out.
# end_fifo_sessions closes them and waits for their psql; for a cleanup
# trap, end_test_with_gdb DIR also lets a stopped backend go first (gdb is
# killed: its breakpoint may never come).
FIFO_SESSION_PIDS=()
start_fifo_session() {
    mkfifo "$1/$2.in"
    psql -X -At -d "$4" <"$1/$2.in" >"$1/$2.out" 2>&1 &
    FIFO_SESSION_PIDS+=("$!")
    eval "exec $3>\"\$1/\$2.in\""
}
end_fifo_sessions() {
    exec 3>&- 4>&- || true
    local pid
    for pid in "${FIFO_SESSION_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    FIFO_SESSION_PIDS=()
}
end_test_with_gdb() {
    [ -z "$1" ] || touch "$1/go" 2>/dev/null || true
    [ -z "${GDB_PID:-}" ] || kill "$GDB_PID" 2>/dev/null || true
    end_fifo_sessions
    stop_cluster
}

as_pg() {
    (cd /tmp && runuser -u "$PG_OS_USER" -- "$@")
}
