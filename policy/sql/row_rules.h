// Row rules (issue 6): a protected table's per-role predicates over its own columns and the
// principal (`region = principal.attributes.region`, `team = ANY(principal.groups)`), parsed
// once when the policy loads into a template tree and instantiated per principal with the
// principal's values as constant nodes (never SQL text). Reads get the predicates inside the
// fence next to the tenant filter; UPDATE and DELETE in their WHERE; a row that INSERT or UPDATE
// writes must be shown to satisfy them before the statement is forwarded (WITH CHECK), or the
// statement is refused.
//
// The rule language, checked at load: the table's own columns (unqualified), constants,
// principal.tenant, principal.user, principal.role, principal.groups (a list) and
// principal.attributes.<name> (scalar or list, as the principal has it); the comparisons
// = <> < <= > >=, IN, = ANY / <> ALL (a list on the right), LIKE, ILIKE, BETWEEN, IS [NOT]
// DISTINCT FROM, IS [NOT] NULL, IS [NOT] TRUE/FALSE, AND, OR, NOT. No functions, casts or
// subqueries: a rule is evaluated on every tenant's rows before the fence filters them, so it
// must not be able to fail on a row or read another relation.
//
// A principal value a rule needs and the principal lacks (no such attribute, or a list where a
// scalar is compared) makes that rule FALSE: the rule denies, it is never dropped.
#pragma once

#include <expected>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "pg_query_pb/pg_query.pb.h"
#include "policy/model.h"
#include "policy/principal.h"
#include "protocol/pg_error.h"

namespace tenantwall::policy::sql {

struct RuleTemplate {
  pg_query::Node expression;  // operators pg_catalog-qualified; columns and principal open
};

struct CompiledRule {
  std::shared_ptr<const RuleTemplate> rule;
  std::set<std::string> columns;  // the table columns it reads
};

// Parses and checks a rule's text; `columns` are the names it may read. The error reads like
// "column 'x' is not a column of public.t" or "syntax error at or near ... (at character 7)".
std::expected<CompiledRule, std::string> compileRowRule(std::string_view where,
                                                        const std::set<std::string>& columns);

// One predicate per row rule of table (a role view's table holds only the role's rules) for
// principal, its columns qualified by `qualifier` (schema and table, or an alias).
std::vector<pg_query::Node> rowRulePredicates(const ProtectedTable& table,
                                              const Principal& principal,
                                              const std::vector<std::string>& qualifier);

// `first AND <each of table's row-rule predicates> [AND rest]`, flat, with first leading (it
// must not itself be an AND: the parser would flatten it and the deparsed tree would differ).
pg_query::Node withRowRules(pg_query::Node first, const ProtectedTable& table,
                            const Principal& principal, const std::vector<std::string>& qualifier,
                            std::optional<pg_query::Node> rest = std::nullopt);

// WITH CHECK for a row that a write leaves with the values `assigned` (column -> value node;
// nullptr when the value is not a plain expression, e.g. a multiple-column SET). `existing_row`
// is true for UPDATE and ON CONFLICT DO UPDATE, whose old row already satisfied every rule (the
// rules are in their WHERE): top-level conjuncts over columns the write leaves alone still hold.
// The rules must be shown to hold by comparing constants with the principal's values and the
// rule's own constants; anything that cannot be shown is refused (42501).
std::optional<protocol::PgError> checkRowRuleWrite(
    const ProtectedTable& table, const Principal& principal,
    const std::map<std::string, const pg_query::Node*>& assigned, bool existing_row,
    std::string_view command);

// checkRowRuleWrite() for every row an INSERT writes (a VALUES list, or DEFAULT VALUES); an
// INSERT ... SELECT into a table with rules for the role is refused, as its rows are unknown
// until it runs. Call after the tenant column has been added.
std::optional<protocol::PgError> checkRowRuleInsert(const pg_query::InsertStmt& insert,
                                                    const ProtectedTable& table,
                                                    const Principal& principal);

// checkRowRuleWrite() for a SET list (UPDATE, ON CONFLICT DO UPDATE).
std::optional<protocol::PgError> checkRowRuleSet(
    const google::protobuf::RepeatedPtrField<pg_query::Node>& targets, const ProtectedTable& table,
    const Principal& principal, std::string_view command);

}  // namespace tenantwall::policy::sql
