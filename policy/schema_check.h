// The policy checked against the live schema (DESIGN decision 6): every protected and reference
// table it names must exist, and so must every column it lists and every tenant column. The
// proxy reads the columns (proxy/schema_reader.h) at start and on reload; the check is pure.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "policy/model.h"

namespace tenantwall::policy {

// "schema.table" -> its column names, as the database has them.
using SchemaColumns = std::map<std::string, std::set<std::string>>;

// The query that reads them: one row (schema, table, column) per column of every relation
// outside pg_catalog and information_schema, and (schema, table, NULL) for one without columns.
extern const char* const kSchemaColumnsQuery;

// SchemaColumns from the rows of kSchemaColumnsQuery (rows of another shape are skipped).
SchemaColumns schemaColumnsFromRows(
    const std::vector<std::vector<std::optional<std::string>>>& rows);

// One message per problem, "file:line:column: what", in policy order; empty when it matches.
std::vector<std::string> checkPolicySchema(const Policy& policy, const SchemaColumns& schema);

}  // namespace tenantwall::policy
