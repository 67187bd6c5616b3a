// The steps every run of the extension's own SQL through SPI shares: connect
// (as the extension owner, billing_catalog.hpp, for its tables), prepare a
// plan once and keep it for the backend, then finish and restore the user.
// Each caller runs its plan itself, with the snapshot and the checks of
// the result it needs.
//
// No PG_TRY here: an error between connect_spi_as_owner and
// disconnect_spi leaves the user to transaction or subtransaction abort,
// which restores it (and cleans up SPI) itself (SavedUser).
#pragma once

#include "billing_catalog.hpp"

extern "C" {
#include "executor/spi.h"
}

namespace zechat::billing::pg {

// SPI_connect; raises if it fails.
void connect_spi();

// Becomes the extension owner, then connect_spi.  *saved: the user to
// restore, by disconnect_spi.
void connect_spi_as_owner(SavedUser* saved);

// SPI_finish, then back to the user that connect_spi_as_owner saved.
void disconnect_spi(const SavedUser* saved);

// SPI_prepare; raises if it fails, with "could not prepare <description>",
// or the query quoted when `description` is nullptr.  The plan lives until
// SPI_finish.
SPIPlanPtr prepare_plan(const char* query, int nargs, Oid* types,
                        const char* description = nullptr);

// prepare_plan, then SPI_keepplan: for a plan kept in a static for the
// backend's life, prepared on its first use.
SPIPlanPtr prepare_kept_plan(const char* query, int nargs, Oid* types,
                             const char* description = nullptr);

} // namespace zechat::billing::pg
