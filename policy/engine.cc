// decide(): parse a simple-query string, send each statement to the handler for its kind
// (SELECT is rewritten, transaction control passes, everything else is refused), deparse.
#include "policy/engine.h"

#include <algorithm>
#include <array>
#include <optional>
#include <utility>

#include "policy/sql/parser.h"
#include "policy/sql/rewriter.h"
#include "policy/sql/walker.h"
#include "protocol/sqlstate.h"

namespace tenantwall::policy {
namespace {

using protocol::PgError;
namespace sqlstate = protocol::sqlstate;

constexpr std::string_view kAllowedHint =
    "tenantwall currently forwards SELECT queries and transaction control (BEGIN, COMMIT, "
    "ROLLBACK, SAVEPOINT) only";

PgError statementRefused(std::string_view name, std::string_view why = {}) {
  std::string message = std::string(name) + " is not allowed by the tenantwall policy";
  if (!why.empty()) message.append(": ").append(why);
  return protocol::makeError(sqlstate::kInsufficientPrivilege, std::move(message),
                             std::string(kAllowedHint));
}

// Command names for refusals, keyed by node kind; an unlisted kind is named by its node kind.
// Refusal does not depend on this table: every kind but SELECT and transaction control is
// refused.
struct StatementName {
  std::string_view kind;
  std::string_view name;
  std::string_view why;
};

constexpr StatementName kStatementNames[] = {
    {"InsertStmt", "INSERT", "writes are not supported yet"},
    {"UpdateStmt", "UPDATE", "writes are not supported yet"},
    {"DeleteStmt", "DELETE", "writes are not supported yet"},
    {"MergeStmt", "MERGE", "writes are not supported yet"},
    {"CopyStmt", "COPY", {}},
    {"ExplainStmt", "EXPLAIN", {}},
    {"VariableSetStmt", "SET", "session settings are pinned"},
    {"VariableShowStmt", "SHOW", {}},
    {"DiscardStmt", "DISCARD", {}},
    {"PrepareStmt", "PREPARE", "use the extended query protocol"},
    {"ExecuteStmt", "EXECUTE", {}},
    {"DeallocateStmt", "DEALLOCATE", {}},
    {"DeclareCursorStmt", "DECLARE CURSOR", {}},
    {"FetchStmt", "FETCH", {}},
    {"ClosePortalStmt", "CLOSE", {}},
    {"ListenStmt", "LISTEN", {}},
    {"UnlistenStmt", "UNLISTEN", {}},
    {"NotifyStmt", "NOTIFY", {}},
    {"DoStmt", "DO", {}},
    {"CallStmt", "CALL", {}},
    {"VacuumStmt", "VACUUM", {}},
    {"LockStmt", "LOCK", {}},
    {"CheckPointStmt", "CHECKPOINT", {}},
    {"LoadStmt", "LOAD", {}},
    {"TruncateStmt", "TRUNCATE", {}},
    {"CreateStmt", "CREATE TABLE", "tenants cannot create objects"},
    {"CreateTableAsStmt", "CREATE TABLE AS", "tenants cannot create objects"},
    {"ViewStmt", "CREATE VIEW", "tenants cannot create objects"},
    {"IndexStmt", "CREATE INDEX", "tenants cannot create objects"},
    {"CreateFunctionStmt", "CREATE FUNCTION", "tenants cannot create objects"},
    {"CreateSchemaStmt", "CREATE SCHEMA", "tenants cannot create objects"},
    {"CreateSeqStmt", "CREATE SEQUENCE", "tenants cannot create objects"},
    {"CreateExtensionStmt", "CREATE EXTENSION", "tenants cannot create objects"},
    {"CreateRoleStmt", "CREATE ROLE", {}},
    {"AlterTableStmt", "ALTER TABLE", {}},
    {"AlterRoleStmt", "ALTER ROLE", {}},
    {"AlterSystemStmt", "ALTER SYSTEM", {}},
    {"RenameStmt", "ALTER ... RENAME", {}},
    {"DropStmt", "DROP", {}},
    {"GrantStmt", "GRANT/REVOKE", {}},
    {"GrantRoleStmt", "GRANT/REVOKE role", {}},
    {"CommentStmt", "COMMENT", {}},
    {"RefreshMatViewStmt", "REFRESH MATERIALIZED VIEW", {}},
    {"ReindexStmt", "REINDEX", {}},
    {"ClusterStmt", "CLUSTER", {}},
    {"CreatedbStmt", "CREATE DATABASE", {}},
    {"DropdbStmt", "DROP DATABASE", {}},
    {"RuleStmt", "CREATE RULE", {}},
    {"CreateTrigStmt", "CREATE TRIGGER", {}},
};

PgError refuseStatement(const pg_query::Node& statement) {
  const std::string_view kind = sql::nodeKind(statement);
  if (statement.has_variable_set_stmt() &&
      statement.variable_set_stmt().kind() != pg_query::VAR_SET_VALUE &&
      statement.variable_set_stmt().kind() != pg_query::VAR_SET_DEFAULT &&
      statement.variable_set_stmt().kind() != pg_query::VAR_SET_CURRENT &&
      statement.variable_set_stmt().kind() != pg_query::VAR_SET_MULTI) {
    return statementRefused("RESET", "session settings are pinned");
  }
  const auto* it = std::ranges::find(kStatementNames, kind, &StatementName::kind);
  if (it != std::end(kStatementNames)) return statementRefused(it->name, it->why);
  return statementRefused("statement " + std::string(kind));
}

// The command a transaction statement is, if tenants may run it. Two-phase commit is refused:
// a prepared transaction outlives the session and the proxy's view of it.
std::optional<std::string_view> transactionCommand(const pg_query::TransactionStmt& statement) {
  switch (statement.kind()) {
    case pg_query::TRANS_STMT_BEGIN:
      return "BEGIN";
    case pg_query::TRANS_STMT_START:
      return "START TRANSACTION";
    case pg_query::TRANS_STMT_COMMIT:
      return "COMMIT";
    case pg_query::TRANS_STMT_ROLLBACK:
      return "ROLLBACK";
    case pg_query::TRANS_STMT_SAVEPOINT:
      return "SAVEPOINT";
    case pg_query::TRANS_STMT_RELEASE:
      return "RELEASE";
    case pg_query::TRANS_STMT_ROLLBACK_TO:
      return "ROLLBACK TO SAVEPOINT";
    default:
      return std::nullopt;
  }
}

std::string_view twoPhaseName(const pg_query::TransactionStmt& statement) {
  switch (statement.kind()) {
    case pg_query::TRANS_STMT_PREPARE:
      return "PREPARE TRANSACTION";
    case pg_query::TRANS_STMT_COMMIT_PREPARED:
      return "COMMIT PREPARED";
    case pg_query::TRANS_STMT_ROLLBACK_PREPARED:
      return "ROLLBACK PREPARED";
    default:
      return "transaction statement";
  }
}

// Transaction options are DefElems with constant arguments (isolation level, read only,
// deferrable); anything else in them is not something BEGIN can carry.
bool plainTransactionOptions(const pg_query::TransactionStmt& statement) {
  return std::ranges::all_of(statement.options(), [](const pg_query::Node& option) {
    if (!option.has_def_elem()) return false;
    const auto& def = option.def_elem();
    if (def.defname() != "transaction_isolation" && def.defname() != "transaction_read_only" &&
        def.defname() != "transaction_deferrable")
      return false;
    return !def.has_arg() || def.arg().has_a_const();
  });
}

}  // namespace

Decision decide(const Principal& principal, std::string_view sql, const Policy& policy) {
  // A principal whose tenant the policy does not know (removed on reload, or never set) could
  // only ever be fenced to nothing; refuse so the misconfiguration is visible.
  if (principal.tenant.empty() || !policy.isTenant(principal.tenant)) {
    return std::unexpected(protocol::makeError(
        sqlstate::kInsufficientPrivilege,
        "tenant '" + principal.tenant + "' is not known to the tenantwall policy",
        "ask an administrator to check the user's tenant in the policy"));
  }

  auto tree = sql::parse(sql);
  if (!tree) return std::unexpected(tree.error());

  Allowed allowed;
  if (tree->stmts_size() == 0) return allowed;  // empty or comments only: EmptyQueryResponse

  for (auto& raw : *tree->mutable_stmts()) {
    if (!raw.has_stmt()) return std::unexpected(sql::unsupportedNode("RawStmt"));
    pg_query::Node& statement = *raw.mutable_stmt();
    if (statement.has_select_stmt()) {
      auto rewritten = sql::rewriteSelect(statement, principal, policy);
      if (!rewritten) return std::unexpected(rewritten.error());
      allowed.statement_kinds.emplace_back("SELECT");
      for (auto& relation : rewritten->relations) {
        if (std::ranges::find(allowed.relations, relation) == allowed.relations.end())
          allowed.relations.push_back(std::move(relation));
      }
    } else if (statement.has_transaction_stmt()) {
      const auto& transaction = statement.transaction_stmt();
      const auto command = transactionCommand(transaction);
      if (!command) return std::unexpected(statementRefused(twoPhaseName(transaction)));
      if (!plainTransactionOptions(transaction))
        return std::unexpected(statementRefused(*command, "unsupported transaction options"));
      allowed.statement_kinds.emplace_back(*command);
    } else {
      return std::unexpected(refuseStatement(statement));
    }
  }

  auto text = sql::deparseVerified(*tree);
  if (!text) return std::unexpected(text.error());
  allowed.sql = std::move(*text);
  return allowed;
}

}  // namespace tenantwall::policy
