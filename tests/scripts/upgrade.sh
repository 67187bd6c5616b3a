#!/usr/bin/env bash
# ALTER EXTENSION zechat_billing UPDATE from every released version to the
# current one.  For each release below: build and install that version from
# git, create plans, subscriptions, overrides, enforced tables and usage
# with it; then install the current version as a package upgrade would (new
# library and scripts, server restarted), check that the old SQL objects
# still work with the new library, update, and check that nothing was lost
# or counted twice, that enforcement goes on exactly where it was (also in
# shared-memory mode), and that the updated installation has exactly the
# objects of a fresh one (a catalog fingerprint of both, compared line by
# line).
#
# A new version adds its release here: "version:commit of the last state
# with that version", and src/sql/updates/zechat_billing--OLD--NEW.sql.
source "$(dirname "$0")/../../scripts/lib.sh"

RELEASES=("1.0:7bfb42c1ff4576b540fc33c511a429ab3c9d7641")
CURRENT=$(sed -n "s/^default_version = '\(.*\)'$/\1/p" "$REPO_ROOT/zechat_billing.control")
OLD_TREE=/tmp/zb-upgrade-source

# Whatever happens, leave the current version installed for what runs next.
trap 'stop_cluster; build_and_install_extension' EXIT
fail() { echo "FAILED ($OLD -> $CURRENT): $*" >&2; exit 1; }
q() { psql -X -At -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }

# The extension's objects and everything that defines them, one per line.
fingerprint() {
    q "$1" "
    WITH members AS (
        SELECT d.classid, d.objid FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
         WHERE d.refclassid = 'pg_extension'::regclass AND e.extname = 'zechat_billing'
           AND d.deptype = 'e')
    SELECT line FROM (
        SELECT 'member ' || pg_describe_object(classid, objid, 0) AS line FROM members
        UNION ALL
        SELECT 'function ' || p.oid::regprocedure || ' ' || md5(pg_get_functiondef(p.oid)) || ' '
               || coalesce(obj_description(p.oid, 'pg_proc'), '-') || ' ' || coalesce(p.proacl::text, '-')
          FROM pg_proc p JOIN members m ON m.classid = 'pg_proc'::regclass AND m.objid = p.oid
        UNION ALL
        SELECT 'relation ' || c.oid::regclass || ' ' || c.relkind::text || ' '
               || coalesce(obj_description(c.oid, 'pg_class'), '-') || ' ' || coalesce(c.relacl::text, '-')
               || ' ' || CASE WHEN c.relkind = 'v' THEN md5(pg_get_viewdef(c.oid)) ELSE '' END
               || ' ' || coalesce(c.reloptions::text, '-')
          FROM pg_class c JOIN members m ON m.classid = 'pg_class'::regclass AND m.objid = c.oid
        UNION ALL
        SELECT 'column ' || a.attrelid::regclass || '.' || a.attname || ' ' || a.attnum || ' '
               || format_type(a.atttypid, a.atttypmod) || ' ' || a.attnotnull || ' '
               || coalesce(pg_get_expr(d.adbin, d.adrelid), '-')
          FROM pg_attribute a JOIN members m ON m.classid = 'pg_class'::regclass AND m.objid = a.attrelid
          LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         WHERE a.attnum > 0 AND NOT a.attisdropped
        UNION ALL
        SELECT 'constraint ' || co.conrelid::regclass || ' ' || co.conname || ' ' || pg_get_constraintdef(co.oid)
          FROM pg_constraint co JOIN members m ON m.classid = 'pg_class'::regclass AND m.objid = co.conrelid
        UNION ALL
        SELECT 'index ' || pg_get_indexdef(i.indexrelid)
          FROM pg_index i JOIN members m ON m.classid = 'pg_class'::regclass AND m.objid = i.indrelid
        UNION ALL
        SELECT 'trigger ' || pg_get_triggerdef(t.oid) || ' ' || t.tgenabled::text
          FROM pg_trigger t JOIN members m ON m.classid = 'pg_class'::regclass AND m.objid = t.tgrelid
         WHERE NOT t.tgisinternal
        UNION ALL
        SELECT 'event trigger ' || ev.evtname || ' ' || ev.evtevent || ' ' || ev.evtfoid::regproc || ' '
               || ev.evtenabled::text || ' ' || coalesce(ev.evttags::text, '-')
          FROM pg_event_trigger ev JOIN members m ON m.classid = 'pg_event_trigger'::regclass AND m.objid = ev.oid
        UNION ALL
        SELECT 'config table ' || c.oid::regclass || ' ' || coalesce(x.cond, '')
          FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS x(relid, cond)
          JOIN pg_class c ON c.oid = x.relid
         WHERE e.extname = 'zechat_billing'
    ) s ORDER BY line"
}

