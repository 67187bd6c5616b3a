\set first random(1, 800)
SELECT exhaust_send(:first);
