#!/usr/bin/env bash
# Shared-memory mode updates its backend's part at a remembered place, with
# heap_update, which trusts that the line pointer there still holds a tuple
# (src/pg/own_usage_part.cpp; the pin: usage_part_rows.cpp,
# pin_page_with_room).  Line pointers change only when a page is pruned,
# and pruning needs the page with no other pin: so the backend must
# keep its pin from the moment it checks the version until heap_update has
# taken over.  Here an administrator changes the part by hand, so that the
# version the backend remembers is dead to everyone; then the backend is
# stopped right at heap_update (gdb) in its next write, and meanwhile VACUUM
# tries to prune the page, which would free the line pointer of that
# version were the page not pinned.  The write must fall back to the newest
# version, count once, and leave the table sound.
source "$(dirname "$0")/../../scripts/lib.sh"

install_packages gdb

session_pid=
gdb_pid=
work=
cleanup() {
    [ -z "$work" ] || touch "$work/go" 2>/dev/null || true # gdb lets the backend go on
    [ -z "$gdb_pid" ] || kill "$gdb_pid" 2>/dev/null || true
    exec 3>&- || true
    [ -z "$session_pid" ] || wait "$session_pid" 2>/dev/null || true
    stop_cluster
}
trap cleanup EXIT
fail() { echo "FAILED: $*" >&2; exit 1; }
q() { psql -X -At -v ON_ERROR_STOP=1 -d pinned -c "$1"; }

# wait_for FILE PATTERN: until FILE has a line matching PATTERN (60 s).
wait_for() { wait_for_line "$1" "$2" || fail "timed out waiting for \"$2\" in $1"; }

start_cluster own_part_pinned 54411 "shared_preload_libraries = 'zechat_billing'" "autovacuum = off"
createdb pinned
psql -X -q -v ON_ERROR_STOP=1 -d pinned >/dev/null <<'SQL'
CREATE EXTENSION zechat_billing;
CREATE EXTENSION amcheck;
INSERT INTO billing.plans (plan_id, name) VALUES ('big', 'Big');
INSERT INTO billing.plan_limits VALUES ('big', 'messages', 1000000);
SELECT billing.subscribe('c1', 'big'), billing.subscribe('intruder', 'big');
SQL

# The session under test reads its statements from a FIFO, so that it is
# one backend throughout and gdb can attach to it.
work=$CLUSTER_DIR/work
mkdir -p "$work"
mkfifo "$work/session.in"
psql -X -At -d pinned <"$work/session.in" >"$work/session.out" 2>&1 &
session_pid=$!
exec 3>"$work/session.in"
# Two commits: the backend now remembers where its part's newest version is.
echo "SELECT billing.consume_quota('c1', 'messages');" >&3
echo "SELECT billing.consume_quota('c1', 'messages');" >&3
echo "SELECT 'backend ' || pg_backend_pid();" >&3
wait_for "$work/session.out" '^backend '
backend=$(sed -n 's/^backend //p' "$work/session.out")
[ "$(q "SELECT used FROM billing.usage_parts WHERE tenant_id = 'c1'")" = 2 ] ||
    fail "the part does not hold the first two"

# A hand edit: the remembered version is no longer the newest, and once
# this commits, before the next statement of the session starts, it is dead
# to every snapshot.
q "UPDATE billing.usage_parts SET used = used + 100 WHERE tenant_id = 'c1'" >/dev/null

stop_backend_at "$backend" 'heap_update' "$work"
gdb_pid=$GDB_PID
wait_for "$work/gdb.log" '^armed'

# The third consumption stops at its commit, in the write of its part.
echo "SELECT billing.consume_quota('c1', 'messages');" >&3
wait_until 60 test -e "$work/stopped" ||
    { cat "$work/gdb.log"; fail "the backend never reached heap_update"; }

# Meanwhile VACUUM would free that version's line pointer, and another
# key's new row would take it: heap_update would then replace that row.
# The row is another backend's first part of its key, written by its
# consumption (a hand INSERT would wait for the stopped transaction:
# src/pg/usage_parts_edited.cpp).
timeout 60 psql -X -q -v ON_ERROR_STOP=1 -d pinned -c "VACUUM billing.usage_parts" ||
    fail "VACUUM did not finish"
# (No pipe to head: psql, writing the command tag after the row, could be
# cut off by SIGPIPE, which pipefail would make fatal.)
timeout 60 psql -X -q -v ON_ERROR_STOP=1 -d pinned \
    -c "SELECT billing.consume_quota('intruder', 'messages', 7)" >/dev/null ||
    fail "the other key's consumption did not finish"
intruder_place=$(q "SELECT ctid FROM billing.usage_parts WHERE tenant_id = 'intruder'")

touch "$work/go"
wait "$gdb_pid" || true
gdb_pid=
echo "SELECT 'done';" >&3
wait_for "$work/session.out" '^done$'
exec 3>&-
wait "$session_pid" || true
session_pid=

cat "$work/session.out"
if grep -q 'ERROR' "$work/session.out"; then fail "the session failed"; fi
used=$(q "SELECT sum(used) FROM billing.usage_parts WHERE tenant_id = 'c1'")
[ "$used" = 103 ] || fail "c1 has $used, expected 2 + 100 by hand + 1"
[ "$(q "SELECT count(*) FROM billing.usage_parts WHERE tenant_id = 'c1'")" = 1 ] ||
    fail "the part was written twice"
[ "$(q "SELECT used FROM billing.usage_parts WHERE tenant_id = 'intruder'")" = 7 ] ||
    fail "the row of another key was overwritten"
echo "$intruder_place" # where the other key's row went: (0,2) when the slot was free
damage=$(q "SELECT count(*) FROM verify_heapam('billing.usage_parts')")
[ "$damage" = 0 ] || { q "SELECT * FROM verify_heapam('billing.usage_parts')"; fail "usage_parts is damaged"; }
echo "own_part_pinned: ok"
