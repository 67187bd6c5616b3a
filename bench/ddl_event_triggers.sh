#!/usr/bin/env bash
# What the extension's event triggers add to common DDL of the application's
# own tables, none of them enforced (lock mode; the triggers are the same in
# both modes): each operation OPS times in one session, with the
# extension's event triggers enabled and then disabled, A B A B, ROUNDS
# times; the median time of one operation in each, and the median of the
# rounds' differences.
#
#   bash bench/ddl_event_triggers.sh
#   ROUNDS=7 OPS=1000 (the defaults)
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/stats.sh"

ROUNDS=${ROUNDS:-7}
OPS=${OPS:-1000}

install_build_dependencies
build_and_install_extension
start_cluster ddl_event_triggers 54390 >/dev/null
trap stop_cluster EXIT
createdb bench
psql -X -q -v ON_ERROR_STOP=1 -d bench >/dev/null <<'SQL'
CREATE EXTENSION zechat_billing;
CREATE TABLE app_table (tenant_id text, body text);
-- Milliseconds one round of the statements takes, over n rounds ($i in a
-- statement is the round's number).
CREATE FUNCTION ms_per_op(statements text[], n integer) RETURNS float8
LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz := clock_timestamp();
    s text;
BEGIN
    FOR i IN 1 .. n LOOP
        FOREACH s IN ARRAY statements LOOP
            EXECUTE replace(s, '$i', i::text);
        END LOOP;
    END LOOP;
    RETURN extract(epoch FROM clock_timestamp() - t0) * 1000 / n;
END;
$$;
-- Sets every event trigger of the extension to `how` (ENABLE ALWAYS or
-- DISABLE).
CREATE FUNCTION set_extension_event_triggers(how text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    t name;
BEGIN
    FOR t IN SELECT e.evtname FROM pg_event_trigger e
               JOIN pg_depend d ON d.classid = 'pg_event_trigger'::regclass AND d.objid = e.oid
                               AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
    LOOP
        EXECUTE format('ALTER EVENT TRIGGER %I %s', t, how);
    END LOOP;
END;
$$;
SQL

declare -A operations=(
    [alter_table]="ARRAY['ALTER TABLE app_table ALTER COLUMN body SET STATISTICS \$i']"
    [temp_table]="ARRAY['CREATE TEMP TABLE scratch (a int)', 'DROP TABLE scratch']"
    [table]="ARRAY['CREATE TABLE scratch (a int)', 'DROP TABLE scratch']"
)
names="alter_table temp_table table"

# ms OPERATION: one operation's time, in a new session.
ms() {
    psql -X -q -At -v ON_ERROR_STOP=1 -d bench -c "SELECT ms_per_op(${operations[$1]}, $OPS)"
}

declare -A with without
for round in $(seq "$ROUNDS"); do
    for name in $names; do
        psql -X -q -d bench -c "SELECT set_extension_event_triggers('ENABLE ALWAYS')" >/dev/null
        with[$name]+="$(ms "$name") "
        psql -X -q -d bench -c "SELECT set_extension_event_triggers('DISABLE')" >/dev/null
        without[$name]+="$(ms "$name") "
    done
done
psql -X -q -d bench -c "SELECT set_extension_event_triggers('ENABLE ALWAYS')" >/dev/null

echo
echo "DDL with the extension's event triggers, lock mode, $ROUNDS rounds of $OPS:"
echo
echo "| operation | ms, triggers on (median) | ms, triggers off (median) | median of the rounds' differences, ms |"
echo "|---|---|---|---|"
for name in $names; do
    differences=$(paste <(echo "${with[$name]}" | tr ' ' '\n' | grep .) \
        <(echo "${without[$name]}" | tr ' ' '\n' | grep .) | awk '{print $1 - $2}' | median)
    printf '| %s | %.3f | %.3f | %.3f |\n' "$name" "$(median_of "${with[$name]}")" \
        "$(median_of "${without[$name]}")" "$differences"
done
