// The secured catalog relations and guarded catalog functions, as SQL templates parsed once.
// The templates name only the real catalogs (they are never rewritten again); the policy's
// tables, columns and schemas enter them as constant nodes in place of placeholders
// (tenantwall_tables, tenantwall_columns, tenantwall_reference_tables, tenantwall_schemas),
// and a guarded call's arguments in place of tenantwall_arg0/1 and tenantwall_call.
#include "policy/sql/catalog_rewriter.h"

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "policy/sql/nodes.h"
#include "policy/sql/parser.h"
#include "policy/sql/walker.h"
#include "protocol/sqlstate.h"

namespace tenantwall::policy::sql {

enum class CatalogKind {
  kOpen,    // global and harmless (access methods, collations): qualified, not fenced
  kFenced,  // rows filtered to what the policy shows
  kEmpty,   // available so that tools' queries run, but shows no rows
};

struct CatalogRelation {
  std::string_view schema;
  std::string_view name;
  CatalogKind kind;
  std::string_view filter;   // kFenced: a WHERE condition over the catalog (macros below)
  std::string_view columns;  // the select list of the fence ("" means *)
};

namespace {

using protocol::PgError;

// Macros expanded in the templates before they are parsed.
// {REL}: oids of the policy's tables. {ATT}: (attrelid, attnum) of their visible columns.
// {IDX}: indexes of those tables over visible columns only. {TYP}: types the catalogs may
// show. {CONOK:x}: constraint row x lies on the policy's tables and visible columns only.
constexpr std::pair<std::string_view, std::string_view> kMacros[] = {
    {"{REL}",
     "SELECT tw_c.oid FROM pg_catalog.pg_class tw_c JOIN pg_catalog.pg_namespace tw_n ON "
     "tw_n.oid OPERATOR(pg_catalog.=) tw_c.relnamespace WHERE (tw_n.nspname, tw_c.relname) IN "
     "(tenantwall_tables)"},
    {"{ATT}",
     "SELECT tw_a.attrelid, tw_a.attnum FROM pg_catalog.pg_attribute tw_a JOIN "
     "pg_catalog.pg_class tw_c ON tw_c.oid OPERATOR(pg_catalog.=) tw_a.attrelid JOIN "
     "pg_catalog.pg_namespace tw_n ON tw_n.oid OPERATOR(pg_catalog.=) tw_c.relnamespace WHERE "
     "tw_a.attnum OPERATOR(pg_catalog.>) 0 AND NOT tw_a.attisdropped AND ((tw_n.nspname, "
     "tw_c.relname, tw_a.attname) IN (tenantwall_columns) OR (tw_n.nspname, tw_c.relname) IN "
     "(tenantwall_reference_tables))"},
    {"{IDX}",
     "SELECT tw_i.indexrelid FROM pg_catalog.pg_index tw_i WHERE tw_i.indrelid IN ({REL}) AND "
     "tw_i.indexprs IS NULL AND tw_i.indpred IS NULL AND NOT EXISTS (SELECT 1 FROM "
     "pg_catalog.pg_attribute tw_k WHERE tw_k.attrelid OPERATOR(pg_catalog.=) tw_i.indrelid AND "
     "tw_k.attnum OPERATOR(pg_catalog.=) ANY (tw_i.indkey) AND (tw_k.attrelid, tw_k.attnum) NOT "
     "IN ({ATT}))"},
    {"{TYP}",
     "SELECT tw_y.oid FROM pg_catalog.pg_type tw_y WHERE tw_y.typnamespace IN (SELECT tw_s.oid "
     "FROM pg_catalog.pg_namespace tw_s WHERE tw_s.nspname IN ('pg_catalog', "
     "'information_schema')) OR tw_y.typrelid IN ({REL}) OR tw_y.oid IN (SELECT tw_t.atttypid "
     "FROM pg_catalog.pg_attribute tw_t WHERE (tw_t.attrelid, tw_t.attnum) IN ({ATT}))"},
    {"{CON}", "SELECT tw_o.oid FROM pg_catalog.pg_constraint tw_o WHERE {CONOK:tw_o}"},
    {"{CONNAMES}",
     "SELECT tw_s.nspname, tw_o.conname, tw_r.relname FROM pg_catalog.pg_constraint tw_o JOIN "
     "pg_catalog.pg_namespace tw_s ON tw_s.oid OPERATOR(pg_catalog.=) tw_o.connamespace JOIN "
     "pg_catalog.pg_class tw_r ON tw_r.oid OPERATOR(pg_catalog.=) tw_o.conrelid WHERE "
     "{CONOK:tw_o}"},
};

// {CONOK:x}, with x the constraint row's qualifier.
constexpr std::string_view kConstraintOk =
    "x.conrelid IN ({REL}) AND (x.confrelid OPERATOR(pg_catalog.=) 0 OR x.confrelid IN ({REL})) "
    "AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute tw_k WHERE ((tw_k.attrelid "
    "OPERATOR(pg_catalog.=) x.conrelid AND tw_k.attnum OPERATOR(pg_catalog.=) ANY (x.conkey)) OR "
    "(tw_k.attrelid OPERATOR(pg_catalog.=) x.confrelid AND tw_k.attnum OPERATOR(pg_catalog.=) "
    "ANY (x.confkey))) AND (tw_k.attrelid, tw_k.attnum) NOT IN ({ATT}))";

// pg_class without its statistics (reltuples and relpages count every tenant's rows) and its
// ACL (role names).
constexpr std::string_view kClassColumns =
    "pg_catalog.pg_class.oid, pg_catalog.pg_class.relname, pg_catalog.pg_class.relnamespace, "
    "pg_catalog.pg_class.reltype, pg_catalog.pg_class.reloftype, pg_catalog.pg_class.relowner, "
    "pg_catalog.pg_class.relam, pg_catalog.pg_class.relfilenode, "
    "pg_catalog.pg_class.reltablespace, 0 AS relpages, '-1'::pg_catalog.float4 AS reltuples, 0 "
    "AS relallvisible, pg_catalog.pg_class.reltoastrelid, pg_catalog.pg_class.relhasindex, "
    "pg_catalog.pg_class.relisshared, pg_catalog.pg_class.relpersistence, "
    "pg_catalog.pg_class.relkind, pg_catalog.pg_class.relnatts, pg_catalog.pg_class.relchecks, "
    "pg_catalog.pg_class.relhasrules, pg_catalog.pg_class.relhastriggers, "
    "pg_catalog.pg_class.relhassubclass, pg_catalog.pg_class.relrowsecurity, "
    "pg_catalog.pg_class.relforcerowsecurity, pg_catalog.pg_class.relispopulated, "
    "pg_catalog.pg_class.relreplident, pg_catalog.pg_class.relispartition, "
    "pg_catalog.pg_class.relrewrite, pg_catalog.pg_class.relfrozenxid, "
    "pg_catalog.pg_class.relminmxid, pg_catalog.pg_class.reloptions, "
    "pg_catalog.pg_class.relpartbound";

using enum CatalogKind;

// Every catalog relation tenants may read. Anything else in pg_catalog or information_schema
// (pg_stats, pg_stat_*, pg_locks, pg_authid, ...) is refused.
constexpr CatalogRelation kCatalogs[] = {
    {"pg_catalog",
     "pg_namespace",
     kFenced,
     "pg_catalog.pg_namespace.nspname IN (tenantwall_schemas)",
     {}},
    {"pg_catalog", "pg_class", kFenced,
     "pg_catalog.pg_class.oid IN ({REL}) OR pg_catalog.pg_class.oid IN ({IDX})", kClassColumns},
    {"pg_catalog",
     "pg_attribute",
     kFenced,
     "(pg_catalog.pg_attribute.attrelid, pg_catalog.pg_attribute.attnum) IN ({ATT})",
     {}},
    {"pg_catalog",
     "pg_attrdef",
     kFenced,
     "(pg_catalog.pg_attrdef.adrelid, pg_catalog.pg_attrdef.adnum) IN ({ATT})",
     {}},
    {"pg_catalog", "pg_index", kFenced, "pg_catalog.pg_index.indexrelid IN ({IDX})", {}},
    {"pg_catalog", "pg_constraint", kFenced, "{CONOK:pg_catalog.pg_constraint}", {}},
    {"pg_catalog", "pg_type", kFenced, "pg_catalog.pg_type.oid IN ({TYP})", {}},
    {"pg_catalog",
     "pg_description",
     kFenced,
     "pg_catalog.pg_description.classoid OPERATOR(pg_catalog.=) "
     "'pg_catalog.pg_class'::pg_catalog.regclass AND ((pg_catalog.pg_description.objsubid "
     "OPERATOR(pg_catalog.=) 0 AND pg_catalog.pg_description.objoid IN ({REL})) OR "
     "(pg_catalog.pg_description.objoid, pg_catalog.pg_description.objsubid) IN ({ATT}))",
     {}},
    {"pg_catalog",
     "pg_inherits",
     kFenced,
     "pg_catalog.pg_inherits.inhrelid IN ({REL}) AND pg_catalog.pg_inherits.inhparent IN "
     "({REL})",
     {}},
    // Only the database this session is connected to.
    {"pg_catalog",
     "pg_database",
     kFenced,
     "pg_catalog.pg_database.datname OPERATOR(pg_catalog.=) pg_catalog.current_database()",
     {}},
    // Only compile-time limits that drivers read (pgJDBC's getImportedKeys/getExportedKeys
    // generate_series(1, max_index_keys)); every other setting stays out of sight.
    {"pg_catalog",
     "pg_settings",
     kFenced,
     "pg_catalog.pg_settings.name IN ('max_index_keys', 'max_identifier_length', "
     "'max_function_args', 'block_size')",
     {}},
    {"pg_catalog", "pg_am", kOpen, {}, {}},
    {"pg_catalog", "pg_collation", kOpen, {}, {}},
    // Asked for by psql's \d and SQLAlchemy; tenants have none of these objects to see.
    {"pg_catalog", "pg_sequence", kEmpty, {}, {}},
    {"pg_catalog", "pg_policy", kEmpty, {}, {}},
    {"pg_catalog", "pg_roles", kEmpty, {}, {}},
    {"pg_catalog", "pg_trigger", kEmpty, {}, {}},
    {"pg_catalog", "pg_statistic_ext", kEmpty, {}, {}},
    {"pg_catalog", "pg_publication", kEmpty, {}, {}},
    {"pg_catalog", "pg_publication_namespace", kEmpty, {}, {}},
    {"pg_catalog", "pg_publication_rel", kEmpty, {}, {}},
    {"pg_catalog", "pg_rewrite", kEmpty, {}, {}},
    {"pg_catalog", "pg_enum", kEmpty, {}, {}},
    // psql's \df: tenants may call only built-in functions, and have none of their own to list.
    {"pg_catalog", "pg_proc", kEmpty, {}, {}},
    {"information_schema",
     "tables",
     kFenced,
     "(information_schema.tables.table_schema, information_schema.tables.table_name) IN "
     "(tenantwall_tables)",
     {}},
    {"information_schema",
     "columns",
     kFenced,
     "(information_schema.columns.table_schema, information_schema.columns.table_name, "
     "information_schema.columns.column_name) IN (tenantwall_columns) OR "
     "(information_schema.columns.table_schema, information_schema.columns.table_name) IN "
     "(tenantwall_reference_tables)",
     {}},
    {"information_schema",
     "schemata",
     kFenced,
     "information_schema.schemata.schema_name IN (tenantwall_schemas)",
     {}},
    {"information_schema",
     "table_constraints",
     kFenced,
     "(information_schema.table_constraints.constraint_schema, "
     "information_schema.table_constraints.constraint_name, "
     "information_schema.table_constraints.table_name) IN ({CONNAMES})",
     {}},
    {"information_schema",
     "key_column_usage",
     kFenced,
     "(information_schema.key_column_usage.constraint_schema, "
     "information_schema.key_column_usage.constraint_name, "
     "information_schema.key_column_usage.table_name) IN ({CONNAMES})",
     {}},
    {"information_schema",
     "referential_constraints",
     kFenced,
     "(information_schema.referential_constraints.constraint_schema, "
     "information_schema.referential_constraints.constraint_name) IN (SELECT tw_x.nspname, "
     "tw_x.conname FROM ({CONNAMES}) tw_x)",
     {}},
    {"information_schema", "views", kEmpty, {}, {}},
};

// Functions that print a catalog object given its oid, and the condition under which they
// may: the object is one the secured catalogs show. Without it they would describe anything.
constexpr std::pair<std::string_view, std::string_view> kGuards[] = {
    {"pg_get_indexdef", "tenantwall_arg0 IN ({IDX})"},
    {"pg_get_constraintdef", "tenantwall_arg0 IN ({CON})"},
    {"pg_get_expr", "tenantwall_arg1 IN ({REL})"},
    {"format_type", "tenantwall_arg0 IN ({TYP})"},
    {"col_description", "(tenantwall_arg0, tenantwall_arg1) IN ({ATT})"},
    {"obj_description",
     "tenantwall_arg0 IN ({REL}) OR tenantwall_arg0 IN (SELECT tw_s.oid FROM "
     "pg_catalog.pg_namespace tw_s WHERE tw_s.nspname IN (tenantwall_schemas))"},
    {"pg_get_userbyid",
     "tenantwall_arg0 IN (SELECT tw_u.relowner FROM pg_catalog.pg_class tw_u WHERE tw_u.oid IN "
     "({REL}))"},
    {"pg_get_serial_sequence", "pg_catalog.to_regclass(tenantwall_arg0) IN ({REL})"},
    {"to_regclass",
     "pg_catalog.to_regclass(tenantwall_arg0) IN ({REL}) OR "
     "pg_catalog.to_regclass(tenantwall_arg0)::pg_catalog.oid OPERATOR(pg_catalog.<) 16384"},
    {"pg_get_triggerdef", "false"},
    {"pg_get_statisticsobjdef_columns", "false"},
    {"pg_get_viewdef", "false"},
    {"pg_get_ruledef", "false"},
    {"pg_get_function_result", "false"},
    {"pg_get_function_arguments", "false"},
    {"pg_get_function_identity_arguments", "false"},
    {"pg_function_is_visible", "false"},
};

// has_table_privilege(table, privilege) and has_any_column_privilege(table, privilege) for a
// table given by oid (or any expression): answered for relations the catalogs show, NULL for
// others, as PostgreSQL answers for an oid that names nothing.
constexpr std::string_view kTablePrivilegeGuard =
    "SELECT CASE WHEN (tenantwall_arg0)::pg_catalog.oid IN ({REL}) OR "
    "(tenantwall_arg0)::pg_catalog.oid OPERATOR(pg_catalog.<) 16384 THEN tenantwall_call END";
// has_column_privilege(table, column name, privilege) and (table, attnum, privilege).
constexpr std::string_view kColumnNamePrivilegeGuard =
    "SELECT CASE WHEN ((tenantwall_arg0)::pg_catalog.oid, (tenantwall_arg1)::pg_catalog.name) IN "
    "(SELECT tw_z.attrelid, tw_z.attname FROM pg_catalog.pg_attribute tw_z WHERE (tw_z.attrelid, "
    "tw_z.attnum) IN ({ATT})) OR (tenantwall_arg0)::pg_catalog.oid OPERATOR(pg_catalog.<) 16384 "
    "THEN tenantwall_call END";
constexpr std::string_view kColumnNumberPrivilegeGuard =
    "SELECT CASE WHEN ((tenantwall_arg0)::pg_catalog.oid, (tenantwall_arg1)::pg_catalog.int2) IN "
    "({ATT}) OR (tenantwall_arg0)::pg_catalog.oid OPERATOR(pg_catalog.<) 16384 THEN "
    "tenantwall_call END";

// value::regclass for any value but a visible relation's name: the value is read as an oid, so
// a text value naming a relation fails alike for hidden and missing relations, and an oid
// prints a name only for a relation the catalogs show (or a system catalog).
constexpr std::string_view kRegclassGuard =
    "SELECT CASE WHEN (tenantwall_arg0)::pg_catalog.oid IN ({REL}) OR "
    "(tenantwall_arg0)::pg_catalog.oid OPERATOR(pg_catalog.<) 16384 THEN "
    "(tenantwall_arg0)::pg_catalog.oid::pg_catalog.regclass END";

std::string expandMacros(std::string text) {
  for (bool changed = true; changed;) {
    changed = false;
    for (const auto& [name, body] : kMacros) {
      for (auto at = text.find(name); at != std::string::npos; at = text.find(name)) {
        text.replace(at, name.size(), body);
        changed = true;
      }
    }
    const std::string_view prefix = "{CONOK:";
    if (auto at = text.find(prefix); at != std::string::npos) {
      const auto end = text.find('}', at);
      const std::string qualifier = text.substr(at + prefix.size(), end - at - prefix.size());
      std::string body(kConstraintOk);
      for (auto x = body.find("x."); x != std::string::npos; x = body.find("x.", x)) {
        const bool word_start = x == 0 || body[x - 1] == ' ' || body[x - 1] == '(';
        if (!word_start) {
          ++x;
          continue;
        }
        body.replace(x, 1, qualifier);
        x += qualifier.size() + 1;
      }
      text.replace(at, end - at + 1, body);
      changed = true;
    }
  }
  return text;
}

// Parses each template once (first use), keyed by its text; an entry that fails to parse is
// a programming error caught by the unit tests, and leaves its relation or function refused.
const pg_query::Node* parsedTemplate(const std::string& sql) {
  static const std::map<std::string, pg_query::Node> templates = [] {
    std::map<std::string, pg_query::Node> built;
    auto add = [&](const std::string& text) {
      auto tree = parse(expandMacros(text));
      if (tree && tree->stmts_size() == 1) built.emplace(text, tree->stmts(0).stmt());
    };
    for (const CatalogRelation& catalog : kCatalogs) {
      if (catalog.kind == kFenced) {
        add("SELECT " + std::string(catalog.columns.empty() ? "*" : catalog.columns) + " FROM " +
            std::string(catalog.schema) + "." + std::string(catalog.name) + " WHERE " +
            std::string(catalog.filter) + " OFFSET 0");
      }
    }
    for (const auto& [name, condition] : kGuards)
      add("SELECT CASE WHEN " + std::string(condition) + " THEN tenantwall_call END");
    add(std::string(kRegclassGuard));
    add(std::string(kTablePrivilegeGuard));
    add(std::string(kColumnNamePrivilegeGuard));
    add(std::string(kColumnNumberPrivilegeGuard));
    return built;
  }();
  const auto it = templates.find(sql);
  return it == templates.end() ? nullptr : &it->second;
}

std::string fenceText(const CatalogRelation& catalog) {
  return "SELECT " + std::string(catalog.columns.empty() ? "*" : catalog.columns) + " FROM " +
         std::string(catalog.schema) + "." + std::string(catalog.name) + " WHERE " +
         std::string(catalog.filter) + " OFFSET 0";
}

pg_query::Node row(std::initializer_list<pg_query::Node> values) {
  pg_query::Node node;
  auto* expr = node.mutable_row_expr();
  for (const auto& value : values) *expr->add_args() = value;
  expr->set_row_format(pg_query::COERCE_IMPLICIT_CAST);
  return node;
}

pg_query::Node nullConst() {
  pg_query::Node node;
  node.mutable_a_const()->set_isnull(true);
  return node;
}

// The constant lists the policy puts in place of the list placeholders.
struct PolicyLists {
  NodeList tables;            // (schema, table) of protected and reference tables
  NodeList reference_tables;  // (schema, table) of reference tables
  NodeList columns;           // (schema, table, column) of visible protected columns
  NodeList schemas;           // schema names
};

PolicyLists policyLists(const Policy& policy) {
  PolicyLists lists;
  std::set<std::string> schemas = {"pg_catalog", "information_schema"};
  for (const auto& [key, table] : policy.protected_tables) {
    *lists.tables.Add() = row({stringConst(table.schema), stringConst(table.name)});
    for (const ColumnRule& column : table.columns) {
      *lists.columns.Add() =
          row({stringConst(table.schema), stringConst(table.name), stringConst(column.name)});
    }
    schemas.insert(table.schema);
  }
  for (const std::string& key : policy.reference_tables) {
    const auto dot = key.find('.');
    const std::string schema = key.substr(0, dot), name = key.substr(dot + 1);
    *lists.tables.Add() = row({stringConst(schema), stringConst(name)});
    *lists.reference_tables.Add() = row({stringConst(schema), stringConst(name)});
    schemas.insert(schema);
  }
  for (const std::string& schema : schemas) *lists.schemas.Add() = stringConst(schema);
  // IN () is not SQL: an empty list becomes one row of NULLs, which matches nothing.
  if (lists.tables.empty()) *lists.tables.Add() = row({nullConst(), nullConst()});
  if (lists.reference_tables.empty())
    *lists.reference_tables.Add() = row({nullConst(), nullConst()});
  if (lists.columns.empty()) *lists.columns.Add() = row({nullConst(), nullConst(), nullConst()});
  return lists;
}

// What a guard template wraps: the whole expression (tenantwall_call) and its arguments
// (tenantwall_arg0, tenantwall_arg1): a function call's, or a cast's one value.
struct Guarded {
  const pg_query::Node* whole = nullptr;
  const NodeList* args = nullptr;
};

// Puts the policy's lists and a call's arguments in place of the placeholders.
class Substitute final : public Visitor {
 public:
  Substitute(const PolicyLists& lists, Guarded call) : lists_(lists), call_(call) {}

