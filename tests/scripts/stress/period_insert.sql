\set t random(1, 4)
SELECT stress_send('s' || :t);
