// Tests of the reflection walker: it reaches every node, refuses unknown kinds, bounds depth.
#include "policy/sql/walker.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>

#include "policy/sql/parser.h"
#include "policy/sql/rewriter.h"
#include "protocol/sqlstate.h"

namespace tenantwall::policy::sql {
namespace {

pg_query::ParseResult parsed(std::string_view sql) {
  auto tree = parse(sql);
  EXPECT_TRUE(tree.has_value()) << sql;
  return tree ? *tree : pg_query::ParseResult{};
}

// Knows every kind except those listed, and counts the kinds it sees.
class CountingVisitor : public Visitor {
 public:
  explicit CountingVisitor(std::set<std::string> unknown = {}, std::string stop_at = {})
      : unknown_(std::move(unknown)), stop_at_(std::move(stop_at)) {}
  bool knows(std::string_view kind) const override { return !unknown_.contains(std::string(kind)); }
  Visit visit(google::protobuf::Message& node, pg_query::Node*, Walker&) override {
    const std::string& kind = node.GetDescriptor()->name();
    ++seen[kind];
    if (kind == "String") strings.insert(static_cast<pg_query::String&>(node).sval());
    return kind == stop_at_ ? Next::kDone : Next::kChildren;
  }
  std::map<std::string, int> seen;
  std::set<std::string> strings;

 private:
  std::set<std::string> unknown_;
  std::string stop_at_;
};

Status walkAll(pg_query::ParseResult& tree, Visitor& visitor, int max_depth = kMaxTreeDepth) {
  Walker walker(visitor, max_depth);
  for (auto& statement : *tree.mutable_stmts()) {
    if (auto s = walker.walk(statement); !s) return s;
  }
  return {};
}

TEST(Walker, ReachesNamesInEveryClause) {
  // One name per clause, including the rarely visited ones: CTE SEARCH/CYCLE columns (plain
  // Strings), window frame offsets, FILTER, aggregate ORDER BY, TABLESAMPLE arguments,
  // LIMIT/OFFSET, and children of typed fields such as WindowDef and WithClause.
  auto tree = parsed(
      "WITH RECURSIVE r(n) AS (SELECT c1 UNION ALL SELECT c2 FROM r) "
      "SEARCH DEPTH FIRST BY c3 SET ord CYCLE c4 SET cyc USING path "
      "SELECT c5, sum(c6) FILTER (WHERE c7) OVER (PARTITION BY c8 ORDER BY c9 "
      "ROWS BETWEEN c10 PRECEDING AND CURRENT ROW), string_agg(c11, ',' ORDER BY c12) "
      "FROM t TABLESAMPLE bernoulli (c13) REPEATABLE (c14) JOIN u ON c15 "
      "WHERE c16 GROUP BY c17 HAVING c18 ORDER BY c19 LIMIT c20 OFFSET c21");
  CountingVisitor visitor;
  ASSERT_TRUE(walkAll(tree, visitor).has_value());
  for (int i = 1; i <= 21; ++i) {
    EXPECT_TRUE(visitor.strings.contains("c" + std::to_string(i))) << "c" << i << " not visited";
  }
  EXPECT_EQ(visitor.seen["ColumnRef"], 19);  // all but the SEARCH and CYCLE column names
  EXPECT_EQ(visitor.seen["SelectStmt"], 4);  // main, CTE union, and its two branches
  EXPECT_EQ(visitor.seen["WindowDef"], 1);
  EXPECT_EQ(visitor.seen["WithClause"], 1);
  EXPECT_EQ(visitor.seen["CTESearchClause"], 1);
  EXPECT_EQ(visitor.seen["CTECycleClause"], 1);
  EXPECT_EQ(visitor.seen["RangeTableSample"], 1);
}

TEST(Walker, RefusesAnUnknownKindAndNamesIt) {
  auto tree = parsed("SELECT lower(a) FROM t");
  CountingVisitor visitor({"FuncCall"});
  auto status = walkAll(tree, visitor);
  ASSERT_FALSE(status.has_value());
  EXPECT_EQ(status.error().sqlstate, protocol::sqlstate::kFeatureNotSupported);
  EXPECT_NE(status.error().message.find("FuncCall"), std::string::npos);
  EXPECT_EQ(visitor.seen["FuncCall"], 0);  // refused before the visitor saw it
}

TEST(Walker, RefusesAnUnknownKindDeepInsideSubqueries) {
  auto tree = parsed("SELECT CASE WHEN EXISTS (SELECT 1 FROM (SELECT x::int FROM t) s) THEN 1 END");
  CountingVisitor visitor({"TypeCast"});
  auto status = walkAll(tree, visitor);
  ASSERT_FALSE(status.has_value());
  EXPECT_NE(status.error().message.find("TypeCast"), std::string::npos);
}

TEST(Walker, RefusesAnUnknownKindInATypedField) {
  // IntoClause sits in a typed field of SelectStmt, not in a Node wrapper.
  auto tree = parsed("SELECT * INTO newtab FROM t");
  CountingVisitor visitor({"IntoClause"});
  auto status = walkAll(tree, visitor);
  ASSERT_FALSE(status.has_value());
  EXPECT_NE(status.error().message.find("IntoClause"), std::string::npos);
}

TEST(Walker, RefusesUnknownProtobufFields) {
  auto tree = parsed("SELECT a FROM t");
  auto* select = tree.mutable_stmts(0)->mutable_stmt()->mutable_select_stmt();
  select->mutable_target_list(0)
      ->mutable_res_target()
      ->GetReflection()
      ->MutableUnknownFields(select->mutable_target_list(0)->mutable_res_target())
      ->AddVarint(4242, 1);
  CountingVisitor visitor;
  auto status = walkAll(tree, visitor);
  ASSERT_FALSE(status.has_value());
  EXPECT_NE(status.error().message.find("unknown fields"), std::string::npos);
}

TEST(Walker, DoneStopsTheDescent) {
  auto tree = parsed("SELECT (SELECT a FROM t) FROM u");
  CountingVisitor visitor({}, "SelectStmt");
  ASSERT_TRUE(walkAll(tree, visitor).has_value());
  EXPECT_EQ(visitor.seen["SelectStmt"], 1);
  EXPECT_EQ(visitor.seen["ColumnRef"], 0);
}

TEST(Walker, WalkFieldsSkipsOnlyTheNamedFields) {
  auto tree = parsed("SELECT a FROM t WHERE b");
  auto& select = *tree.mutable_stmts(0)->mutable_stmt()->mutable_select_stmt();
  CountingVisitor visitor;
  Walker walker(visitor, kMaxTreeDepth);
  ASSERT_TRUE(walker.walkFields(select, {"where_clause"}).has_value());
  EXPECT_EQ(visitor.seen["ColumnRef"], 1);
  EXPECT_EQ(visitor.seen["RangeVar"], 1);
}

TEST(Walker, AcceptsEmptyWrappers) {
  auto tree = parsed("SELECT DISTINCT a FROM t");  // distinct_clause holds one empty Node
  ASSERT_EQ(tree.stmts(0).stmt().select_stmt().distinct_clause_size(), 1);
  CountingVisitor visitor;
  EXPECT_TRUE(walkAll(tree, visitor).has_value());
}

TEST(Walker, BoundsTheDepth) {
  auto tree = parsed("SELECT (SELECT (SELECT (SELECT (SELECT 1))))");
  CountingVisitor visitor;
  auto status = walkAll(tree, visitor, 12);
  ASSERT_FALSE(status.has_value());
  EXPECT_EQ(status.error().sqlstate, protocol::sqlstate::kProgramLimitExceeded);
  CountingVisitor unbounded;
  EXPECT_TRUE(walkAll(tree, unbounded).has_value());
}

TEST(Walker, NodeKindNamesThePayload) {
  auto tree = parsed("SELECT 1");
  EXPECT_EQ(nodeKind(tree.stmts(0).stmt()), "SelectStmt");
  EXPECT_EQ(nodeKind(pg_query::Node{}), "");
}

// The SELECT rewriter's own table of kinds: a node kind it does not list is refused even when
// it is planted somewhere the grammar would never put it.
class RewriterRefusesForgedTrees : public ::testing::Test {
 protected:
  Policy policy_;
  Principal principal_{.tenant = "acme"};

