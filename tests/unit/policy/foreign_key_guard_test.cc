// The foreign key guard's marker and its translation by scrubServerError: a value outside the
// tenant's fence must read exactly like PostgreSQL's own error for a missing row, once scrubbed.
#include <gtest/gtest.h>

#include "policy/error_scrub.h"
#include "policy/sql/foreign_key_guard.h"

namespace tenantwall::policy {
namespace {

using Fields = std::vector<protocol::ErrorField>;

TEST(ForeignKeyGuard, MarkerRoundTrips) {
  for (const auto& [table, constraint] : std::vector<std::pair<std::string, std::string>>{
           {"orders", "orders_customer_id_fkey"}, {"we ird\" 6:x", "c 1:\"y"}, {"t", ""}}) {
    const std::string message = "invalid input syntax for type boolean: \"" +
                                sql::foreignKeyMarker(table, constraint) + "\"";
    const auto read = sql::readForeignKeyMarker(message);
    ASSERT_TRUE(read.has_value()) << message;
    EXPECT_EQ(read->first, table);
    EXPECT_EQ(read->second, constraint);
  }
  EXPECT_FALSE(sql::readForeignKeyMarker("invalid input syntax for type boolean: \"x\""));
  EXPECT_FALSE(sql::readForeignKeyMarker(
      "invalid input syntax for type boolean: \"tenantwall foreign key guard 99:orders\""));
}

TEST(ForeignKeyGuard, GuardErrorIsIdenticalToPostgresMissingRowAfterScrubbing) {
  const Fields postgres = {{'S', "ERROR"},
                           {'V', "ERROR"},
                           {'C', "23503"},
                           {'M',
                            "insert or update on table \"orders\" violates foreign key constraint "
                            "\"orders_customer_id_fkey\""},
                           {'D', "Key (customer_id)=(4) is not present in table \"customers\"."},
                           {'s', "public"},
                           {'t', "orders"},
                           {'n', "orders_customer_id_fkey"},
                           {'F', "ri_triggers.c"},
                           {'L', "2608"},
                           {'R', "ri_ReportViolation"}};
  const Fields guard = {
      {'S', "ERROR"},
      {'V', "ERROR"},
      {'C', "22P02"},
      {'M', "invalid input syntax for type boolean: \"" +
                sql::foreignKeyMarker("orders", "orders_customer_id_fkey") + "\""},
      {'F', "bool.c"},
      {'L', "151"},
      {'R', "boolin"}};
  EXPECT_EQ(scrubServerError(guard), scrubServerError(postgres));
  EXPECT_EQ(scrubServerError(postgres).size(), 4U);  // S V C M: no detail with the key value
}

}  // namespace
}  // namespace tenantwall::policy
