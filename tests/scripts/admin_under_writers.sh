#!/usr/bin/env bash
# enforce_quota and unenforce_quota of a gauge table in a loop, in lock mode,
# while 4 clients consume a unit by hand and then insert into that table, on
# 3 tenants: each writer holds a tenant's usage row before it asks for the
# table.  The calls do not wait for such a row with the table held (they
# give everything back and start again: usage_row_waits.hpp); against these
# writers, without pause, some tenant's row is held at every round, and
# until a helper's review of 2026-12-06 a call then went on starting again
# for as long as they wrote.  Now each call ends by itself: done, or after
# five deadlock checks' time of restarts a deadlock (40P01) with a writer,
# never the 30-second statement_timeout here.  (On an idle machine the
# calls ended by themselves before that bound too, 12 in 12 s: the review's
# endless rounds were on a busier one.  This checks that they end, and what
# they leave.)  Whatever ended how, usage is then exact: per tenant, one
# unit per committed writer, plus its 10 bytes while the table is enforced.
# Shared-memory mode holds no usage rows and never waits for one: lock mode
# only.
source "$(dirname "$0")/../../scripts/lib.sh"

fail() { echo "FAILED: $*" >&2; exit 1; }
STRESS=$(dirname "$0")/stress
trap stop_cluster EXIT

install_build_dependencies
build_and_install_extension
start_cluster admin_under_writers 54432
createdb ub
psql -X -q -v ON_ERROR_STOP=1 -d ub >/dev/null <<'SQL'
CREATE EXTENSION zechat_billing;
INSERT INTO billing.plans (plan_id, name) VALUES ('ub', 'Usage before table');
INSERT INTO billing.plan_limits VALUES ('ub', 'storage', NULL);
SELECT billing.subscribe('ub_' || i, 'ub') FROM generate_series(1, 3) i;
CREATE TABLE ub_files (tenant_id text, bytes bigint);
SELECT billing.enforce_quota('ub_files', 'storage', 'tenant_id', 'bytes');
SQL
cp "$STRESS/usage_before_table.sql" "$CLUSTER_DIR/"
chmod 644 "$CLUSTER_DIR/usage_before_table.sql"
pgbench -n -d ub -c 4 -j 4 -T 16 --failures-detailed \
    -f "$CLUSTER_DIR/usage_before_table.sql" >"$CLUSTER_DIR/pgbench.log" 2>&1 &
writers=$!
sleep 1

enforced=true done_calls=0 deadlocks=0
end=$((SECONDS + 12))
while [ $SECONDS -lt $end ]; do
    if $enforced; then
        call="SELECT billing.unenforce_quota('ub_files', 'storage')"
    else
        call="SELECT billing.enforce_quota('ub_files', 'storage', 'tenant_id', 'bytes')"
    fi
    out=$(psql -X -q -At -v ON_ERROR_STOP=1 -v VERBOSITY=sqlstate -d ub \
              -c "SET statement_timeout = '30s'" -c "$call" 2>&1) && {
        done_calls=$((done_calls + 1))
        if $enforced; then enforced=false; else enforced=true; fi
        continue
    }
    case "$out" in
    *40P01*) deadlocks=$((deadlocks + 1)) ;;
    *) wait $writers; fail "$call: $out" ;;
    esac
done
wait $writers || { cat "$CLUSTER_DIR/pgbench.log"; fail "pgbench failed"; }
processed=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$CLUSTER_DIR/pgbench.log")
echo "lock mode: $done_calls calls done, $deadlocks ended by 40P01; ${processed:-?} writer transactions"
[ "${processed:-0}" -gt 100 ] || { cat "$CLUSTER_DIR/pgbench.log"; fail "too few writers went through"; }
[ $((done_calls + deadlocks)) -gt 0 ] || fail "no call ended"

per_row=$($enforced && echo 11 || echo 1)
mismatch=$(psql -X -At -d ub -c "
    SELECT count(*) FROM (SELECT tenant_id, count(*) * $per_row AS expected FROM ub_files GROUP BY 1) r
      FULL JOIN (SELECT tenant_id, used FROM billing.usage WHERE resource = 'storage') u USING (tenant_id)
     WHERE coalesce(r.expected, 0) <> coalesce(u.used, 0)")
[ "$mismatch" = 0 ] || fail "usage differs from the writers' for $mismatch tenants ($(psql -X -At -d ub -c "
    SELECT string_agg(tenant_id || ' ' || used, ', ') FROM billing.usage WHERE resource = 'storage'") ; rows $(psql -X -At -d ub -c "
    SELECT string_agg(tenant_id || ' ' || n, ', ') FROM (SELECT tenant_id, count(*) n FROM ub_files GROUP BY 1) x"))"
stop_cluster
echo "admin_under_writers: ok"
