// billing._in_own_script(): whether the command running is part of
// zechat_billing's own CREATE EXTENSION or ALTER EXTENSION UPDATE script.
// pg_event_trigger_ddl_commands() says only whether a command is part of
// some extension's script (in_extension), and another extension's script
// could so have joined a table of its own to one of zechat_billing's past
// the refusal of inheritance (012_inheritance_refused.sql; a helper's
// attack of 2026-12-07: 20 messages admitted of 10 in lock mode).
#include "pg_boundary.hpp"

extern "C" {
#include "commands/extension.h"
}

namespace {

Datum in_own_script_body(FunctionCallInfo)
{
    PG_RETURN_BOOL(creating_extension &&
                   CurrentExtensionObject == get_extension_oid("zechat_billing", true));
}

} // namespace

extern "C" {
ZB_GUARDED_ENTRY(zb_in_own_script, in_own_script_body)
}
