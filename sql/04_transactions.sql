-- Consumption in a transaction that rolls back, whole or to a savepoint, is
-- not counted.

INSERT INTO billing.plans (plan_id, name) VALUES ('t_plan', 'T');
INSERT INTO billing.plan_limits VALUES ('t_plan', 'messages', 10), ('t_plan', 'storage', 100);
SELECT billing.subscribe('t_acme', 't_plan');

BEGIN;
SELECT billing.consume_quota('t_acme', 'messages', 4);
SELECT billing.consume_quota('t_acme', 'storage', 50);
ROLLBACK;
SELECT resource, used FROM billing.tenant_usage('t_acme') ORDER BY resource;

BEGIN;
SELECT billing.consume_quota('t_acme', 'messages', 3);
SAVEPOINT a;
SELECT billing.consume_quota('t_acme', 'messages', 5);
SELECT billing.consume_quota('t_acme', 'storage', 70);
ROLLBACK TO SAVEPOINT a;
-- Within the transaction, the rolled-back part is already gone.
SELECT billing.consume_quota('t_acme', 'messages', 7);
SAVEPOINT b;
SELECT billing.consume_quota('t_acme', 'storage', 10);
RELEASE SAVEPOINT b;
COMMIT;
SELECT resource, used FROM billing.tenant_usage('t_acme') ORDER BY resource;

-- A refusal inside a PL/pgSQL exception block rolls back that block's
-- consumption only.
DO $$
BEGIN
    PERFORM billing.release_quota('t_acme', 'storage', 10);
    BEGIN
        PERFORM billing.consume_quota('t_acme', 'storage', 60);
        PERFORM billing.consume_quota('t_acme', 'storage', 60);   -- over: PT402
    EXCEPTION WHEN sqlstate 'PT402' THEN
        RAISE NOTICE 'refused: %', SQLERRM;
    END;
END;
$$;
SELECT resource, used FROM billing.tenant_usage('t_acme') ORDER BY resource;

-- A failed statement in a transaction aborts its consumption with it.
BEGIN;
SELECT billing.consume_quota('t_acme', 'storage', 30);
SELECT billing.consume_quota('t_acme', 'storage', 1000);
COMMIT;
SELECT resource, used FROM billing.tenant_usage('t_acme') ORDER BY resource;

-- REPEATABLE READ and SERIALIZABLE transactions consume exactly too.
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT billing.consume_quota('t_acme', 'storage', 20);
SELECT billing.try_consume_quota('t_acme', 'storage', 81);
COMMIT;
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT billing.release_quota('t_acme', 'storage', 5);
COMMIT;
SELECT resource, used FROM billing.tenant_usage('t_acme') ORDER BY resource;

-- Read-only transactions cannot consume, with the standard error.
BEGIN READ ONLY;
SELECT billing.consume_quota('t_acme', 'storage', 1);
ROLLBACK;
BEGIN READ ONLY;
SELECT billing.check_quota('t_acme', 'storage', 1);
SELECT resource, used FROM billing.tenant_usage('t_acme') ORDER BY resource;
COMMIT;

-- Two-phase commit keeps the consumption until COMMIT PREPARED.
BEGIN;
SELECT billing.consume_quota('t_acme', 'storage', 5);
PREPARE TRANSACTION 't_prepared';
COMMIT PREPARED 't_prepared';
SELECT used FROM billing.tenant_usage('t_acme') WHERE resource = 'storage';
