// Tests of the libpg_query seam: errors as values, limits, and the verified deparse.
#include "policy/sql/parser.h"

#include <gtest/gtest.h>

#include <string>

#include "protocol/sqlstate.h"

namespace tenantwall::policy::sql {
namespace {

TEST(Parser, ParsesSeveralStatements) {
  auto tree = parse("SELECT 1; BEGIN; SELECT 2");
  ASSERT_TRUE(tree.has_value());
  EXPECT_EQ(tree->stmts_size(), 3);
  EXPECT_TRUE(tree->stmts(1).stmt().has_transaction_stmt());
}

TEST(Parser, EmptyAndCommentOnlyTextHasNoStatements) {
  for (const char* sql : {"", "  ", "-- c", "/* c */", ";"}) {
    auto tree = parse(sql);
    ASSERT_TRUE(tree.has_value()) << sql;
    EXPECT_EQ(tree->stmts_size(), 0) << sql;
  }
}

TEST(Parser, SyntaxErrorIs42601WithMessageAndPosition) {
  auto tree = parse("SELECT FROM WHERE");
  ASSERT_FALSE(tree.has_value());
  EXPECT_EQ(tree.error().sqlstate, protocol::sqlstate::kSyntaxError);
  EXPECT_EQ(tree.error().message, "syntax error at or near \"WHERE\"");
  EXPECT_EQ(tree.error().detail, "at character 13");
}

TEST(Parser, RefusesAnEmbeddedNul) {
  // libpg_query would stop at the NUL and analyse less than PostgreSQL might be sent.
  const std::string sql("SELECT 1\0; DROP TABLE t", 23);
  auto tree = parse(sql);
  ASSERT_FALSE(tree.has_value());
  EXPECT_EQ(tree.error().sqlstate, protocol::sqlstate::kSyntaxError);
}

TEST(Parser, InvalidUtf8Is22021NotALimit) {
  // Overlong quote, stray continuation and high bytes, a surrogate, a truncated sequence.
  for (const char* sql : {"SELECT '\xc0\xa7'", "SELECT '\x80'", "SELECT '\xff'",
                          "SELECT '\xed\xa0\x80'", "SELECT 'x\xe3"}) {
    auto tree = parse(sql);
    ASSERT_FALSE(tree.has_value()) << sql;
    EXPECT_EQ(tree.error().sqlstate, protocol::sqlstate::kCharacterNotInRepertoire) << sql;
    EXPECT_TRUE(tree.error().message.starts_with("invalid byte sequence for encoding \"UTF8\""));
  }
  for (const char* sql :
       {"SELECT 'caf\xc3\xa9'", "SELECT '\xf0\x9f\x98\x80'", "SELECT '\xe2\x82\xac'"})
    EXPECT_TRUE(parse(sql).has_value()) << sql;
}

std::string additions(int n) {
  std::string sql = "SELECT 1";
  for (int i = 1; i < n; ++i) sql += "+1";
  return sql;
}

TEST(Parser, AcceptsDeepButRealisticNesting) {
  // Far beyond protobuf's default recursion limit of 100.
  auto tree = parse(additions(1000));
  EXPECT_TRUE(tree.has_value());
}

TEST(Parser, RefusesAbsurdNestingAsALimitNotACrash) {
  auto tree = parse(additions(5000));
  ASSERT_FALSE(tree.has_value());
  EXPECT_EQ(tree.error().sqlstate, protocol::sqlstate::kProgramLimitExceeded);
}

TEST(Parser, DeparsesAllStatements) {
  auto tree = parse("select a from t where b = 1; commit");
  ASSERT_TRUE(tree.has_value());
  auto text = deparse(*tree);
  ASSERT_TRUE(text.has_value());
  EXPECT_EQ(*text, "SELECT a FROM t WHERE b = 1; COMMIT");
}

TEST(Parser, VerifiedDeparseAcceptsAFaithfulRoundTrip) {
  auto tree = parse("SELECT a OPERATOR(pg_catalog.=) 1, 'it''s', x::pg_catalog.text FROM t");
  ASSERT_TRUE(tree.has_value());
  auto text = deparseVerified(*tree);
  ASSERT_TRUE(text.has_value()) << text.error().message;
  EXPECT_EQ(*text, "SELECT a OPERATOR(pg_catalog.=) 1, 'it''s', x::pg_catalog.text FROM t");
}

TEST(Parser, VerifiedDeparseRefusesATreeTheDeparserCannotSpell) {
  // A LIKE whose operator name is qualified deparses to different SQL (the deparser prints the
  // keyword and mangles the name): what would reach PostgreSQL is not what was analysed.
  auto tree = parse("SELECT a LIKE 'x'");
  ASSERT_TRUE(tree.has_value());
  auto* names = tree->mutable_stmts(0)
                    ->mutable_stmt()
                    ->mutable_select_stmt()
                    ->mutable_target_list(0)
                    ->mutable_res_target()
                    ->mutable_val()
                    ->mutable_a_expr()
                    ->mutable_name();
  pg_query::Node schema;
  schema.mutable_string()->set_sval("pg_catalog");
  names->Add()->CopyFrom(schema);
  names->SwapElements(0, 1);
  auto text = deparseVerified(*tree);
  ASSERT_FALSE(text.has_value());
  EXPECT_EQ(text.error().sqlstate, protocol::sqlstate::kInternalError);
}

TEST(Parser, VerifiedDeparseKeepsQuotedNames) {
  // A relation name the deparser must quote survives; the check compares trees, not text.
  auto tree = parse("SELECT * FROM \"Weird Name\"");
  ASSERT_TRUE(tree.has_value());
  auto text = deparseVerified(*tree);
  ASSERT_TRUE(text.has_value());
  EXPECT_EQ(*text, "SELECT * FROM \"Weird Name\"");
}

}  // namespace
}  // namespace tenantwall::policy::sql
