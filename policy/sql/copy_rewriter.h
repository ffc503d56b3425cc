// COPY under the policy. COPY <table> TO STDOUT becomes COPY (SELECT ... FROM <fenced table>)
// TO STDOUT, and COPY (query) TO STDOUT has its query rewritten, so what is exported is
// masked and tenant-scoped. COPY <protected table> FROM STDIN (text or CSV) is forwarded with
// an explicit column list that always holds the tenant column, and a plan telling the proxy
// how to check, or supply, the tenant of every row. Files and programs are refused.
#pragma once

#include <expected>
#include <optional>
#include <string>
#include <vector>

#include "pg_query_pb/pg_query.pb.h"
#include "policy/model.h"
#include "policy/principal.h"
#include "protocol/pg_error.h"

namespace tenantwall::policy::sql {

// How the rows of a COPY FROM STDIN are spelled; see Allowed::CopyIn in policy/engine.h.
struct CopyInPlan {
  std::string format;  // "text" or "csv"
  char delimiter = '\t';
  bool header = false;
  std::string null_string;
  char quote = '\0';
  char escape = '\0';
  std::vector<std::string> columns;  // the rewritten column list, tenant column included
  int tenant_column_index = 0;
  bool tenant_appended = false;  // the client's list left it out; the proxy appends it
};

struct CopyRewrite {
  std::vector<std::string> relations;
  std::optional<CopyInPlan> copy_in;  // set for COPY ... FROM STDIN
};

// Rewrites statement (a Node holding a CopyStmt) in place, or refuses it.
std::expected<CopyRewrite, protocol::PgError> rewriteCopy(pg_query::Node& statement,
                                                          const Principal& principal,
                                                          const Policy& policy);

}  // namespace tenantwall::policy::sql
