// Foreign key guards for writes (see foreign_key_guard.h).
#include "policy/sql/foreign_key_guard.h"

#include <algorithm>
#include <utility>

#include "policy/sql/nodes.h"
#include "policy/sql/row_rules.h"
#include "policy/sql/walker.h"
#include "protocol/sqlstate.h"

namespace tenantwall::policy::sql {
namespace {

using protocol::PgError;
namespace sqlstate = protocol::sqlstate;

// PostgreSQL's object_not_in_prerequisite_state.
constexpr std::string_view kNotReady = "55000";
constexpr std::string_view kKeyAlias = "tenantwall_key";
constexpr std::string_view kSourceAlias = "tenantwall_keys";
constexpr std::string_view kMarkerPrefix = "tenantwall foreign key guard ";

enum class KeyCheck { kNone, kGuard, kRefuseHidden, kRefuseComposite };

struct Classified {
  KeyCheck check = KeyCheck::kNone;
  const ProtectedTable* referenced = nullptr;
};

Classified classify(const ForeignKey& key, const ProtectedTable& table, const Policy& policy) {
  if (const ProtectedTable* referenced =
          policy.findProtected(key.referenced_schema, key.referenced_table)) {
    for (std::size_t i = 0; i < key.columns.size() && i < key.referenced_columns.size(); ++i) {
      if (key.columns[i] == table.tenant_column &&
          key.referenced_columns[i] == referenced->tenant_column)
        return {};  // PostgreSQL keeps it within the (forced) tenant
    }
    if (key.columns.size() == 1 && key.column_types.size() == 1)
      return {KeyCheck::kGuard, referenced};
    return {KeyCheck::kRefuseComposite, referenced};
  }
  if (policy.isReference(key.referenced_schema, key.referenced_table)) return {};
  if (key.columns.size() == 1 && key.columns[0] == table.tenant_column) return {};
  return {KeyCheck::kRefuseHidden, nullptr};
}

bool isDefault(const pg_query::Node& value) {
  const pg_query::Node* node = &value;
  while (node->has_type_cast() && node->type_cast().has_arg()) node = &node->type_cast().arg();
  return node->has_set_to_default();
}

PgError refusal(const ForeignKey& key, KeyCheck check, const ProtectedTable& table,
                std::string_view command, std::string_view written) {
  const std::string column = table.name + "." + std::string(written);
  if (check == KeyCheck::kRefuseHidden) {
    return protocol::makeError(
        sqlstate::kInsufficientPrivilege,
        std::string(command) + " cannot write column " + column +
            ": its foreign key refers to a relation the tenantwall policy does not show",
        "leave the column out, or ask for the referenced table to be in the policy");
  }
  return protocol::makeError(
      sqlstate::kFeatureNotSupported,
      std::string(command) + " cannot write column " + column + ": its foreign key " +
          key.constraint + " spans several columns without the tenant column",
      "make the foreign key include the tenant column, so PostgreSQL keeps it within the "
      "tenant");
}

pg_query::Node operatorEquals(pg_query::Node left, pg_query::Node right) {
  pg_query::Node node;
  auto* expr = node.mutable_a_expr();
  expr->set_kind(pg_query::AEXPR_OP);
  *expr->add_name() = stringNode("pg_catalog");
  *expr->add_name() = stringNode("=");
  *expr->mutable_lexpr() = std::move(left);
  *expr->mutable_rexpr() = std::move(right);
  return node;
}

pg_query::Node castTo(pg_query::Node value, const std::vector<std::string>& type) {
  pg_query::Node node;
  auto* cast = node.mutable_type_cast();
  *cast->mutable_arg() = std::move(value);
  auto* name = cast->mutable_type_name();
  for (const auto& part : type) *name->add_names() = stringNode(part);
  name->set_typemod(-1);
  return node;
}

void plainSelect(pg_query::SelectStmt& select) {
  select.set_limit_option(pg_query::LIMIT_OPTION_DEFAULT);
  select.set_op(pg_query::SETOP_NONE);
}

// CASE WHEN v IS NULL OR EXISTS (SELECT 1 FROM <referenced> WHERE <fence> AND <key> = v)
// THEN true ELSE CAST(pg_catalog.concat('<marker>') AS pg_catalog.bool) END
pg_query::Node keyCondition(const pg_query::Node& value, const ForeignKey& key,
                            const ProtectedTable& table, const ProtectedTable& referenced,
                            const Principal& principal) {
  pg_query::Node exists;
  auto* link = exists.mutable_sub_link();
  link->set_sub_link_type(pg_query::EXISTS_SUBLINK);
  auto* inner = link->mutable_subselect()->mutable_select_stmt();
  plainSelect(*inner);
  auto* one = inner->add_target_list()->mutable_res_target()->mutable_val()->mutable_a_const();
  one->mutable_ival()->set_ival(1);
  auto* from = inner->add_from_clause()->mutable_range_var();
  from->set_schemaname(referenced.schema);
  from->set_relname(referenced.name);
  from->set_inh(true);
  from->set_relpersistence("p");
  const std::vector<std::string> qualifier = {referenced.schema, referenced.name};
  *inner->mutable_where_clause() = withRowRules(
      operatorEquals(columnRef({referenced.schema, referenced.name, referenced.tenant_column}),
                     stringConst(principal.tenant)),
      referenced, principal, qualifier,
      operatorEquals(columnRef({referenced.schema, referenced.name, key.referenced_columns[0]}),
                     castTo(value, key.column_types[0])));

  pg_query::Node is_null;
  is_null.mutable_null_test()->set_nulltesttype(pg_query::IS_NULL);
  *is_null.mutable_null_test()->mutable_arg() = value;

  pg_query::Node either;
  either.mutable_bool_expr()->set_boolop(pg_query::OR_EXPR);
  *either.mutable_bool_expr()->add_args() = std::move(is_null);
  *either.mutable_bool_expr()->add_args() = std::move(exists);

  pg_query::Node marker;
  auto* concat = marker.mutable_func_call();
  *concat->add_funcname() = stringNode("pg_catalog");
  *concat->add_funcname() = stringNode("concat");
  *concat->add_args() = stringConst(foreignKeyMarker(table.name, key.constraint));
  concat->set_funcformat(pg_query::COERCE_EXPLICIT_CALL);

  pg_query::Node result;
  auto* when_case = result.mutable_case_expr();
  auto* when = when_case->add_args()->mutable_case_when();
  *when->mutable_expr() = std::move(either);
  when->mutable_result()->mutable_a_const()->mutable_boolval()->set_boolval(true);
  *when_case->mutable_defresult() = castTo(std::move(marker), {"pg_catalog", "bool"});
  return result;
}

// (SELECT tenantwall_key.v FROM (SELECT CAST(<value> AS <type>) AS v) AS tenantwall_key
//  WHERE <keyCondition(tenantwall_key.v)>)
pg_query::Node guardedValue(pg_query::Node value, const ForeignKey& key,
                            const ProtectedTable& table, const ProtectedTable& referenced,
                            const Principal& principal) {
  pg_query::Node out;
  auto* link = out.mutable_sub_link();
  link->set_sub_link_type(pg_query::EXPR_SUBLINK);
  auto* select = link->mutable_subselect()->mutable_select_stmt();
  plainSelect(*select);
  const pg_query::Node checked = columnRef({kKeyAlias, "v"});
  *select->add_target_list()->mutable_res_target()->mutable_val() = checked;
  auto* range = select->add_from_clause()->mutable_range_subselect();
  range->mutable_alias()->set_aliasname(std::string(kKeyAlias));
  auto* source = range->mutable_subquery()->mutable_select_stmt();
  plainSelect(*source);
  auto* item = source->add_target_list()->mutable_res_target();
  item->set_name("v");
  *item->mutable_val() = castTo(std::move(value), key.column_types[0]);
  *select->mutable_where_clause() = keyCondition(checked, key, table, referenced, principal);
  return out;
}

int columnIndex(const pg_query::InsertStmt& insert, std::string_view column) {
  for (int i = 0; i < insert.cols_size(); ++i)
    if (insert.cols(i).res_target().name() == column) return i;
  return -1;
}

// The query inside the source shapeInsert builds when it appends the tenant column:
// SELECT tenantwall_source.*, '<tenant>' FROM (<query>) AS tenantwall_source.
pg_query::Node* appendedQuery(pg_query::SelectStmt& select) {
  if (select.target_list_size() != 2 || select.from_clause_size() != 1 ||
      select.has_where_clause() || select.group_clause_size() > 0 || select.has_having_clause() ||
      select.distinct_clause_size() > 0 || select.sort_clause_size() > 0 ||
      select.has_limit_count() || select.has_limit_offset() || select.has_with_clause() ||
      select.op() != pg_query::SETOP_NONE)
    return nullptr;
  const auto& first = select.target_list(0);
  if (!first.has_res_target() || !first.res_target().val().has_column_ref()) return nullptr;
  const auto& fields = first.res_target().val().column_ref().fields();
  if (fields.size() != 2 || !fields[0].has_string() ||
      fields[0].string().sval() != "tenantwall_source" || !fields[1].has_a_star())
    return nullptr;
  auto& from = *select.mutable_from_clause(0);
  if (!from.has_range_subselect() ||
      from.range_subselect().alias().aliasname() != "tenantwall_source")
    return nullptr;
  return from.mutable_range_subselect()->mutable_subquery();
}

// How many columns a source SELECT yields, when its select list has no `*`.
std::optional<int> knownWidth(const pg_query::SelectStmt& select) {
  if (select.op() != pg_query::SETOP_NONE || select.values_lists_size() > 0) return std::nullopt;
  for (const auto& target : select.target_list()) {
    if (!target.has_res_target()) return std::nullopt;
    const auto& val = target.res_target().val();
    if (!val.has_column_ref()) continue;
    for (const auto& field : val.column_ref().fields())
      if (field.has_a_star()) return std::nullopt;
  }
  return select.target_list_size();
}

// An INSERT ... SELECT's rows are checked where they come from, so the tenant column stays a
// constant the statement shows (and tenantwall accepts the rewritten statement again):
// - tenant column appended by shapeInsert: its inner query becomes
//   SELECT tenantwall_keys.* FROM (<query>) AS tenantwall_keys(c1, ..., ck) WHERE <checks>;
// - tenant column given: the source becomes SELECT tenantwall_keys.c1, ..., '<tenant>', ...,
//   tenantwall_keys.cn FROM (<source>) AS tenantwall_keys(c1, ..., cn) WHERE <checks>.
std::expected<void, PgError> guardInsertSelect(pg_query::InsertStmt& insert,
                                               const std::vector<int>& indexes,
                                               const std::vector<const ForeignKey*>& keys,
                                               const ProtectedTable& table,
                                               const std::vector<const ProtectedTable*>& referenced,
                                               const Principal& principal) {
  auto& source = *insert.mutable_select_stmt()->mutable_select_stmt();
  pg_query::Node* checked = appendedQuery(source);
  const int columns = insert.cols_size();
  int width = 0;
  for (int index : indexes) width = std::max(width, index + 1);
  pg_query::Node wrapped;
  auto* outer = wrapped.mutable_select_stmt();
  plainSelect(*outer);
  if (checked != nullptr &&
      columnIndex(insert, table.tenant_column) == columns - 1) {  // appended last
    auto* star =
        outer->add_target_list()->mutable_res_target()->mutable_val()->mutable_column_ref();
    *star->add_fields() = stringNode(kSourceAlias);
    star->add_fields()->mutable_a_star();
  } else {
    checked = insert.mutable_select_stmt();
    const int tenant = columnIndex(insert, table.tenant_column);
    if (knownWidth(source) != columns || tenant < 0) {
      return std::unexpected(protocol::makeError(
          sqlstate::kFeatureNotSupported,
          "INSERT ... SELECT * naming the tenant column into " + table.name +
              " is not supported by tenantwall: its foreign keys are checked per column",
          "leave " + table.tenant_column + " out of the column list, or list the columns"));
    }
    width = columns;
    for (int i = 0; i < columns; ++i) {
      *outer->add_target_list()->mutable_res_target()->mutable_val() =
          i == tenant ? stringConst(principal.tenant)
                      : columnRef({kSourceAlias, "c" + std::to_string(i + 1)});
    }
  }
  auto* range = outer->add_from_clause()->mutable_range_subselect();
  range->mutable_alias()->set_aliasname(std::string(kSourceAlias));
  for (int i = 0; i < width; ++i)
    *range->mutable_alias()->add_colnames() = stringNode("c" + std::to_string(i + 1));
  range->mutable_subquery()->Swap(checked);
  std::vector<pg_query::Node> conditions;
  for (std::size_t k = 0; k < indexes.size(); ++k) {
    const pg_query::Node column = columnRef({kSourceAlias, "c" + std::to_string(indexes[k] + 1)});
    conditions.push_back(keyCondition(column, *keys[k], table, *referenced[k], principal));
  }
  if (conditions.size() == 1) {
    *outer->mutable_where_clause() = std::move(conditions.front());
  } else {
    auto* all = outer->mutable_where_clause()->mutable_bool_expr();
    all->set_boolop(pg_query::AND_EXPR);
    for (auto& condition : conditions) *all->add_args() = std::move(condition);
  }
  checked->Swap(&wrapped);
  return {};
}

}  // namespace

std::optional<PgError> checkForeignKeysKnown(const Policy& policy) {
  if (!policy.foreign_keys_pending) return std::nullopt;
  return protocol::makeError(kNotReady,
                             "writes are refused until tenantwall has read the database's "
                             "foreign keys",
                             "try again in a few seconds");
}

// "tenantwall foreign key guard 6:orders 23:orders_customer_id_fkey": each name after its
// length, so no name can end early or run into the other.
std::string foreignKeyMarker(std::string_view table, std::string_view constraint) {
  std::string marker(kMarkerPrefix);
  marker.append(std::to_string(table.size())).append(":").append(table).append(" ");
  marker.append(std::to_string(constraint.size())).append(":").append(constraint);
  return marker;
}

namespace {

// Reads "<length>:<name>" from the front of text, advancing it.
std::optional<std::string> lengthPrefixed(std::string_view& text) {
  const auto colon = text.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon > 6) return std::nullopt;
  std::size_t length = 0;
  for (char digit : text.substr(0, colon)) {
    if (digit < '0' || digit > '9') return std::nullopt;
    length = length * 10 + static_cast<std::size_t>(digit - '0');
  }
  if (text.size() < colon + 1 + length) return std::nullopt;
  std::string name(text.substr(colon + 1, length));
  text.remove_prefix(colon + 1 + length);
  return name;
}

}  // namespace

