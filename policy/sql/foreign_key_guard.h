// Foreign keys between protected tables (DESIGN decision 2, writes): PostgreSQL checks a
// foreign key against every tenant's rows, so without a guard a tenant could point its row at
// another tenant's row, and tell from the 23503 error whether that row exists. A write that
// gives a value to a column of such a key gets the value checked inside the principal's fence
// first (the referenced table's tenant filter and the role's row rules):
//
//   (SELECT tenantwall_key.v FROM (SELECT CAST(<value> AS <column type>) AS v) AS tenantwall_key
//    WHERE CASE WHEN tenantwall_key.v IS NULL OR EXISTS (SELECT 1 FROM <referenced table>
//      WHERE <tenant filter> AND <row rules> AND <referenced column> = tenantwall_key.v)
//      THEN true ELSE CAST(pg_catalog.concat('<marker>') AS pg_catalog.bool) END)
//
// for a VALUES item, an UPDATE or ON CONFLICT DO UPDATE SET value; an INSERT ... SELECT gets
// the same condition on the source rows. A value outside the fence (another tenant's row, or no
// row at all) fails the cast with a marker naming the table and the constraint, which
// scrubServerError (policy/error_scrub.h) turns into exactly the error PostgreSQL gives for a
// missing row: 23503, `insert or update on table "t" violates foreign key constraint "c"`. The
// two cases cannot be told apart. The value is evaluated once, and NULL passes as PostgreSQL's
// MATCH SIMPLE lets it.
//
// Keys that need no guard: those whose column pairs include (tenant column, referenced tenant
// column), which PostgreSQL itself keeps within the tenant because the tenant column is forced;
// keys to reference tables (shared); a key made of the tenant column alone. Writing a key column
// that points at a table the policy does not show is refused (42501); so is writing a
// multi-column key between protected tables without the tenant pair (0A000), and COPY FROM into
// a table with a guarded key (0A000: its rows arrive after the decision).
#pragma once

#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pg_query_pb/pg_query.pb.h"
#include "policy/model.h"
#include "policy/principal.h"
#include "protocol/pg_error.h"

namespace tenantwall::policy::sql {

// Refused (55000) while the proxy has not read the database's foreign keys yet.
std::optional<protocol::PgError> checkForeignKeysKnown(const Policy& policy);

// Guards the foreign key columns an INSERT writes (after its column list is complete).
std::expected<void, protocol::PgError> guardInsertForeignKeys(pg_query::InsertStmt& insert,
                                                              const ProtectedTable& table,
                                                              const Policy& policy,
                                                              const Principal& principal);

// Guards the foreign key columns a SET list (UPDATE, ON CONFLICT DO UPDATE) writes.
std::expected<void, protocol::PgError> guardSetForeignKeys(
    google::protobuf::RepeatedPtrField<pg_query::Node>& targets, const ProtectedTable& table,
    const Policy& policy, const Principal& principal);

// COPY table (columns) FROM STDIN, columns empty for all: refused when a written column belongs
// to a key that needs a guard or is refused.
std::optional<protocol::PgError> checkCopyForeignKeys(const ProtectedTable& table,
                                                      const std::vector<std::string>& columns,
                                                      const Policy& policy);

// The text the guard casts to boolean when a key value is outside the fence, and its reading:
// {table, constraint} when message is PostgreSQL's error for that cast.
std::string foreignKeyMarker(std::string_view table, std::string_view constraint);
std::optional<std::pair<std::string, std::string>> readForeignKeyMarker(std::string_view message);

}  // namespace tenantwall::policy::sql
