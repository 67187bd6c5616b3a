#!/usr/bin/env bash
# The README's benchmark commands still run end to end: every scenario of
# bench/run.sh with durable commits, and one with relaxed ones, at one second
# per measurement, and bench/counter_churn.sh on a small table.
# What it measures is not checked (performance is the benchmark's business,
# not a test's), only that each scenario reports a rate and two ratios for
# every one of its variants.
source "$(dirname "$0")/../../scripts/lib.sh"

fail() { echo "FAILED: $*" >&2; exit 1; }

# bench_rows OUTPUT: how many result rows carry a rate and two ratios.
bench_rows() {
    echo "$1" | grep -cE '^\| [^|]+ \| [^|]+ \| [0-9]+( rows/s)? \| [0-9]+\.[0-9]{2} \| [0-9]+\.[0-9]{2} \|$' || true
}

out=$(WARMUP_SECONDS=1 COPY_ROWS=5000 bash "$REPO_ROOT/bench/run.sh" 1 1)
echo "$out"
echo "$out" | grep -q "1s x 1 rounds after a 1s warm-up, durable commits" || fail "no durable header"
# 6 variants in each of 3 pgbench scenarios, 5 for COPY, 2 for consume_quota().
[ "$(bench_rows "$out")" -eq 25 ] || fail "expected 25 result rows"

out=$(COMMITS=relaxed SCENARIOS=hot1 WARMUP_SECONDS=1 bash "$REPO_ROOT/bench/run.sh" 1 1)
echo "$out"
echo "$out" | grep -q "relaxed commits" || fail "no relaxed header"
[ "$(bench_rows "$out")" -eq 6 ] || fail "expected 6 result rows"

# The counter table's churn benchmark, on a table of 200 counters.
out=$(MAX_COUNTERS=200 WARMUP_SECONDS=1 bash "$REPO_ROOT/bench/counter_churn.sh" 1 1)
echo "$out"
[ "$(echo "$out" | grep -cE '^\| (fresh|churned) [^|]+ \| [0-9]+ \| [0-9]+\.[0-9]{2} \| [0-9]+\.[0-9]{2} \|$')" -eq 2 ] ||
    fail "expected 2 churn result rows"

if COMMITS=fast bash "$REPO_ROOT/bench/run.sh" 1 1 >/dev/null 2>&1; then
    fail "COMMITS=fast was accepted"
fi
echo "benchmark runs: ok"