std::optional<std::pair<std::string, std::string>> readForeignKeyMarker(std::string_view message) {
  const std::string opening = "\"" + std::string(kMarkerPrefix);
  const auto start = message.find(opening);
  if (start == std::string_view::npos) return std::nullopt;
  std::string_view rest = message.substr(start + opening.size());
  auto table = lengthPrefixed(rest);
  if (!table || !rest.starts_with(" ")) return std::nullopt;
  rest.remove_prefix(1);
  auto constraint = lengthPrefixed(rest);
  if (!constraint || !rest.starts_with("\"")) return std::nullopt;
  return std::pair{std::move(*table), std::move(*constraint)};
}

std::expected<void, PgError> guardInsertForeignKeys(pg_query::InsertStmt& insert,
                                                    const ProtectedTable& table,
                                                    const Policy& policy,
                                                    const Principal& principal) {
  if (auto refusal = checkForeignKeysKnown(policy)) return std::unexpected(std::move(*refusal));
  std::vector<int> source_checks;
  std::vector<const ForeignKey*> source_keys;
  std::vector<const ProtectedTable*> source_referenced;
  for (const ForeignKey& key : table.foreign_keys) {
    const Classified classified = classify(key, table, policy);
    if (classified.check == KeyCheck::kNone) continue;
    if (classified.check != KeyCheck::kGuard) {
      for (const auto& column : key.columns)
        if (columnIndex(insert, column) >= 0)
          return std::unexpected(refusal(key, classified.check, table, "INSERT", column));
      continue;
    }
    const int index = columnIndex(insert, key.columns.front());
    if (index < 0) continue;  // the column's default: the database's, not the tenant's
    if (!insert.has_select_stmt() || !insert.select_stmt().has_select_stmt())
      return std::unexpected(unsupportedNode("InsertStmt"));
    auto& select = *insert.mutable_select_stmt()->mutable_select_stmt();
    if (select.values_lists_size() > 0) {
      for (auto& row : *select.mutable_values_lists()) {
        if (!row.has_list() || row.list().items_size() <= index)
          return std::unexpected(unsupportedNode("VALUES"));
        auto& value = *row.mutable_list()->mutable_items(index);
        if (isDefault(value)) continue;
        value = guardedValue(std::move(value), key, table, *classified.referenced, principal);
      }
      continue;
    }
    source_checks.push_back(index);
    source_keys.push_back(&key);
    source_referenced.push_back(classified.referenced);
  }
  if (source_checks.empty()) return {};
  return guardInsertSelect(insert, source_checks, source_keys, table, source_referenced, principal);
}

