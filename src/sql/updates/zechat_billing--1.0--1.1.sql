-- zechat_billing 1.0 -> 1.1, run by ALTER EXTENSION zechat_billing UPDATE.
-- The uuid and bigint overloads get descriptions, like their text versions,
-- so that \df+ billing.* describes every function.
\echo Use "ALTER EXTENSION zechat_billing UPDATE TO '1.1'" to load this file. \quit

COMMENT ON FUNCTION billing.consume_quota(uuid, text, bigint) IS
    'Like billing.consume_quota(text, text, bigint), for a uuid tenant key (its text form is the tenant id).';
COMMENT ON FUNCTION billing.consume_quota(bigint, text, bigint) IS
    'Like billing.consume_quota(text, text, bigint), for a bigint tenant key (its text form is the tenant id).';
COMMENT ON FUNCTION billing.try_consume_quota(uuid, text, bigint) IS
    'Like billing.try_consume_quota(text, text, bigint), for a uuid tenant key (its text form is the tenant id).';
COMMENT ON FUNCTION billing.try_consume_quota(bigint, text, bigint) IS
    'Like billing.try_consume_quota(text, text, bigint), for a bigint tenant key (its text form is the tenant id).';
COMMENT ON FUNCTION billing.release_quota(uuid, text, bigint) IS
    'Like billing.release_quota(text, text, bigint), for a uuid tenant key (its text form is the tenant id).';
COMMENT ON FUNCTION billing.release_quota(bigint, text, bigint) IS
    'Like billing.release_quota(text, text, bigint), for a bigint tenant key (its text form is the tenant id).';
COMMENT ON FUNCTION billing.check_quota(uuid, text, bigint) IS
    'Like billing.check_quota(text, text, bigint), for a uuid tenant key (its text form is the tenant id).';
COMMENT ON FUNCTION billing.check_quota(bigint, text, bigint) IS
    'Like billing.check_quota(text, text, bigint), for a bigint tenant key (its text form is the tenant id).';
COMMENT ON FUNCTION billing.tenant_usage(uuid) IS
    'Like billing.tenant_usage(text), for a uuid tenant key (its text form is the tenant id).';
COMMENT ON FUNCTION billing.tenant_usage(bigint) IS
    'Like billing.tenant_usage(text), for a bigint tenant key (its text form is the tenant id).';
