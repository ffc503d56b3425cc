// Command names and reasons for refused statement kinds, keyed by node kind. Refusal does not
// depend on this table (every kind without a handler is refused); it only makes the message
// say what was refused and why.
#include "policy/sql/statement_refusals.h"

#include <algorithm>
#include <string>
#include <string_view>

#include "policy/sql/walker.h"
#include "protocol/sqlstate.h"

namespace tenantwall::policy::sql {
namespace {

namespace sqlstate = protocol::sqlstate;

enum class Why { kCreates, kChanges, kAdmin, kRoles, kCode, kNotify, kOther };

struct StatementName {
  std::string_view kind;
  std::string_view name;
  Why why;
};

constexpr StatementName kStatementNames[] = {
    {"CreateStmt", "CREATE TABLE", Why::kCreates},
    {"CreateTableAsStmt", "CREATE TABLE AS", Why::kCreates},
    {"ViewStmt", "CREATE VIEW", Why::kCreates},
    {"IndexStmt", "CREATE INDEX", Why::kCreates},
    {"CreateFunctionStmt", "CREATE FUNCTION", Why::kCreates},
    {"CreateSchemaStmt", "CREATE SCHEMA", Why::kCreates},
    {"CreateSeqStmt", "CREATE SEQUENCE", Why::kCreates},
    {"CreateExtensionStmt", "CREATE EXTENSION", Why::kCreates},
    {"DefineStmt", "CREATE OPERATOR/AGGREGATE/TYPE", Why::kCreates},
    {"CompositeTypeStmt", "CREATE TYPE", Why::kCreates},
    {"CreateEnumStmt", "CREATE TYPE", Why::kCreates},
    {"CreateRangeStmt", "CREATE TYPE", Why::kCreates},
    {"CreateDomainStmt", "CREATE DOMAIN", Why::kCreates},
    {"CreateCastStmt", "CREATE CAST", Why::kCreates},
    {"CreateConversionStmt", "CREATE CONVERSION", Why::kCreates},
    {"CreateOpClassStmt", "CREATE OPERATOR CLASS", Why::kCreates},
    {"CreateOpFamilyStmt", "CREATE OPERATOR FAMILY", Why::kCreates},
    {"CreateTrigStmt", "CREATE TRIGGER", Why::kCreates},
    {"CreateEventTrigStmt", "CREATE EVENT TRIGGER", Why::kCreates},
    {"CreatePLangStmt", "CREATE LANGUAGE", Why::kCreates},
    {"CreatePolicyStmt", "CREATE POLICY", Why::kCreates},
    {"CreateStatsStmt", "CREATE STATISTICS", Why::kCreates},
    {"CreateTableSpaceStmt", "CREATE TABLESPACE", Why::kCreates},
    {"CreateForeignTableStmt", "CREATE FOREIGN TABLE", Why::kCreates},
    {"CreateFdwStmt", "CREATE FOREIGN DATA WRAPPER", Why::kCreates},
    {"CreateForeignServerStmt", "CREATE SERVER", Why::kCreates},
    {"CreateUserMappingStmt", "CREATE USER MAPPING", Why::kCreates},
    {"ImportForeignSchemaStmt", "IMPORT FOREIGN SCHEMA", Why::kCreates},
    {"CreatePublicationStmt", "CREATE PUBLICATION", Why::kCreates},
    {"CreateSubscriptionStmt", "CREATE SUBSCRIPTION", Why::kCreates},
    {"CreateTransformStmt", "CREATE TRANSFORM", Why::kCreates},
    {"CreateAmStmt", "CREATE ACCESS METHOD", Why::kCreates},
    {"RuleStmt", "CREATE RULE", Why::kCreates},
    {"CreatedbStmt", "CREATE DATABASE", Why::kCreates},
    {"AlterTableStmt", "ALTER TABLE", Why::kChanges},
    {"AlterDomainStmt", "ALTER DOMAIN", Why::kChanges},
    {"AlterSeqStmt", "ALTER SEQUENCE", Why::kChanges},
    {"AlterFunctionStmt", "ALTER FUNCTION", Why::kChanges},
    {"AlterEnumStmt", "ALTER TYPE", Why::kChanges},
    {"AlterTypeStmt", "ALTER TYPE", Why::kChanges},
    {"AlterObjectSchemaStmt", "ALTER ... SET SCHEMA", Why::kChanges},
    {"AlterOwnerStmt", "ALTER ... OWNER TO", Why::kChanges},
    {"AlterExtensionStmt", "ALTER EXTENSION", Why::kChanges},
    {"AlterDatabaseStmt", "ALTER DATABASE", Why::kChanges},
    {"AlterDatabaseSetStmt", "ALTER DATABASE", Why::kChanges},
    {"RenameStmt", "ALTER ... RENAME", Why::kChanges},
    {"DropStmt", "DROP", Why::kChanges},
    {"DropdbStmt", "DROP DATABASE", Why::kChanges},
    {"TruncateStmt", "TRUNCATE", Why::kChanges},
    {"CommentStmt", "COMMENT", Why::kChanges},
    {"SecLabelStmt", "SECURITY LABEL", Why::kChanges},
    {"RefreshMatViewStmt", "REFRESH MATERIALIZED VIEW", Why::kChanges},
    {"VacuumStmt", "VACUUM/ANALYZE", Why::kAdmin},
    {"ClusterStmt", "CLUSTER", Why::kAdmin},
    {"ReindexStmt", "REINDEX", Why::kAdmin},
    {"CheckPointStmt", "CHECKPOINT", Why::kAdmin},
    {"LoadStmt", "LOAD", Why::kAdmin},
    {"LockStmt", "LOCK", Why::kAdmin},
    {"AlterSystemStmt", "ALTER SYSTEM", Why::kAdmin},
    {"CreateRoleStmt", "CREATE ROLE", Why::kRoles},
    {"AlterRoleStmt", "ALTER ROLE", Why::kRoles},
    {"AlterRoleSetStmt", "ALTER ROLE", Why::kRoles},
    {"DropRoleStmt", "DROP ROLE", Why::kRoles},
    {"GrantStmt", "GRANT/REVOKE", Why::kRoles},
    {"GrantRoleStmt", "GRANT/REVOKE role", Why::kRoles},
    {"AlterDefaultPrivilegesStmt", "ALTER DEFAULT PRIVILEGES", Why::kRoles},
    {"ReassignOwnedStmt", "REASSIGN OWNED", Why::kRoles},
    {"DropOwnedStmt", "DROP OWNED", Why::kRoles},
    {"DoStmt", "DO", Why::kCode},
    {"CallStmt", "CALL", Why::kCode},
    {"ListenStmt", "LISTEN", Why::kNotify},
    {"UnlistenStmt", "UNLISTEN", Why::kNotify},
    {"NotifyStmt", "NOTIFY", Why::kNotify},
};

std::string_view reason(Why why) {
  switch (why) {
    case Why::kCreates:
      return "creating objects is not allowed to tenants";
    case Why::kChanges:
      return "changing or removing objects is not allowed to tenants";
    case Why::kAdmin:
      return "maintenance and locking statements are for administrators";
    case Why::kRoles:
      return "roles and privileges are managed by the administrator";
    case Why::kCode:
      return "it runs server-side code that tenantwall cannot analyse";
    case Why::kNotify:
      return "notification channels are shared by every tenant of the database";
    case Why::kOther:
      break;
  }
  return {};
}

constexpr std::string_view kAllowedHint =
    "tenants can run queries, INSERT/UPDATE/DELETE on their tables, COPY to STDOUT and from "
    "STDIN, EXPLAIN, cursors, prepared statements, transaction control and harmless SET/SHOW";

}  // namespace

protocol::PgError refuseStatement(const pg_query::Node& statement) {
  const std::string_view kind = nodeKind(statement);
  if (statement.has_merge_stmt()) {
    return protocol::makeError(sqlstate::kFeatureNotSupported,
                               "MERGE is not supported by tenantwall",
                               "use INSERT ... ON CONFLICT, UPDATE or DELETE instead");
  }
  if (statement.has_create_table_as_stmt() &&
      statement.create_table_as_stmt().objtype() == pg_query::OBJECT_MATVIEW) {
    return protocol::makeError(
        sqlstate::kInsufficientPrivilege,
        "CREATE MATERIALIZED VIEW is not allowed by the tenantwall policy: " +
            std::string(reason(Why::kCreates)),
        std::string(kAllowedHint));
  }
  const auto* it = std::ranges::find(kStatementNames, kind, &StatementName::kind);
  if (it == std::end(kStatementNames)) {
    return protocol::makeError(
        sqlstate::kInsufficientPrivilege,
        "statement " + std::string(kind) + " is not allowed by the tenantwall policy",
        std::string(kAllowedHint));
  }
  return protocol::makeError(sqlstate::kInsufficientPrivilege,
                             std::string(it->name) + " is not allowed by the tenantwall policy: " +
                                 std::string(reason(it->why)),
                             std::string(kAllowedHint));
}

}  // namespace tenantwall::policy::sql
