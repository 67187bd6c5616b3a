#!/usr/bin/env bash
# The main job, on a throwaway cluster: installs what it needs, builds and
# installs zechat_billing, starts PostgreSQL 15 as the "postgres" OS user,
# and runs the tour of scripts/demo.sql (plans -> subscribe -> enforce_quota
# -> insert until PT402, with usage alerts -> tenant_usage -> periods
# and history).  The cluster is stopped at the end.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

install_build_dependencies
build_and_install_extension
start_cluster demo 54398
trap stop_cluster EXIT

log "running the tour (scripts/demo.sql) in database \"demo\""
createdb demo
psql -X -q -a -d demo -f "$REPO_ROOT/scripts/demo.sql" 2>&1
