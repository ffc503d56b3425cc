// Start-up parameters: display settings pass, everything that could change the session is refused.
#include "proxy/startup_params.h"

#include <gtest/gtest.h>

namespace tenantwall::proxy {
namespace {

protocol::StartupPacket packet(std::vector<std::pair<std::string, std::string>> params) {
  protocol::StartupPacket p;
  p.params = std::move(params);
  return p;
}

std::optional<protocol::PgError> check(
    std::vector<std::pair<std::string, std::string>> params,
    std::vector<std::pair<std::string, std::string>>* out = nullptr) {
  std::vector<std::pair<std::string, std::string>> forwarded;
  auto result = checkStartupParams(packet(std::move(params)), "app", forwarded);
  if (out) *out = forwarded;
  return result;
}

TEST(StartupParamsTest, PsqlAndJdbcStartupsPass) {
  std::vector<std::pair<std::string, std::string>> forwarded;
  EXPECT_FALSE(check({{"user", "alice"},
                      {"database", "app"},
                      {"application_name", "psql"},
                      {"client_encoding", "UTF8"},
                      {"DateStyle", "ISO"},
                      {"TimeZone", "UTC"},
                      {"extra_float_digits", "3"}},
                     &forwarded));
  ASSERT_EQ(forwarded.size(), 4u);
  EXPECT_EQ(forwarded[0].first, "application_name");
}

TEST(StartupParamsTest, OptionsAreRefused) {
  auto e = check({{"user", "a"}, {"options", "-c search_path=evil"}});
  ASSERT_TRUE(e);
  EXPECT_EQ(e->sqlstate, "42501");
  EXPECT_EQ(e->severity, "FATAL");
  EXPECT_NE(e->message.find("options"), std::string::npos);
}

TEST(StartupParamsTest, SettingsThatAreDoorsAreRefused) {
  for (const char* name :
       {"search_path", "role", "session_authorization", "replication", "row_security",
        "standard_conforming_strings", "default_transaction_read_only"}) {
    auto e = check({{"user", "a"}, {name, "x"}});
    ASSERT_TRUE(e) << name;
    EXPECT_EQ(e->sqlstate, "42501") << name;
  }
}

TEST(StartupParamsTest, OtherDatabaseIsRefused) {
  auto e = check({{"user", "a"}, {"database", "postgres"}});
  ASSERT_TRUE(e);
  EXPECT_EQ(e->sqlstate, "3D000");
}

TEST(StartupParamsTest, NonUtf8EncodingIsRefused) {
  auto e = check({{"user", "a"}, {"client_encoding", "SJIS"}});
  ASSERT_TRUE(e);
  EXPECT_EQ(e->sqlstate, "22023");
  EXPECT_FALSE(check({{"user", "a"}, {"client_encoding", "utf-8"}}));
}

TEST(StartupParamsTest, ControlCharactersInValuesAreRefused) {
  auto e = check({{"user", "a"}, {"application_name", "x\ny"}});
  ASSERT_TRUE(e);
  EXPECT_EQ(e->sqlstate, "22023");
  EXPECT_TRUE(check({{"user", "a"}, {"application_name", std::string(64, 'a')}}));
}

}  // namespace
}  // namespace tenantwall::proxy
