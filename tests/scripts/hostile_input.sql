-- Property test of every SQL entry point with hostile input (run by
-- hostile_input.sh, in both modes).  Each call gets random arguments:
-- tenants in unicode, with quotes, control characters and 63/64-byte edges;
-- unknown and misspelt resources; amounts at the bigint edges; NULLs.  An
-- oracle says which SQLSTATE the call must end with (22004 for a NULL, 22023
-- for bad input, otherwise success or a refusal), and after every call,
-- committed on its own, the test checks that a refused call changed no
-- usage and that no reservation is left in shared memory.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
CREATE EXTENSION zechat_billing;

INSERT INTO billing.plans (plan_id, name) VALUES ('fz', 'Fuzz');
INSERT INTO billing.plan_limits VALUES
    ('fz', 'messages', 50), ('fz', 'storage', 1000000), ('fz', 'users', 10),
    ('fz', 'whatsapp_sessions', NULL);

-- Subscribed tenants whose names are hostile too.
CREATE TABLE fz_pool (tenant_id text PRIMARY KEY);
INSERT INTO fz_pool VALUES
    ('O''Brien'), ('a"b'), ('back\slash'), ('semi;colon -- x'), (E'tab\there'), (E'new\nline'),
    ('ü-ñ-日本語'), ('😀 emoji'), (repeat('é', 31) || 'x'), (repeat('a', 63)), (repeat('日', 21)),
    ('12345'), ('-9223372036854775808'), ('7d0c8a52-3f5e-4a8e-9b41-2f6d5c1e0a99'), ('%s%n'),
    ('suspended one');
SELECT count(billing.subscribe(tenant_id, 'fz')) FROM fz_pool;
UPDATE billing.subscriptions SET status = 'suspended' WHERE tenant_id = 'suspended one';

-- Enforced tables whose tenant column accepts anything, NULL included.
CREATE TABLE fz_messages (id bigserial PRIMARY KEY, tenant_id text);
CREATE TABLE fz_files (id bigserial PRIMARY KEY, tenant_id text, size_bytes bigint);
SELECT billing.enforce_quota('fz_messages', 'messages');
SELECT billing.enforce_quota('fz_files', 'storage', amount_column => 'size_bytes');

-- enforce_quota is tried on this one, with random column names.
CREATE TABLE fz_scratch (tenant_id text, "ten""ant" uuid, n int, flag boolean, label text);

CREATE TABLE fz_failures (iteration int, call text, expected text, got text);
CREATE TABLE fz_outcomes (call text, outcome text);

CREATE FUNCTION fz_pick(options text[]) RETURNS text LANGUAGE sql AS
$$ SELECT options[1 + floor(random() * array_length(options, 1))::int] $$;

-- A random NUL-free string of n code points, weighted towards what breaks
-- quoting and byte counting.
CREATE FUNCTION fz_text(n int) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    s text := '';
    r float8;
BEGIN
    FOR i IN 1 .. n LOOP
        r := random();
        s := s || chr(CASE
            WHEN r < 0.10 THEN 1 + floor(random() * 31)::int                  -- control
            WHEN r < 0.25 THEN (ARRAY[39, 34, 92, 59, 37, 36, 96, 45])[1 + floor(random() * 8)::int]
            WHEN r < 0.55 THEN 32 + floor(random() * 95)::int                 -- ASCII
            WHEN r < 0.70 THEN 128 + floor(random() * (2048 - 128))::int      -- 2 bytes
            WHEN r < 0.85 THEN 2048 + floor(random() * (55296 - 2048))::int   -- 3 bytes
            WHEN r < 0.90 THEN 57344 + floor(random() * (65534 - 57344))::int -- 3 bytes
            ELSE 65536 + floor(random() * (1114112 - 65536))::int             -- 4 bytes
        END);
    END LOOP;
    RETURN s;
END $$;

