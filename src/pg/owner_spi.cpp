#include "owner_spi.hpp"

namespace zechat::billing::pg {

void connect_spi()
{
    if (SPI_connect() != SPI_OK_CONNECT)
        elog(ERROR, "zechat_billing: SPI_connect failed");
}

void connect_spi_as_owner(SavedUser* saved)
{
    become_extension_owner(saved);
    connect_spi();
}

void disconnect_spi(const SavedUser* saved)
{
    SPI_finish();
    restore_user(saved);
}

SPIPlanPtr prepare_plan(const char* query, int nargs, Oid* types, const char* description)
{
    SPIPlanPtr plan = SPI_prepare(query, nargs, types);
    if (plan == nullptr) {
        if (description == nullptr)
            elog(ERROR, "zechat_billing: could not prepare \"%s\": %s", query,
                 SPI_result_code_string(SPI_result));
        else
            elog(ERROR, "zechat_billing: could not prepare %s: %s", description,
                 SPI_result_code_string(SPI_result));
    }
    return plan;
}

SPIPlanPtr prepare_kept_plan(const char* query, int nargs, Oid* types, const char* description)
{
    SPIPlanPtr plan = prepare_plan(query, nargs, types, description);
    SPI_keepplan(plan);
    return plan;
}

} // namespace zechat::billing::pg
