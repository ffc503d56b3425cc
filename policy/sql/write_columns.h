// The columns of a write's target as the rest of the write reads them. A write target cannot be
// fenced, so its real row is in scope in WHERE, SET, ON CONFLICT and RETURNING, hidden and
// unmasked columns included. This pass, run on the already rewritten write, makes those reads
// see the secured relation instead: a masked column reads as its mask expression, a hidden
// column or a whole-row reference is refused, and so is an unqualified name that might be a
// hidden column (it is not a visible column of the target, and no relation whose columns are
// known owns it) or might be a masked one reached past a relation whose columns are unknown.
#pragma once

#include <expected>
#include <string>

#include "pg_query_pb/pg_query.pb.h"
#include "policy/model.h"
#include "protocol/pg_error.h"

namespace tenantwall::policy::sql {

struct WriteTarget {
  const ProtectedTable* table = nullptr;
  std::string name;     // how the statement names the target: its alias, or the table name
  std::string schema;   // the table's schema when it has no alias (schema.table.column works)
  bool insert = false;  // ON CONFLICT DO UPDATE may also read `excluded`
};

// Secures the target's columns in write (an InsertStmt, UpdateStmt or DeleteStmt), in place.
// Fenced relations are recognised as subqueries over a protected table and are not entered.
std::expected<void, protocol::PgError> secureTargetColumns(google::protobuf::Message& write,
                                                           const WriteTarget& target,
                                                           const Policy& policy);

}  // namespace tenantwall::policy::sql
