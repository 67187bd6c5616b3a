-- One statement inserting 0 to 3 rows of each of two tenants into a table
-- enforced per statement (concurrency_exactness.sh).
\set first random(0, 3)
\set second random(0, 3)
SELECT stress_batch(:first, :second);
