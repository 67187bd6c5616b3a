// The C++ <-> PostgreSQL error boundary.
//
// PostgreSQL reports errors with ereport(ERROR), which longjmps; C++ reports
// them with exceptions, which unwind.  Neither may cross the other:
//
//  * Code in src/pg keeps no object with a non-trivial destructor in any frame
//    that calls into PostgreSQL, so a longjmp never skips a destructor.  Data
//    that outlives a call lives in palloc'd memory of the right context.
//  * The pure core (src/core) is noexcept and allocation free.
//  * Every extern "C" entry point still runs its body through
//    ZB_GUARDED_ENTRY, so that if a C++ exception ever escapes (a library
//    call, std::bad_alloc) it is caught, its frames are gone, and only then is
//    it reported with ereport.
#pragma once

#include <exception>

#include "pg_headers.hpp"

namespace zechat::billing::pg {

// Reports an exception caught at an entry point.  Called after the catch
// block has ended, so no C++ frame is live when it longjmps.
[[noreturn]] void report_escaped_exception(const char* entry_point, const char* what);

// Copies e.what() into static storage (no allocation) for the report above.
const char* remember_exception_message(const std::exception& e) noexcept;

} // namespace zechat::billing::pg

// Defines the exported, version-1 fmgr function `name` (use it inside
// extern "C") that runs `body` (a function of fcinfo returning Datum) with
// the guard.
#define ZB_GUARDED_ENTRY(name, body)                                                               \
    PGDLLEXPORT Datum name(PG_FUNCTION_ARGS);                                                      \
    PG_FUNCTION_INFO_V1(name);                                                                     \
    Datum name(PG_FUNCTION_ARGS)                                                                   \
    {                                                                                              \
        const char* escaped = nullptr;                                                             \
        Datum result = (Datum)0;                                                                   \
        try {                                                                                      \
            result = body(fcinfo);                                                                 \
        } catch (const std::exception& e) {                                                        \
            escaped = zechat::billing::pg::remember_exception_message(e);                          \
        } catch (...) {                                                                            \
            escaped = "unknown C++ exception";                                                     \
        }                                                                                          \
        if (escaped != nullptr)                                                                    \
            zechat::billing::pg::report_escaped_exception(#name, escaped);                         \
        return result;                                                                             \
    }
