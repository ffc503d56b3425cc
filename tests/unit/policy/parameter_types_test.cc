#include <gtest/gtest.h>

#include "policy/engine.h"

namespace tenantwall::policy {
namespace {

TEST(ParameterTypes, UnspecifiedAndPlainTypesAreAccepted) {
  // 0 unspecified, bool, int4, text, varchar, timestamptz, uuid, jsonb, int4[]
  EXPECT_FALSE(checkParameterTypes({}).has_value());
  EXPECT_FALSE(checkParameterTypes({0, 16, 23, 25, 1043, 1184, 2950, 3802, 1007}).has_value());
}

TEST(ParameterTypes, ObjectIdentifierTypesAndTheirArraysAreRefused) {
  for (std::int32_t oid :
       {24, 2202, 2203, 2204, 2205, 2206, 3734, 3769, 4089, 4096, 4191, 1008, 2210, 4097}) {
    const auto refused = checkParameterTypes({23, oid});
    ASSERT_TRUE(refused.has_value()) << oid;
    EXPECT_EQ(refused->sqlstate, "42501") << oid;
    EXPECT_NE(refused->message.find("regclass"), std::string::npos);
  }
}

}  // namespace
}  // namespace tenantwall::policy
