\set t random(1, 20)
\set size random(1, 1000)
BEGIN;
INSERT INTO crash_messages (tenant_id) VALUES ('c' || :t);
INSERT INTO crash_files (tenant_id, size_bytes) VALUES ('c' || :t, :size);
DELETE FROM crash_files WHERE :size % 2 = 0
   AND id = (SELECT min(id) FROM crash_files WHERE tenant_id = 'c' || :t);
COMMIT;
