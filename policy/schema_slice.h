// The schema slice (issue 10): exactly the tables, columns, types, foreign keys and comments a
// principal may see, for AI agents and BI tools (`tenantwall schema`, GET /schema). The live
// schema is read by the proxy (kLiveSchemaQuery); intersecting it with the policy is pure and
// lives here. The tables and columns are the ones the catalog fences show (protected tables'
// visible columns, every column of reference tables); shared datasets, which the catalogs do
// not show, are listed apart as aggregate-only for the tenants that opted in.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "policy/model.h"
#include "policy/principal.h"

namespace tenantwall::policy {

struct LiveColumn {
  std::string name;
  std::string type;  // format_type(): "integer", "numeric(10,2)", ...
  bool not_null = false;
  std::string comment;
};

struct LiveForeignKey {
  std::string name;
  std::vector<std::string> columns;
  std::string ref_schema;
  std::string ref_table;
  std::vector<std::string> ref_columns;
};

struct LiveTable {
  std::string schema;
  std::string name;
  std::string comment;
  std::vector<LiveColumn> columns;  // in attnum order
  std::vector<LiveForeignKey> foreign_keys;
};

// Every user table of the database, by "schema.name".
struct LiveSchema {
  std::map<std::string, LiveTable> tables;
};

// One row per fact, nine text columns: kind ('t' table, 'c' column, 'k' foreign key column),
// schema, table, then for 't': comment; for 'c': column, type, not null ('t'/'f'), comment,
// attnum; for 'k': constraint, ref schema, ref table, column, ref column, position.
extern const char* const kLiveSchemaQuery;

using LiveRow = std::vector<std::optional<std::string>>;
// Builds the LiveSchema from the rows of kLiveSchemaQuery (malformed rows are skipped).
LiveSchema liveSchemaFromRows(const std::vector<LiveRow>& rows);

enum class SliceTableKind { kProtected, kReference, kSharedAggregate };

struct SliceColumn {
  std::string name;
  std::string type;  // empty when the live schema was not read
  bool not_null = false;
  std::optional<MaskKind> mask;
  bool tenant_column = false;
  std::string comment;
  std::string usage;                    // shared datasets: "dimension" or "measure"
  std::vector<std::string> aggregates;  // measures: the allowed aggregates
};

struct SliceTable {
  std::string schema;
  std::string name;
  SliceTableKind kind = SliceTableKind::kProtected;
  std::string comment;
  std::string tenant_column;  // protected tables
  std::vector<SliceColumn> columns;
  std::vector<LiveForeignKey> foreign_keys;  // only those between visible columns
  int min_tenants = 0;                       // shared datasets
  int min_rows = 0;
};

struct SchemaSlice {
  Principal principal;
  bool live = false;  // types, keys and comments were read from the database
  std::vector<SliceTable> tables;
  std::uint64_t policy_version = 0;
  std::string policy_sha256;
};

// The slice of policy for principal; live may be null (offline: policy names only). With a
// live schema, tables and columns missing from the database are left out, as the catalogs do.
SchemaSlice sliceSchema(const Policy& policy, const Principal& principal, const LiveSchema* live);

std::string sliceJson(const SchemaSlice& slice);
// Compact text for an LLM prompt: one line per column, what is masked and what is aggregate-only.
std::string sliceText(const SchemaSlice& slice);

}  // namespace tenantwall::policy
