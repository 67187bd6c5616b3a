\set id random(1, 600)
\set size random(1, 100)
\set upsert random(0, 1)
SELECT stress_deliver(:id, :size, :upsert);
