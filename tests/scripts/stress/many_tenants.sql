\set t random(1, 400)
SELECT stress_send('m' || :t);
