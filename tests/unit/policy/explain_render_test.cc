// renderPlan() on plans captured from PostgreSQL 15. explain_plans/<name>.json is PostgreSQL's
// `EXPLAIN (ANALYZE, FORMAT JSON, COSTS OFF, TIMING OFF, BUFFERS OFF, SUMMARY OFF)` of a fenced
// statement (with 20,000 rows of another tenant in orders); <name>.txt is PostgreSQL's own
// FORMAT TEXT plan of the same statement in the same transaction, with every line that is not
// allowlisted taken out ("Rows Removed by ...", "Heap Blocks", "Heap Fetches", "Sort Method",
// "Buckets", "Batches", "Workers ...", "Conflict ...", "Tuples Inserted", "Conflicting Tuples",
// "Trigger for ...") and the actual figures of bitmap index nodes removed: exactly what the
// client must see.
#include "policy/explain_render.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "protocol/sqlstate.h"

namespace tenantwall::policy {
namespace {

std::string readFile(const std::string& name) {
  std::ifstream in(std::filesystem::path(TENANTWALL_TEST_DATA) / "explain_plans" / name);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& line : lines) out += line + "\n";
  return out;
}

std::string textPlan(const std::string& name) {
  const std::string json = readFile(name + ".json");
  EXPECT_FALSE(json.empty()) << name;
  auto rendered = renderPlan(json, PlanFormat::kText);
  EXPECT_TRUE(rendered) << name << ": " << rendered.error().message;
  return rendered ? joined(*rendered) : std::string();
}

class CapturedPlans : public ::testing::TestWithParam<std::string> {};

TEST_P(CapturedPlans, TextIsPostgresTextWithoutWhatIsNotAllowlisted) {
  const std::string text = textPlan(GetParam());
  EXPECT_EQ(text, readFile(GetParam() + ".txt"));
  for (const char* leak :
       {"Rows Removed", "Heap Fetches", "Heap Blocks", "Buffers", "Time", "Memory", "Workers",
        "Trigger", "Conflict", "Batches", "Sort Method", "Tuples"})
    EXPECT_EQ(text.find(leak), std::string::npos) << leak << " in\n" << text;
}

INSTANTIATE_TEST_SUITE_P(Postgres15, CapturedPlans,
                         ::testing::Values("seq_scan", "bitmap", "bitmap_or", "join", "hash_join",
                                           "subplans", "never_executed", "parallel",
                                           "backward_cte_setop", "insert", "update", "delete",
                                           "upsert"));

TEST(ExplainRenderTest, TheCapturedPlansHoldWhatMustBeDropped) {
  // Otherwise the tests above could pass without anything to take out.
  EXPECT_NE(readFile("seq_scan.json").find("\"Rows Removed by Filter\": 2"), std::string::npos);
  EXPECT_NE(readFile("bitmap.json").find("\"Rows Removed by Filter\": 3"), std::string::npos);
  EXPECT_NE(readFile("bitmap.json").find("\"Exact Heap Blocks\""), std::string::npos);
  EXPECT_NE(readFile("join.json").find("\"Sort Space Used\""), std::string::npos);
  EXPECT_NE(readFile("hash_join.json").find("\"Peak Memory Usage\""), std::string::npos);
  EXPECT_NE(readFile("insert.json").find("\"Triggers\""), std::string::npos);
  EXPECT_NE(readFile("upsert.json").find("\"Conflicting Tuples\""), std::string::npos);
  EXPECT_NE(readFile("parallel.json").find("\"Workers Launched\""), std::string::npos);
  EXPECT_NE(readFile("backward_cte_setop.json").find("\"Heap Fetches\""), std::string::npos);
}

TEST(ExplainRenderTest, BitmapIndexNodesShowNoActualFigures) {
  // PostgreSQL counted 8 entries of orders_pkey: acme's 3 rows, and other tenants' (live and
  // dead) index entries.
  EXPECT_NE(readFile("bitmap.json").find("\"Actual Rows\": 8"), std::string::npos);
  const std::string text = textPlan("bitmap");
  EXPECT_NE(text.find("        ->  Bitmap Index Scan on orders_pkey\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("rows=8"), std::string::npos) << text;
  EXPECT_NE(text.find("Bitmap Heap Scan on orders orders_1 (actual rows=3 loops=1)"),
            std::string::npos)
      << text;
  const std::string or_text = textPlan("bitmap_or");
  EXPECT_NE(or_text.find("        ->  BitmapOr\n"), std::string::npos) << or_text;
}

std::set<std::string> keysOf(const nlohmann::json& node) {
  std::set<std::string> keys;
  for (const auto& [key, value] : node.items()) {
    keys.insert(key);
    if (key == "Plans")
      for (const auto& child : value) keys.merge(keysOf(child));
  }
  return keys;
}

TEST(ExplainRenderTest, JsonKeepsOnlyAllowlistedKeys) {
  const std::set<std::string> allowed = {"Node Type",     "Parent Relationship",
                                         "Subplan Name",  "Parallel Aware",
                                         "Async Capable", "Join Type",
                                         "Strategy",      "Partial Mode",
                                         "Operation",     "Command",
                                         "Relation Name", "Function Name",
                                         "CTE Name",      "Alias",
                                         "Index Name",    "Scan Direction",
                                         "Actual Rows",   "Actual Loops",
                                         "Index Cond",    "Recheck Cond",
                                         "Join Filter",   "Hash Cond",
                                         "Filter",        "Sort Key",
                                         "Group Key",     "Plans"};
  for (const char* name :
       {"seq_scan", "bitmap", "bitmap_or", "join", "hash_join", "subplans", "never_executed",
        "parallel", "backward_cte_setop", "insert", "update", "delete", "upsert"}) {
    auto rendered = renderPlan(readFile(std::string(name) + ".json"), PlanFormat::kJson);
    ASSERT_TRUE(rendered) << name << ": " << rendered.error().message;
    ASSERT_EQ(rendered->size(), 1U) << name;  // one row: the document
    const auto document = nlohmann::json::parse(rendered->front(), nullptr, false);
    ASSERT_FALSE(document.is_discarded()) << name;
    ASSERT_TRUE(document.is_array() && document.size() == 1) << name;
    ASSERT_EQ(document[0].size(), 1U) << name << ": only \"Plan\" at the top";
    for (const auto& key : keysOf(document[0]["Plan"]))
      EXPECT_TRUE(allowed.contains(key)) << name << ": " << key;
  }
}

TEST(ExplainRenderTest, JsonOfABitmapPlan) {
  auto rendered = renderPlan(readFile("bitmap.json"), PlanFormat::kJson);
  ASSERT_TRUE(rendered);
  const auto plan = nlohmann::json::parse(rendered->front())[0]["Plan"];
  EXPECT_EQ(plan["Node Type"], "Subquery Scan");
  EXPECT_EQ(plan["Actual Rows"], 3);
  const auto& heap = plan["Plans"][0];
  EXPECT_EQ(heap["Node Type"], "Bitmap Heap Scan");
  EXPECT_EQ(heap["Actual Rows"], 3);
  EXPECT_EQ(heap["Filter"], "(tenant_id = 'acme'::text)");
  EXPECT_FALSE(heap.contains("Rows Removed by Filter"));
  EXPECT_FALSE(heap.contains("Exact Heap Blocks"));
  const auto& index = heap["Plans"][0];
  EXPECT_EQ(index["Node Type"], "Bitmap Index Scan");
  EXPECT_EQ(index["Index Name"], "orders_pkey");
  EXPECT_FALSE(index.contains("Actual Rows"));
  EXPECT_FALSE(index.contains("Actual Loops"));
  EXPECT_TRUE(index.contains("Index Cond"));
}

TEST(ExplainRenderTest, WritesShowTheirTargetAndNoTriggers) {
  EXPECT_EQ(textPlan("insert"),
            "Insert on orders (actual rows=0 loops=1)\n"
            "  ->  Result (actual rows=1 loops=1)\n");
  const auto json = renderPlan(readFile("insert.json"), PlanFormat::kJson);
  ASSERT_TRUE(json);
  EXPECT_EQ(json->front().find("Trigger"), std::string::npos) << json->front();
  EXPECT_EQ(json->front().find("orders_customer_id_fkey"), std::string::npos) << json->front();
}

// A plan built by hand: one node of each given JSON object text.
std::string plan(const std::string& node) { return "[{\"Plan\": " + node + "}]"; }

std::string errorOf(const std::string& document) {
  auto rendered = renderPlan(document, PlanFormat::kText);
  if (rendered) return "rendered: " + joined(*rendered);
  EXPECT_EQ(rendered.error().sqlstate, protocol::sqlstate::kInternalError);
  EXPECT_FALSE(rendered.error().hint.empty());
  return rendered.error().message;
}

TEST(ExplainRenderTest, AnythingUnexpectedIsAnErrorNeverThePlan) {
  const std::string seq =
      R"({"Node Type": "Seq Scan", "Relation Name": "t", "Alias": "t", "Actual Rows": 1,
          "Actual Loops": 1})";
  ASSERT_EQ(errorOf(plan(seq)), "rendered: Seq Scan on t (actual rows=1 loops=1)\n");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "the plan is not valid JSON"},
      {"[{\"Plan\": {\"Node Type\": \"Seq Scan\"", "the plan is not valid JSON"},
      {"{\"Plan\": " + seq + "}", "the plan is not one EXPLAIN result"},
      {"[]", "the plan is not one EXPLAIN result"},
      {"[{\"Plan\": " + seq + "}, {\"Plan\": " + seq + "}]", "the plan is not one EXPLAIN result"},
      {"[{\"Query\": " + seq + "}]", "the plan is not one EXPLAIN result"},
      {plan("[]"), "a plan node is not an object"},
      {plan(R"({"Relation Name": "t"})"), "a plan node has no node type"},
      {plan(R"({"Node Type": 7})"), "a plan node has no node type"},
      {plan(R"({"Node Type": "Foreign Scan", "Actual Rows": 1, "Actual Loops": 1})"),
       "plan node type \"Foreign Scan\" is not known"},
      {plan(R"({"Node Type": "Custom Scan", "Actual Rows": 1, "Actual Loops": 1})"),
       "plan node type \"Custom Scan\" is not known"},
      {plan(R"({"Node Type": "Seq Scan", "Actual Loops": 1})"),
       "a Seq Scan node has no actual figures"},
      {plan(R"({"Node Type": "Seq Scan", "Actual Rows": "1", "Actual Loops": 1})"),
       "plan key \"Actual Rows\" has an unexpected value"},
      {plan(R"({"Node Type": "Seq Scan", "Actual Rows": -1, "Actual Loops": 1})"),
       "plan key \"Actual Rows\" has an unexpected value"},
      {plan(R"({"Node Type": "Seq Scan", "Actual Rows": 1, "Actual Loops": 1, "Filter": 5})"),
       "plan key \"Filter\" has an unexpected value"},
      {plan(R"({"Node Type": "Sort", "Actual Rows": 1, "Actual Loops": 1, "Sort Key": "a"})"),
       "plan key \"Sort Key\" has an unexpected value"},
      {plan(R"({"Node Type": "Sort", "Actual Rows": 1, "Actual Loops": 1, "Sort Key": [1]})"),
       "plan key \"Sort Key\" has an unexpected value"},
      {plan(R"({"Node Type": "Limit", "Actual Rows": 1, "Actual Loops": 1, "Plans": {}})"),
       "plan key \"Plans\" has an unexpected value"},
      {plan(R"({"Node Type": "Limit", "Actual Rows": 1, "Actual Loops": 1, "Plans": [3]})"),
       "a plan node is not an object"},
      {plan(R"({"Node Type": "Limit", "Actual Rows": 1, "Actual Loops": 1, "Plans": [{}]})"),
       "a plan node has no node type"},
  };
  for (const auto& [document, reason] : cases) {
    EXPECT_EQ(errorOf(document), "tenantwall cannot show this EXPLAIN ANALYZE plan: " + reason)
        << document;
  }
}

