// EXPLAIN ANALYZE made safe: the proxy asks PostgreSQL for the plan as FORMAT JSON and renders
// from it only what it knows cannot describe other tenants' rows. Pure: text in, rows out.
//
// Kept (an allowlist; every other key is dropped): the node's type, join type, strategy,
// partial mode, operation, set-operation command, parent relationship and subplan name,
// relation, alias, index, CTE and function names, scan direction, the conditions (Filter, Index
// Cond, Recheck Cond, Join Filter, Hash Cond, Merge Cond, One-Time Filter, TID Cond, Order By),
// Sort Key, Presorted Key, Group Key, and Actual Rows and Actual Loops. So "Rows Removed by
// ...", heap fetches and blocks, buffers, sort and hash memory, workers, triggers, timings and
// the like never reach the client. Actual figures are shown only for nodes whose output rows
// are rows the tenant may see (a scan's rows are counted after its filter, and the tenant
// filter is in it); a Bitmap Index Scan, BitmapAnd or BitmapOr counts index entries of every
// tenant, so those show none. A node type not in the allowlist, or any document not shaped
// like PostgreSQL 15's, is an error value: the session then answers an error, never the plan.
#pragma once

#include <expected>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/pg_error.h"

namespace tenantwall::policy {

// The format the client asked for (EXPLAIN's FORMAT option); PostgreSQL is always asked for JSON.
enum class PlanFormat { kText, kJson };

// The rows of the "QUERY PLAN" column the client gets: for kText one line per row, laid out as
// PostgreSQL's text format with COSTS off ("Seq Scan on t (actual rows=3 loops=1)", children
// under "->  ", detail lines such as "Filter: ..."); for kJson one row, the filtered document.
std::expected<std::vector<std::string>, protocol::PgError> renderPlan(std::string_view json,
                                                                      PlanFormat format);

}  // namespace tenantwall::policy