std::expected<void, PgError> guardSetForeignKeys(
    google::protobuf::RepeatedPtrField<pg_query::Node>& targets, const ProtectedTable& table,
    const Policy& policy, const Principal& principal) {
  if (auto refusal = checkForeignKeysKnown(policy)) return std::unexpected(std::move(*refusal));
  for (const ForeignKey& key : table.foreign_keys) {
    const Classified classified = classify(key, table, policy);
    if (classified.check == KeyCheck::kNone) continue;
    for (auto& node : targets) {
      if (!node.has_res_target()) return std::unexpected(unsupportedNode(nodeKind(node)));
      auto& target = *node.mutable_res_target();
      if (std::ranges::find(key.columns, target.name()) == key.columns.end()) continue;
      if (classified.check != KeyCheck::kGuard)
        return std::unexpected(refusal(key, classified.check, table, "UPDATE", target.name()));
      if (target.indirection_size() > 0 || target.val().has_multi_assign_ref()) {
        return std::unexpected(
            protocol::makeError(sqlstate::kFeatureNotSupported,
                                "column " + table.name + "." + target.name() +
                                    " holds a foreign key and cannot be set this way by tenantwall",
                                "set it on its own: SET " + target.name() + " = value"));
      }
      if (isDefault(target.val())) continue;
      *target.mutable_val() = guardedValue(std::move(*target.mutable_val()), key, table,
                                           *classified.referenced, principal);
    }
  }
  return {};
}

std::optional<PgError> checkCopyForeignKeys(const ProtectedTable& table,
                                            const std::vector<std::string>& columns,
                                            const Policy& policy) {
  if (auto refusal = checkForeignKeysKnown(policy)) return refusal;
  for (const ForeignKey& key : table.foreign_keys) {
    const Classified classified = classify(key, table, policy);
    if (classified.check == KeyCheck::kNone) continue;
    const bool written =
        columns.empty() || std::ranges::any_of(key.columns, [&](const std::string& column) {
          return std::ranges::find(columns, column) != columns.end();
        });
    if (!written) continue;
    return protocol::makeError(
        sqlstate::kFeatureNotSupported,
        "COPY into " + table.name + " is not supported by tenantwall: column " +
            key.columns.front() + " holds a foreign key that must be checked within your tenant",
        "use INSERT for rows that set " + key.columns.front() + ", or leave it out of the COPY");
  }
  return std::nullopt;
}

}  // namespace tenantwall::policy::sql
