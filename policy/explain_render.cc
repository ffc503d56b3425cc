// renderPlan(): PostgreSQL's FORMAT JSON plan -> the allowlisted plan, as text lines or JSON.
// The document is first filtered into a tree holding only allowlisted keys (checked for the
// shape PostgreSQL 15 gives them); the text is then drawn from that tree alone, the way
// PostgreSQL's explain.c draws its text format (ExplainNode, ExplainScanTarget).
#include "policy/explain_render.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "protocol/sqlstate.h"

namespace tenantwall::policy {
namespace {

using Json = nlohmann::ordered_json;  // keeps PostgreSQL's key order, which is the text order
using Failure = std::string;          // what was wrong with the document

// Plan node types PostgreSQL 15 reports ("Node Type"), and whether the node's actual rows and
// loops may be shown. Foreign and custom scans are absent: what they count is not known here.
struct NodeRule {
  std::string_view type;
  bool figures;
};

constexpr NodeRule kNodeTypes[] = {
    {"Result", true},
    {"ProjectSet", true},
    {"ModifyTable", true},
    {"Append", true},
    {"Merge Append", true},
    {"Recursive Union", true},
    {"BitmapAnd", false},  // index entries of every tenant
    {"BitmapOr", false},
    {"Nested Loop", true},
    {"Merge Join", true},
    {"Hash Join", true},
    {"Seq Scan", true},
    {"Sample Scan", true},
    {"Gather", true},
    {"Gather Merge", true},
    {"Index Scan", true},
    {"Index Only Scan", true},
    {"Bitmap Index Scan", false},
    {"Bitmap Heap Scan", true},
    {"Tid Scan", true},
    {"Tid Range Scan", true},
    {"Subquery Scan", true},
    {"Function Scan", true},
    {"Table Function Scan", true},
    {"Values Scan", true},
    {"CTE Scan", true},
    {"Named Tuplestore Scan", true},
    {"WorkTable Scan", true},
    {"Materialize", true},
    {"Memoize", true},
    {"Sort", true},
    {"Incremental Sort", true},
    {"Group", true},
    {"Aggregate", true},
    {"WindowAgg", true},
    {"Unique", true},
    {"SetOp", true},
    {"LockRows", true},
    {"Limit", true},
    {"Hash", true},
};

enum class Kind { kText, kBool, kCount, kTextList, kPlans };

// The keys a node keeps. `detail`: drawn in the text format as its own "Key: value" line.
struct KeyRule {
  std::string_view key;
  Kind kind;
  bool detail = false;
};

constexpr KeyRule kKeys[] = {
    {"Node Type", Kind::kText},
    {"Parent Relationship", Kind::kText},
    {"Subplan Name", Kind::kText},
    {"Parallel Aware", Kind::kBool},
    {"Async Capable", Kind::kBool},
    {"Join Type", Kind::kText},
    {"Strategy", Kind::kText},
    {"Partial Mode", Kind::kText},
    {"Operation", Kind::kText},
    {"Command", Kind::kText},
    {"Relation Name", Kind::kText},
    {"Function Name", Kind::kText},
    {"Table Function Name", Kind::kText},
    {"CTE Name", Kind::kText},
    {"Alias", Kind::kText},
    {"Index Name", Kind::kText},
    {"Scan Direction", Kind::kText},
    {"Actual Rows", Kind::kCount},
    {"Actual Loops", Kind::kCount},
    {"Index Cond", Kind::kText, true},
    {"Order By", Kind::kText, true},
    {"Recheck Cond", Kind::kText, true},
    {"TID Cond", Kind::kText, true},
    {"Join Filter", Kind::kText, true},
    {"Hash Cond", Kind::kText, true},
    {"Merge Cond", Kind::kText, true},
    {"One-Time Filter", Kind::kText, true},
    {"Filter", Kind::kText, true},
    {"Sort Key", Kind::kTextList, true},
    {"Presorted Key", Kind::kTextList, true},
    {"Group Key", Kind::kTextList, true},
    {"Plans", Kind::kPlans},
};

constexpr int kMaxDepth = 256;  // plans nest as deep as the statement; deeper is not a plan

bool shaped(const Json& value, Kind kind) {
  switch (kind) {
    case Kind::kText:
      return value.is_string();
    case Kind::kBool:
      return value.is_boolean();
    case Kind::kCount:
      return value.is_number() && value.get<double>() >= 0;
    case Kind::kTextList:
      return value.is_array() &&
             std::ranges::all_of(value, [](const Json& item) { return item.is_string(); });
    case Kind::kPlans:
      return value.is_array();
  }
  return false;
}

std::expected<Json, Failure> filterNode(const Json& node, int depth) {
  if (depth > kMaxDepth) return std::unexpected("the plan nests too deeply");
  if (!node.is_object()) return std::unexpected("a plan node is not an object");
  const auto type = node.find("Node Type");
  if (type == node.end() || !type->is_string())
    return std::unexpected("a plan node has no node type");
  const auto* rule = std::ranges::find(kNodeTypes, type->get<std::string>(), &NodeRule::type);
  if (rule == std::end(kNodeTypes))
    return std::unexpected("plan node type \"" + type->get<std::string>() + "\" is not known");
  Json out = Json::object();
  for (const auto& [key, value] : node.items()) {
    const auto* keep = std::ranges::find(kKeys, key, &KeyRule::key);
    if (keep == std::end(kKeys)) continue;  // not allowlisted: dropped
    if (!shaped(value, keep->kind))
      return std::unexpected("plan key \"" + key + "\" has an unexpected value");
    if (keep->kind == Kind::kCount && !rule->figures) continue;
    if (keep->kind != Kind::kPlans) {
      out[key] = value;
      continue;
    }
    Json children = Json::array();
    for (const auto& child : value) {
      auto filtered = filterNode(child, depth + 1);
      if (!filtered) return filtered;
      children.push_back(std::move(*filtered));
    }
    out[key] = std::move(children);
  }
  if (rule->figures && !(out.contains("Actual Rows") && out.contains("Actual Loops")))
    return std::unexpected("a " + type->get<std::string>() + " node has no actual figures");
  return out;
}

std::string text(const Json& node, std::string_view key) {
  const auto it = node.find(std::string(key));
  return it == node.end() ? std::string() : it->get<std::string>();
}

// PostgreSQL's quote_identifier, without its keyword list: quoted unless lower-case simple.
std::string identifier(const std::string& name) {
  const bool simple = !name.empty() &&
                      (std::islower(static_cast<unsigned char>(name[0])) || name[0] == '_') &&
                      std::ranges::all_of(name, [](char c) {
                        return std::islower(static_cast<unsigned char>(c)) ||
                               std::isdigit(static_cast<unsigned char>(c)) || c == '_';
                      });
  if (simple) return name;
  std::string out = "\"";
  for (char c : name) out.append(c == '"' ? "\"\"" : std::string(1, c));
  return out + "\"";
}

std::string count(const Json& value) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.0f", value.get<double>());
  return buffer;
}

// The node's first line after "->  ": its name as the text format spells it, the scan target,
// the actual figures.
std::string headline(const Json& node) {
  const std::string type = text(node, "Node Type");
  std::string name = type;
  if (type == "Aggregate") {
    const std::string strategy = text(node, "Strategy");
    name = strategy == "Sorted"   ? "GroupAggregate"
           : strategy == "Hashed" ? "HashAggregate"
           : strategy == "Mixed"  ? "MixedAggregate"
                                  : "Aggregate";
    const std::string mode = text(node, "Partial Mode");
    if (mode == "Partial" || mode == "Finalize") name = mode + " " + name;
  } else if (type == "SetOp") {
    name = text(node, "Strategy") == "Hashed" ? "HashSetOp" : "SetOp";
    if (node.contains("Command")) name += " " + text(node, "Command");
  } else if (type == "ModifyTable" && node.contains("Operation")) {
    name = text(node, "Operation");
  } else if (type == "Nested Loop" || type == "Hash Join" || type == "Merge Join") {
    const std::string join = text(node, "Join Type");
    if (type != "Nested Loop") name = type.substr(0, type.size() - 5);  // "Hash", "Merge"
    if (!join.empty() && join != "Inner") {
      name += " " + join + " Join";
    } else if (type != "Nested Loop") {
      name += " Join";
    }
  }
  std::string line;
  if (node.value("Parallel Aware", false)) line += "Parallel ";
  if (node.value("Async Capable", false)) line += "Async ";
  line += name;
  if (type == "Index Scan" || type == "Index Only Scan") {
    if (text(node, "Scan Direction") == "Backward") line += " Backward";
    if (node.contains("Index Name")) line += " using " + identifier(text(node, "Index Name"));
  } else if (type == "Bitmap Index Scan" && node.contains("Index Name")) {
    line += " on " + identifier(text(node, "Index Name"));
  }
  if (node.contains("Alias")) {
    std::string object;
    for (std::string_view key :
         {"Relation Name", "Function Name", "Table Function Name", "CTE Name"})
      if (node.contains(std::string(key))) object = text(node, key);
    const std::string alias = text(node, "Alias");
    line += " on";
    if (!object.empty()) line += " " + identifier(object);
    if (object.empty() || object != alias) line += " " + identifier(alias);
  }
  if (node.contains("Actual Loops")) {
    if (node["Actual Loops"].get<double>() <= 0) {
      line += " (never executed)";
    } else {
      line += " (actual rows=" + count(node["Actual Rows"]) +
              " loops=" + count(node["Actual Loops"]) + ")";
    }
  }
  return line;
}

void drawNode(const Json& node, int indent, std::vector<std::string>& lines) {
  auto spaces = [](int n) { return std::string(static_cast<std::size_t>(n) * 2, ' '); };
  if (node.contains("Subplan Name")) {
    lines.push_back(spaces(indent) + text(node, "Subplan Name"));
    ++indent;
  }
  std::string first;
  if (indent > 0) {
    first = spaces(indent) + "->  ";
    indent += 2;
  }
  lines.push_back(first + headline(node));
  ++indent;
  for (const auto& [key, value] : node.items()) {
    const auto* rule = std::ranges::find(kKeys, key, &KeyRule::key);
    if (rule == std::end(kKeys) || !rule->detail) continue;
    std::string shown;
    if (value.is_array()) {
      for (const auto& item : value) shown += (shown.empty() ? "" : ", ") + item.get<std::string>();
    } else {
      shown = value.get<std::string>();
    }
    lines.push_back(spaces(indent) + key + ": " + shown);
  }
  if (const auto children = node.find("Plans"); children != node.end())
    for (const auto& child : *children) drawNode(child, indent, lines);
}

std::expected<std::vector<std::string>, Failure> render(std::string_view document,
                                                        PlanFormat format) {
  const Json parsed = Json::parse(document.begin(), document.end(), nullptr, false);
  if (parsed.is_discarded()) return std::unexpected("the plan is not valid JSON");
  if (!parsed.is_array() || parsed.size() != 1 || !parsed[0].is_object() ||
      !parsed[0].contains("Plan"))
    return std::unexpected("the plan is not one EXPLAIN result");
  auto plan = filterNode(parsed[0]["Plan"], 0);
  if (!plan) return std::unexpected(plan.error());
  if (format == PlanFormat::kJson) {
    Json out = Json::array();
    out.push_back(Json{{"Plan", std::move(*plan)}});
    return std::vector<std::string>{out.dump(2, ' ', false, Json::error_handler_t::replace)};
  }
  std::vector<std::string> lines;
  drawNode(*plan, 0, lines);
  return lines;
}

}  // namespace

std::expected<std::vector<std::string>, protocol::PgError> renderPlan(std::string_view json,
                                                                      PlanFormat format) {
  auto rendered = render(json, format);
  if (rendered) return std::move(*rendered);
  return std::unexpected(protocol::makeError(
      protocol::sqlstate::kInternalError,
      "tenantwall cannot show this EXPLAIN ANALYZE plan: " + rendered.error(),
      "tenantwall shows only the parts of a plan it knows are safe, so nothing of it is shown; "
      "the statement itself did run. EXPLAIN without ANALYZE shows the plan"));
}

}  // namespace tenantwall::policy
