#include <cstring>
#include <exception>

#include "pg_boundary.hpp"

namespace zechat::billing::pg {

namespace {
char escaped_message[512];
} // namespace

const char* remember_exception_message(const std::exception& e) noexcept
{
    const char* what = e.what();
    std::strncpy(escaped_message, what != nullptr ? what : "", sizeof escaped_message - 1);
    escaped_message[sizeof escaped_message - 1] = '\0';
    return escaped_message;
}

void report_escaped_exception(const char* entry_point, const char* what)
{
    ereport(ERROR,
            (errcode(ERRCODE_INTERNAL_ERROR),
             errmsg("zechat_billing: unexpected C++ exception in %s: %s", entry_point, what)));
    pg_unreachable();
}

} // namespace zechat::billing::pg
