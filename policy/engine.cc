// decide(): parse a simple-query string, send each statement to the handler for its kind (a
// table keyed by node kind: queries and writes are rewritten, session statements checked,
// cursors, PREPARE and EXPLAIN rewrite the statement they carry, COPY is rewritten to a
// query), refuse every other kind, deparse.
#include "policy/engine.h"

#include <algorithm>
#include <initializer_list>
#include <utility>

#include "policy/roles.h"
#include "policy/sql/copy_rewriter.h"
#include "policy/sql/explain_options.h"
#include "policy/sql/parser.h"
#include "policy/sql/rewriter.h"
#include "policy/sql/session_statements.h"
#include "policy/sql/shared_aggregate.h"
#include "policy/sql/statement_refusals.h"
#include "policy/sql/walker.h"
#include "protocol/sqlstate.h"

namespace tenantwall::policy {
namespace {

using protocol::PgError;
namespace sqlstate = protocol::sqlstate;

struct Context {
  const Principal& principal;
  const Policy& policy;
  Allowed& allowed;
  int statements;                         // in the whole string
  bool tenant_parameter_written = false;  // a parameter was written to a tenant column
  bool shared_aggregate = false;          // a statement was decided as a shared-dataset aggregate
};

// Returns the command name reported in Allowed::statement_kinds, or the refusal.
using Handler = std::expected<std::string, PgError> (*)(pg_query::Node&, Context&);

void noteRelations(Context& context, std::vector<std::string> relations) {
  for (auto& relation : relations) {
    if (std::ranges::find(context.allowed.relations, relation) == context.allowed.relations.end())
      context.allowed.relations.push_back(std::move(relation));
  }
}

std::expected<std::string, PgError> query(pg_query::Node& statement, Context& context) {
  // Writes are checked where the rewriter meets them, data-modifying CTEs included.
  if (statement.has_select_stmt()) {
    if (auto refusal =
            checkStatementKind(context.policy, context.principal, StatementKind::kSelect))
      return std::unexpected(std::move(*refusal));
  }
  // A statement naming a shared dataset is decided by the k-anonymous aggregate rules alone.
  if (auto shared = sql::rewriteSharedAggregate(statement, context.principal, context.policy)) {
    if (!*shared) return std::unexpected(shared->error());
    context.shared_aggregate = true;
    noteRelations(context, std::move(**shared));
    return "SELECT";
  }
  auto rewritten = sql::rewriteStatement(statement, context.principal, context.policy);
  if (!rewritten) return std::unexpected(rewritten.error());
  noteRelations(context, std::move(rewritten->relations));
  context.tenant_parameter_written |= rewritten->tenant_parameter_written;
  for (int parameter : rewritten->tenant_parameters) {
    if (std::ranges::find(context.allowed.tenant_parameters, parameter) ==
        context.allowed.tenant_parameters.end())
      context.allowed.tenant_parameters.push_back(parameter);
  }
  if (statement.has_insert_stmt()) return "INSERT";
  if (statement.has_update_stmt()) return "UPDATE";
  if (statement.has_delete_stmt()) return "DELETE";
  return "SELECT";
}

std::expected<std::string, PgError> session(pg_query::Node& statement, Context& context) {
  if (statement.has_variable_set_stmt() && !statement.variable_set_stmt().is_local())
    context.allowed.session_state = true;
  return sql::checkSessionStatement(statement);
}

std::expected<std::string, PgError> dispatchNested(pg_query::Node& inner, Context& context,
                                                   std::initializer_list<std::string_view> kinds,
                                                   std::string_view where);

// DECLARE name [BINARY] [SCROLL] CURSOR [WITH HOLD] FOR <query>: the query is rewritten.
std::expected<std::string, PgError> declareCursor(pg_query::Node& statement, Context& context) {
  auto& declare = *statement.mutable_declare_cursor_stmt();
  if (!declare.has_query()) return std::unexpected(sql::unsupportedNode("DeclareCursorStmt"));
  auto inner = dispatchNested(*declare.mutable_query(), context, {"SelectStmt"}, "DECLARE CURSOR");
  if (!inner) return std::unexpected(inner.error());
  constexpr int kCursorOptHold = 0x0020;  // CURSOR_OPT_HOLD, PostgreSQL's parsenodes.h
  if (declare.options() & kCursorOptHold) context.allowed.session_state = true;
  return "DECLARE CURSOR";
}

// FETCH, MOVE and CLOSE name only cursors this session declared, through this proxy.
std::expected<std::string, PgError> portal(pg_query::Node& statement, Context&) {
  if (statement.has_fetch_stmt()) return statement.fetch_stmt().ismove() ? "MOVE" : "FETCH";
  return "CLOSE";
}

// PREPARE name [(types)] AS <statement>: the body is rewritten as if it ran directly.
std::expected<std::string, PgError> prepare(pg_query::Node& statement, Context& context) {
  auto& prepared = *statement.mutable_prepare_stmt();
  for (auto& type : *prepared.mutable_argtypes()) {
    if (!type.has_type_name()) return std::unexpected(sql::unsupportedNode(sql::nodeKind(type)));
    if (auto s = sql::qualifyType(*type.mutable_type_name()); !s) return std::unexpected(s.error());
  }
  if (!prepared.has_query()) return std::unexpected(sql::unsupportedNode("PrepareStmt"));
  if (auto reserved = checkPreparedName(prepared.name())) return std::unexpected(*reserved);
  const bool written_before = context.tenant_parameter_written;
  auto inner = dispatchNested(*prepared.mutable_query(), context,
                              {"SelectStmt", "InsertStmt", "UpdateStmt", "DeleteStmt"}, "PREPARE");
  if (!inner) return std::unexpected(inner.error());
  // EXECUTE's arguments reach PostgreSQL unseen by a Bind: a tenant column cannot be written
  // from them. (Compared with one, another tenant's id finds nothing past the fence.)
  if (context.tenant_parameter_written && !written_before) {
    return std::unexpected(protocol::makeError(
        sqlstate::kInsufficientPrivilege,
        "the tenant column cannot be set to a parameter of PREPARE",
        "leave the tenant column out (tenantwall fills it in and limits every statement to your "
        "tenant), or use the extended protocol, whose Bind values tenantwall checks"));
  }
  context.allowed.session_state = true;
  context.allowed.prepared_names.push_back(prepared.name());
  return "PREPARE";
}

// EXECUTE name(args): the arguments are expressions like any in a select list.
std::expected<std::string, PgError> execute(pg_query::Node& statement, Context& context) {
  auto& run = *statement.mutable_execute_stmt();
  if (isReservedStatementName(run.name())) return std::unexpected(noSuchStatement(run.name()));
  auto rewritten =
      sql::rewriteExpressions(*run.mutable_params(), context.principal, context.policy);
  if (!rewritten) return std::unexpected(rewritten.error());
  noteRelations(context, std::move(rewritten->relations));
  context.allowed.executed_names.push_back(run.name());
  return "EXECUTE";
}

// DEALLOCATE ALL (no name) is the client's to run: the proxy closes its own statements first.
std::expected<std::string, PgError> deallocate(pg_query::Node& statement, Context& context) {
  const std::string& name = statement.deallocate_stmt().name();
  if (isReservedStatementName(name)) return std::unexpected(noSuchStatement(name));
  context.allowed.deallocated_names.push_back(name);
  return "DEALLOCATE";
}

PgError explainRefused(std::string message, std::string hint) {
  return protocol::makeError(sqlstate::kInsufficientPrivilege, std::move(message), std::move(hint));
}

// A plan names every relation it scans: a protected table's inheritance children and
// partitions too, which the policy does not show (their names, and that they exist). So EXPLAIN
// of a statement reading or writing such a table is refused; for EXPLAIN EXECUTE, whose
// statement was decided at PREPARE, any protected table with them refuses it. Until the proxy
// has read which tables have them (with the foreign keys), EXPLAIN is refused (55000).
std::optional<PgError> checkExplainedRelations(const Policy& policy,
                                               const std::vector<std::string>& relations,
                                               bool prepared, bool writes) {
  if (policy.foreign_keys_pending) {
    return protocol::makeError("55000",
                               "EXPLAIN is refused until tenantwall has read the database's "
                               "inheritance and partitions",
                               "try again in a few seconds");
  }
  // The foreign key guards of a write read the referenced tables too
  // (policy/sql/foreign_key_guard.h); only a SELECT without WITH surely has none.
  std::vector<std::string> read = relations;
  for (const auto& [name, table] : policy.protected_tables) {
    if (!writes || std::ranges::find(relations, table.schema + "." + table.name) == relations.end())
      continue;
    for (const ForeignKey& key : table.foreign_keys)
      read.push_back(key.referenced_schema + "." + key.referenced_table);
  }
  for (const auto& [name, table] : policy.protected_tables) {
    if (!table.has_children) continue;
    if (!prepared && std::ranges::find(read, table.schema + "." + table.name) == read.end())
      continue;
    return explainRefused(
        "EXPLAIN of a statement on " + table.name +
            " is not allowed by the tenantwall policy: the table has inheritance children or "
            "partitions, which its plan would name though the policy does not show them",
        "run the statement without EXPLAIN");
  }
  return std::nullopt;
}

// What may be run under EXPLAIN ANALYZE, once the explained statement itself was allowed (a
// refused one has already been refused as it would be without EXPLAIN).
std::optional<PgError> checkAnalyzed(const pg_query::ExplainStmt& plan, const Context& context) {
  if (plan.query().has_execute_stmt()) {
    return protocol::makeError(
        sqlstate::kFeatureNotSupported, "EXPLAIN ANALYZE EXECUTE is not supported by tenantwall",
        "EXPLAIN ANALYZE the prepared statement's own text instead, or use EXPLAIN EXECUTE "
        "without ANALYZE");
  }
  if (context.shared_aggregate) {
    return explainRefused(
        "EXPLAIN ANALYZE of a shared dataset query is not allowed by the tenantwall policy",
        "its plan counts the rows of every opted-in tenant before they are aggregated; use "
        "EXPLAIN without ANALYZE");
  }
  if (context.statements != 1) {
    return protocol::makeError(
        sqlstate::kFeatureNotSupported,
        "EXPLAIN ANALYZE must be the only statement of its query string under tenantwall",
        "send EXPLAIN ANALYZE as a query of its own: tenantwall rewrites the plan PostgreSQL "
        "returns, and can do so only for a query string with a single result");
  }
  return std::nullopt;
}

// EXPLAIN shows the plan of the rewritten statement, with COSTS off. EXPLAIN ANALYZE runs it
// (a write too, where the write itself is allowed) and shows only what renderPlan() keeps of
// its plan: PostgreSQL's own would count the rows the tenant filter removed, that is other
// tenants' rows, and time them.
std::expected<std::string, PgError> explain(pg_query::Node& statement, Context& context) {
  auto& plan = *statement.mutable_explain_stmt();
  auto options = sql::readExplainOptions(plan);
  if (!options) return std::unexpected(options.error());
  if (!plan.has_query()) return std::unexpected(sql::unsupportedNode("ExplainStmt"));
  // The relations the explained statement alone reads or writes, for the check below.
  std::vector<std::string> earlier = std::move(context.allowed.relations);
  context.allowed.relations.clear();
  context.shared_aggregate = false;
  auto inner = dispatchNested(
      *plan.mutable_query(), context,
      {"SelectStmt", "InsertStmt", "UpdateStmt", "DeleteStmt", "ExecuteStmt", "DeclareCursorStmt"},
      "EXPLAIN");
  std::vector<std::string> explained = std::move(context.allowed.relations);
  context.allowed.relations = std::move(earlier);
  noteRelations(context, explained);
  if (!inner) return std::unexpected(inner.error());
  if (options->analyze) {
    if (auto refusal = checkAnalyzed(plan, context)) return std::unexpected(std::move(*refusal));
  }
  const bool plain_read =
      plan.query().has_select_stmt() && !plan.query().select_stmt().has_with_clause();
  if (auto refusal = checkExplainedRelations(context.policy, explained,
                                             plan.query().has_execute_stmt(), !plain_read))
    return std::unexpected(std::move(*refusal));
  if (options->analyze) {
    sql::setAnalyzeOptions(plan);
    context.allowed.render_plan = options->format == "json" ? PlanFormat::kJson : PlanFormat::kText;
  } else if (!options->costs_given) {
    auto* costs = plan.add_options()->mutable_def_elem();
    costs->set_defname("costs");
    costs->mutable_arg()->mutable_string()->set_sval("false");
    costs->set_defaction(pg_query::DEFELEM_UNSPEC);
  }
  return "EXPLAIN";
}

std::expected<std::string, PgError> copy(pg_query::Node& statement, Context& context) {
  const StatementKind kind =
      statement.copy_stmt().is_from() ? StatementKind::kCopyFrom : StatementKind::kSelect;
  if (auto refusal = checkStatementKind(context.policy, context.principal, kind))
    return std::unexpected(std::move(*refusal));
  auto rewritten = sql::rewriteCopy(statement, context.principal, context.policy);
  if (!rewritten) return std::unexpected(rewritten.error());
  if (rewritten->copy_in) {
    if (context.statements != 1) {
      return std::unexpected(protocol::makeError(
          sqlstate::kFeatureNotSupported,
          "COPY ... FROM STDIN must be the only statement of its query string under tenantwall",
          "send the COPY on its own"));
    }
    const auto& plan = *rewritten->copy_in;
    context.allowed.copy_in = Allowed::CopyIn{plan.format,          plan.delimiter,
                                              plan.header,          plan.null_string,
                                              plan.quote,           plan.escape,
                                              plan.columns,         plan.tenant_column_index,
                                              plan.tenant_appended, context.principal.tenant};
  }
  noteRelations(context, std::move(rewritten->relations));
  return "COPY";
}

// Every statement kind a tenant may run, with its handler; any other kind is refused.
struct StatementRule {
  std::string_view kind;
  Handler handler;
};

constexpr StatementRule kStatements[] = {
    {"SelectStmt", query},
    {"InsertStmt", query},
    {"UpdateStmt", query},
    {"DeleteStmt", query},
    {"TransactionStmt", session},
    {"VariableSetStmt", session},
    {"VariableShowStmt", session},
    {"DiscardStmt", session},
    {"ConstraintsSetStmt", session},
    {"DeclareCursorStmt", declareCursor},
    {"FetchStmt", portal},
    {"ClosePortalStmt", portal},
    {"PrepareStmt", prepare},
    {"ExecuteStmt", execute},
    {"DeallocateStmt", deallocate},
    {"ExplainStmt", explain},
    {"CopyStmt", copy},
};

std::expected<std::string, PgError> dispatch(pg_query::Node& statement, Context& context) {
  const std::string_view kind = sql::nodeKind(statement);
  const auto* rule = std::ranges::find(kStatements, kind, &StatementRule::kind);
  if (rule == std::end(kStatements)) return std::unexpected(sql::refuseStatement(statement));
  return rule->handler(statement, context);
}

std::expected<std::string, PgError> dispatchNested(pg_query::Node& inner, Context& context,
                                                   std::initializer_list<std::string_view> kinds,
                                                   std::string_view where) {
  const std::string_view kind = sql::nodeKind(inner);
  if (std::ranges::find(kinds, kind) != kinds.end()) return dispatch(inner, context);
  const auto* rule = std::ranges::find(kStatements, kind, &StatementRule::kind);
  if (rule == std::end(kStatements)) return std::unexpected(sql::refuseStatement(inner));
  return std::unexpected(sql::unsupportedNode(std::string(kind) + " in " + std::string(where)));
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

  // Everything below sees the policy as the principal's role does (policy/roles.h).
  const Policy* view = policy.forRole(principal.role);
  if (view == nullptr) {
    return std::unexpected(protocol::makeError(
        sqlstate::kInsufficientPrivilege,
        "role '" + principal.role + "' is not defined in the tenantwall policy",
        "ask an administrator to define the role, or to give the user a defined one"));
  }

  auto tree = sql::parse(sql);
  if (!tree) return std::unexpected(tree.error());

  Allowed allowed;
  if (tree->stmts_size() == 0) return allowed;  // empty or comments only: EmptyQueryResponse

  Context context{principal, *view, allowed, tree->stmts_size()};
  for (auto& raw : *tree->mutable_stmts()) {
    if (!raw.has_stmt()) return std::unexpected(sql::unsupportedNode("RawStmt"));
    auto kind = dispatch(*raw.mutable_stmt(), context);
    if (!kind) return std::unexpected(kind.error());
    allowed.statement_kinds.push_back(std::move(*kind));
  }

  auto text = sql::deparseVerified(*tree);
  if (!text) return std::unexpected(text.error());
  allowed.sql = std::move(*text);
  return allowed;
}

std::optional<protocol::PgError> checkExtendedProtocol(const Allowed& allowed) {
  if (!allowed.render_plan) return std::nullopt;
  return protocol::makeError(
      sqlstate::kFeatureNotSupported,
      "EXPLAIN ANALYZE is supported through the simple query protocol only under tenantwall",
      "send it as a simple query (psql and psycopg2 do; with pgJDBC use preferQueryMode=simple): "
      "tenantwall rewrites the plan PostgreSQL returns, and can do so only for a simple query");
}

PgError noSuchStatement(std::string_view name) {
  return protocol::makeError(sqlstate::kInvalidSqlStatementName,
                             "prepared statement \"" + std::string(name) + "\" does not exist");
}

PgError preparedUnderEarlierPolicy(std::string_view name, std::string hint) {
  return protocol::makeError(
      sqlstate::kInvalidSqlStatementName,
      "prepared statement \"" + std::string(name) +
          "\" was prepared under an earlier tenantwall policy, which changed how it runs",
      "the policy (or the schema facts it uses) changed since the statement was prepared; " +
          std::move(hint));
}

bool isReservedStatementName(std::string_view name) {
  constexpr std::string_view kPrefix = "tw_";
  constexpr std::size_t kHexDigits = 32;
  if (name.size() != kPrefix.size() + kHexDigits || !name.starts_with(kPrefix)) return false;
  return std::ranges::all_of(name.substr(kPrefix.size()), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  });
}

std::optional<protocol::PgError> checkPreparedName(std::string_view name) {
  if (!isReservedStatementName(name)) return std::nullopt;
  return protocol::makeError(
      sqlstate::kReservedName,
      "prepared statement name \"" + std::string(name) + "\" is reserved by tenantwall",
      "names of \"tw_\" and 32 hex digits are tenantwall's own statements; choose another name");
}

std::optional<protocol::PgError> checkParameterTypes(const std::vector<std::int32_t>& type_oids) {
  // pg_type oids of the reg* types and their arrays (PostgreSQL 15, src/include/catalog).
  static constexpr std::int32_t kObjectNameTypes[] = {
      24,   1008,  // regproc
      2202, 2207,  // regprocedure
      2203, 2208,  // regoper
      2204, 2209,  // regoperator
      2205, 2210,  // regclass
      2206, 2211,  // regtype
      3734, 3735,  // regconfig
      3769, 3770,  // regdictionary
      4089, 4090,  // regnamespace
      4096, 4097,  // regrole
      4191, 4192,  // regcollation
  };
  for (const std::int32_t oid : type_oids) {
    if (std::ranges::find(kObjectNameTypes, oid) != std::end(kObjectNameTypes)) {
      return protocol::makeError(
          protocol::sqlstate::kInsufficientPrivilege,
          "parameters of object-identifier types (regclass, regproc, ...) are not allowed by the "
          "tenantwall policy",
          "send the parameter as text and compare names, or leave its type unspecified");
    }
  }
  return std::nullopt;
}

}  // namespace tenantwall::policy

