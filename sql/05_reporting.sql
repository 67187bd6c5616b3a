-- tenant_usage and usage_overview: used, limit, remaining, percent, status.

INSERT INTO billing.plans (plan_id, name) VALUES ('r_plan', 'R'), ('r_zero', 'Zero');
INSERT INTO billing.plan_limits VALUES
    ('r_plan', 'messages', 1000), ('r_plan', 'storage', 3), ('r_plan', 'users', NULL),
    ('r_zero', 'messages', 0);
SELECT billing.subscribe('r_acme', 'r_plan');

-- Status thresholds: ok < 80 <= warning < 90 <= critical < 100 <= blocked.
SELECT billing.consume_quota('r_acme', 'messages', 799);
SELECT used, hard_limit, remaining, percent, status FROM billing.tenant_usage('r_acme') WHERE resource = 'messages';
SELECT billing.consume_quota('r_acme', 'messages', 1);
SELECT used, remaining, percent, status FROM billing.tenant_usage('r_acme') WHERE resource = 'messages';
SELECT billing.consume_quota('r_acme', 'messages', 99);
SELECT used, remaining, percent, status FROM billing.tenant_usage('r_acme') WHERE resource = 'messages';
SELECT billing.consume_quota('r_acme', 'messages', 1);
SELECT used, remaining, percent, status FROM billing.tenant_usage('r_acme') WHERE resource = 'messages';
SELECT billing.consume_quota('r_acme', 'messages', 99);
SELECT used, remaining, percent, status FROM billing.tenant_usage('r_acme') WHERE resource = 'messages';
SELECT billing.consume_quota('r_acme', 'messages', 1);
SELECT used, remaining, percent, status FROM billing.tenant_usage('r_acme') WHERE resource = 'messages';

-- percent is rounded to 2 decimals; gauges have no period.
SELECT billing.consume_quota('r_acme', 'storage', 1);
SELECT billing.consume_quota('r_acme', 'users', 12);
SELECT * FROM billing.tenant_usage('r_acme') WHERE kind = 'gauge' ORDER BY resource;

-- The helpers behind percent and status.
SELECT used, hard_limit, billing.usage_percent(used, hard_limit), billing.usage_status(used, hard_limit)
  FROM (VALUES (0::bigint, 10::bigint), (2, 3), (1, 3), (8, 10), (9, 10), (10, 10), (11, 10),
               (0, 0), (5, 0), (5, NULL), (9223372036854775807, 9223372036854775807),
               (9223372036854775807, 1), (50000000000000000, 10)) AS v(used, hard_limit);
-- Exact for every bigint, however far usage is past the limit: the
-- hundredths are those of numeric arithmetic, rounded half up, always with
-- 2 decimals (until 2026-12-04 it saturated at 92233720368547758.07).
SELECT count(*) AS pairs,
       count(*) FILTER (WHERE billing.usage_percent(u, l) * 100
                              <> div(u::numeric * 20000 + l, 2 * l::numeric)) AS inexact,
       count(*) FILTER (WHERE scale(billing.usage_percent(u, l)) <> 2) AS not_two_decimals
  FROM unnest('{0, 1, 2, 3, 7, 10, 99999, 50000000000000000, 4611686018427387904,
                9223372036854775806, 9223372036854775807}'::bigint[]) AS u,
       unnest('{1, 2, 3, 7, 10, 99999, 20000, 4611686018427387903,
                9223372036854775806, 9223372036854775807}'::bigint[]) AS l;
SELECT billing.usage_percent(-1, 10);

-- A limit of 0 is 100 % and blocked; a tenant without subscription is
-- reported with limit 0, since it cannot consume.
SELECT billing.subscribe('r_zero_tenant', 'r_zero');
SELECT resource, used, hard_limit, remaining, percent, status
  FROM billing.tenant_usage('r_zero_tenant') ORDER BY resource;
SELECT resource, used, hard_limit, remaining, percent, period_start, status
  FROM billing.tenant_usage('r_nobody') ORDER BY resource;

-- Bad tenant ids.
SELECT * FROM billing.tenant_usage(NULL::text);
SELECT * FROM billing.tenant_usage('');
SELECT * FROM billing.tenant_usage(repeat('x', 64));

-- uuid and bigint keys.
INSERT INTO billing.subscriptions (tenant_id, plan_id)
VALUES ('5d1c0e3a-9f44-4c7e-8a3b-2b1f0c9d8e7a', 'r_plan'), ('9001', 'r_plan');
SELECT billing.consume_quota('5d1c0e3a-9f44-4c7e-8a3b-2b1f0c9d8e7a'::uuid, 'storage', 2);
SELECT billing.consume_quota(9001, 'storage', 3);
SELECT resource, used, status FROM billing.tenant_usage('5d1c0e3a-9f44-4c7e-8a3b-2b1f0c9d8e7a'::uuid) WHERE resource = 'storage';
SELECT resource, used, status FROM billing.tenant_usage(9001::bigint) WHERE resource = 'storage';
SELECT resource, used, status FROM billing.tenant_usage(9001) WHERE resource = 'storage';

-- usage_overview: one row per subscribed tenant and resource, with plan.
SELECT tenant_id, plan_id, resource, kind, used, hard_limit, remaining, percent, status,
       (period_start IS NOT NULL) AS has_period, (period_end > period_start) AS period_ok
  FROM billing.usage_overview
 WHERE tenant_id IN ('r_acme', 'r_zero_tenant', '9001')
 ORDER BY tenant_id, resource;
-- The view and the function agree for every subscribed tenant.
SELECT count(*) AS mismatches
  FROM billing.usage_overview o
  JOIN LATERAL billing.tenant_usage(o.tenant_id) t ON t.resource = o.resource
 WHERE (o.used, o.hard_limit, o.remaining, o.percent, o.status, o.period_start, o.period_end)
       IS DISTINCT FROM (t.used, t.hard_limit, t.remaining, t.percent, t.status, t.period_start, t.period_end);

-- Parallel query.  check_quota and tenant_usage count this transaction's
-- own changes, which only its backend knows (they are written at commit), so
-- they must run in the leader, never in a worker; force_parallel_mode sends
-- to a worker whatever is marked safe to run there, and puts the leader in
-- parallel mode, where no new snapshot may be taken: reads of usage and of a
-- tenant's terms (r_parallel_new is met here for the first time) then use
-- the query's own.
BEGIN;
SELECT billing.subscribe('r_parallel', 'r_plan'), billing.subscribe('r_parallel_new', 'r_plan');
SELECT billing.consume_quota('r_parallel', 'messages', 990);
SET LOCAL force_parallel_mode = on;
SELECT billing.check_quota('r_parallel_new', 'messages', 1000) AS new_fits_all,
       billing.check_quota('r_parallel_new', 'messages', 1001) AS new_fits_more,
       billing.check_quota('r_parallel', 'storage', 3) AS storage_fits;
SELECT billing.check_quota('r_parallel', 'messages', 10) AS fits_ten,
       billing.check_quota('r_parallel', 'messages', 11) AS fits_eleven;
SELECT resource, used FROM billing.tenant_usage('r_parallel') WHERE resource = 'messages';
SELECT count(*) FILTER (WHERE billing.check_quota('r_parallel', 'messages', n)) AS amounts_that_fit
  FROM generate_series(1, 20) n;
ROLLBACK;