TEST(ExplainRenderTest, DeepPlansAreRefused) {
  std::string node = R"({"Node Type": "Result", "Actual Rows": 1, "Actual Loops": 1})";
  for (int i = 0; i < 300; ++i)
    node =
        R"({"Node Type": "Limit", "Actual Rows": 1, "Actual Loops": 1, "Plans": [)" + node + "]}";
  EXPECT_EQ(errorOf(plan(node)),
            "tenantwall cannot show this EXPLAIN ANALYZE plan: the plan nests too deeply");
}

TEST(ExplainRenderTest, UnknownKeysAreDroppedNotShown) {
  const std::string document = plan(
      R"j({"Node Type": "Seq Scan", "Relation Name": "t", "Alias": "x", "Actual Rows": 2,
          "Actual Loops": 3, "Some Future Counter": 41, "Output": ["secret"],
          "Filter": "(a = 1)", "Rows Removed by Filter": 40})j");
  auto text = renderPlan(document, PlanFormat::kText);
  ASSERT_TRUE(text);
  EXPECT_EQ(joined(*text), "Seq Scan on t x (actual rows=2 loops=3)\n  Filter: (a = 1)\n");
  auto json = renderPlan(document, PlanFormat::kJson);
  ASSERT_TRUE(json);
  for (const char* absent : {"Some Future Counter", "41", "Output", "secret", "Rows Removed"})
    EXPECT_EQ(json->front().find(absent), std::string::npos) << absent;
}

