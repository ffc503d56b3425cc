// Shared datasets: look-ups and the loader of the `shared_datasets:` policy section.
#include "policy/shared_dataset.h"

#include <algorithm>
#include <array>
#include <set>
#include <utility>

#include "policy/loader.h"
#include "policy/model.h"

namespace tenantwall::policy {
namespace {

constexpr std::array<std::pair<std::string_view, AggregateKind>, 3> kAggregateNames{{
    {"count", AggregateKind::kCount},
    {"sum", AggregateKind::kSum},
    {"avg", AggregateKind::kAvg},
}};

[[noreturn]] void fail(const std::string& source, const YAML::Node& at, const std::string& what) {
  const YAML::Mark mark = at.Mark();
  throw PolicyLoadError(source + ":" + std::to_string(mark.line + 1) + ":" +
                        std::to_string(mark.column + 1) + ": " + what);
}

std::string scalar(const std::string& source, const YAML::Node& node, const std::string& what) {
  if (!node || !node.IsScalar() || node.Scalar().empty())
    fail(source, node ? node : YAML::Node(), what + " must be a non-empty string");
  return node.Scalar();
}

std::vector<std::string> names(const std::string& source, const YAML::Node& node,
                               const std::string& what) {
  if (!node || !node.IsSequence() || node.size() == 0)
    fail(source, node ? node : YAML::Node(), what + " must be a non-empty list");
  std::vector<std::string> out;
  for (const auto& item : node) {
    std::string name = scalar(source, item, what + " entry");
    if (std::ranges::find(out, name) != out.end()) fail(source, item, "duplicate '" + name + "'");
    out.push_back(std::move(name));
  }
  return out;
}

int bound(const std::string& source, const YAML::Node& node, const std::string& what, int min) {
  const auto value = node.as<long long>();
  if (value < min || value > 1000000)
    fail(source, node, what + " must be between " + std::to_string(min) + " and 1000000");
  return static_cast<int>(value);
}

void expectKeys(const std::string& source, const YAML::Node& map,
                std::initializer_list<std::string_view> allowed, const std::string& what) {
  if (!map.IsMap()) fail(source, map, what + " must be a mapping");
  for (const auto& kv : map) {
    const auto key = kv.first.as<std::string>();
    if (std::ranges::find(allowed, key) == allowed.end()) {
      std::string list;
      for (auto a : allowed) list.append(list.empty() ? "" : ", ").append(a);
      fail(source, kv.first,
           "unknown key '" + key + "' in " + what + " (expected one of: " + list + ")");
    }
  }
}

SharedMeasure loadMeasure(const std::string& source, const YAML::Node& item,
                          const std::string& where) {
  expectKeys(source, item, {"column", "aggregates"}, "a measure of " + where);
  SharedMeasure measure{scalar(source, item["column"], where + ": measure 'column'"), {}};
  for (const auto& name : names(source, item["aggregates"], where + ": measure 'aggregates'")) {
    const auto kind = aggregateKindFromName(name);
    if (!kind) {
      fail(source, item["aggregates"],
           where + ": aggregate '" + name + "' is not allowed (count, sum, avg" +
               (name == "min" || name == "max"
                    ? "; min and max are one row's value, so they would reveal a single "
                      "tenant's amount)"
                    : ")"));
    }
    measure.aggregates.push_back(*kind);
  }
  return measure;
}

SharedDataset loadOne(const std::string& source, const YAML::Node& item, const Policy& policy) {
  expectKeys(source, item,
             {"table", "tenant_column", "opt_in", "dimensions", "measures", "min_tenants",
              "min_rows", "comment"},
             "a shared dataset");
  SharedDataset set;
  const std::string table = scalar(source, item["table"], "shared dataset 'table'");
  const auto dot = table.find('.');
  if (dot == std::string::npos || dot == 0 || dot + 1 == table.size() ||
      table.find('.', dot + 1) != std::string::npos)
    fail(source, item["table"], "table '" + table + "' must be schema-qualified, like public.x");
  set.schema = table.substr(0, dot);
  set.name = table.substr(dot + 1);
  const std::string where = "shared dataset " + table;
  if (policy.protected_tables.contains(table) || policy.reference_tables.contains(table))
    fail(source, item["table"], table + " is already a protected or reference table");
  set.tenant_column = scalar(source, item["tenant_column"], where + ": 'tenant_column'");
  set.opt_in = names(source, item["opt_in"], where + ": 'opt_in'");
  for (const auto& tenant : set.opt_in) {
    if (!policy.isTenant(tenant))
      fail(source, item["opt_in"], where + ": opt_in names unknown tenant '" + tenant + "'");
  }
  set.dimensions = names(source, item["dimensions"], where + ": 'dimensions'");
  if (!item["measures"] || !item["measures"].IsSequence())
    fail(source, item["measures"] ? item["measures"] : item, where + " needs a 'measures' list");
  std::set<std::string> seen(set.dimensions.begin(), set.dimensions.end());
  for (const auto& m : item["measures"]) {
    SharedMeasure measure = loadMeasure(source, m, where);
    if (!seen.insert(measure.column).second)
      fail(source, m, where + ": column '" + measure.column + "' is listed twice");
    set.measures.push_back(std::move(measure));
  }
  if (seen.contains(set.tenant_column))
    fail(source, item["tenant_column"],
         where + ": the tenant column cannot be a dimension or a measure");
  if (item["min_tenants"])
    set.min_tenants = bound(source, item["min_tenants"], where + ": min_tenants", 2);
  if (item["min_rows"]) set.min_rows = bound(source, item["min_rows"], where + ": min_rows", 1);
  if (set.min_rows < set.min_tenants) set.min_rows = set.min_tenants;
  if (item["comment"]) set.comment = scalar(source, item["comment"], where + ": 'comment'");
  return set;
}

}  // namespace

std::optional<AggregateKind> aggregateKindFromName(std::string_view name) {
  for (const auto& [text, kind] : kAggregateNames)
    if (text == name) return kind;
  return std::nullopt;
}

std::string_view aggregateKindName(AggregateKind kind) {
  for (const auto& [text, k] : kAggregateNames)
    if (k == kind) return text;
  return "unknown";
}

bool SharedDataset::optedIn(std::string_view tenant) const {
  return std::ranges::find(opt_in, tenant) != opt_in.end();
}

bool SharedDataset::isDimension(std::string_view column) const {
  return std::ranges::find(dimensions, column) != dimensions.end();
}

const SharedMeasure* SharedDataset::findMeasure(std::string_view column) const {
  for (const auto& measure : measures)
    if (measure.column == column) return &measure;
  return nullptr;
}

const SharedDataset* Policy::findShared(std::string_view schema, std::string_view name) const {
  auto it = shared_datasets.find(std::string(schema) + "." + std::string(name));
  return it == shared_datasets.end() ? nullptr : &it->second;
}

void loadSharedDatasets(const YAML::Node& list, const std::string& source, Policy& policy) {
  if (!list.IsSequence()) fail(source, list, "shared_datasets must be a list");
  for (const auto& item : list) {
    SharedDataset set = loadOne(source, item, policy);
    const std::string key = set.qualifiedName();
    if (!policy.shared_datasets.emplace(key, std::move(set)).second)
      fail(source, item, "duplicate shared dataset " + key);
  }
}

}  // namespace tenantwall::policy
