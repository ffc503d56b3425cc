// k-anonymous aggregates over a shared dataset (issue 10). A statement that names a shared
// dataset is decided here and nowhere else: it must be one aggregate SELECT over that table
// alone, or it is refused (42501).
//
// Accepted shape:
//   SELECT <dimension | count(*) | count/sum/avg(<allowed column>)> [, ...]
//     FROM <dataset> [[AS] alias]
//    [WHERE <boolean combination of comparisons of a dimension with constants>]
//    [GROUP BY <dimensions or select-list positions of dimensions>]
//    [ORDER BY <selected items or positions>] [LIMIT n] [OFFSET n]
//
// Rewrite: the table becomes the fence
//   (SELECT <dimensions>, <measures>, <tenant column> AS tenantwall_tenant FROM <dataset>
//     WHERE <tenant column> IN (<opted-in tenants>)
//       AND (<dimensions>) IN (SELECT <dimensions> FROM <dataset>
//                               WHERE <tenant column> IN (<opted-in tenants>)
//                               GROUP BY <dimensions>
//                               HAVING count(DISTINCT <tenant column>) >= k
//                                  AND count(*) >= min_rows)
//    OFFSET 0) AS <alias>
// and the query gets HAVING count(DISTINCT tenantwall_tenant) >= k AND count(*) >= min_rows.
//
// Why the inner cell filter: rows only ever count when their finest cell (all dimensions) is
// itself k-anonymous. Every group any query can report is then a union of such cells, and the
// difference of two answers (coarse minus fine grouping, filtered minus unfiltered) is again a
// union of k-anonymous cells, so repeated narrowing cannot isolate a small group. Filters may
// name dimensions only, so they select whole cells; the tenant column, identifiers and raw
// measures cannot be selected, grouped or filtered on, so no filter singles out a tenant.
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

// nullopt when statement names no shared dataset (the ordinary rewriter decides it); otherwise
// the relations read, with statement rewritten in place, or the refusal.
std::optional<std::expected<std::vector<std::string>, protocol::PgError>> rewriteSharedAggregate(
    pg_query::Node& statement, const Principal& principal, const Policy& policy);

}  // namespace tenantwall::policy::sql
