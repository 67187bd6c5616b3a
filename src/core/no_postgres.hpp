// Included by every src/core translation unit, after its other includes.
//
// The core is the part of zechat_billing that must stay testable without a
// PostgreSQL server: if any header a core file pulls in has dragged in
// postgres.h (or c.h), compilation stops here instead of quietly coupling
// the rules to the server's headers, macros and longjmp-based errors.
#pragma once

#if defined(POSTGRES_H) || defined(C_H) || defined(PG_VERSION_NUM)
#error "src/core must not include PostgreSQL headers; put server code in src/pg"
#endif
