// The JSON DETAIL of a PT402 refusal (src/core/refusal_detail): exact text,
// and valid JSON that round-trips whatever bytes the tenant id holds.
#include <cstdint>
#include <cstring>
#include <string>

#include <gtest/gtest.h>

#include "refusal_detail.hpp"

using namespace zechat::billing;

namespace {

Refusal refusal_of(const std::string& tenant, Limit limit = Limit::of(1000), int64_t used = 1000,
                   int64_t requested = 1, RefusalReason reason = RefusalReason::limit_reached)
{
    static std::string resource = "messages";
    return Refusal{tenant.data(), tenant.size(), resource.data(), resource.size(),
                   limit,         used,          requested,       reason};
}

std::string format(const Refusal& r)
{
    char buffer[refusal_detail_capacity];
    std::size_t n = format_refusal_detail(r, buffer, sizeof buffer);
    EXPECT_LT(n, sizeof buffer);
    EXPECT_EQ(std::strlen(buffer), n);
    return std::string(buffer, n);
}

// A minimal JSON reader, enough to check that the detail is one valid
// object and to decode its string members.
class Json {
public:
    explicit Json(const std::string& text) : s_(text) {}

    // Parses one object; returns false on any syntax error.  Fills
    // tenant_id_ with the decoded "tenant_id" member.
    bool parse_object()
    {
        skip_ws();
        if (!eat('{'))
            return false;
        skip_ws();
        if (eat('}'))
            return at_end();
        for (;;) {
            std::string key, value;
            skip_ws();
            if (!parse_string(&key))
                return false;
            skip_ws();
            if (!eat(':'))
                return false;
            skip_ws();
            if (peek() == '"') {
                if (!parse_string(&value))
                    return false;
                if (key == "tenant_id")
                    tenant_id_ = value;
            } else if (!parse_scalar()) {
                return false;
            }
            skip_ws();
            if (eat(','))
                continue;
            if (!eat('}'))
                return false;
            return at_end();
        }
    }