namespace tenantwall::policy {

std::optional<protocol::PgError> checkTenantParameters(
    const std::vector<int>& tenant_parameters, const std::vector<std::int16_t>& formats,
    const std::vector<std::optional<std::string_view>>& values, std::string_view tenant) {
  for (const int number : tenant_parameters) {
    const auto index = static_cast<std::size_t>(number - 1);
    if (number < 1 || index >= values.size()) {
      return protocol::makeError(sqlstate::kProtocolViolation,
                                 "bind message supplies " + std::to_string(values.size()) +
                                     " parameters, but the tenant column needs parameter $" +
                                     std::to_string(number));
    }
    const std::int16_t format =
        formats.empty() ? 0 : (formats.size() == 1 ? formats[0] : formats.at(index));
    if (format != 0 && format != 1)
      return protocol::makeError(sqlstate::kProtocolViolation, "unsupported format code");
    const auto& value = values[index];
    if (!value) {
      return protocol::makeError(
          sqlstate::kInsufficientPrivilege,
          "the tenant column cannot be NULL: parameter $" + std::to_string(number) + " is NULL",
          "bind your own tenant's id, or leave the tenant column out");
    }
    if (*value == tenant) continue;
    return protocol::makeError(
        sqlstate::kInsufficientPrivilege,
        "cross-tenant reference: parameter $" + std::to_string(number) +
            " names a tenant outside your tenant",
        "every statement is limited to your own tenant's rows; bind your own tenant's id");
  }
  return std::nullopt;
}

std::optional<protocol::PgError> checkTenantParameterTypes(
    const std::vector<int>& tenant_parameters, const std::vector<std::int32_t>& type_oids) {
  // unspecified, text, varchar, bpchar, name, unknown: a bound value's bytes are the text itself
  static constexpr std::int32_t kTextTypes[] = {0, 25, 1043, 1042, 19, 705};
  for (const int number : tenant_parameters) {
    const auto index = static_cast<std::size_t>(number - 1);
    if (number < 1 || index >= type_oids.size()) continue;
    if (std::ranges::find(kTextTypes, type_oids[index]) != std::end(kTextTypes)) continue;
    return protocol::makeError(
        sqlstate::kInsufficientPrivilege,
        "parameter $" + std::to_string(number) +
            " holds the tenant column, so its type must be text (or left unspecified)",
        "declare the parameter as text, or leave its type to PostgreSQL");
  }
  return std::nullopt;
}

}  // namespace tenantwall::policy
