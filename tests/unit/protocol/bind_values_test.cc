// parseBind's parameter formats and values (read for the proxy's Bind-time tenant check).
#include <gtest/gtest.h>

#include <string>

#include "protocol/extended.h"

namespace tenantwall::protocol {
namespace {

std::string int16(int v) { return {static_cast<char>(v >> 8), static_cast<char>(v & 0xff)}; }
std::string int32(int v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

TEST(BindValues, FormatsAndValuesAreRead) {
  const std::string body = std::string("portal\0stmt\0", 12) + int16(2) + int16(0) + int16(1) +
                           int16(3) + int32(4) + "acme" + int32(-1) + int32(0) + int16(0);
  auto bind = parseBind(body);
  ASSERT_TRUE(bind.has_value()) << bind.error().message;
  EXPECT_EQ(bind->portal, "portal");
  EXPECT_EQ(bind->statement, "stmt");
  EXPECT_EQ(bind->formats, (std::vector<std::int16_t>{0, 1}));
  ASSERT_EQ(bind->values.size(), 3U);
  EXPECT_EQ(bind->values[0], std::optional<std::string_view>("acme"));
  EXPECT_EQ(bind->values[1], std::nullopt);
  EXPECT_EQ(bind->values[2], std::optional<std::string_view>(""));
}

TEST(BindValues, TruncatedValueIsMalformed) {
  const std::string body =
      std::string("\0\0", 2) + int16(0) + int16(1) + int32(10) + "short" + int16(0);
  EXPECT_FALSE(parseBind(body).has_value());
}

}  // namespace
}  // namespace tenantwall::protocol