CREATE FUNCTION fz_tenant() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    r float8 := random();
BEGIN
    RETURN CASE
        WHEN r < 0.05 THEN NULL
        WHEN r < 0.10 THEN ''
        WHEN r < 0.45 THEN (SELECT tenant_id FROM fz_pool OFFSET floor(random() * 16)::int LIMIT 1)
        WHEN r < 0.60 THEN fz_pick(ARRAY[repeat('é', 31) || 'x', repeat('é', 32), repeat('a', 62),
                                         repeat('a', 63), repeat('a', 64), repeat('日', 21),
                                         repeat('日', 21) || 'a', repeat('😀', 15) || 'abc',
                                         repeat('😀', 16), repeat('x', 1000)])
        ELSE fz_text(1 + floor(random() * 40)::int)
    END;
END $$;

CREATE FUNCTION fz_resource() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    r float8 := random();
BEGIN
    RETURN CASE
        WHEN r < 0.05 THEN NULL
        WHEN r < 0.75 THEN fz_pick(ARRAY['messages', 'storage', 'users', 'whatsapp_sessions'])
        WHEN r < 0.90 THEN fz_pick(ARRAY['', 'Messages', 'messages ', ' storage', 'nope', 'user',
                                         repeat('m', 100), 'messages;', 'storage''', 'gauge'])
        ELSE fz_text(1 + floor(random() * 12)::int)
    END;
END $$;

CREATE FUNCTION fz_amount() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    r float8 := random();
BEGIN
    RETURN CASE
        WHEN r < 0.05 THEN NULL
        WHEN r < 0.45 THEN 1
        WHEN r < 0.65 THEN 1 + floor(random() * 20)::bigint
        WHEN r < 0.75 THEN fz_pick(ARRAY['0', '-1', '-9223372036854775808'])::bigint
        ELSE fz_pick(ARRAY['9223372036854775807', '9223372036854775806', '4611686018427387904',
                           '1000000', '999999', '50', '51'])::bigint
    END;
END $$;

-- What a quota function must end with, for text tenant keys: a SQLSTATE, or
-- 'ok' (success, or PT402 where `refusable`).
CREATE FUNCTION fz_expected(fn text, t text, res text, amount bigint) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    IF t IS NULL OR res IS NULL OR amount IS NULL THEN
        RETURN '22004';
    ELSIF octet_length(t) NOT BETWEEN 1 AND 63 THEN
        RETURN '22023';
    ELSIF NOT EXISTS (SELECT FROM billing.resources WHERE resource = res) THEN
        RETURN '22023';
    ELSIF amount <= 0 THEN
        RETURN '22023';
    ELSIF fn = 'release' AND (SELECT kind FROM billing.resources WHERE resource = res) = 'period' THEN
        RETURN '22023';
    END IF;
    RETURN 'ok';
END $$;