TEST(ExplainRenderTest, NodeNamesAsPostgresTextSpellsThem) {
  auto headline = [](const std::string& fields) {
    auto text = renderPlan(plan(R"({"Actual Rows": 1, "Actual Loops": 1, )" + fields + "}"),
                           PlanFormat::kText);
    return text ? text->front() : "error: " + text.error().message;
  };
  EXPECT_EQ(headline(R"("Node Type": "Hash Join", "Join Type": "Left")"),
            "Hash Left Join (actual rows=1 loops=1)");
  EXPECT_EQ(headline(R"("Node Type": "Merge Join", "Join Type": "Inner")"),
            "Merge Join (actual rows=1 loops=1)");
  EXPECT_EQ(headline(R"("Node Type": "Nested Loop", "Join Type": "Anti")"),
            "Nested Loop Anti Join (actual rows=1 loops=1)");
  EXPECT_EQ(headline(R"("Node Type": "Aggregate", "Strategy": "Mixed", "Partial Mode": "Simple")"),
            "MixedAggregate (actual rows=1 loops=1)");
  EXPECT_EQ(headline(R"("Node Type": "SetOp", "Strategy": "Sorted", "Command": "Intersect All")"),
            "SetOp Intersect All (actual rows=1 loops=1)");
  EXPECT_EQ(headline(R"("Node Type": "ModifyTable", "Operation": "Delete",
                        "Relation Name": "orders", "Alias": "o")"),
            "Delete on orders o (actual rows=1 loops=1)");
  EXPECT_EQ(headline(R"("Node Type": "Function Scan", "Function Name": "generate_series",
                        "Alias": "g")"),
            "Function Scan on generate_series g (actual rows=1 loops=1)");
  EXPECT_EQ(headline(R"("Node Type": "Values Scan", "Alias": "*VALUES*")"),
            "Values Scan on \"*VALUES*\" (actual rows=1 loops=1)");
  EXPECT_EQ(headline(R"("Node Type": "Index Scan", "Scan Direction": "Forward",
                        "Index Name": "Odd\"Name", "Relation Name": "t", "Alias": "t")"),
            "Index Scan using \"Odd\"\"Name\" on t (actual rows=1 loops=1)");
}

}  // namespace
}  // namespace tenantwall::policy