    const std::string& tenant_id() const { return tenant_id_; }

private:
    char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
    bool eat(char c)
    {
        if (peek() != c)
            return false;
        ++pos_;
        return true;
    }
    void skip_ws()
    {
        while (pos_ < s_.size() &&
               (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\t' || s_[pos_] == '\r'))
            ++pos_;
    }
    bool at_end()
    {
        skip_ws();
        return pos_ == s_.size();
    }
    bool parse_scalar()
    {
        if (s_.compare(pos_, 4, "null") == 0) {
            pos_ += 4;
            return true;
        }
        std::size_t start = pos_;
        if (peek() == '-')
            ++pos_;
        while (peek() >= '0' && peek() <= '9')
            ++pos_;
        return pos_ > start && s_[pos_ - 1] != '-';
    }
    bool parse_string(std::string* out)
    {
        if (!eat('"'))
            return false;
        while (pos_ < s_.size()) {
            unsigned char c = static_cast<unsigned char>(s_[pos_++]);
            if (c == '"')
                return true;
            if (c < 0x20)
                return false; // control characters must be escaped
            if (c != '\\') {
                out->push_back(static_cast<char>(c));
                continue;
            }
            char e = s_[pos_++];
            switch (e) {
            case '"':
                out->push_back('"');
                break;
            case '\\':
                out->push_back('\\');
                break;
            case '/':
                out->push_back('/');
                break;
            case 'n':
                out->push_back('\n');
                break;
            case 'r':
                out->push_back('\r');
                break;
            case 't':
                out->push_back('\t');
                break;
            case 'b':
                out->push_back('\b');
                break;
            case 'f':
                out->push_back('\f');
                break;
            case 'u': {
                if (pos_ + 4 > s_.size())
                    return false;
                unsigned value = std::stoul(s_.substr(pos_, 4), nullptr, 16);
                pos_ += 4;
                if (value > 0x7f)
                    return false; // the formatter only escapes ASCII
                out->push_back(static_cast<char>(value));
                break;
            }
            default:
                return false;
            }
        }
        return false;
    }

    std::string s_;
    std::size_t pos_ = 0;
    std::string tenant_id_;
};

void expect_valid_and_round_trips(const std::string& tenant)
{
    std::string detail = format(refusal_of(tenant));
    Json json(detail);
    ASSERT_TRUE(json.parse_object()) << detail;
    EXPECT_EQ(json.tenant_id(), tenant) << detail;
}

} // namespace

TEST(RefusalDetail, HasTheContractFieldsInOrder)
{
    EXPECT_EQ(
        format(refusal_of("acme")),
        "{\"tenant_id\": \"acme\", \"resource\": \"messages\", \"limit\": 1000, \"used\": 1000, "
        "\"requested\": 1, \"reason\": \"limit_reached\"}");
}

TEST(RefusalDetail, UnlimitedIsNull)
{
    std::string detail = format(refusal_of("acme", Limit::none(), 5, 1));
    EXPECT_NE(detail.find("\"limit\": null"), std::string::npos) << detail;
}

TEST(RefusalDetail, ReasonsAreTheContractWords)
{
    EXPECT_STREQ(refusal_reason_name(RefusalReason::limit_reached), "limit_reached");
    EXPECT_STREQ(refusal_reason_name(RefusalReason::no_subscription), "no_subscription");
    EXPECT_STREQ(refusal_reason_name(RefusalReason::subscription_inactive),
                 "subscription_inactive");
    std::string detail =
        format(refusal_of("acme", Limit::of(0), 0, 1, RefusalReason::subscription_inactive));
    EXPECT_NE(detail.find("\"reason\": \"subscription_inactive\""), std::string::npos);
}

TEST(RefusalDetail, BigintEdgesPrintExactly)
{
    std::string detail = format(refusal_of("acme", Limit::of(INT64_MAX), INT64_MAX, INT64_MAX));
    EXPECT_NE(detail.find("\"limit\": 9223372036854775807"), std::string::npos);
    EXPECT_NE(detail.find("\"requested\": 9223372036854775807"), std::string::npos);
    detail = format(refusal_of("acme", Limit::of(0), 0, INT64_MIN));
    EXPECT_NE(detail.find("\"requested\": -9223372036854775808"), std::string::npos);
}

TEST(RefusalDetail, HostileTenantIdsStayValidJson)
{
    expect_valid_and_round_trips("a\"b");
    expect_valid_and_round_trips("back\\slash");
    expect_valid_and_round_trips("line\nbreak\r\ttab");
    expect_valid_and_round_trips(std::string("ctl\x01\x1f\x7f", 6));
    expect_valid_and_round_trips("\"}, \"reason\": \"injected");
    expect_valid_and_round_trips("caf\xc3\xa9 \xe2\x9c\x93"); // UTF-8 passes through
    EXPECT_NE(format(refusal_of("caf\xc3\xa9")).find("caf\xc3\xa9"), std::string::npos);
}

TEST(RefusalDetail, WorstCaseTenantFitsTheCapacity)
{
    expect_valid_and_round_trips(std::string(63, '"'));
    expect_valid_and_round_trips(std::string(63, '\x01'));
}

TEST(RefusalDetail, SmallBufferIsTerminatedAndReportsTheFullLength)
{
    std::string full = format(refusal_of("acme"));
    char tiny[16];
    std::size_t n = format_refusal_detail(refusal_of("acme"), tiny, sizeof tiny);
    EXPECT_EQ(n, full.size());
    EXPECT_EQ(std::strlen(tiny), sizeof tiny - 1);
    EXPECT_EQ(std::string(tiny), full.substr(0, sizeof tiny - 1));
    EXPECT_EQ(format_refusal_detail(refusal_of("acme"), nullptr, 0), full.size());
}

TEST(JsonString, EscapesAndQuotes)
{
    char out[64];
    std::size_t n = append_json_string(out, sizeof out, 0, "a\"\\\n", 4);
    EXPECT_EQ(std::string(out, n), "\"a\\\"\\\\\\n\"");
}
