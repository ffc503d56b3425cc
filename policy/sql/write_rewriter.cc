// INSERT, UPDATE and DELETE on protected tables (DESIGN decision 2, writes): the target cannot
// be a fenced subquery, so the tenant column is forced or checked on every new row, every
// changed or deleted row must match the tenant predicate, and what the write reads of its
// target is the secured relation (write_columns.cc). Everything it reads besides is fenced by
// the shared rewriter walk.
#include <algorithm>
#include <optional>
#include <string>
#include <utility>

#include "policy/roles.h"
#include "policy/sql/foreign_key_guard.h"
#include "policy/sql/nodes.h"
#include "policy/sql/parser.h"
#include "policy/sql/row_rules.h"
#include "policy/sql/statement_rewriter.h"
#include "policy/sql/unique_key_guard.h"
#include "policy/sql/write_columns.h"
#include "protocol/sqlstate.h"

namespace tenantwall::policy::sql {
namespace {

using google::protobuf::Message;
using protocol::PgError;
namespace sqlstate = protocol::sqlstate;

constexpr std::string_view kSourceAlias = "tenantwall_source";

PgError unsupported(std::string message, std::string hint) {
  return protocol::makeError(sqlstate::kFeatureNotSupported, std::move(message), std::move(hint));
}

const pg_query::Node& unwrap(const pg_query::Node& node) {
  if (node.has_type_cast() && node.type_cast().has_arg()) return unwrap(node.type_cast().arg());
  if (node.has_collate_clause() && node.collate_clause().has_arg())
    return unwrap(node.collate_clause().arg());
  return node;
}

std::optional<std::string> constantText(const pg_query::A_Const& value) {
  if (value.has_sval()) return value.sval().sval();
  if (value.has_ival()) return std::to_string(value.ival().ival());
  if (value.has_fval()) return value.fval().fval();
  return std::nullopt;
}

enum class TenantValue { kOwn, kDefault, kParameter };

// A value written to the tenant column: the principal's tenant as a constant (casts allowed),
// DEFAULT, which the caller replaces or refuses, or a parameter ($n, into *parameter), whose
// bound value the proxy checks at Bind (Allowed::tenant_parameters). Expressions are refused:
// their value is unknown until run time, and a row must never land in another tenant.
std::expected<TenantValue, PgError> tenantValue(const pg_query::Node& value,
                                                const ProtectedTable& table,
                                                std::string_view tenant, int* parameter) {
  const pg_query::Node& inner = unwrap(value);
  if (inner.has_set_to_default()) return TenantValue::kDefault;
  if (inner.has_param_ref()) {
    *parameter = inner.param_ref().number();
    return TenantValue::kParameter;
  }
  const std::string column = table.name + "." + table.tenant_column;
  if (inner.has_a_const()) {
    const auto text = inner.a_const().isnull() ? std::nullopt : constantText(inner.a_const());
    if (text && *text == tenant) return TenantValue::kOwn;
    if (!text) {
      return std::unexpected(
          refused("the tenant column " + column + " cannot be set to NULL",
                  "leave " + table.tenant_column + " out: tenantwall fills in your tenant"));
    }
    return std::unexpected(
        refused("cross-tenant write: tenant '" + *text + "' is outside your tenant",
                "rows you write always belong to your own tenant (an INSERT that leaves " +
                    table.tenant_column + " out gets it filled in)"));
  }
  return std::unexpected(
      refused("the tenant column " + column + " can only be written as a constant or parameter",
              "leave " + table.tenant_column +
                  " out of the column list: tenantwall fills in your tenant (expressions cannot "
                  "be checked before the row is written)"));
}

// A column the role sees masked may be written only by roles with write_masked (the role view
// marks the others' masked columns not writable, policy/roles.h).
std::expected<void, PgError> checkWritable(const ColumnRule& column, const ProtectedTable& table) {
  if (column.writable) return {};
  return std::unexpected(
      refused("column " + table.name + "." + column.name +
                  " cannot be written: your role sees it masked under the tenantwall policy",
              "only roles that see a column plainly (or have write_masked) may write it"));
}

// The checks on a SET list (UPDATE, ON CONFLICT DO UPDATE): visible columns only, and the
// tenant column only set to the principal's own tenant.
std::expected<void, PgError> checkSetList(const NodeList& targets, const ProtectedTable& table,
                                          std::string_view tenant, std::vector<int>& parameters) {
  for (const auto& node : targets) {
    if (!node.has_res_target()) return std::unexpected(unsupportedNode(nodeKind(node)));
    const auto& target = node.res_target();
    if (table.findColumn(target.name()) == nullptr) {
      return std::unexpected(
          refused("column " + table.name + "." + target.name() +
                      " is not visible under the tenantwall "
                      "policy",
                  "the columns of " + table.name + " are the visible columns its policy lists"));
    }
    if (auto s = checkWritable(*table.findColumn(target.name()), table); !s)
      return std::unexpected(s.error());
    if (target.name() != table.tenant_column) continue;
    if (target.indirection_size() > 0 || target.val().has_multi_assign_ref()) {
      return std::unexpected(refused(
          "the tenant column " + table.name + "." + table.tenant_column + " cannot be set this way",
          "rows cannot move to another tenant"));
    }
    int parameter = 0;
    auto value = tenantValue(target.val(), table, tenant, &parameter);
    if (!value) return std::unexpected(value.error());
    if (*value == TenantValue::kParameter) parameters.push_back(parameter);
    if (*value == TenantValue::kDefault) {
      return std::unexpected(refused("the tenant column " + table.name + "." + table.tenant_column +
                                         " cannot be set to DEFAULT",
                                     "rows cannot move to another tenant"));
    }
  }
  return {};
}

// RETURNING * (and target.*) lists the visible columns in policy order; the masks are applied
// with every other read of the target, by secureTargetColumns.
std::expected<void, PgError> expandReturning(NodeList& returning, const WriteTarget& target,
                                             bool other_relations) {
  NodeList out;
  for (auto& node : returning) {
    const bool star_ref = node.has_res_target() && node.res_target().val().has_column_ref() &&
                          node.res_target().val().column_ref().fields_size() > 0 &&
                          node.res_target()
                              .val()
                              .column_ref()
                              .fields(node.res_target().val().column_ref().fields_size() - 1)
                              .has_a_star();
    if (!star_ref) {
      *out.Add() = std::move(node);
      continue;
    }
    const auto& fields = node.res_target().val().column_ref().fields();
    std::vector<std::string> qualifier;
    for (int i = 0; i + 1 < fields.size(); ++i) {
      if (!fields[i].has_string()) return std::unexpected(unsupportedNode("ColumnRef"));
      qualifier.push_back(fields[i].string().sval());
    }
    const bool names_target =
        qualifier.empty() || (qualifier.size() == 1 && qualifier[0] == target.name) ||
        (qualifier.size() == 2 && qualifier[0] == target.schema && qualifier[1] == target.name);
    if (!names_target) {
      *out.Add() = std::move(node);
      continue;
    }
    if (qualifier.empty() && other_relations) {
      return std::unexpected(
          unsupported("RETURNING * together with FROM or USING is not supported by tenantwall",
                      "list the columns to return, or use " + target.name + ".*"));
    }
    for (const ColumnRule& column : target.table->columns) {
      auto* res = out.Add()->mutable_res_target();
      *res->mutable_val() = columnRef({target.name, column.name});
    }
  }
  returning.Swap(&out);
  return {};
}

// <target>.tenant_col OPERATOR(pg_catalog.=) '<tenant>' AND <row rules> AND (<where>)
void guardWhere(pg_query::Node& where, bool has_where, const WriteTarget& target,
                const Principal& principal) {
  const std::string& tenant = principal.tenant;
  pg_query::Node predicate;
  auto* filter = predicate.mutable_a_expr();
  filter->set_kind(pg_query::AEXPR_OP);
  *filter->add_name() = stringNode(kCatalog);
  *filter->add_name() = stringNode("=");
  *filter->mutable_lexpr() =
      target.schema.empty() ? columnRef({target.name, target.table->tenant_column})
                            : columnRef({target.schema, target.name, target.table->tenant_column});
  *filter->mutable_rexpr() = stringConst(tenant);
  std::vector<std::string> qualifier = {target.name};
  if (!target.schema.empty()) qualifier.insert(qualifier.begin(), target.schema);
  std::optional<pg_query::Node> rest;
  if (has_where) rest = std::move(where);
  where = withRowRules(std::move(predicate), *target.table, principal, qualifier, std::move(rest));
}

WriteTarget writeTarget(const pg_query::RangeVar& relation, const ProtectedTable& table,
                        bool insert) {
  if (relation.has_alias()) return {&table, relation.alias().aliasname(), {}, insert};
  return {&table, table.name, table.schema, insert};
}

// How many columns the source of an INSERT without a column list fills, when that can be read
// off the statement: the first VALUES row, or the select list of the leftmost SELECT.
std::optional<int> sourceWidth(const pg_query::SelectStmt& select) {
  if (select.values_lists_size() > 0) {
    const auto& row = select.values_lists(0);
    return row.has_list() ? std::optional<int>(row.list().items_size()) : std::nullopt;
  }
  if (select.op() != pg_query::SETOP_NONE)
    return select.has_larg() ? sourceWidth(select.larg()) : std::nullopt;
  for (const auto& target : select.target_list()) {
    if (!target.has_res_target()) return std::nullopt;
    const auto& val = target.res_target().val();
    if (val.has_column_ref()) {
      for (const auto& field : val.column_ref().fields())
        if (field.has_a_star()) return std::nullopt;
    }
  }
  return select.target_list_size();
}

// The select-list entry that fills column `index` of `columns`: counted from the front up to
// the first `*`, and from the back after the last one (so the tenant constant that the
// INSERT ... SELECT wrapping appends is found again).
std::optional<int> sourcePosition(const pg_query::SelectStmt& select, int index, int columns) {
  if (select.op() != pg_query::SETOP_NONE || select.values_lists_size() > 0) return std::nullopt;
  const int size = select.target_list_size();
  int first_star = size, last_star = -1;
  for (int i = 0; i < size; ++i) {
    const auto& target = select.target_list(i);
    if (!target.has_res_target()) return std::nullopt;
    const auto& val = target.res_target().val();
    const bool star = val.has_column_ref() && std::ranges::any_of(val.column_ref().fields(),
                                                                  [](const pg_query::Node& field) {
                                                                    return field.has_a_star();
                                                                  });
    if (star) {
      first_star = std::min(first_star, i);
      last_star = i;
    }
  }
  if (index < first_star && index < size) return index;
  const int from_end = columns - index;  // 1 for the last column
  if (last_star >= 0 && from_end >= 1 && from_end <= size - 1 - last_star) return size - from_end;
  return std::nullopt;
}

// PostgreSQL refuses an INSERT whose rows are wider or narrower than its column list; the proxy
// refuses first, because once it appends the tenant column a misaligned row would put values in
// the wrong columns (and PostgreSQL's error would describe the rewritten statement).
std::expected<void, PgError> checkSourceWidth(const pg_query::SelectStmt& select, int columns) {
  auto mismatch = [](int width, int columns) -> std::expected<void, PgError> {
    if (width == columns) return {};
    return std::unexpected(protocol::makeError(
        sqlstate::kSyntaxError, width > columns
                                    ? "INSERT has more expressions than target columns"
                                    : "INSERT has more target columns than expressions"));
  };
  if (select.values_lists_size() > 0) {
    for (const auto& row : select.values_lists()) {
      if (!row.has_list()) return std::unexpected(unsupportedNode(nodeKind(row)));
      if (auto s = mismatch(row.list().items_size(), columns); !s) return s;
    }
    return {};
  }
  if (const auto width = sourceWidth(select)) return mismatch(*width, columns);
  return {};
}

}  // namespace

std::expected<const ProtectedTable*, PgError> StatementRewriter::resolveWriteTarget(
    pg_query::RangeVar& relation, std::string_view command) const {
  const std::string schema =
      relation.schemaname().empty() ? std::string(kDefaultSchema) : relation.schemaname();
  std::string written =
      relation.schemaname().empty() ? relation.relname() : schema + "." + relation.relname();
  if (relation.catalogname().empty()) {
    if (const ProtectedTable* table = policy_.findProtected(schema, relation.relname())) {
      relation.set_schemaname(table->schema);
      return table;
    }
    if (policy_.isReference(schema, relation.relname())) {
      return std::unexpected(refused(std::string(command) + " on " + written +
                                         " is not allowed: it is a shared reference table",
                                     "reference tables are read-only to tenants"));
    }
  } else {
    written = relation.catalogname() + "." + written;
  }
  return std::unexpected(
      refused(std::string(command) + " on relation \"" + written +
                  "\" is not allowed by the tenantwall policy",
              "tenants can write only to the protected tables named in the tenantwall policy"));
}

Visit StatementRewriter::onUpdate(Message& node, pg_query::Node* wrapper, Walker& walker) {
  if (!writeAllowedAt(wrapper)) return std::unexpected(unsupportedNode("UpdateStmt"));
  if (auto refusal = checkStatementKind(policy_, principal_, StatementKind::kUpdate))
    return std::unexpected(std::move(*refusal));
  auto& update = static_cast<pg_query::UpdateStmt&>(node);
  auto table = resolveWriteTarget(*update.mutable_relation(), "UPDATE");
  if (!table) return std::unexpected(table.error());
  const WriteTarget target = writeTarget(update.relation(), **table, false);
  if (update.where_clause().has_current_of_expr()) {
    return std::unexpected(unsupported("UPDATE ... WHERE CURRENT OF is not supported by tenantwall",
                                       "update the row by its key instead"));
  }
  if (auto s = checkSetList(update.target_list(), **table, principal_.tenant, written_parameters_);
      !s)
    return std::unexpected(s.error());
  if (auto refusal = checkRowRuleSet(update.target_list(), **table, principal_, "UPDATE"))
    return std::unexpected(std::move(*refusal));
  if (auto refusal = checkSetUniqueKeys(update.target_list(), **table, policy_))
    return std::unexpected(std::move(*refusal));
  if (auto s =
          expandReturning(*update.mutable_returning_list(), target, update.from_clause_size() > 0);
      !s)
    return std::unexpected(s.error());

  noteRelation((*table)->schema + "." + (*table)->name);  // the target first
  const int enclosing = guard_.enterLevel();
  guard_.noteProtected(update.relation().has_alias() ? &update.relation().alias() : nullptr,
                       **table);
  const std::size_t scope = ctes_.size();
  if (update.has_with_clause()) {
    if (auto s = walkWith(*update.mutable_with_clause(), walker); !s)
      return std::unexpected(s.error());
  }
  if (auto s = walker.walkFields(update, {"relation", "with_clause"}); !s)
    return std::unexpected(s.error());
  ctes_.resize(scope);
  guard_.leaveLevel(enclosing);

  if (auto s = secureTargetColumns(update, target, policy_); !s) return std::unexpected(s.error());
  if (auto s = guardSetForeignKeys(*update.mutable_target_list(), **table, policy_, principal_); !s)
    return std::unexpected(s.error());
  const bool has_where = update.has_where_clause();
  guardWhere(*update.mutable_where_clause(), has_where, target, principal_);
  return Next::kDone;
}

Visit StatementRewriter::onDelete(Message& node, pg_query::Node* wrapper, Walker& walker) {
  if (!writeAllowedAt(wrapper)) return std::unexpected(unsupportedNode("DeleteStmt"));
  if (auto refusal = checkStatementKind(policy_, principal_, StatementKind::kDelete))
    return std::unexpected(std::move(*refusal));
  auto& remove = static_cast<pg_query::DeleteStmt&>(node);
  auto table = resolveWriteTarget(*remove.mutable_relation(), "DELETE");
  if (!table) return std::unexpected(table.error());
  const WriteTarget target = writeTarget(remove.relation(), **table, false);
  if (remove.where_clause().has_current_of_expr()) {
    return std::unexpected(unsupported("DELETE ... WHERE CURRENT OF is not supported by tenantwall",
                                       "delete the row by its key instead"));
  }
  if (auto s =
          expandReturning(*remove.mutable_returning_list(), target, remove.using_clause_size() > 0);
      !s)
    return std::unexpected(s.error());

  noteRelation((*table)->schema + "." + (*table)->name);  // the target first
  const int enclosing = guard_.enterLevel();
  guard_.noteProtected(remove.relation().has_alias() ? &remove.relation().alias() : nullptr,
                       **table);
  const std::size_t scope = ctes_.size();
  if (remove.has_with_clause()) {
    if (auto s = walkWith(*remove.mutable_with_clause(), walker); !s)
      return std::unexpected(s.error());
  }
  if (auto s = walker.walkFields(remove, {"relation", "with_clause"}); !s)
    return std::unexpected(s.error());
  ctes_.resize(scope);
  guard_.leaveLevel(enclosing);

  if (auto s = secureTargetColumns(remove, target, policy_); !s) return std::unexpected(s.error());
  const bool has_where = remove.has_where_clause();
  guardWhere(*remove.mutable_where_clause(), has_where, target, principal_);
  return Next::kDone;
}

// The column list and source rows of an INSERT, with the tenant column forced or checked.
std::expected<void, PgError> StatementRewriter::shapeInsert(pg_query::InsertStmt& insert,
                                                            const ProtectedTable& table) {
  const std::string& tenant = principal_.tenant;
  if (!insert.has_select_stmt()) {  // DEFAULT VALUES: the tenant is the one value given
    insert.add_cols()->mutable_res_target()->set_name(table.tenant_column);
    auto* values = insert.mutable_select_stmt()->mutable_select_stmt();
    *values->add_values_lists()->mutable_list()->add_items() = stringConst(tenant);
    values->set_limit_option(pg_query::LIMIT_OPTION_DEFAULT);
    values->set_op(pg_query::SETOP_NONE);
    return {};
  }
  if (!insert.select_stmt().has_select_stmt())
    return std::unexpected(unsupportedNode(nodeKind(insert.select_stmt())));
  auto& select = *insert.mutable_select_stmt()->mutable_select_stmt();

  if (insert.cols_size() == 0) {
    // The visible columns in policy order, as SELECT * shows them, as many as the rows fill.
    const auto width = sourceWidth(select);
    if (!width) {
      return std::unexpected(
          unsupported("INSERT without a column list from a query with * is not supported by "
                      "tenantwall",
                      "name the target columns: INSERT INTO " + table.name + " (...) SELECT ..."));
    }
    const int count = std::min<int>(*width, static_cast<int>(table.columns.size()));
    for (int i = 0; i < count; ++i)
      insert.add_cols()->mutable_res_target()->set_name(table.columns[i].name);
  }

  if (auto s = checkSourceWidth(select, insert.cols_size()); !s) return s;

  std::optional<int> tenant_index;
  for (int i = 0; i < insert.cols_size(); ++i) {
    const auto& col = insert.cols(i).res_target();
    if (table.findColumn(col.name()) == nullptr && col.name() != table.tenant_column) {
      return std::unexpected(refused(
          "column " + table.name + "." + col.name() + " is not visible under the tenantwall policy",
          "the columns of " + table.name + " are the visible columns its policy lists"));
    }
    if (const ColumnRule* column = table.findColumn(col.name())) {
      if (auto s = checkWritable(*column, table); !s) return s;
    }
    if (col.name() != table.tenant_column) continue;
    if (col.indirection_size() > 0) {
      return std::unexpected(refused("the tenant column " + table.name + "." + table.tenant_column +
                                         " cannot be written this way",
                                     "leave it out: tenantwall fills in your tenant"));
    }
    tenant_index = i;
  }

  if (!tenant_index) {
    insert.add_cols()->mutable_res_target()->set_name(table.tenant_column);
    if (select.values_lists_size() > 0) {
      for (auto& row : *select.mutable_values_lists()) {
        if (!row.has_list()) return std::unexpected(unsupportedNode(nodeKind(row)));
        *row.mutable_list()->add_items() = stringConst(tenant);
      }
      return {};
    }
    // SELECT tenantwall_source.*, '<tenant>' FROM (<query>) AS tenantwall_source
    pg_query::Node wrapped;
    auto* outer = wrapped.mutable_select_stmt();
    *outer->add_target_list()->mutable_res_target()->mutable_val() = columnRef({kSourceAlias});
    outer->mutable_target_list(0)
        ->mutable_res_target()
        ->mutable_val()
        ->mutable_column_ref()
        ->add_fields()
        ->mutable_a_star();
    *outer->add_target_list()->mutable_res_target()->mutable_val() = stringConst(tenant);
    auto* range = outer->add_from_clause()->mutable_range_subselect();
    range->mutable_subquery()->mutable_select_stmt()->Swap(&select);
    range->mutable_alias()->set_aliasname(std::string(kSourceAlias));
    outer->set_limit_option(pg_query::LIMIT_OPTION_DEFAULT);
    outer->set_op(pg_query::SETOP_NONE);
    insert.mutable_select_stmt()->Swap(&wrapped);
    return {};
  }

  auto check = [&](pg_query::Node& value) -> std::expected<void, PgError> {
    int parameter = 0;
    auto checked = tenantValue(value, table, tenant, &parameter);
    if (!checked) return std::unexpected(checked.error());
    if (*checked == TenantValue::kParameter) written_parameters_.push_back(parameter);
    if (*checked == TenantValue::kDefault) value = stringConst(tenant);
    return {};
  };
  if (select.values_lists_size() > 0) {
    for (auto& row : *select.mutable_values_lists()) {
      if (!row.has_list() || row.list().items_size() <= *tenant_index)
        return std::unexpected(unsupportedNode("VALUES"));
      if (auto s = check(*row.mutable_list()->mutable_items(*tenant_index)); !s) return s;
    }
    return {};
  }
  if (auto position = sourcePosition(select, *tenant_index, insert.cols_size())) {
    auto& value = *select.mutable_target_list(*position)->mutable_res_target()->mutable_val();
    if (!unwrap(value).has_set_to_default()) return check(value);
  }
  return std::unexpected(refused(
      "the tenant column " + table.name + "." + table.tenant_column +
          " of an INSERT ... SELECT must be a constant naming your tenant",
      "leave " + table.tenant_column + " out of the column list: tenantwall fills in your tenant"));
}

// ON CONFLICT: the arbiter names visible columns plainly; DO UPDATE follows UPDATE's rules.
std::expected<void, PgError> StatementRewriter::checkOnConflict(pg_query::OnConflictClause& clause,
                                                                const ProtectedTable& table) {
  for (const auto& elem : clause.infer().index_elems()) {
    if (!elem.has_index_elem()) return std::unexpected(unsupportedNode(nodeKind(elem)));
    const auto& index = elem.index_elem();
    if (index.has_expr() || index.collation_size() > 0 || index.opclass_size() > 0 ||
        index.opclassopts_size() > 0) {
      return std::unexpected(
          unsupported("ON CONFLICT with an expression, collation or operator class is not "
                      "supported by tenantwall",
                      "name the conflict columns plainly, or use ON CONFLICT ON CONSTRAINT"));
    }
    if (table.findColumn(index.name()) == nullptr) {
      return std::unexpected(
          refused("column " + table.name + "." + index.name() +
                      " is not visible under the tenantwall "
                      "policy",
                  "the columns of " + table.name + " are the visible columns its policy lists"));
    }
  }
  if (clause.action() == pg_query::ONCONFLICT_UPDATE)
    return checkSetList(clause.target_list(), table, principal_.tenant, written_parameters_);
  if (clause.action() != pg_query::ONCONFLICT_NOTHING)
    return std::unexpected(unsupportedNode("OnConflictClause"));
  return {};
}

Visit StatementRewriter::onInsert(Message& node, pg_query::Node* wrapper, Walker& walker) {
  if (!writeAllowedAt(wrapper)) return std::unexpected(unsupportedNode("InsertStmt"));
  if (auto refusal = checkStatementKind(policy_, principal_, StatementKind::kInsert))
    return std::unexpected(std::move(*refusal));
  auto& insert = static_cast<pg_query::InsertStmt&>(node);
  auto table = resolveWriteTarget(*insert.mutable_relation(), "INSERT");
  if (!table) return std::unexpected(table.error());
  const WriteTarget target = writeTarget(insert.relation(), **table, true);
  if (auto s = shapeInsert(insert, **table); !s) return std::unexpected(s.error());
  if (auto refusal = checkRowRuleInsert(insert, **table, principal_))
    return std::unexpected(std::move(*refusal));
  if (insert.has_on_conflict_clause()) {
    if (auto s = checkOnConflict(*insert.mutable_on_conflict_clause(), **table); !s)
      return std::unexpected(s.error());
    if (auto refusal = checkRowRuleSet(insert.on_conflict_clause().target_list(), **table,
                                       principal_, "INSERT ... ON CONFLICT DO UPDATE"))
      return std::unexpected(std::move(*refusal));
  }
  if (auto refusal = checkInsertUniqueKeys(insert, **table, policy_))
    return std::unexpected(std::move(*refusal));
  if (auto s = expandReturning(*insert.mutable_returning_list(), target, false); !s)
    return std::unexpected(s.error());

  noteRelation((*table)->schema + "." + (*table)->name);  // the target first
  const int enclosing = guard_.enterLevel();
  guard_.noteProtected(insert.relation().has_alias() ? &insert.relation().alias() : nullptr,
                       **table);
  const std::size_t scope = ctes_.size();
  if (insert.has_with_clause()) {
    if (auto s = walkWith(*insert.mutable_with_clause(), walker); !s)
      return std::unexpected(s.error());
  }
  if (auto s = walker.walkFields(insert, {"relation", "with_clause"}); !s)
    return std::unexpected(s.error());
  ctes_.resize(scope);
  guard_.leaveLevel(enclosing);

  if (auto s = secureTargetColumns(insert, target, policy_); !s) return std::unexpected(s.error());
  // After the walk: the guards read the referenced tables through fences of their own.
  if (auto s = guardInsertForeignKeys(insert, **table, policy_, principal_); !s)
    return std::unexpected(s.error());
  if (insert.has_on_conflict_clause() &&
      insert.on_conflict_clause().action() == pg_query::ONCONFLICT_UPDATE) {
    // A conflict with another tenant's row must never update it: the existing row is checked.
    auto& conflict = *insert.mutable_on_conflict_clause();
    if (auto s = guardSetForeignKeys(*conflict.mutable_target_list(), **table, policy_, principal_);
        !s)
      return std::unexpected(s.error());
    const bool has_where = conflict.has_where_clause();
    guardWhere(*conflict.mutable_where_clause(), has_where, target, principal_);
  }
  return Next::kDone;
}

}  // namespace tenantwall::policy::sql
