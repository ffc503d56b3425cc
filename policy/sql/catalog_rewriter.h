// Catalog reads for BI tools (DESIGN 5b): an allowlisted set of pg_catalog and
// information_schema relations, each replaced by a fenced subquery over the real catalog that
// keeps only the rows describing what the policy lets the principal see (its protected and
// reference tables, their visible columns, indexes and constraints over visible columns only,
// the schemas involved). Statistics, activity, roles and settings stay refused. Functions that
// print a catalog object by its oid (pg_get_indexdef, col_description, format_type, ...) are
// wrapped so they answer NULL for an object outside those rows.
#pragma once

#include <expected>
#include <optional>
#include <string>
#include <string_view>

#include "pg_query_pb/pg_query.pb.h"
#include "policy/model.h"
#include "protocol/pg_error.h"

namespace tenantwall::policy::sql {

struct CatalogRelation;

// The catalog relation schema.name denotes (schema "" for an unqualified name, which
// PostgreSQL resolves in pg_catalog first), or nullptr when it is not available to tenants.
const CatalogRelation* findCatalogRelation(std::string_view schema, std::string_view name);

// "schema.name" of a catalog relation, for Allowed::relations.
std::string catalogName(const CatalogRelation& catalog);

// Whether schema.name is a catalog relation at all (to word the refusal of the others).
bool isCatalogSchema(std::string_view schema);

// The fenced subquery standing for relation (a RangeVar naming a catalog relation), aliased as
// the user wrote it or by the relation's name. Open catalogs (pg_am, pg_collation) come back
// as the RangeVar itself, schema-qualified.
std::expected<pg_query::Node, protocol::PgError> catalogFence(const CatalogRelation& catalog,
                                                              const pg_query::RangeVar& relation,
                                                              const Policy& policy);

// For a call of a catalog-printing function that must be guarded: the expression that calls
// it only for objects the principal may see (CASE WHEN <argument> IN (<visible objects>)
// THEN <call> END); nullopt for any other function. call is the FuncCall node as written.
std::optional<std::expected<pg_query::Node, protocol::PgError>> guardCatalogCall(
    const pg_query::Node& call, const Policy& policy);

// Whether call is one guardCatalogCall wraps (its output column keeps the function's name).
bool isGuardedCatalogCall(const pg_query::FuncCall& call);

// A string literal cast to regclass names a relation: one the catalogs show (kept), a number
// (an oid: guarded like any other value), or anything else, which is answered exactly as for a
// relation that does not exist, so hidden relations cannot be told from missing ones.
enum class RegclassLiteral { kVisible, kNumeric, kHidden };
RegclassLiteral classifyRegclassLiteral(std::string_view text, const Policy& policy,
                                        std::string_view default_schema);

// value::regclass for a value that is not a visible literal: CASE WHEN value::oid is a relation
// the catalogs show (or a system catalog) THEN value::oid::regclass END.
std::expected<pg_query::Node, protocol::PgError> guardRegclassCast(const pg_query::Node& cast,
                                                                   const Policy& policy);

}  // namespace tenantwall::policy::sql
