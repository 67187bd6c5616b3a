INSERT INTO :tbl (tenant_id, body) VALUES ('t1', 'hello');