  bool knows(std::string_view) const override { return true; }  // trusted template

  Visit visit(google::protobuf::Message&, pg_query::Node* wrapper, Walker&) override {
    if (wrapper == nullptr) return Next::kChildren;
    if (wrapper->has_list() && wrapper->list().items_size() == 1) {
      if (const NodeList* list = listFor(placeholder(wrapper->list().items(0)))) {
        *wrapper->mutable_list()->mutable_items() = *list;
        return Next::kDone;
      }
    }
    const std::string name = placeholder(*wrapper);
    if (name.empty() || call_.whole == nullptr) return Next::kChildren;
    if (name == "tenantwall_call") {
      *wrapper = *call_.whole;
      return Next::kDone;
    }
    const int index = name == "tenantwall_arg0" ? 0 : name == "tenantwall_arg1" ? 1 : -1;
    if (index < 0) return Next::kChildren;
    if (index >= call_.args->size()) {
      missing_ = true;
      return Next::kDone;
    }
    *wrapper = (*call_.args)[index];
    return Next::kDone;
  }

  bool missing() const { return missing_; }

 private:
  static std::string placeholder(const pg_query::Node& node) {
    if (!node.has_column_ref() || node.column_ref().fields_size() != 1) return {};
    const auto& field = node.column_ref().fields(0);
    if (!field.has_string() || !field.string().sval().starts_with("tenantwall_")) return {};
    return field.string().sval();
  }

