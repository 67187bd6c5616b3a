-- zechat_billing installs into schema billing (the control file names it).
-- PostgreSQL creates it for the superuser running CREATE EXTENSION, or uses
-- one that exists already, whoever owns it.  The extension's functions run
-- as that superuser and call each other by name in that schema, so a role
-- that can create objects there (an overload that an internal call would
-- pick), or owns it (and can drop it with everything in it), could run code
-- as superuser: until 2026-12-06 a database owner who created the schema
-- first (or was left with it by a restore it could not finish) became
-- superuser at the next recount().  Such a schema is refused, and so is one
-- that holds functions or operators made before the extension; afterwards
-- the commands that could make it so (GRANT, ALTER SCHEMA) are refused too.
-- And the internal calls an audit found passing NULL, a literal or an oid
-- where the parameter is text[], timestamptz or regclass cast them, so that
-- no overload could match them better should a role come to create one.
DO $guard$
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_proc p
                 JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) p.pronamespace
                WHERE n.nspname OPERATOR(pg_catalog.=) 'billing')
       OR EXISTS (SELECT FROM pg_catalog.pg_operator o
                    JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) o.oprnamespace
                   WHERE n.nspname OPERATOR(pg_catalog.=) 'billing') THEN
        RAISE EXCEPTION 'schema "billing" already holds functions or operators'
            USING ERRCODE = 'object_in_use',
                  DETAIL = 'The extension''s functions call each other by name in that schema.',
                  HINT = 'Install into a database without schema billing, or drop them first.';
    END IF;
END
$guard$;

-- Raises 42501 if a role that is not a superuser owns schema billing or may
-- create objects in it.
CREATE FUNCTION billing._refuse_unsafe_schema()
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_problem text;
BEGIN
    SELECT format('schema "billing" is owned by role %I, which is not a superuser', r.rolname)
      INTO v_problem
      FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner
     WHERE n.nspname = 'billing' AND NOT r.rolsuper;
    IF v_problem IS NULL THEN
        SELECT 'roles that are not superusers may create objects in schema "billing": '
               || string_agg(CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(r.rolname) END,
                             ', ' ORDER BY a.grantee)
          INTO v_problem
          FROM pg_namespace n, LATERAL aclexplode(n.nspacl) a
          LEFT JOIN pg_roles r ON r.oid = a.grantee
         WHERE n.nspname = 'billing' AND a.privilege_type = 'CREATE'
           AND NOT coalesce(r.rolsuper, false);
    END IF;
    IF v_problem IS NOT NULL THEN
        RAISE EXCEPTION '%', v_problem
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'Such a role could run code with the rights of the extension''s functions.',
                  HINT = 'A superuser must own schema billing, and other roles may have USAGE on it only (default privileges ON SCHEMAS count for a new one).';
    END IF;
END;
$$;

SELECT billing._refuse_unsafe_schema();

-- Run after every GRANT and ALTER SCHEMA, by whoever runs it:
-- SECURITY DEFINER, as the check is not executable by PUBLIC.  The
-- extension's functions name their schema, so it cannot be renamed either
-- (refused clearly, rather than by the call below finding no schema).
CREATE FUNCTION billing._schema_kept_safe()
RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
                    WHERE e.extname = 'zechat_billing' AND n.nspname = 'billing') THEN
        RAISE EXCEPTION 'schema "billing" cannot be renamed while zechat_billing is installed'
            USING ERRCODE = 'feature_not_supported';
    END IF;
    PERFORM billing._refuse_unsafe_schema();
END;
$$;

CREATE EVENT TRIGGER zechat_billing_schema_kept_safe ON ddl_command_end
    WHEN TAG IN ('GRANT', 'ALTER SCHEMA')
    EXECUTE FUNCTION billing._schema_kept_safe();
-- ALWAYS, as every event trigger of the extension: a session under
-- session_replication_role = replica (which bulk loaders and migration tools
-- set) runs DDL like any other, and no subscriber applies DDL.  Until
-- 2026-12-06 they fired only in origin mode, and such a session retyped,
-- renamed or dropped enforced columns, or created and attached partitions,
-- unchecked and uncounted (a helper's hunt; sql/06_triggers.sql).
ALTER EVENT TRIGGER zechat_billing_schema_kept_safe ENABLE ALWAYS;
