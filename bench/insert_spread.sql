\set t random(1, 1000)
INSERT INTO :tbl (tenant_id, body) VALUES ('t' || :t, 'hello');
