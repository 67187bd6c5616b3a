-- A row of one tenant's seats moved to the other tenant (see
-- opposite_moves.sh): half of the clients' rows start with each tenant, so
-- moves in both directions run at once.
\set i random(1, 1000)
UPDATE seats SET tenant_id = CASE tenant_id WHEN 'om_a' THEN 'om_b' ELSE 'om_a' END WHERE id = :i;
