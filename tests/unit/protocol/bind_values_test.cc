// parseBind's parameter formats and values (read for the proxy's Bind-time tenant check).
#include <gtest/gtest.h>

#include <string>

#include "protocol/decoder.h"
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

TEST(BindValues, BoundExecutionIsBindDescribeExecuteSync) {
  std::string out;
  appendBoundExecution(out, "tw_x", {"42", "it's"});
  std::vector<std::pair<char, std::string>> frames;
  std::string_view rest = out;
  while (!rest.empty()) {
    auto decoded = decodeFrame(rest);
    ASSERT_EQ(decoded.status, DecodeStatus::kReady);
    frames.emplace_back(decoded.frame.tag, std::string(decoded.frame.body));
    rest.remove_prefix(decoded.frame.size);
  }
  ASSERT_EQ(frames.size(), 4U);
  EXPECT_EQ(frames[0].first, 'B');
  auto bind = parseBind(frames[0].second);
  ASSERT_TRUE(bind.has_value()) << bind.error().message;
  EXPECT_EQ(bind->portal, "");
  EXPECT_EQ(bind->statement, "tw_x");
  EXPECT_TRUE(bind->formats.empty());
  ASSERT_EQ(bind->values.size(), 2U);
  EXPECT_EQ(bind->values[0], std::optional<std::string_view>("42"));
  EXPECT_EQ(bind->values[1], std::optional<std::string_view>("it's"));
  EXPECT_EQ(frames[0].second.substr(frames[0].second.size() - 2), int16(0));  // text results
  EXPECT_EQ(frames[1].first, 'D');
  auto described = parseDescribeOrClose(frames[1].second);
  ASSERT_TRUE(described.has_value());
  EXPECT_EQ(described->kind, 'P');
  EXPECT_EQ(described->name, "");
  EXPECT_EQ(frames[2].first, 'E');
  auto execute = parseExecute(frames[2].second);
  ASSERT_TRUE(execute.has_value());
  EXPECT_EQ(execute->portal, "");
  EXPECT_EQ(execute->max_rows, 0);
  EXPECT_EQ(frames[3].first, 'S');
  EXPECT_EQ(frames[3].second, "");
}

}  // namespace
}  // namespace tenantwall::protocol
