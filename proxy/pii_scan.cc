// The two queries of a PII scan: the catalog, then one sampling statement per batch of columns.
#include "proxy/pii_scan.h"

#include <charconv>
#include <optional>
#include <vector>

#include "policy/pii_detect.h"
#include "proxy/service_query.h"

namespace tenantwall::proxy {
namespace {

// Every column of every relation outside the system schemas with its type's name (a domain's
// base type), in table order; the protected tables are picked out in C++ so the text is fixed.
constexpr const char* kColumnsQuery =
    "SELECT n.nspname, c.relname, a.attname, b.typname"
    " FROM pg_catalog.pg_attribute a"
    " JOIN pg_catalog.pg_class c ON c.oid = a.attrelid"
    " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
    " JOIN pg_catalog.pg_type t ON t.oid = a.atttypid"
    " JOIN pg_catalog.pg_type b"
    " ON b.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END"
    " WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f')"
    " AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
    " ORDER BY n.nspname, c.relname, a.attnum";

// Longer values have no PII shape the classifier knows; cutting them bounds the answer.
constexpr int kValuePrefix = 256;
constexpr std::size_t kColumnsPerStatement = 100;
// A sampling statement on a huge, mostly-null column must not hold a reload for long.
constexpr const char* kStatementTimeout = "SET statement_timeout = 5000";

struct LiveColumn {
  std::string schema, table, column, type;
};

std::string quoteIdent(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

// "SELECT i, v FROM (SELECT left(col::text, 256) ... LIMIT n) UNION ALL ..." for each column
// to sample; each row says by i which column its value came from.
std::string samplingSql(const std::vector<LiveColumn>& columns,
                        const std::vector<std::size_t>& sampled, std::size_t sample_rows) {
  std::string sql = kStatementTimeout;
  for (std::size_t i = 0; i < sampled.size(); ++i) {
    const LiveColumn& c = columns[sampled[i]];
    const std::string column = "x." + quoteIdent(c.column);
    sql += i % kColumnsPerStatement == 0 ? "; " : " UNION ALL ";
    sql += "SELECT " + std::to_string(i) + ", v FROM (SELECT pg_catalog.left(" + column +
           "::pg_catalog.text, " + std::to_string(kValuePrefix) + ") AS v FROM " +
           quoteIdent(c.schema) + "." + quoteIdent(c.table) + " AS x WHERE " + column +
           " IS NOT NULL LIMIT " + std::to_string(sample_rows) + ") AS s";
  }
  return sql;
}

}  // namespace

std::expected<policy::PiiScan, std::string> scanLiveDatabase(const BackendConfig& backend,
                                                             const policy::Policy& policy,
                                                             std::size_t sample_rows) {
  auto rows = runServiceQueryNow(backend, "tenantwall pii scan", kColumnsQuery);
  if (!rows) return std::unexpected("cannot read the columns: " + rows.error());
  std::vector<LiveColumn> columns;
  for (const auto& row : *rows) {
    if (row.size() != 4 || !row[0] || !row[1] || !row[2] || !row[3]) continue;
    if (!policy.findProtected(*row[0], *row[1])) continue;
    columns.push_back(LiveColumn{*row[0], *row[1], *row[2], *row[3]});
  }
  std::vector<std::size_t> sampled;  // indexes into columns
  for (std::size_t i = 0; i < columns.size(); ++i)
    if (policy::piiSampledType(columns[i].type)) sampled.push_back(i);
  std::vector<std::vector<std::optional<std::string>>> values(columns.size());
  if (!sampled.empty()) {
    auto answer = runServiceQueryNow(backend, "tenantwall pii scan",
                                     samplingSql(columns, sampled, sample_rows));
    if (!answer) return std::unexpected("cannot sample values: " + answer.error());
    for (auto& row : *answer) {
      if (row.size() != 2 || !row[0]) continue;
      std::size_t i = 0;
      const std::string& index = *row[0];
      const auto [end, error] = std::from_chars(index.data(), index.data() + index.size(), i);
      if (error != std::errc() || end != index.data() + index.size() || i >= sampled.size())
        continue;
      values[sampled[i]].push_back(std::move(row[1]));
    }
  }
  policy::PiiScan scan;
  scan.columns_scanned = columns.size();
  for (std::size_t i = 0; i < columns.size(); ++i) {
    const LiveColumn& c = columns[i];
    if (auto found = policy::classifyColumn(c.table, c.column, c.type, values[i]))
      scan.findings.push_back(policy::PiiFinding{c.schema, c.table, c.column, *found});
  }
  return scan;
}

policy::PiiScan scanForPolicyLoad(const BackendConfig& backend, const policy::Policy& policy) {
  auto scan = scanLiveDatabase(backend, policy);
  if (scan) return std::move(*scan);
  policy::PiiScan names = policy::scanPolicyNames(policy);
  names.warning = scan.error();
  return names;
}

}  // namespace tenantwall::proxy
