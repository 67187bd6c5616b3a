-- zechat_billing installs into schema billing (the control file names it).
-- PostgreSQL creates it for the superuser running CREATE EXTENSION, or uses
-- one that exists already, whoever owns it.  The extension's functions run
-- as that superuser and call each other by name in that schema, so a role
-- that can create objects there (an overload that an internal call would
-- pick), or owns it (and can drop it with everything in it), could run code
-- as superuser: until 2026-12-06 a database owner who created the schema
-- first (or was left with it by a restore it could not finish) became
-- superuser at the next recount().  Such a schema is refused, as one that
-- holds functions or operators made before the extension.
DO $guard$
DECLARE
    v_schema oid := (SELECT n.oid FROM pg_catalog.pg_namespace n
                      WHERE n.nspname OPERATOR(pg_catalog.=) 'billing');
    v_owner  name;
    v_writer text;
BEGIN
    IF v_schema IS NULL THEN
        RETURN;
    END IF;
    SELECT r.rolname INTO v_owner
      FROM pg_catalog.pg_namespace n JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) n.nspowner
     WHERE n.oid OPERATOR(pg_catalog.=) v_schema AND NOT r.rolsuper;
    IF v_owner IS NOT NULL THEN
        RAISE EXCEPTION 'schema "billing" is owned by role "%", which is not a superuser', v_owner
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'Its owner could run code with the rights of the extension''s functions.',
                  HINT = 'Drop the schema, or make a superuser its owner (ALTER SCHEMA billing OWNER TO ...), before CREATE EXTENSION.';
    END IF;
    SELECT pg_catalog.string_agg(CASE WHEN a.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
                                      ELSE pg_catalog.quote_ident(r.rolname) END, ', ')
      INTO v_writer
      FROM pg_catalog.pg_namespace n,
           LATERAL pg_catalog.aclexplode(n.nspacl) a
      LEFT JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) a.grantee
     WHERE n.oid OPERATOR(pg_catalog.=) v_schema
       AND a.privilege_type OPERATOR(pg_catalog.=) 'CREATE'
       AND NOT coalesce(r.rolsuper, false);
    IF v_writer IS NOT NULL THEN
        RAISE EXCEPTION 'roles that are not superusers may create objects in schema "billing": %', v_writer
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'An object they create there could run with the rights of the extension''s functions.',
                  HINT = 'REVOKE CREATE ON SCHEMA billing FROM them before CREATE EXTENSION.';
    END IF;
    IF EXISTS (SELECT FROM pg_catalog.pg_proc p WHERE p.pronamespace OPERATOR(pg_catalog.=) v_schema)
       OR EXISTS (SELECT FROM pg_catalog.pg_operator o WHERE o.oprnamespace OPERATOR(pg_catalog.=) v_schema) THEN
        RAISE EXCEPTION 'schema "billing" already holds functions or operators'
            USING ERRCODE = 'object_in_use',
                  DETAIL = 'The extension''s functions call each other by name in that schema.',
                  HINT = 'Install into a database without schema billing, or drop them first.';
    END IF;
END
$guard$;