-- The SQLSTATE of enforce_quota('fz_scratch', res, tenant_col, amount_col).
CREATE FUNCTION fz_expected_enforce(res text, tenant_col text, amount_col text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    known text[] := ARRAY['tenant_id', 'ten"ant', 'n', 'flag', 'label'];
BEGIN
    IF res IS NULL OR tenant_col IS NULL THEN
        RETURN '22004';
    ELSIF NOT EXISTS (SELECT FROM billing.resources WHERE resource = res) THEN
        RETURN '22023';
    ELSIF NOT tenant_col = ANY (known) THEN
        RETURN '42703';
    ELSIF tenant_col = 'flag' THEN
        RETURN '42804';
    ELSIF amount_col IS NOT NULL AND NOT amount_col = ANY (known) THEN
        RETURN '42703';
    ELSIF amount_col IS NOT NULL AND amount_col <> 'n' THEN
        RETURN '42804';
    END IF;
    RETURN 'ok';
END $$;

-- The SQLSTATE of subscribe(t, plan, anchor).
CREATE FUNCTION fz_expected_subscribe(t text, plan text, anchor timestamptz) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    IF t IS NULL OR plan IS NULL OR anchor IS NULL THEN
        RETURN '22004';
    ELSIF octet_length(t) NOT BETWEEN 1 AND 63 OR NOT isfinite(anchor) THEN
        RETURN '22023';
    ELSIF NOT EXISTS (SELECT FROM billing.plans WHERE plan_id = plan) THEN
        RETURN '22023';
    END IF;
    RETURN 'ok';
END $$;

CREATE FUNCTION fz_usage_total() RETURNS numeric LANGUAGE sql AS
$$ SELECT coalesce(sum(used), 0) FROM billing.usage_parts $$;

CREATE FUNCTION fz_in_flight() RETURNS bigint LANGUAGE sql AS
$$ SELECT count(*) FROM billing.counters WHERE reserved <> 0 OR releasing <> 0 $$;

CREATE PROCEDURE fz_run(iterations int) LANGUAGE plpgsql AS $$
DECLARE
    fn text;
    t text;
    res text;
    amount bigint;
    expected text;
    got text;
    refused boolean;
    call text;
    before numeric;
    result text;
BEGIN
    FOR i IN 1 .. iterations LOOP
        fn := fz_pick(ARRAY['consume', 'try', 'release', 'check', 'consume_uuid', 'consume_bigint',
                            'try_bigint', 'release_uuid', 'check_bigint', 'tenant_usage',
                            'insert_message', 'insert_file', 'recount', 'period_bounds',
                            'usage_percent', 'subscribe', 'enforce']);
        t := fz_tenant();
        res := fz_resource();
        amount := fz_amount();
        expected := fz_expected(regexp_replace(fn, '_(uuid|bigint)$', ''), t, res, amount);
        call := format('%s(%L, %L, %s)', fn, t, res, coalesce(amount::text, 'NULL'));
        before := fz_usage_total();
        result := NULL;
        BEGIN
            CASE fn
            WHEN 'consume' THEN
                result := billing.consume_quota(t, res, amount);
            WHEN 'try' THEN
                result := billing.try_consume_quota(t, res, amount);
            WHEN 'release' THEN
                result := billing.release_quota(t, res, amount);
            WHEN 'check' THEN
                result := billing.check_quota(t, res, amount);
            WHEN 'consume_uuid' THEN
                -- Any uuid is a valid tenant key (36 bytes in text form).
                t := CASE WHEN random() < 0.1 THEN NULL ELSE gen_random_uuid()::text END;
                expected := fz_expected('consume', t, res, amount);
                result := billing.consume_quota(t::uuid, res, amount);
            WHEN 'consume_bigint' THEN
                t := fz_pick(ARRAY[NULL, '0', '-1', '12345', '9223372036854775807',
                                   '-9223372036854775808']);
                expected := fz_expected('consume', t, res, amount);
                result := billing.consume_quota(t::bigint, res, amount);
            WHEN 'try_bigint' THEN
                t := fz_pick(ARRAY[NULL, '12345', '-9223372036854775808']);
                expected := fz_expected('try', t, res, amount);
                result := billing.try_consume_quota(t::bigint, res, amount);
            WHEN 'release_uuid' THEN
                t := CASE WHEN random() < 0.1 THEN NULL ELSE '7d0c8a52-3f5e-4a8e-9b41-2f6d5c1e0a99' END;
                expected := fz_expected('release', t, res, amount);
                result := billing.release_quota(t::uuid, res, amount);
            WHEN 'check_bigint' THEN
                t := fz_pick(ARRAY[NULL, '12345', '-1']);
                expected := fz_expected('check', t, res, amount);
                result := billing.check_quota(t::bigint, res, amount);
            WHEN 'tenant_usage' THEN
                expected := CASE WHEN t IS NULL THEN '22004'
                                 WHEN octet_length(t) NOT BETWEEN 1 AND 63 THEN '22023'
                                 ELSE 'ok' END;
                result := (SELECT count(*) FROM billing.tenant_usage(t));
            WHEN 'insert_message' THEN
                -- The trigger reads the tenant; each row counts 1.
                expected := fz_expected('consume', t, 'messages', 1);
                INSERT INTO fz_messages (tenant_id) VALUES (t);
            WHEN 'insert_file' THEN
                -- The tenant first, then the amount: NULL counts 0, negative is 22023.
                expected := CASE WHEN t IS NULL THEN '22004'
                                 WHEN octet_length(t) NOT BETWEEN 1 AND 63 THEN '22023'
                                 WHEN amount < 0 THEN '22023'
                                 ELSE 'ok' END;
                INSERT INTO fz_files (tenant_id, size_bytes) VALUES (t, amount);
            WHEN 'recount' THEN
                expected := CASE WHEN t IS NULL THEN 'ok' -- NULL: every tenant
                                 WHEN octet_length(t) NOT BETWEEN 1 AND 63 THEN '22023'
                                 ELSE 'ok' END;
                PERFORM billing.recount(t);
            WHEN 'period_bounds' THEN
                expected := 'any';
                result := (SELECT period_start FROM billing.period_bounds(
                    fz_pick(ARRAY['infinity', '-infinity', '2024-01-31 10:00+00', '0001-01-01 BC',
                                  '294276-12-31 23:59:59+00'])::timestamptz,
                    fz_pick(ARRAY['1 month', '0 days', '-1 month', '1 year', '1 microsecond',
                                  '178000000 years'])::interval));
            WHEN 'subscribe' THEN
                DECLARE
                    plan text := fz_pick(ARRAY['fz', 'fz', NULL, 'nope', 'Fz', '']);
                    anchor timestamptz := fz_pick(ARRAY[now()::text, '2024-02-29 12:00+00', 'infinity',
                                                        '-infinity', NULL])::timestamptz;
                BEGIN
                    expected := fz_expected_subscribe(t, plan, anchor);
                    call := format('subscribe(%L, %L, %L)', t, plan, anchor);
                    PERFORM billing.subscribe(t, plan, anchor);
                END;
            WHEN 'enforce' THEN
                DECLARE
                    tenant_col text := fz_pick(ARRAY['tenant_id', 'ten"ant', 'n', 'flag', NULL, 'nope',
                                                     'Tenant_id', fz_text(1 + floor(random() * 8)::int)]);
                    amount_col text := fz_pick(ARRAY[NULL, NULL, 'n', 'label', 'missing',
                                                     fz_text(1 + floor(random() * 8)::int)]);
                BEGIN
                    expected := fz_expected_enforce(res, tenant_col, amount_col);
                    call := format('enforce_quota(fz_scratch, %L, %L, %L)', res, tenant_col, amount_col);
                    PERFORM billing.enforce_quota('fz_scratch', res, tenant_col, amount_col);
                    -- The table is empty: nothing backfilled, nothing to give back.
                    PERFORM billing.unenforce_quota('fz_scratch', res);
                END;
            WHEN 'usage_percent' THEN
                expected := 'any';
                result := billing.usage_percent(amount, fz_amount()) || ' '
                          || billing.usage_status(amount, fz_amount());
            END CASE;
            got := 'ok';
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS got = RETURNED_SQLSTATE;
        END;

        refused := got <> 'ok' OR (fn LIKE 'try%' AND result = 'false')
                   OR fn IN ('check', 'check_bigint', 'tenant_usage', 'period_bounds', 'usage_percent');
        INSERT INTO fz_outcomes VALUES (fn, got);
        -- Right SQLSTATE: the one expected, or, where the input is valid and
        -- the call consumes, a refusal (PT402; try_consume_quota returns
        -- false instead) or 22003 for an unlimited resource pushed past the
        -- bigint range.  Never XX000 (internal error) or anything else.
        IF NOT (got = expected
                OR expected = 'any' AND got IN ('ok', '22023', '22008', '22003')
                OR expected = 'ok' AND got = 'PT402'
                   AND fn IN ('consume', 'consume_uuid', 'consume_bigint', 'insert_message', 'insert_file')
                OR expected = 'ok' AND got = '22003'
                   AND fn IN ('consume', 'consume_uuid', 'consume_bigint', 'try', 'try_bigint',
                              'insert_message', 'insert_file')) THEN
            INSERT INTO fz_failures VALUES (i, call, expected, got);
        END IF;
        IF refused AND fz_usage_total() <> before THEN
            INSERT INTO fz_failures VALUES (i, call, 'usage unchanged', 'usage changed by ' || (fz_usage_total() - before));
        END IF;
        COMMIT;
        IF fz_in_flight() <> 0 THEN
            INSERT INTO fz_failures VALUES (i, call, 'no reservation after commit', fz_in_flight() || ' counters in flight');
            COMMIT;
        END IF;
    END LOOP;
END $$;
