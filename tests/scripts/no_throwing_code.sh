#!/usr/bin/env bash
# The C++ <-> PostgreSQL boundary rules of STYLE.md (no C++ exception into
# PostgreSQL, no ereport over a destructor), held by the binary: the library
# calls nothing of the C++ runtime that throws or allocates (operator new,
# the std::__throw_* helpers, __cxa_throw, __cxa_allocate_exception), so no
# C++ exception can start in it.  Its SQL-callable C functions catch
# everything all the same (ZB_GUARDED_ENTRY); the hooks and callbacks
# PostgreSQL calls (executor and utility hooks, transaction callbacks,
# shared-memory, cache and GUC hooks) are not guarded, and rely on this.
# Code that needs the throwing parts of the standard library must first
# guard those, then widen the list below.
source "$(dirname "$0")/../../scripts/lib.sh"

fail() { echo "FAILED: $*" >&2; exit 1; }

make -C "$REPO_ROOT" -s PG_CONFIG=$PG_BIN/pg_config >/dev/null
so=$REPO_ROOT/zechat_billing.so
[ -f "$so" ] || fail "$so was not built"

# The C++ runtime symbols the library may use: the catch of the guards
# (__cxa_begin_catch, __cxa_end_catch, the type of std::exception they
# catch) and the unloading of a shared object (__cxa_finalize).
allowed='__cxa_begin_catch|__cxa_end_catch|__cxa_finalize|_ZTISt9exception'
used=$(nm -D --undefined-only "$so" | awk '{print $NF}' | sed 's/@.*//')
[ -n "$used" ] || fail "nm found no undefined symbol in $so"
bad=$(echo "$used" | grep -E '^(_Z|__cxa_)' | grep -vxE "$allowed" || true)
if [ -n "$bad" ]; then
    echo "$bad" | c++filt >&2
    fail "zechat_billing.so calls C++ runtime code that may throw or allocate (above)"
fi
echo "$(echo "$used" | wc -l) undefined symbols, none of the C++ runtime but the guards' catch: ok"