usage_of() { # DB TENANT RESOURCE
    q "$1" "SELECT used || '/' || coalesce(hard_limit::text, 'unlimited')
              FROM billing.tenant_usage('$2') WHERE resource = '$3'"
}

upgrade_from() { # OLD COMMIT
    OLD=$1
    local commit=$2
    rm -rf "$OLD_TREE"
    mkdir -p "$OLD_TREE"
    git -C "$REPO_ROOT" archive "$commit" | tar -x -C "$OLD_TREE" ||
        fail "cannot read version $OLD (commit $commit) from git"
    log "building zechat_billing $OLD"
    make -C "$OLD_TREE" -s -j2 PG_CONFIG=$PG_BIN/pg_config >/dev/null
    as_root make -C "$OLD_TREE" -s PG_CONFIG=$PG_BIN/pg_config install >/dev/null

    start_cluster upgrade 54404
    createdb old
    psql -X -q -v ON_ERROR_STOP=1 -d old >/dev/null <<'SQL' || fail "setting up data with the old version"
CREATE EXTENSION zechat_billing;
INSERT INTO billing.plans (plan_id, name, price_cents) VALUES ('starter', 'Starter', 4900);
INSERT INTO billing.plan_limits VALUES ('starter', 'messages', 5), ('starter', 'storage', 1000),
                                       ('starter', 'users', 3), ('starter', 'whatsapp_sessions', NULL);
SELECT billing.subscribe('acme', 'starter', '2026-11-01 00:00+00');
SELECT billing.subscribe('vip', 'starter');
INSERT INTO billing.limit_overrides VALUES ('vip', 'messages', 100);
CREATE TABLE messages (id bigserial PRIMARY KEY, tenant_id text NOT NULL, body text);
CREATE TABLE files (id bigserial PRIMARY KEY, tenant_id text NOT NULL, size_bytes int NOT NULL);
SELECT billing.enforce_quota('messages', 'messages');
SELECT billing.enforce_quota('files', 'storage', amount_column => 'size_bytes');
INSERT INTO messages (tenant_id, body) VALUES ('acme', '1'), ('acme', '2'), ('acme', '3'), ('vip', 'v');
INSERT INTO files (tenant_id, size_bytes) VALUES ('acme', 400), ('acme', 200);
SELECT billing.consume_quota('acme', 'users', 2);
-- A gauge on a table with an inheritance child: 1.0 counted the child's
-- rows too when it enforced the table.
CREATE TABLE team (tenant_id text NOT NULL);
CREATE TABLE team_archive () INHERITS (team);
INSERT INTO team VALUES ('vip');
INSERT INTO team_archive VALUES ('vip'), ('vip');
SELECT billing.enforce_quota('team', 'users');
-- A gauge's table dropped: 1.0 kept its enforcement, by OID, until a full
-- recount; 1.1 keeps the gauge in billing.gauges_to_recount instead.
CREATE TABLE old_sessions (tenant_id text NOT NULL);
SELECT billing.enforce_quota('old_sessions', 'whatsapp_sessions');
INSERT INTO old_sessions VALUES ('acme'), ('acme');
DROP TABLE old_sessions;
-- A gauge enforced on a generated column, which 1.0 allowed, and whose
-- inserts it counted as 0 (its triggers saw the column as NULL); and an
-- enforced column renamed, which 1.0 allowed too (every write of the table
-- fails since).
CREATE TABLE gen_files (tenant_id text NOT NULL, kb int NOT NULL, bytes int GENERATED ALWAYS AS (kb * 10) STORED);
SELECT billing.enforce_quota('gen_files', 'storage', amount_column => 'bytes');
INSERT INTO gen_files (tenant_id, kb) VALUES ('acme', 5);
CREATE TABLE seats (tenant_id text NOT NULL, n int NOT NULL);
SELECT billing.enforce_quota('seats', 'users', amount_column => 'n');
ALTER TABLE seats RENAME COLUMN n TO seat_count;
-- An enforcement trigger renamed, which 1.0 allowed, and one made by hand
-- that matches no enforcement: 1.1 finds its triggers by name, and a dump
-- restores neither.
ALTER TRIGGER zzz_billing_messages_ins ON messages RENAME TO messages_quota;
CREATE TABLE spare (tenant_id text);
CREATE TRIGGER spare_count BEFORE INSERT ON spare FOR EACH ROW
    EXECUTE FUNCTION billing._enforce_quota_trigger('messages', 'tenant_id', '');
-- The README's monitoring role.
CREATE ROLE upgrade_monitor;
GRANT SELECT ON billing.counters TO upgrade_monitor;
GRANT EXECUTE ON FUNCTION billing._counters() TO upgrade_monitor;
-- 1.0 stepped months from the anchor in the session's TimeZone.  Of two
-- monthly tenants anchored on the 15th in January and in July, one has its
-- anchor on the other side of a daylight saving change from its current
-- period's start, whatever the date: 1.0 keyed that period an hour off the
-- start 1.1 computes in UTC, and the update must carry the usage there.
INSERT INTO billing.plans (plan_id, name) VALUES ('monthly', 'Monthly');
INSERT INTO billing.plan_limits VALUES ('monthly', 'messages', 10);
SELECT billing.subscribe('winter', 'monthly', '2025-01-15 00:00 America/New_York'),
       billing.subscribe('summer', 'monthly', '2025-07-15 00:00 America/New_York');
SET TimeZone = 'America/New_York';
SELECT billing.consume_quota('winter', 'messages', 4), billing.consume_quota('summer', 'messages', 4);
-- And by a day where a short month clamps the anchor's day, which is not
-- the same in the session's zone as in UTC: anchored on the 31st 00:00
-- UTC (the 30th in Sao Paulo), 1.0 started November on December 1 00:00
-- UTC, 1.1 on November 30 (in the current period only in some months; the
-- checks after the update hold in all).  So that one such period always
-- is, tokyo's April 2025, whose usage 1.0 would have kept under April 30
-- 05:00 Tokyo (April 29 20:00 UTC), and 1.1 reads under April 30 20:00 UTC:
-- its row is moved there, as 1.0 would have written it.
SELECT billing.subscribe('sp31', 'monthly', '2025-01-31 00:00+00'),
       billing.subscribe('tokyo', 'monthly', '2025-01-31 05:00 Asia/Tokyo');
SET TimeZone = 'America/Sao_Paulo';
SELECT billing.consume_quota('sp31', 'messages', 4);
SET TimeZone = 'Asia/Tokyo';
SELECT billing.consume_quota('tokyo', 'messages', 7);
UPDATE billing.usage_parts SET period_start = '2025-01-31 05:00 Asia/Tokyo'::timestamptz + interval '3 months'
 WHERE tenant_id = 'tokyo';
SQL
    [ "$(q old "SELECT extversion FROM pg_extension WHERE extname = 'zechat_billing'")" = "$OLD" ] ||
        fail "the old version is not the one installed"
    # 1.0 installed into a schema billing that a role other than a superuser
    # owned already (its owner could run code as the extension's functions):
    # the update refuses it until a superuser owns it.
    createdb unsafe
    psql -X -q -v ON_ERROR_STOP=1 -d unsafe >/dev/null <<'SQL' || fail "installing the old version into a schema of another role"
CREATE ROLE upgrade_schema_owner;
CREATE SCHEMA billing AUTHORIZATION upgrade_schema_owner;
CREATE EXTENSION zechat_billing;
-- Tables joined to the extension's by inheritance, which 1.1 refuses.
CREATE TABLE joined_child () INHERITS (billing.usage_parts);
CREATE TABLE joined_parent (LIKE billing.plan_limits);
ALTER TABLE billing.plan_limits INHERIT joined_parent;
SQL

    # The package upgrade: new library and scripts; the server restarts.
    build_and_install_extension
    restart_cluster
    [ "$(q old "SELECT extversion FROM pg_extension WHERE extname = 'zechat_billing'")" = "$OLD" ] ||
        fail "installing the new package changed the installed version by itself"
    q old "INSERT INTO messages (tenant_id, body) VALUES ('acme', '4')" >/dev/null ||
        fail "the new library does not serve the old version's objects"
    [ "$(usage_of old acme messages)" = "4/5" ] || fail "before the update: messages $(usage_of old acme messages)"
    # A row ON CONFLICT skips counts, as it did.
    q old "INSERT INTO messages (id, tenant_id, body) VALUES (4, 'vip', 'again') ON CONFLICT DO NOTHING" >/dev/null ||
        fail "ON CONFLICT before the update"
    [ "$(usage_of old vip messages)" = "2/100" ] || fail "ON CONFLICT before the update: $(usage_of old vip messages)"

    # Until the update the new library steps periods as 1.0 did, in the
    # session's TimeZone: the application's sessions, in the zone 1.0's
    # usage was keyed in, read it and are refused at the limit.  Until
    # 2026-12-07 it stepped in UTC already, and one of the two tenants read 0
    # of 10 and was admitted 7 more.
    [ "$(PGTZ=America/New_York usage_of old winter messages) $(PGTZ=America/New_York usage_of old summer messages)" = "4/10 4/10" ] ||
        fail "1.0's usage read before the update: $(PGTZ=America/New_York usage_of old winter messages) $(PGTZ=America/New_York usage_of old summer messages)"
    admitted=$(PGTZ=America/New_York q old "SELECT billing.try_consume_quota('winter', 'messages', 7),
                                                   billing.try_consume_quota('summer', 'messages', 7)")
    [ "$admitted" = "f|f" ] || fail "admitted past the limit before the update: $admitted"
    # A session in UTC steps in UTC, as it did under 1.0: for one of the two
    # tenants it counts under a key other than New York's (the update brings
    # the two together).
    PGTZ=UTC q old "SELECT billing.consume_quota('winter', 'messages'), billing.consume_quota('summer', 'messages')" \
        >/dev/null || fail "consuming with the new library before the update"
    [ "$(q old "SELECT count(DISTINCT (tenant_id, period_start)) FROM billing.usage_parts
                 WHERE tenant_id IN ('winter', 'summer')")" = 3 ] ||
        fail "1.0 did not key one of the daylight saving tenants' periods off 1.1's (the test's premise)"

    state=$(psql -X -At -v VERBOSITY=sqlstate -d unsafe -c "ALTER EXTENSION zechat_billing UPDATE" 2>&1 || true)
    [ "$state" = "ERROR:  42501" ] && [ "$(q unsafe "SELECT extversion FROM pg_extension WHERE extname = 'zechat_billing'")" = "$OLD" ] ||
        fail "the update of an installation in a schema of another role: $state"
    joined=$(psql -X -q -v ON_ERROR_STOP=1 -d unsafe -c "ALTER SCHEMA billing OWNER TO postgres" \
        -c "ALTER EXTENSION zechat_billing UPDATE" 2>&1) || fail "the update once a superuser owns the schema: $joined"
    # The tables joined by inheritance under the old version stay, named with
    # the statements that take them out, which then work.
    echo "$joined" | grep -q 'table public.joined_child inherits from table billing.usage_parts' &&
        echo "$joined" | grep -q 'table billing.plan_limits inherits from table public.joined_parent' ||
        fail "the update did not name the tables joined by inheritance: $joined"
    q unsafe "$(echo "$joined" | sed -n 's/^HINT:  \(ALTER TABLE .* NO INHERIT .*;\)$/\1/p')" >/dev/null ||
        fail "the update's hints did not take the joined tables out: $joined"
    [ "$(q unsafe "SELECT count(*) FROM pg_inherits WHERE 'billing'::regnamespace IN
                    (SELECT relnamespace FROM pg_class WHERE oid IN (inhrelid, inhparent))")" = 0 ] ||
        fail "tables still joined to the extension's after the update's hints"
    [ "$(q unsafe "SELECT extversion FROM pg_extension WHERE extname = 'zechat_billing'")" = "$CURRENT" ] ||
        fail "the update once a superuser owns the schema did not reach $CURRENT"

    # A session of the application open across the update, its backend's
    # periods stepped as 1.0 did, consumes while the update is in flight:
    # it waits, then counts in UTC's periods, where the update moved the
    # usage (both at 5 of 10: 6 more do not fit; the one whose 1.0 key was
    # off, counted under it, would find 0 there).
    local spanning_fifo=$CLUSTER_DIR/spanning.fifo update_fifo=$CLUSTER_DIR/update.fifo
    rm -f "$spanning_fifo" "$update_fifo" "$CLUSTER_DIR/spanning.out" "$CLUSTER_DIR/update.out"
    mkfifo "$spanning_fifo" "$update_fifo"
    PGTZ=America/New_York psql -X -At -d old <"$spanning_fifo" >"$CLUSTER_DIR/spanning.out" 2>&1 &
    local spanning_pid=$!
    exec 5>"$spanning_fifo"
    echo "SELECT 'before', billing.check_quota('winter', 'messages', 5), billing.check_quota('summer', 'messages', 5);" >&5
    wait_for_line "$CLUSTER_DIR/spanning.out" '^before' || fail "the session open across the update"
    psql -X -q -At -d old <"$update_fifo" >"$CLUSTER_DIR/update.out" 2>&1 &
    local update_pid=$!
    exec 6>"$update_fifo"
    echo "BEGIN; ALTER EXTENSION zechat_billing UPDATE; SELECT 'updated';" >&6
    wait_for_line "$CLUSTER_DIR/update.out" '^updated' || fail "ALTER EXTENSION ... UPDATE failed"
    echo "SELECT 'during', billing.try_consume_quota('winter', 'messages', 6), billing.try_consume_quota('summer', 'messages', 6);" >&5
    lock_waiters() { [ "$(q old "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")" -gt 0 ]; }
    wait_until 60 lock_waiters || fail "the session open across the update did not wait for it"
    echo "COMMIT;" >&6
    exec 6>&-
    wait "$update_pid" || true
    exec 5>&-
    wait "$spanning_pid" || true
    warnings=$(grep -v '^updated$' "$CLUSTER_DIR/update.out")
    echo "$warnings" | grep -q ERROR && fail "ALTER EXTENSION ... UPDATE failed: $warnings"
    [ "$(q old "SELECT extversion FROM pg_extension WHERE extname = 'zechat_billing'")" = "$CURRENT" ] ||
        fail "the update did not reach $CURRENT"
    [ "$(cat "$CLUSTER_DIR/spanning.out")" = "$(printf 'before|t|t\nduring|f|f')" ] ||
        fail "the session open across the update: $(cat "$CLUSTER_DIR/spanning.out")"

    # The update names the two enforcements 1.0 left broken, with what repairs
    # them; unenforcing them keeps the gauge's usage (until 2026-12-07 the
    # generated column's rows, never counted, were taken back: acme's storage
    # went from 600 to 550, another table's rows no longer counted).
    echo "$warnings" | grep -q 'resource "storage" is enforced on "public.gen_files" by generated column "bytes"' &&
        echo "$warnings" | grep -q 'resource "users" is enforced on "public.seats" by column "n", which is gone' ||
        fail "the update did not name the broken 1.0 enforcements: $warnings"
    # The renamed trigger has its name back; the one made by hand is named,
    # with the statement that drops it.
    [ "$(q old "SELECT string_agg(tgname, ',' ORDER BY tgname) FROM pg_trigger
                 WHERE tgrelid = 'messages'::regclass AND NOT tgisinternal")" = zzz_billing_messages_ins ] ||
        fail "the renamed 1.0 trigger: $(q old "SELECT tgname FROM pg_trigger WHERE tgrelid = 'messages'::regclass")"
    echo "$warnings" | grep -q 'enforcement trigger "messages_quota" on "public.messages" renamed back to "zzz_billing_messages_ins"' ||
        fail "the update did not say it renamed the 1.0 trigger back: $warnings"
    drop_spare=$(echo "$warnings" | sed -n 's/^HINT:  Drop it (\(DROP TRIGGER spare_count ON public.spare\)).*/\1/p')
    [ -n "$drop_spare" ] && q old "$drop_spare" >/dev/null || fail "the update did not name the trigger made by hand: $warnings"
    [ "$(usage_of old acme storage)" = "600/1000" ] || fail "storage before unenforcing gen_files: $(usage_of old acme storage)"
    unenforced=$(q old "SELECT billing.unenforce_quota('gen_files', 'storage'), billing.unenforce_quota('seats', 'users')" 2>&1) ||
        fail "unenforcing the broken 1.0 enforcements: $unenforced"
    echo "$unenforced" | grep -q 'column "bytes" of "public.gen_files" is generated' ||
        fail "unenforce_quota of the generated column said: $unenforced"
    [ "$(usage_of old acme storage)" = "600/1000" ] || fail "unenforcing gen_files took back usage: $(usage_of old acme storage)"

    # Nothing lost, nothing counted twice, enforcement goes on where it was.
    [ "$(q old "SELECT count(*) FROM billing.plans")/$(q old "SELECT count(*) FROM billing.plan_limits")" = "2/5" ] ||
        fail "plans or limits lost"
    [ "$(q old "SELECT string_agg(tenant_id || ':' || plan_id || ':' || status, ' ' ORDER BY tenant_id)
                  FROM billing.subscriptions")" = "acme:starter:active sp31:monthly:active summer:monthly:active tokyo:monthly:active vip:starter:active winter:monthly:active" ] ||
        fail "subscriptions changed"
    # Each daylight saving tenant's period usage, under the one key 1.1 reads.
    [ "$(usage_of old winter messages) $(usage_of old summer messages)" = "5/10 5/10" ] ||
        fail "the 1.0 periods keyed off UTC: $(usage_of old winter messages) $(usage_of old summer messages)"
    [ "$(q old "SELECT count(DISTINCT (tenant_id, period_start)) FROM billing.usage_parts
                 WHERE tenant_id IN ('winter', 'summer')")" = 2 ] ||
        fail "usage left under a 1.0 key: $(q old "SELECT tenant_id, period_start, used FROM billing.usage_parts
                                                      WHERE tenant_id IN ('winter', 'summer')")"
    [ "$(usage_of old sp31 messages)" = "4/10" ] || fail "the clamped 1.0 period: $(usage_of old sp31 messages)"
    [ "$(q old "SELECT period_start = '2025-04-30 20:00+00' AND used = 7 FROM billing.usage_history
                 WHERE tenant_id = 'tokyo'")" = t ] ||
        fail "tokyo's April 2025: $(q old "SELECT * FROM billing.usage_history WHERE tenant_id = 'tokyo'")"
    [ "$(q old "SELECT period_anchor = '2026-11-01 00:00+00' FROM billing.subscriptions WHERE tenant_id = 'acme'")" = t ] ||
        fail "the anchor changed"
    [ "$(usage_of old acme messages) $(usage_of old acme storage) $(usage_of old acme users)" = "4/5 600/1000 2/3" ] ||
        fail "usage after the update: $(usage_of old acme messages) $(usage_of old acme storage) $(usage_of old acme users)"
    [ "$(usage_of old vip messages)" = "2/100" ] || fail "the override was lost: $(usage_of old vip messages)"
    # ON CONFLICT counts as before until a table is made exact for it.
    q old "SELECT billing.exact_on_conflict('messages'); SELECT billing.exact_on_conflict('files')" >/dev/null ||
        fail "exact_on_conflict after the update"
    q old "INSERT INTO messages (id, tenant_id, body) VALUES (4, 'vip', 'again') ON CONFLICT DO NOTHING" >/dev/null
    q old "INSERT INTO files (id, tenant_id, size_bytes) VALUES (1, 'acme', 300)
           ON CONFLICT (id) DO UPDATE SET size_bytes = excluded.size_bytes" >/dev/null
    [ "$(usage_of old vip messages) $(usage_of old acme storage)" = "2/100 500/1000" ] ||
        fail "ON CONFLICT after the update: $(usage_of old vip messages) $(usage_of old acme storage)"
    q old "INSERT INTO messages (tenant_id, body) VALUES ('acme', '5')" >/dev/null || fail "the 5th message"
    state=$(psql -X -At -v VERBOSITY=sqlstate -d old -c "INSERT INTO messages (tenant_id, body) VALUES ('acme', '6')" 2>&1 || true)
    echo "$state" | grep -q PT402 || fail "the 6th message was not refused: $state"
    q old "DELETE FROM files WHERE size_bytes = 300" >/dev/null
    [ "$(usage_of old acme storage)" = "200/1000" ] || fail "a gauge release after the update"
    # A table enforced under the old version can be enforced per statement.
    q old "SELECT billing.enforce_per_statement('files')" >/dev/null || fail "enforce_per_statement after the update"
    q old "INSERT INTO files (id, tenant_id, size_bytes) VALUES (10, 'acme', 100), (11, 'acme', 50)" >/dev/null
    [ "$(usage_of old acme storage)" = "350/1000" ] || fail "per statement after the update: $(usage_of old acme storage)"
    q old "DELETE FROM files WHERE id IN (10, 11)" >/dev/null

    # Exactly the objects of a fresh installation.
    createdb fresh
    q fresh "CREATE EXTENSION zechat_billing" >/dev/null
    fingerprint old >"$CLUSTER_DIR/fingerprint.old" || fail "fingerprint of the updated installation"
    fingerprint fresh >"$CLUSTER_DIR/fingerprint.fresh" || fail "fingerprint of a fresh installation"
    [ "$(wc -l <"$CLUSTER_DIR/fingerprint.fresh")" -gt 100 ] || fail "the fingerprint is too short to mean anything"
    diff "$CLUSTER_DIR/fingerprint.old" "$CLUSTER_DIR/fingerprint.fresh" || fail "the updated installation differs from a fresh one"
    echo "$OLD -> $CURRENT: $(wc -l <"$CLUSTER_DIR/fingerprint.fresh") catalog lines identical to a fresh installation"

    # Only the extension's own script may leave a table of it joined by
    # inheritance (the update above): another extension's script is refused
    # like any other command (until 2026-12-07 every extension script was
    # exempt, and one deleting usage through a parent of usage_parts let lock
    # mode admit 20 of 10; a helper's attack).
    local share
    share=$($PG_BIN/pg_config --sharedir)/extension
    printf "default_version = '1.0'\nrelocatable = false\n" | as_root tee "$share/zb_joiner.control" >/dev/null
    printf 'CREATE TABLE public.joiner (LIKE billing.usage_parts);\nALTER TABLE billing.usage_parts INHERIT public.joiner;\n' |
        as_root tee "$share/zb_joiner--1.0.sql" >/dev/null
    state=$(psql -X -At -v VERBOSITY=sqlstate -d fresh -c "CREATE EXTENSION zb_joiner" 2>&1 || true)
    as_root rm -f "$share/zb_joiner.control" "$share/zb_joiner--1.0.sql"
    [ "$state" = "ERROR:  0A000" ] || fail "another extension's script joined a table to usage_parts: $state"

    # The view and function the update makes again lose the grants made on
    # them; the update names them, with the statements that give them back
    # (until 2026-12-05 they were gone without a word).
    regrant=$(echo "$warnings" | sed -n 's/^HINT:  Grant them again: //p')
    echo "$warnings" | grep -q 'without their grants' && [ -n "$regrant" ] ||
        fail "no warning naming the grants of billing.counters: $warnings"
    q old "$regrant" >/dev/null || fail "the statements the warning gives: $regrant"
    [ "$(q old "SELECT has_table_privilege('upgrade_monitor', 'billing.counters', 'SELECT')
                   AND has_function_privilege('upgrade_monitor', 'billing._counters()', 'EXECUTE')")" = t ] ||
        fail "the monitoring role's grants, given back: $regrant"

    # The same data serves shared-memory mode.
    restart_cluster "shared_preload_libraries = 'zechat_billing'"
    [ "$(q old "SELECT billing.try_consume_quota('acme', 'messages')")" = f ] ||
        fail "shared-memory mode admitted past the limit after the update"
    [ "$(q old "SELECT billing.consume_quota('acme', 'storage', 800)")" = 0 ] ||
        fail "shared-memory mode lost the storage usage"
    [ "$(q old "SELECT billing.try_consume_quota('winter', 'messages', 5), billing.try_consume_quota('summer', 'messages', 5),
                       billing.try_consume_quota('winter', 'messages'), billing.try_consume_quota('summer', 'messages')")" = "t|t|f|f" ] ||
        fail "the daylight saving tenants' limits in shared-memory mode"
    # What the README says to do after the update from 1.0: recount brings
    # the inheritance parent's gauge to its own rows.
    [ "$(usage_of old vip users)" = "3/3" ] || fail "1.0's count of team: $(usage_of old vip users)"
    [ "$(q old "SELECT (SELECT count(*) FROM billing.enforced_tables WHERE tbl::oid NOT IN (SELECT oid FROM pg_class))
                       || '|' || (SELECT string_agg(resource, ',') FROM billing.gauges_to_recount)")" = "0|whatsapp_sessions" ] ||
        fail "the dropped table's enforcement, after the update"
    [ "$(usage_of old acme whatsapp_sessions)" = "2/unlimited" ] || fail "1.0's count of old_sessions: $(usage_of old acme whatsapp_sessions)"
    q old "SELECT billing.recount()" >/dev/null || fail "recount after the update"
    [ "$(usage_of old vip users)" = "1/3" ] || fail "recount after the update: $(usage_of old vip users)"
    [ "$(usage_of old acme whatsapp_sessions)|$(q old "SELECT count(*) FROM billing.gauges_to_recount")" = "0/unlimited|0" ] ||
        fail "recount after the update, the dropped table's share: $(usage_of old acme whatsapp_sessions)"
    stop_cluster
    echo "upgrade $OLD -> $CURRENT: ok"
}

for release in "${RELEASES[@]}"; do
    upgrade_from "${release%%:*}" "${release#*:}"
done
