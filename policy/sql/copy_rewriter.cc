// COPY options, the TO-direction rewrite into a fenced query, and the FROM STDIN plan.
#include "policy/sql/copy_rewriter.h"

#include <algorithm>
#include <cctype>
#include <string_view>
#include <utility>

#include "policy/sql/foreign_key_guard.h"
#include "policy/sql/nodes.h"
#include "policy/sql/rewriter.h"
#include "policy/sql/unique_key_guard.h"
#include "policy/sql/walker.h"
#include "protocol/sqlstate.h"

namespace tenantwall::policy::sql {
namespace {

using protocol::PgError;
namespace sqlstate = protocol::sqlstate;

constexpr std::string_view kDefaultSchema = "public";

PgError refusedCopy(std::string message, std::string hint) {
  return protocol::makeError(sqlstate::kInsufficientPrivilege, std::move(message), std::move(hint));
}

PgError unsupportedCopy(std::string message, std::string hint) {
  return protocol::makeError(sqlstate::kFeatureNotSupported, std::move(message), std::move(hint));
}

std::string lower(std::string_view text) {
  std::string out(text);
  std::ranges::transform(out, out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

// Which options each direction accepts. FREEZE, FORCE_NOT_NULL/FORCE_NULL and HEADER MATCH
// would change how rows are read in ways the proxy's row check does not follow.
struct CopyOption {
  std::string_view name;
  bool to;
  bool from;
};

constexpr CopyOption kOptions[] = {
    {"format", true, true},   {"header", true, true},       {"delimiter", true, true},
    {"null", true, true},     {"quote", true, true},        {"escape", true, true},
    {"encoding", true, true}, {"force_quote", true, false},
};

// The text of an option's argument (String, Integer or Boolean), "true" when it has none.
std::optional<std::string> optionText(const pg_query::DefElem& def) {
  if (!def.has_arg()) return "true";
  const auto& arg = def.arg();
  if (arg.has_string()) return arg.string().sval();
  if (arg.has_integer()) return std::to_string(arg.integer().ival());
  if (arg.has_boolean()) return arg.boolean().boolval() ? "true" : "false";
  return std::nullopt;
}

bool isTrue(std::string_view value) {
  const std::string v = lower(value);
  return v == "true" || v == "on" || v == "1" || v == "yes";
}

std::expected<void, PgError> checkOptions(const pg_query::CopyStmt& copy, CopyInPlan* plan) {
  bool escape_given = false;
  for (const auto& node : copy.options()) {
    if (!node.has_def_elem()) return std::unexpected(unsupportedNode(nodeKind(node)));
    const auto& def = node.def_elem();
    const auto* known = std::ranges::find(kOptions, def.defname(), &CopyOption::name);
    if (known == std::end(kOptions) || !(copy.is_from() ? known->from : known->to)) {
      return std::unexpected(unsupportedCopy(
          "COPY option " + def.defname() + " is not supported by tenantwall here",
          "COPY accepts FORMAT, HEADER, DELIMITER, NULL, QUOTE, ESCAPE and ENCODING "
          "(and FORCE_QUOTE for COPY TO)"));
    }
    if (def.defname() == "force_quote") continue;  // names output columns only
    const auto value = optionText(def);
    if (!value) return std::unexpected(unsupportedNode("DefElem"));
    if (def.defname() == "format") {
      const std::string format = lower(*value);
      if (format != "text" && format != "csv" && !(format == "binary" && !copy.is_from())) {
        return std::unexpected(unsupportedCopy(
            "COPY FORMAT " + format + " is not supported by tenantwall here",
            "COPY FROM STDIN accepts the text and CSV formats, whose rows tenantwall checks"));
      }
      if (plan != nullptr) plan->format = format;
    } else if (def.defname() == "encoding") {
      const std::string encoding = lower(*value);
      if (encoding != "utf8" && encoding != "utf-8" && encoding != "unicode") {
        return std::unexpected(
            unsupportedCopy("COPY ENCODING " + *value + " is not supported by tenantwall",
                            "COPY data is exchanged in UTF8"));
      }
    } else if (def.defname() == "header") {
      if (lower(*value) == "match") {
        return std::unexpected(unsupportedCopy(
            "COPY ... HEADER MATCH is not supported by tenantwall",
            "use HEADER true; the column list of the rewritten COPY may differ from yours"));
      }
      if (plan != nullptr) plan->header = isTrue(*value);
    } else if (def.defname() == "null") {
      if (plan != nullptr) plan->null_string = *value;
    } else {  // delimiter, quote, escape: one byte each
      if (value->size() != 1) {
        return std::unexpected(
            unsupportedCopy("COPY " + def.defname() + " must be a single one-byte character", {}));
      }
      if (plan == nullptr) continue;
      if (def.defname() == "delimiter") plan->delimiter = (*value)[0];
      if (def.defname() == "quote") plan->quote = (*value)[0];
      if (def.defname() == "escape") {
        plan->escape = (*value)[0];
        escape_given = true;
      }
    }
  }
  if (plan == nullptr) return {};
  // Defaults of the format chosen (PostgreSQL documentation, COPY, "Parameters").
  const bool csv = plan->format == "csv";
  bool delimiter_given = false, null_given = false, quote_given = false;
  for (const auto& node : copy.options()) {
    const std::string& name = node.def_elem().defname();
    delimiter_given = delimiter_given || name == "delimiter";
    null_given = null_given || name == "null";
    quote_given = quote_given || name == "quote";
  }
  if (!delimiter_given) plan->delimiter = csv ? ',' : '\t';
  if (!null_given) plan->null_string = csv ? "" : "\\N";
  if (!csv) {
    if (quote_given || escape_given) {
      return std::unexpected(unsupportedCopy("COPY QUOTE and ESCAPE are available only in CSV mode",
                                             "add FORMAT csv"));
    }
    plan->quote = '\0';
    plan->escape = '\0';
    return {};
  }
  if (!quote_given) plan->quote = '"';
  if (!escape_given) plan->escape = plan->quote;
  return {};
}

std::string written(const pg_query::RangeVar& relation) {
  return relation.schemaname().empty() ? relation.relname()
                                       : relation.schemaname() + "." + relation.relname();
}

}  // namespace

std::expected<CopyRewrite, PgError> rewriteCopy(pg_query::Node& statement,
                                                const Principal& principal, const Policy& policy) {
  auto& copy = *statement.mutable_copy_stmt();
  if (copy.is_program() || !copy.filename().empty()) {
    return std::unexpected(refusedCopy(
        "COPY to or from a server file or program is not allowed by the tenantwall policy",
        "use COPY ... TO STDOUT or FROM STDIN (psql: \\copy)"));
  }
  if (copy.has_where_clause()) {
    return std::unexpected(
        unsupportedCopy("COPY ... FROM STDIN WHERE is not supported by "
                        "tenantwall",
                        "load the rows, then DELETE those you do not want"));
  }

  CopyRewrite result;
  if (!copy.is_from()) {
    if (auto s = checkOptions(copy, nullptr); !s) return std::unexpected(s.error());
    if (!copy.has_query()) {
      // COPY t [(columns)] TO STDOUT: the same as COPY (SELECT columns FROM t) TO STDOUT.
      if (!copy.has_relation()) return std::unexpected(unsupportedNode("CopyStmt"));
      const auto& source = copy.relation();
      const ProtectedTable* table =
          source.catalogname().empty()
              ? policy.findProtected(
                    source.schemaname().empty() ? std::string(kDefaultSchema) : source.schemaname(),
                    source.relname())
              : nullptr;
      for (const auto& column : copy.attlist()) {
        if (table == nullptr || !column.has_string()) break;
        if (table->findColumn(column.string().sval()) != nullptr) continue;
        return std::unexpected(refusedCopy(
            "column " + table->name + "." + column.string().sval() +
                " is not visible under the tenantwall policy",
            "the columns of " + table->name + " are the visible columns its policy lists"));
      }
      pg_query::Node query;
      auto* select = query.mutable_select_stmt();
      select->set_limit_option(pg_query::LIMIT_OPTION_DEFAULT);
      select->set_op(pg_query::SETOP_NONE);
      if (copy.attlist_size() == 0) {
        auto* star = select->add_target_list()->mutable_res_target()->mutable_val();
        star->mutable_column_ref()->add_fields()->mutable_a_star();
      }
      for (const auto& column : copy.attlist()) {
        if (!column.has_string()) return std::unexpected(unsupportedNode(nodeKind(column)));
        *select->add_target_list()->mutable_res_target()->mutable_val() =
            columnRef({column.string().sval()});
      }
      *select->add_from_clause()->mutable_range_var() = copy.relation();
      copy.clear_relation();
      copy.clear_attlist();
      *copy.mutable_query() = std::move(query);
    }
    auto rewritten = rewriteStatement(*copy.mutable_query(), principal, policy);
    if (!rewritten) return std::unexpected(rewritten.error());
    result.relations = std::move(rewritten->relations);
    return result;
  }

  // COPY t [(columns)] FROM STDIN
  if (!copy.has_relation()) return std::unexpected(unsupportedNode("CopyStmt"));
  auto& relation = *copy.mutable_relation();
  const std::string schema =
      relation.schemaname().empty() ? std::string(kDefaultSchema) : relation.schemaname();
  const ProtectedTable* table =
      relation.catalogname().empty() ? policy.findProtected(schema, relation.relname()) : nullptr;
  if (table == nullptr) {
    if (relation.catalogname().empty() && policy.isReference(schema, relation.relname())) {
      return std::unexpected(refusedCopy(
          "COPY into " + written(relation) + " is not allowed: it is a shared reference table",
          "reference tables are read-only to tenants"));
    }
    return std::unexpected(refusedCopy(
        "COPY into relation \"" + written(relation) + "\" is not allowed by the tenantwall policy",
        "tenants can write only to the protected tables named in the tenantwall policy"));
  }
  relation.set_schemaname(table->schema);
  // The rows arrive after the decision, so row rules (policy/sql/row_rules.h) cannot be shown
  // to hold for them: under row rules, rows are written with INSERT.
  if (!table->rules.empty()) {
    return std::unexpected(refusedCopy(
        "COPY into " + written(relation) + " is not allowed under the row rules of role '" +
            principal.role + "'",
        "insert the rows with INSERT ... VALUES, whose rows are checked against the rules"));
  }

  CopyInPlan plan;
  plan.format = "text";
  if (auto s = checkOptions(copy, &plan); !s) return std::unexpected(s.error());
  if (copy.attlist_size() == 0) {
    // No list means every column of the table, hidden ones included: write the visible ones.
    for (const ColumnRule& column : table->columns) *copy.add_attlist() = stringNode(column.name);
  }
  std::optional<int> tenant_index;
  for (int i = 0; i < copy.attlist_size(); ++i) {
    const auto& column = copy.attlist(i);
    if (!column.has_string()) return std::unexpected(unsupportedNode(nodeKind(column)));
    const std::string& name = column.string().sval();
    if (table->findColumn(name) == nullptr && name != table->tenant_column) {
      return std::unexpected(refusedCopy(
          "column " + table->name + "." + name + " is not visible under the tenantwall policy",
          "the columns of " + table->name + " are the visible columns its policy lists"));
    }
    if (const ColumnRule* rule = table->findColumn(name); rule != nullptr && !rule->writable) {
      return std::unexpected(refusedCopy(
          "column " + table->name + "." + name +
              " cannot be written: your role sees it masked under the tenantwall policy",
          "only roles that see a column plainly (or have write_masked) may write it"));
    }
    if (name == table->tenant_column) tenant_index = i;
    plan.columns.push_back(name);
  }
  // COPY may not choose values of keys unique across tenants (policy/sql/unique_key_guard.h).
  if (auto refusal = checkCopyUniqueKeys(*table, plan.columns, policy))
    return std::unexpected(std::move(*refusal));
  // Foreign keys to other protected tables are checked per value inside the tenant's fence,
  // which rows arriving after the decision cannot be (policy/sql/foreign_key_guard.h).
  if (auto refusal = checkCopyForeignKeys(*table, plan.columns, policy))
    return std::unexpected(std::move(*refusal));
  if (!tenant_index) {
    *copy.add_attlist() = stringNode(table->tenant_column);
    plan.columns.push_back(table->tenant_column);
    tenant_index = static_cast<int>(plan.columns.size()) - 1;
    plan.tenant_appended = true;
  }
  plan.tenant_column_index = *tenant_index;
  result.relations.push_back(table->schema + "." + table->name);
  result.copy_in = std::move(plan);
  return result;
}

}  // namespace tenantwall::policy::sql
