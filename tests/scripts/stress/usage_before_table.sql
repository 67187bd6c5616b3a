-- A writer that takes a tenant's usage row before it writes the enforced
-- table: one unit consumed by hand, then a 10-byte row.
\set t random(1, 3)
BEGIN;
SELECT billing.consume_quota('ub_' || :t, 'storage', 1);
INSERT INTO ub_files VALUES ('ub_' || :t, 10);
COMMIT;
