#!/usr/bin/env bash
# Lock mode and shared-memory mode under the same schedule changes: 200
# seeded scenarios (mode_differential.py), each run against a lock-mode
# server and a shared-memory-mode server side by side, on the same wall
# clock.  In each, a tenant's "late" transaction consumes messages or users
# (or releases users) across a change of its billing schedule that another
# session makes meanwhile (another plan by subscribe(), a moved anchor, an
# edit of the plan's interval, another plan_id, a suspension, or an anchor
# and plan together, some changed back later), in periods of seconds; then
# one more consumption.  The modes may differ in which period such a
# transaction's usage lands and in the alerts it raises (README), so their
# results are not compared whole.  What must hold in each mode:
#   - conservation: what committed transactions consumed, by the driver's
#     own count (the changer's consumption only if its transaction
#     committed), equals the tenant's usage_parts (all periods) plus its
#     closed_periods, for messages; users equal the net of what committed,
#     there and in tenant_usage: no unit lost, none counted twice;
#   - no period in usage_history, and not the current one in tenant_usage,
#     is over its limit;
# and users (a gauge, untouched by periods) must be the same in both modes,
# but where a suspension, which decides the gauge's admissions, committed
# between other gauge operations in each (lock mode's change may wait for
# the late transaction).
# An error other than a refusal (PT402), one after an error in the same
# transaction (25P02) or lock mode's deadlock of a change with a consumer
# (40P01, README) fails the scenario too.  Why: the two modes move a
# tenant's usage between periods differently (lock mode waits for its
# transactions in flight, shared-memory mode carries what they reserved),
# and each must do it without losing, doubling or over-admitting a unit.
# A scenario takes up to 18 s, mostly waiting; 28 run at once, each in a
# database of its own: the test takes 80 to 90 s on 2 cores.
# Prints one line per failed invariant, with the seed; to see a seed's
# steps: mode_differential.py LOCK_CONNINFO SHM_CONNINFO SEED.
source "$(dirname "$0")/../../scripts/lib.sh"

install_packages python3-psycopg

LOCK_PORT=54434
SHM_PORT=54435
cleanup() {
    stop_cluster_dir /tmp/zb-mode_differential_lock
    stop_cluster_dir /tmp/zb-mode_differential_shm
}
trap cleanup EXIT

start_cluster mode_differential_lock $LOCK_PORT "max_connections = 100"
LOCK_DIR=$CLUSTER_DIR
start_cluster mode_differential_shm $SHM_PORT "max_connections = 100" \
    "shared_preload_libraries = 'zechat_billing'"
SHM_DIR=$CLUSTER_DIR

/usr/bin/python3 "$REPO_ROOT/tests/scripts/mode_differential.py" \
    "host=$LOCK_DIR port=$LOCK_PORT user=postgres dbname=postgres" \
    "host=$SHM_DIR port=$SHM_PORT user=postgres dbname=postgres"