  std::expected<SelectRewrite, protocol::PgError> rewriteWithTarget(pg_query::Node planted) {
    auto tree = parsed("SELECT 1");
    auto& statement = *tree.mutable_stmts(0)->mutable_stmt();
    *statement.mutable_select_stmt()->mutable_target_list(0)->mutable_res_target()->mutable_val() =
        std::move(planted);
    return rewriteSelect(statement, principal_, policy_);
  }
};

TEST_F(RewriterRefusesForgedTrees, UtilityStatementInATargetList) {
  auto insert = parsed("INSERT INTO t VALUES (1)");
  auto result = rewriteWithTarget(insert.stmts(0).stmt());
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().sqlstate, protocol::sqlstate::kFeatureNotSupported);
  EXPECT_NE(result.error().message.find("InsertStmt"), std::string::npos);
}

TEST_F(RewriterRefusesForgedTrees, AnalysedNodeKindsFromThePlanner) {
  // Kinds that only exist after analysis (Var, OpExpr, ...) never come from the parser.
  for (const char* kind : {"var", "op_expr", "sub_plan", "query", "range_tbl_entry"}) {
    pg_query::Node node;
    const auto* field = pg_query::Node::descriptor()->FindFieldByName(kind);
    ASSERT_NE(field, nullptr) << kind;
    node.GetReflection()->MutableMessage(&node, field);
    auto result = rewriteWithTarget(node);
    ASSERT_FALSE(result.has_value()) << kind;
    EXPECT_EQ(result.error().sqlstate, protocol::sqlstate::kFeatureNotSupported) << kind;
    EXPECT_NE(result.error().message.find(field->message_type()->name()), std::string::npos);
  }
}

TEST_F(RewriterRefusesForgedTrees, RelationOutsideFrom) {
  // A RangeVar as an expression is no FROM item: it is refused, not fenced or forwarded.
  auto select = parsed("SELECT * FROM secret");
  auto result = rewriteWithTarget(select.stmts(0).stmt().select_stmt().from_clause(0));
  ASSERT_FALSE(result.has_value());
}

TEST_F(RewriterRefusesForgedTrees, QualifiedKeywordOperator) {
  // LIKE prints as a keyword whatever its name says, so a qualified name is refused.
  auto like = parsed("SELECT a LIKE b");
  pg_query::Node expr = like.stmts(0).stmt().select_stmt().target_list(0).res_target().val();
  auto* names = expr.mutable_a_expr()->mutable_name();
  pg_query::Node schema;
  schema.mutable_string()->set_sval("evil");
  names->Add()->CopyFrom(schema);
  names->SwapElements(0, 1);
  auto result = rewriteWithTarget(expr);
  ASSERT_FALSE(result.has_value());
  EXPECT_NE(result.error().message.find("A_Expr"), std::string::npos);
}

}  // namespace
}  // namespace tenantwall::policy::sql
