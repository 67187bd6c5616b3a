#!/usr/bin/env bash
# Runs every test of zechat_billing on this machine, from nothing:
#   1. installs what it needs (Debian packages; run as root or with sudo),
#   2. builds the pure C++ core and runs its GoogleTest suite (CTest),
#   3. builds and installs the extension with PGXS,
#   4. starts a throwaway PostgreSQL 15 cluster (as the "postgres" OS user)
#      and runs the pg_regress suites (sql/, expected/) and the isolation
#      specs (tests/isolation/) against it,
#   5. runs the scripted tests (tests/scripts/*.sh), each on its own cluster,
# and ends with one line "N passed, N failed" over everything it ran.
# Exit status: 0 only if nothing failed.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PASSED=0
FAILED=0
FAILED_NAMES=()

count() { # count NAME PASSED FAILED
    PASSED=$((PASSED + $2))
    FAILED=$((FAILED + $3))
    if [ "$3" -gt 0 ]; then FAILED_NAMES+=("$1"); fi
    log "$1: $2 passed, $3 failed"
}

log "installing dependencies"
install_build_dependencies
install_packages cmake libgtest-dev libipc-run-perl

# --- unit tests of the pure core ------------------------------------------
run_unit_tests() {
    local build=$REPO_ROOT/build/unit out
    cmake -S "$REPO_ROOT" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DZB_SANITIZE=ON >/dev/null
    cmake --build "$build" -j2 >/dev/null
    out=$(cd "$build" && ctest --output-on-failure 2>&1) || true
    echo "$out" | tail -n 3
    local total failed
    total=$(echo "$out" | sed -n 's/.* tests failed out of \([0-9]\+\).*/\1/p' | tail -1)
    failed=$(echo "$out" | sed -n 's/.* \([0-9]\+\) tests failed out of .*/\1/p' | tail -1)
    if [ -z "$total" ]; then
        echo "$out"
        count "unit tests (ctest)" 0 1
    else
        count "unit tests (ctest, ASan+UBSan)" $((total - failed)) "$failed"
    fi
}
run_unit_tests

# --- extension: pg_regress and isolation -------------------------------------
build_and_install_extension

# Reads pg_regress's summary ("All N tests passed." / "M of N tests failed.").
count_pg_regress() { # NAME OUTPUT
    local name=$1 out=$2 total failed
    if total=$(echo "$out" | sed -n 's/.*All \([0-9]\+\) tests passed.*/\1/p' | tail -1) && [ -n "$total" ]; then
        count "$name" "$total" 0
    elif failed=$(echo "$out" | sed -n 's/.* \([0-9]\+\) of \([0-9]\+\) tests failed.*/\1/p' | tail -1) &&
        [ -n "$failed" ]; then
        total=$(echo "$out" | sed -n 's/.* [0-9]\+ of \([0-9]\+\) tests failed.*/\1/p' | tail -1)
        count "$name" $((total - failed)) "$failed"
    else
        echo "$out"
        count "$name" 0 1
    fi
}

# run_sql_suites LABEL MODE [postgresql.conf lines...]
# MODE (lock or shared_memory) picks the expected files (see the Makefile).
run_sql_suites() {
    local label=$1 mode=$2 out diffs
    shift 2
    start_cluster regress 54331 "$@"
    out=$(make -C "$REPO_ROOT" -s PG_CONFIG=$PG_BIN/pg_config ZB_MODE="$mode" installcheck-regress 2>&1) || true
    echo "$out" | grep -E '^(ok|not ok|test |     |\s+[a-z_0-9]+ +\.\.\.)' || true
    count_pg_regress "pg_regress ($label)" "$out"
    diffs=$REPO_ROOT/regression.diffs
    [ "$mode" = lock ] || diffs=$REPO_ROOT/build/regress-$mode/regression.diffs
    if echo "$out" | grep -q "tests failed"; then head -200 "$diffs" 2>/dev/null; fi

    out=$(make -C "$REPO_ROOT" -s PG_CONFIG=$PG_BIN/pg_config ZB_MODE="$mode" installcheck-isolation 2>&1) || true
    echo "$out" | grep -E '\.\.\. ' || true
    count_pg_regress "isolation ($label)" "$out"
    if echo "$out" | grep -q "tests failed"; then
        cat "$REPO_ROOT/tests/isolation/output/regression.diffs" 2>/dev/null | head -200
    fi
    stop_cluster
}
# Once without the library preloaded (lock mode), once with it in
# shared_preload_libraries (shared-memory mode): the same suites, the same
# results except where the Makefile's ZB_MODE says why.
run_sql_suites "lock mode" lock
run_sql_suites "shared-memory mode" shared_memory "shared_preload_libraries = 'zechat_billing'" "zechat_billing.max_counters = 2000"

# --- scripted tests: crashes, restarts, dump/restore ------------------------
run_scripted_tests() {
    local script name
    for script in "$REPO_ROOT"/tests/scripts/*.sh; do
        [ -e "$script" ] || continue
        name=$(basename "$script" .sh)
        if bash "$script" >"/tmp/zb-$name.log" 2>&1; then
            count "script $name" 1 0
        else
            tail -n 40 "/tmp/zb-$name.log"
            count "script $name" 0 1
        fi
    done
}
run_scripted_tests

if [ ${#FAILED_NAMES[@]} -gt 0 ]; then log "failed: ${FAILED_NAMES[*]}"; fi
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
