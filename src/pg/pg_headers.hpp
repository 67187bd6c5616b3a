// PostgreSQL headers for the C++ translation units of src/pg.
//
// Standard C++ headers must be included before this one: port.h redefines
// snprintf and friends as macros.  The server headers are C, hence the
// extern "C" block.
#pragma once

extern "C" {
#include "postgres.h"

#include "fmgr.h"
}
