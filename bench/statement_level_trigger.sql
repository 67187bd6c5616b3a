-- The statement-level prototype of bench/statement_level_copy.sh: the rows
-- of an INSERT or COPY are written first, then one call per tenant consumes
-- their count; over the limit, the statement fails with PT402 and its rows
-- go with it.  Not what the contract says ("before the row is written"):
-- measured to inform that decision.
CREATE TABLE msg_statement (LIKE msg_plain INCLUDING ALL);

CREATE FUNCTION statement_consume() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM billing.consume_quota(tenant_id, 'messages', rows)
       FROM (SELECT tenant_id, count(*) AS rows FROM new_rows GROUP BY tenant_id) per_tenant;
    RETURN NULL;
END;
$$;

CREATE TRIGGER statement_consume AFTER INSERT ON msg_statement
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION statement_consume();
