// Shared datasets (issue 10): a table whose rows several tenants pool (for example vendor spend)
// and that the tenants who opted in may read only as k-anonymous aggregates. The model and its
// YAML section `shared_datasets:`; the query rewrite is policy/sql/shared_aggregate.h.
#pragma once

#include <yaml-cpp/yaml.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tenantwall::policy {

struct Policy;

// The aggregates a measure may be read through. min and max are deliberately absent: each is
// one row's value, that is one tenant's amount, however many tenants the group holds.
enum class AggregateKind { kCount, kSum, kAvg };

std::optional<AggregateKind> aggregateKindFromName(std::string_view name);
std::string_view aggregateKindName(AggregateKind kind);

// A column that may only be aggregated (an amount, a quantity).
struct SharedMeasure {
  std::string column;
  std::vector<AggregateKind> aggregates;
};

struct SharedDataset {
  std::string schema;
  std::string name;
  std::string tenant_column;
  std::vector<std::string> opt_in;      // tenants whose rows are pooled, and who may query
  std::vector<std::string> dimensions;  // may be grouped by, selected and filtered on
  std::vector<SharedMeasure> measures;  // may only appear inside an allowed aggregate
  int min_tenants = 3;                  // k: distinct tenants every reported group needs
  int min_rows = 3;                     // rows every reported group needs
  std::string comment;                  // shown in the schema slice

  bool optedIn(std::string_view tenant) const;
  bool isDimension(std::string_view column) const;
  const SharedMeasure* findMeasure(std::string_view column) const;
  std::string qualifiedName() const { return schema + "." + name; }
};

// Loads the `shared_datasets:` list into policy.shared_datasets; tenants must already be
// loaded. Throws PolicyLoadError ("source:line:column: what").
void loadSharedDatasets(const YAML::Node& list, const std::string& source, Policy& policy);

}  // namespace tenantwall::policy