  const NodeList* listFor(const std::string& name) const {
    if (name == "tenantwall_tables") return &lists_.tables;
    if (name == "tenantwall_reference_tables") return &lists_.reference_tables;
    if (name == "tenantwall_columns") return &lists_.columns;
    if (name == "tenantwall_schemas") return &lists_.schemas;
    return nullptr;
  }

  const PolicyLists& lists_;
  Guarded call_;
  bool missing_ = false;
};

PgError catalogUnavailable(std::string_view what) {
  return protocol::makeError(protocol::sqlstate::kInternalError,
                             "the secured form of " + std::string(what) + " is unavailable");
}

std::expected<pg_query::Node, PgError> instantiate(const std::string& text, const Policy& policy,
                                                   Guarded call, std::string_view what) {
  const pg_query::Node* parsed = parsedTemplate(text);
  if (parsed == nullptr) return std::unexpected(catalogUnavailable(what));
  pg_query::Node node = *parsed;
  const PolicyLists lists = policyLists(policy);
  Substitute substitute(lists, call);
  Walker walker(substitute, kMaxTreeDepth);
  if (auto s = walker.walk(node); !s) return std::unexpected(s.error());
  if (substitute.missing()) {
    return std::unexpected(
        protocol::makeError(protocol::sqlstate::kUndefinedFunction,
                            "function " + std::string(what) + " is called with too few arguments"));
  }
  return node;
}

}  // namespace

const CatalogRelation* findCatalogRelation(std::string_view schema, std::string_view name) {
  for (const CatalogRelation& catalog : kCatalogs) {
    if (catalog.name != name) continue;
    if (catalog.schema == schema || (schema.empty() && catalog.schema == "pg_catalog"))
      return &catalog;
  }
  return nullptr;
}

std::string catalogName(const CatalogRelation& catalog) {
  return std::string(catalog.schema) + "." + std::string(catalog.name);
}

bool isCatalogSchema(std::string_view schema) {
  return schema == "pg_catalog" || schema == "information_schema";
}

std::expected<pg_query::Node, PgError> catalogFence(const CatalogRelation& catalog,
                                                    const pg_query::RangeVar& relation,
                                                    const Policy& policy) {
  pg_query::Node out;
  if (catalog.kind == kOpen) {
    *out.mutable_range_var() = relation;
    out.mutable_range_var()->set_schemaname(std::string(catalog.schema));
    return out;
  }
  auto* range = out.mutable_range_subselect();
  if (catalog.kind == kEmpty) {
    // SELECT * FROM schema.name WHERE false OFFSET 0: the right columns, no rows.
    auto* select = range->mutable_subquery()->mutable_select_stmt();
    auto* star = select->add_target_list()->mutable_res_target()->mutable_val();
    star->mutable_column_ref()->add_fields()->mutable_a_star();
    auto* from = select->add_from_clause()->mutable_range_var();
    from->set_schemaname(std::string(catalog.schema));
    from->set_relname(std::string(catalog.name));
    from->set_inh(true);
    from->set_relpersistence("p");
    select->mutable_where_clause()->mutable_a_const()->mutable_boolval()->set_boolval(false);
    select->mutable_limit_offset()->mutable_a_const()->mutable_ival()->set_ival(0);
    select->set_limit_option(pg_query::LIMIT_OPTION_COUNT);
    select->set_op(pg_query::SETOP_NONE);
  } else {
    auto subquery = instantiate(fenceText(catalog), policy, Guarded{}, catalog.name);
    if (!subquery) return std::unexpected(subquery.error());
    *range->mutable_subquery() = std::move(*subquery);
  }
  if (relation.has_alias()) {
    *range->mutable_alias() = relation.alias();
  } else {
    range->mutable_alias()->set_aliasname(std::string(catalog.name));
  }
  return out;
}

namespace {

constexpr std::string_view kPrivilegeFunctions[] = {
    "has_table_privilege", "has_any_column_privilege", "has_column_privilege"};

std::expected<pg_query::Node, PgError> guardPrivilegeCall(const pg_query::Node& call,
                                                          std::string_view function,
                                                          const Policy& policy);

}  // namespace

std::optional<std::expected<pg_query::Node, PgError>> guardCatalogCall(const pg_query::Node& call,
                                                                       const Policy& policy) {
  if (!call.has_func_call()) return std::nullopt;
  const auto names = stringNames(call.func_call().funcname());
  if (!names || names->empty() || names->size() > 2) return std::nullopt;
  if (names->size() == 2 && (*names)[0] != "pg_catalog") return std::nullopt;
  if (std::ranges::find(kPrivilegeFunctions, std::string_view(names->back())) !=
      std::end(kPrivilegeFunctions))
    return guardPrivilegeCall(call, names->back(), policy);
  const auto* guard = std::ranges::find(kGuards, std::string_view(names->back()),
                                        &std::pair<std::string_view, std::string_view>::first);
  if (guard == std::end(kGuards)) return std::nullopt;
  auto node =
      instantiate("SELECT CASE WHEN " + std::string(guard->second) + " THEN tenantwall_call END",
                  policy, Guarded{&call, &call.func_call().args()}, guard->first);
  if (!node) return std::unexpected(node.error());
  // The template is a SELECT; the guard is its one select-list expression.
  return node->select_stmt().target_list(0).res_target().val();
}

bool isGuardedCatalogCall(const pg_query::FuncCall& call) {
  const auto names = stringNames(call.funcname());
  if (!names || names->empty() || names->size() > 2) return false;
  if (names->size() == 2 && (*names)[0] != "pg_catalog") return false;
  if (std::ranges::find(kPrivilegeFunctions, std::string_view(names->back())) !=
      std::end(kPrivilegeFunctions))
    return true;
  return std::ranges::find(kGuards, std::string_view(names->back()),
                           &std::pair<std::string_view, std::string_view>::first) !=
         std::end(kGuards);
}

namespace {

// Splits a relation name the way regclass input does: dot-separated identifiers, double quotes
// keep case and dots ("" is a quote), unquoted names fold to lower case. nullopt: malformed.
std::optional<std::vector<std::string>> relationNameParts(std::string_view text) {
  std::vector<std::string> parts;
  std::size_t i = 0;
  for (;;) {
    std::string part;
    if (i < text.size() && text[i] == '"') {
      for (++i;; ++i) {
        if (i >= text.size()) return std::nullopt;
        if (text[i] == '"') {
          if (i + 1 < text.size() && text[i + 1] == '"') {
            part += '"';
            ++i;
            continue;
          }
          ++i;
          break;
        }
        part += text[i];
      }
    } else {
      while (i < text.size() && text[i] != '.') {
        const char c = text[i++];
        part += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
      }
      while (!part.empty() && part.back() == ' ') part.pop_back();
      while (!part.empty() && part.front() == ' ') part.erase(part.begin());
    }
    if (part.empty()) return std::nullopt;
    parts.push_back(std::move(part));
    if (i >= text.size()) return parts;
    if (text[i] != '.') return std::nullopt;
    ++i;
  }
}

bool isPolicyRelation(const Policy& policy, std::string_view schema, std::string_view name) {
  return policy.findProtected(schema, name) != nullptr || policy.isReference(schema, name);
}

}  // namespace

RegclassLiteral classifyRegclassLiteral(std::string_view text, const Policy& policy,
                                        std::string_view default_schema) {
  const bool numeric =
      !text.empty() && std::ranges::all_of(text, [](char c) { return c >= '0' && c <= '9'; });
  if (numeric) return RegclassLiteral::kNumeric;
  const auto parts = relationNameParts(text);
  if (!parts) return RegclassLiteral::kHidden;
  if (parts->size() == 1) {
    // Unqualified: PostgreSQL looks in pg_catalog first, then the pinned schema.
    if (findCatalogRelation("", parts->front()) != nullptr) return RegclassLiteral::kVisible;
    return isPolicyRelation(policy, default_schema, parts->front()) ? RegclassLiteral::kVisible
                                                                    : RegclassLiteral::kHidden;
  }
  if (parts->size() == 2) {
    if (isCatalogSchema((*parts)[0])) return RegclassLiteral::kVisible;
    return isPolicyRelation(policy, (*parts)[0], (*parts)[1]) ? RegclassLiteral::kVisible
                                                              : RegclassLiteral::kHidden;
  }
  return RegclassLiteral::kHidden;
}

std::expected<pg_query::Node, PgError> guardRegclassCast(const pg_query::Node& cast,
                                                         const Policy& policy) {
  if (!cast.has_type_cast() || !cast.type_cast().has_arg())
    return std::unexpected(catalogUnavailable("regclass"));
  NodeList args;
  *args.Add() = cast.type_cast().arg();
  auto node = instantiate(std::string(kRegclassGuard), policy, Guarded{&cast, &args}, "regclass");
  if (!node) return std::unexpected(node.error());
  return node->select_stmt().target_list(0).res_target().val();
}

namespace {

const std::string* stringLiteral(const pg_query::Node& node) {
  if (node.has_a_const() && node.a_const().has_sval()) return &node.a_const().sval().sval();
  return nullptr;
}

// has_table_privilege(table, privilege), has_any_column_privilege(table, privilege),
// has_column_privilege(table, column, privilege): the forms naming a role are refused (the
// catalogs show tenants no roles). A table given as a name literal is checked here like a
// regclass literal: one the catalogs show is asked about plainly, any other fails as PostgreSQL
// fails for a missing one (42P01); so does a hidden column of a visible table (42703). A table
// given otherwise (an oid, a column of a catalog query) is guarded: NULL unless shown.
std::expected<pg_query::Node, PgError> guardPrivilegeCall(const pg_query::Node& call,
                                                          std::string_view function,
                                                          const Policy& policy) {
  const auto& args = call.func_call().args();
  const bool column_form = function == "has_column_privilege";
  if (args.size() != (column_form ? 3 : 2)) {
    return std::unexpected(protocol::makeError(
        protocol::sqlstate::kInsufficientPrivilege,
        std::string(function) + " with a role name is not allowed by the tenantwall policy",
        "ask about the current user: " + std::string(function) +
            (column_form ? "(table, column, privilege)" : "(table, privilege)")));
  }
  const std::string* table = stringLiteral(args[0]);
  if (table != nullptr &&
      classifyRegclassLiteral(*table, policy, "public") != RegclassLiteral::kNumeric) {
    if (classifyRegclassLiteral(*table, policy, "public") == RegclassLiteral::kHidden) {
      return std::unexpected(protocol::makeError(protocol::sqlstate::kUndefinedTable,
                                                 "relation \"" + *table + "\" does not exist"));
    }
    const std::string* column = column_form ? stringLiteral(args[1]) : nullptr;
    const auto parts = relationNameParts(*table);
    if (column != nullptr && parts) {
      const std::string schema = parts->size() == 2 ? (*parts)[0] : std::string("public");
      if (const ProtectedTable* protected_table = policy.findProtected(schema, parts->back());
          protected_table != nullptr && protected_table->findColumn(*column) == nullptr) {
        return std::unexpected(protocol::makeError(
            "42703",
            "column \"" + *column + "\" of relation \"" + parts->back() + "\" does not exist"));
      }
    }
    if (!column_form || column != nullptr) return call;
    return std::unexpected(protocol::makeError(
        protocol::sqlstate::kFeatureNotSupported,
        "has_column_privilege with a table name and a column number is not supported by "
        "tenantwall",
        "name the column, or give the table by its oid"));
  }
  NodeList guarded;
  *guarded.Add() = args[0];
  std::string_view guard = kTablePrivilegeGuard;
  if (column_form) {
    *guarded.Add() = args[1];
    guard =
        stringLiteral(args[1]) != nullptr ? kColumnNamePrivilegeGuard : kColumnNumberPrivilegeGuard;
  }
  auto node = instantiate(std::string(guard), policy, Guarded{&call, &guarded}, function);
  if (!node) return std::unexpected(node.error());
  return node->select_stmt().target_list(0).res_target().val();
}

}  // namespace

}  // namespace tenantwall::policy::sql
