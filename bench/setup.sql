-- Identical tables for every variant; only their triggers differ.
CREATE EXTENSION IF NOT EXISTS zechat_billing;
\i plpgsql_reference.sql

CREATE TABLE msg_plain (id bigserial PRIMARY KEY, tenant_id text NOT NULL, body text NOT NULL);
CREATE TABLE msg_ref   (LIKE msg_plain INCLUDING ALL);
CREATE TABLE msg_ext   (LIKE msg_plain INCLUDING ALL);
CREATE TABLE msg_stmt  (LIKE msg_plain INCLUDING ALL);
CREATE TRIGGER ref_consume BEFORE INSERT ON msg_ref FOR EACH ROW EXECUTE FUNCTION ref_consume();

-- Limits high enough never to be reached during the benchmark.
INSERT INTO billing.plans (plan_id, name) VALUES ('bench', 'Bench');
INSERT INTO billing.plan_limits VALUES ('bench', 'messages', 1000000000000);
SELECT billing.subscribe('t' || g, 'bench') FROM generate_series(1, 1000) g;
INSERT INTO ref_counters (tenant_id, hard_limit) SELECT 't' || g, 1000000000000 FROM generate_series(1, 1000) g;
SELECT billing.enforce_quota('msg_ext', 'messages');
-- The same, with the inserts enforced per statement (an AFTER INSERT
-- statement trigger over the rows written instead of a BEFORE ROW trigger).
SELECT billing.enforce_quota('msg_stmt', 'messages');
SELECT billing.enforce_per_statement('msg_stmt');
