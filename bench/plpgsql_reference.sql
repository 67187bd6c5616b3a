-- The reference a careful DBA would write without the extension: one
-- counter row per tenant, checked and incremented by a BEFORE INSERT
-- trigger in one UPDATE.  Exact under concurrency (the row lock serialises
-- a tenant's inserts until commit), which is what makes it slow for one hot
-- tenant.
CREATE TABLE ref_counters (
    tenant_id text PRIMARY KEY,
    used      bigint NOT NULL DEFAULT 0,
    hard_limit bigint NOT NULL
);

CREATE FUNCTION ref_consume() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE ref_counters SET used = used + 1
     WHERE tenant_id = NEW.tenant_id AND used < hard_limit;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'limit of messages reached - upgrade' USING ERRCODE = 'PT402';
    END IF;
    RETURN NEW;
END;
$$;
