// Unique keys shared by all tenants (DESIGN decision 2, writes): a primary key, unique
// constraint, unique index or exclusion constraint whose key columns leave out the tenant
// column is one key space for every tenant's rows. A tenant that chooses a value for one of its
// columns learns whether another tenant's row holds it: 23505, or ON CONFLICT DO NOTHING
// answering INSERT 0 0. So a write may give such a column no value but DEFAULT (the database
// assigns it, from a sequence or identity), and is refused (42501) otherwise:
// - INSERT column lists (a VALUES item that is DEFAULT is fine; a SELECT source is refused),
// - UPDATE and ON CONFLICT DO UPDATE SET lists, SET (a, b) = ... included,
// - ON CONFLICT whose arbiter is such a key (its columns, or ON CONSTRAINT its name),
// - COPY FROM naming such a column, or without a column list.
// The guarded columns of a key are its plain key columns and the columns its expressions and
// predicate (partial index) read, except the tenant column, which tenantwall forces anyway. The
// keys are read from the live database with the foreign keys (policy/column_facts.h); until then
// writes are refused (55000). A key that includes the tenant column, UNIQUE (tenant_id, id), is
// unique per tenant and needs no guard.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "pg_query_pb/pg_query.pb.h"
#include "policy/model.h"
#include "protocol/pg_error.h"

namespace tenantwall::policy::sql {

// An INSERT (after its column list is complete): its columns and its ON CONFLICT clause.
std::optional<protocol::PgError> checkInsertUniqueKeys(const pg_query::InsertStmt& insert,
                                                       const ProtectedTable& table,
                                                       const Policy& policy);

// A SET list (UPDATE, ON CONFLICT DO UPDATE).
std::optional<protocol::PgError> checkSetUniqueKeys(
    const google::protobuf::RepeatedPtrField<pg_query::Node>& targets, const ProtectedTable& table,
    const Policy& policy);

// COPY table (columns) FROM STDIN, columns empty for all the visible ones.
std::optional<protocol::PgError> checkCopyUniqueKeys(const ProtectedTable& table,
                                                     const std::vector<std::string>& columns,
                                                     const Policy& policy);

}  // namespace tenantwall::policy::sql
