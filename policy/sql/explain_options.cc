// readExplainOptions() and setAnalyzeOptions(): an allowlist of EXPLAIN options, read the way
// PostgreSQL's ExplainQuery reads them (defGetBoolean, defGetString).
#include "policy/sql/explain_options.h"

#include <algorithm>
#include <cctype>
#include <optional>
#include <string_view>

#include "policy/sql/walker.h"
#include "protocol/sqlstate.h"

namespace tenantwall::policy::sql {
namespace {

using protocol::PgError;
namespace sqlstate = protocol::sqlstate;

PgError explainRefused(std::string message, std::string hint) {
  return protocol::makeError(sqlstate::kInsufficientPrivilege, std::move(message), std::move(hint));
}

// An EXPLAIN option's boolean value as PostgreSQL's defGetBoolean reads it (no value is true);
// nullopt when the value is not a boolean.
std::optional<bool> booleanOption(const pg_query::DefElem& def) {
  if (!def.has_arg()) return true;
  if (def.arg().has_integer()) {
    const int value = def.arg().integer().ival();
    if (value == 0 || value == 1) return value == 1;
    return std::nullopt;
  }
  if (!def.arg().has_string()) return std::nullopt;
  std::string value = def.arg().string().sval();
  std::ranges::transform(value, value.begin(), [](unsigned char c) { return std::tolower(c); });
  if (value == "true" || value == "on") return true;
  if (value == "false" || value == "off") return false;
  return std::nullopt;
}

// The EXPLAIN options a tenant may give, without and with ANALYZE (any other is refused):
// allowed as PostgreSQL takes them, or only when false.
enum class OptionUse { kRefused, kAny, kFalseOnly };

struct ExplainOption {
  std::string_view name;
  OptionUse plain;       // without ANALYZE
  OptionUse analyze;     // with ANALYZE
  std::string_view why;  // with ANALYZE, when given true
};

constexpr std::string_view kAnalyzeOff =
    "; tenantwall runs EXPLAIN ANALYZE with COSTS, TIMING, SUMMARY, BUFFERS, WAL and SETTINGS "
    "off, so leave the option out";

constexpr ExplainOption kExplainOptions[] = {
    {"analyze", OptionUse::kAny, OptionUse::kAny, ""},
    {"verbose", OptionUse::kAny, OptionUse::kAny, ""},
    {"format", OptionUse::kAny, OptionUse::kAny, ""},
    {"costs", OptionUse::kFalseOnly, OptionUse::kFalseOnly, ""},
    {"summary", OptionUse::kAny, OptionUse::kFalseOnly,
     "planning and execution times depend on other tenants' rows"},
    {"timing", OptionUse::kRefused, OptionUse::kFalseOnly,
     "the time each plan node takes depends on other tenants' rows"},
    {"buffers", OptionUse::kAny, OptionUse::kFalseOnly,
     "buffer counts include the pages of other tenants' rows"},
    {"wal", OptionUse::kRefused, OptionUse::kFalseOnly,
     "WAL counts and full-page images depend on pages that hold other tenants' rows"},
    {"settings", OptionUse::kRefused, OptionUse::kFalseOnly,
     "the server's planner settings are not shown to tenants"},
};

}  // namespace

std::expected<ExplainOptions, PgError> readExplainOptions(const pg_query::ExplainStmt& plan) {
  ExplainOptions read;
  for (const auto& option : plan.options()) {
    if (!option.has_def_elem()) return std::unexpected(unsupportedNode(nodeKind(option)));
    const auto& def = option.def_elem();
    if (def.defname() == "analyze") {
      const auto on = booleanOption(def);
      if (!on) {
        return std::unexpected(protocol::makeError(
            sqlstate::kInvalidParameterValue, "EXPLAIN option analyze requires a Boolean value"));
      }
      read.analyze = *on;
    }
    if (def.defname() == "format") {
      if (!def.has_arg() || !def.arg().has_string()) {
        return std::unexpected(protocol::makeError(sqlstate::kInvalidParameterValue,
                                                   "EXPLAIN option format requires a value"));
      }
      read.format = def.arg().string().sval();
    }
  }
  for (const auto& option : plan.options()) {
    const auto& def = option.def_elem();
    const auto* rule = std::ranges::find(kExplainOptions, def.defname(), &ExplainOption::name);
    const OptionUse use = rule == std::end(kExplainOptions) ? OptionUse::kRefused
                          : read.analyze                    ? rule->analyze
                                                            : rule->plain;
    if (use == OptionUse::kRefused) {
      return std::unexpected(explainRefused(
          "EXPLAIN option " + def.defname() + " is not allowed by the tenantwall policy",
          read.analyze ? "allowed options are ANALYZE, VERBOSE, FORMAT TEXT or JSON, and COSTS, "
                         "TIMING, SUMMARY, BUFFERS, WAL and SETTINGS off"
                       : "allowed options are VERBOSE, FORMAT, SUMMARY, BUFFERS and COSTS off"));
    }
    if (use != OptionUse::kFalseOnly || booleanOption(def) == false) {
      read.costs_given = read.costs_given || def.defname() == "costs";
      continue;
    }
    if (def.defname() == "costs") {
      return std::unexpected(explainRefused(
          "EXPLAIN with costs is not allowed by the tenantwall policy",
          "cost and row estimates come from statistics over every tenant's rows; tenantwall "
          "shows plans with COSTS off"));
    }
    std::string name = def.defname();
    std::ranges::transform(name, name.begin(), [](unsigned char c) { return std::toupper(c); });
    return std::unexpected(
        explainRefused("EXPLAIN ANALYZE with " + name + " is not allowed by the tenantwall policy",
                       std::string(rule->why) + std::string(kAnalyzeOff)));
  }
  if (read.analyze && read.format != "text" && read.format != "json") {
    if (read.format == "yaml" || read.format == "xml") {
      return std::unexpected(protocol::makeError(
          sqlstate::kFeatureNotSupported,
          "EXPLAIN ANALYZE with FORMAT " + read.format + " is not supported by tenantwall",
          "use FORMAT TEXT or FORMAT JSON: tenantwall rewrites the plan PostgreSQL gives, and "
          "does so in those two formats"));
    }
    return std::unexpected(protocol::makeError(
        sqlstate::kInvalidParameterValue,
        "unrecognized value for EXPLAIN option \"format\": \"" + read.format + "\""));
  }
  return read;
}

void setAnalyzeOptions(pg_query::ExplainStmt& plan) {
  plan.clear_options();
  auto add = [&plan](std::string name, std::string_view value) {
    auto* def = plan.add_options()->mutable_def_elem();
    def->set_defname(std::move(name));
    if (!value.empty()) def->mutable_arg()->mutable_string()->set_sval(std::string(value));
    def->set_defaction(pg_query::DEFELEM_UNSPEC);
  };
  add("analyze", "");
  add("format", "json");
  for (const char* name : {"costs", "timing", "summary", "buffers"}) add(name, "false");
}

}  // namespace tenantwall::policy::sql
