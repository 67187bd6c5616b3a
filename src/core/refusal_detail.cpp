#include "refusal_detail.hpp"

#include <cstdio>
#include <cstring>

#include "no_postgres.hpp"

namespace zechat::billing {

namespace {

// A bounded writer over a caller's buffer: counts what it would need even
// after the buffer is full, never writes past capacity - 1.
struct Writer {
    char* out;
    std::size_t capacity;
    std::size_t length;

    void put(char c) noexcept
    {
        if (capacity > 0 && length + 1 < capacity)
            out[length] = c;
        ++length;
    }

    void put(const char* text) noexcept
    {
        for (; *text != '\0'; ++text)
            put(*text);
    }

    void put_int(int64_t value) noexcept
    {
        char digits[24];
        std::snprintf(digits, sizeof digits, "%lld", static_cast<long long>(value));
        put(digits);
    }

    void put_string(const char* text, std::size_t n) noexcept
    {
        static const char hex[] = "0123456789abcdef";
        put('"');
        for (std::size_t i = 0; i < n; ++i) {
            const unsigned char c = static_cast<unsigned char>(text[i]);
            switch (c) {
            case '"':
                put("\\\"");
                break;
            case '\\':
                put("\\\\");
                break;
            case '\n':
                put("\\n");
                break;
            case '\r':
                put("\\r");
                break;
            case '\t':
                put("\\t");
                break;
            default:
                if (c < 0x20 || c == 0x7f) {
                    put("\\u00");
                    put(hex[c >> 4]);
                    put(hex[c & 0xf]);
                } else {
                    put(static_cast<char>(c));
                }
            }
        }
        put('"');
    }

    std::size_t finish() noexcept
    {
        if (capacity > 0)
            out[length < capacity ? length : capacity - 1] = '\0';
        return length;
    }
};

} // namespace

const char* refusal_reason_name(RefusalReason reason) noexcept
{
    switch (reason) {
    case RefusalReason::limit_reached:
        return "limit_reached";
    case RefusalReason::no_subscription:
        return "no_subscription";
    case RefusalReason::subscription_inactive:
        return "subscription_inactive";
    }
    return "unknown";
}

std::size_t append_json_string(char* out, std::size_t capacity, std::size_t used, const char* text,
                               std::size_t length) noexcept
{
    Writer w{out, capacity, used};
    w.put_string(text, length);
    return w.finish();
}

std::size_t format_refusal_detail(const Refusal& r, char* out, std::size_t capacity) noexcept
{
    Writer w{out, capacity, 0};
    w.put("{\"tenant_id\": ");
    w.put_string(r.tenant_id, r.tenant_id_length);
    w.put(", \"resource\": ");
    w.put_string(r.resource, r.resource_length);
    w.put(", \"limit\": ");
    if (r.limit.unlimited)
        w.put("null");
    else
        w.put_int(r.limit.value);
    w.put(", \"used\": ");
    w.put_int(r.used);
    w.put(", \"requested\": ");
    w.put_int(r.requested);
    w.put(", \"reason\": \"");
    w.put(refusal_reason_name(r.reason));
    w.put("\"}");
    return w.finish();
}

} // namespace zechat::billing
