// The schema slice: the live schema intersected with what the policy shows one principal.
#include "policy/schema_slice.h"

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>
#include <set>

namespace tenantwall::policy {
namespace {

const std::string& text(const LiveRow& row, std::size_t i) {
  static const std::string kEmpty;
  return i < row.size() && row[i] ? *row[i] : kEmpty;
}

int number(const std::string& value) {
  int n = 0;
  std::from_chars(value.data(), value.data() + value.size(), n);
  return n;
}

std::string kindName(SliceTableKind kind) {
  switch (kind) {
    case SliceTableKind::kProtected:
      return "protected";
    case SliceTableKind::kReference:
      return "reference";
    case SliceTableKind::kSharedAggregate:
      return "aggregate_only";
  }
  return "unknown";
}

SliceColumn fromLive(const std::string& name, const LiveTable* table) {
  SliceColumn column;
  column.name = name;
  if (table) {
    for (const auto& live : table->columns) {
      if (live.name != name) continue;
      column.type = live.type;
      column.not_null = live.not_null;
      column.comment = live.comment;
    }
  }
  return column;
}

bool liveHas(const LiveTable* table, const std::string& column) {
  return std::ranges::any_of(table->columns, [&](const LiveColumn& c) { return c.name == column; });
}

// "schema.table" -> visible column names, for the foreign key filter.
using Visible = std::map<std::string, std::set<std::string>>;

void keepForeignKeys(SliceTable& table, const LiveTable* live, const Visible& visible) {
  if (!live) return;
  const auto& mine = visible.at(table.schema + "." + table.name);
  for (const auto& key : live->foreign_keys) {
    const auto target = visible.find(key.ref_schema + "." + key.ref_table);
    if (target == visible.end()) continue;
    const bool columns_ok =
        std::ranges::all_of(key.columns, [&](const std::string& c) { return mine.contains(c); });
    const bool refs_ok = std::ranges::all_of(
        key.ref_columns, [&](const std::string& c) { return target->second.contains(c); });
    if (columns_ok && refs_ok) table.foreign_keys.push_back(key);
  }
}

}  // namespace

const char* const kLiveSchemaQuery =
    "SELECT 't'::text, n.nspname::text, c.relname::text, "
    "pg_catalog.obj_description(c.oid, 'pg_class'), NULL::text, NULL::text, NULL::text, "
    "NULL::text, NULL::text"
    " FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
    " WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')"
    " AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'"
    " UNION ALL "
    "SELECT 'c', n.nspname::text, c.relname::text, a.attname::text,"
    " pg_catalog.format_type(a.atttypid, a.atttypmod), CASE WHEN a.attnotnull THEN 't' ELSE 'f'"
    " END, pg_catalog.col_description(c.oid, a.attnum), a.attnum::text, NULL::text"
    " FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid"
    " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
    " WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f')"
    " AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'"
    " UNION ALL "
    "SELECT 'k', n.nspname::text, c.relname::text, o.conname::text, rn.nspname::text,"
    " rc.relname::text, a.attname::text, ra.attname::text, k.ord::text"
    " FROM pg_catalog.pg_constraint o JOIN pg_catalog.pg_class c ON c.oid = o.conrelid"
    " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
    " JOIN pg_catalog.pg_class rc ON rc.oid = o.confrelid"
    " JOIN pg_catalog.pg_namespace rn ON rn.oid = rc.relnamespace"
    " CROSS JOIN LATERAL ROWS FROM (pg_catalog.unnest(o.conkey), pg_catalog.unnest(o.confkey))"
    " WITH ORDINALITY"
    " AS k(attnum, refnum, ord)"
    " JOIN pg_catalog.pg_attribute a ON a.attrelid = o.conrelid AND a.attnum = k.attnum"
    " JOIN pg_catalog.pg_attribute ra ON ra.attrelid = o.confrelid AND ra.attnum = k.refnum"
    " WHERE o.contype = 'f' AND n.nspname NOT IN ('pg_catalog', 'information_schema')";

LiveSchema liveSchemaFromRows(const std::vector<LiveRow>& rows) {
  LiveSchema schema;
  std::map<std::string, std::vector<std::pair<int, LiveColumn>>> columns;
  std::map<std::pair<std::string, std::string>, std::vector<std::pair<int, LiveRow>>> keys;
  for (const auto& row : rows) {
    if (row.size() != 9) continue;
    const std::string key = text(row, 1) + "." + text(row, 2);
    const std::string& kind = text(row, 0);
    if (kind == "t") {
      LiveTable& table = schema.tables[key];
      table.schema = text(row, 1);
      table.name = text(row, 2);
      table.comment = text(row, 3);
    } else if (kind == "c") {
      columns[key].emplace_back(
          number(text(row, 7)),
          LiveColumn{text(row, 3), text(row, 4), text(row, 5) == "t", text(row, 6)});
    } else if (kind == "k") {
      keys[{key, text(row, 3)}].emplace_back(number(text(row, 8)), row);
    }
  }
  for (auto& [key, list] : columns) {
    auto it = schema.tables.find(key);
    if (it == schema.tables.end()) continue;
    std::ranges::sort(list, {}, &std::pair<int, LiveColumn>::first);
    for (auto& [attnum, column] : list) it->second.columns.push_back(std::move(column));
  }
  for (auto& [id, list] : keys) {
    auto it = schema.tables.find(id.first);
    if (it == schema.tables.end()) continue;
    std::ranges::sort(list, {}, &std::pair<int, LiveRow>::first);
    LiveForeignKey fk;
    fk.name = id.second;
    fk.ref_schema = text(list.front().second, 4);
    fk.ref_table = text(list.front().second, 5);
    for (const auto& [position, row] : list) {
      fk.columns.push_back(text(row, 6));
      fk.ref_columns.push_back(text(row, 7));
    }
    it->second.foreign_keys.push_back(std::move(fk));
  }
  return schema;
}

SchemaSlice sliceSchema(const Policy& base, const Principal& principal, const LiveSchema* live) {
  SchemaSlice slice;
  slice.principal = principal;
  slice.live = live != nullptr;
  slice.policy_version = base.version;
  slice.policy_sha256 = base.hash;
  // What the principal's role sees (policy/roles.h), exactly as decide() and the catalog
  // fences do; a role the policy does not define sees nothing.
  const Policy* view = base.forRole(principal.role);
  if (view == nullptr || !base.isTenant(principal.tenant)) return slice;
  const Policy& policy = *view;
  auto liveTable = [&](const std::string& key) -> const LiveTable* {
    if (!live) return nullptr;
    auto it = live->tables.find(key);
    return it == live->tables.end() ? nullptr : &it->second;
  };
  std::vector<std::pair<SliceTable, const LiveTable*>> tables;
  for (const auto& [key, rule] : policy.protected_tables) {
    const LiveTable* table = liveTable(key);
    if (live && !table) continue;
    SliceTable out{rule.schema,
                   rule.name,
                   SliceTableKind::kProtected,
                   table ? table->comment : "",
                   rule.tenant_column,
                   {},
                   {},
                   0,
                   0};
    for (const auto& column : rule.columns) {
      if (table && !liveHas(table, column.name)) continue;
      SliceColumn c = fromLive(column.name, table);
      c.mask = column.mask;
      c.tenant_column = column.name == rule.tenant_column;
      out.columns.push_back(std::move(c));
    }
    tables.emplace_back(std::move(out), table);
  }
  for (const auto& key : policy.reference_tables) {
    const LiveTable* table = liveTable(key);
    if (live && !table) continue;
    const auto dot = key.find('.');
    SliceTable out{key.substr(0, dot),
                   key.substr(dot + 1),
                   SliceTableKind::kReference,
                   table ? table->comment : "",
                   {},
                   {},
                   {},
                   0,
                   0};
    if (table)
      for (const auto& column : table->columns) out.columns.push_back(fromLive(column.name, table));
    tables.emplace_back(std::move(out), table);
  }
  for (const auto& [key, set] : policy.shared_datasets) {
    if (!set.optedIn(principal.tenant)) continue;
    const LiveTable* table = liveTable(key);
    if (live && !table) continue;
    SliceTable out{set.schema,
                   set.name,
                   SliceTableKind::kSharedAggregate,
                   !set.comment.empty() ? set.comment : (table ? table->comment : ""),
                   {},
                   {},
                   {},
                   set.min_tenants,
                   set.min_rows};
    for (const auto& dimension : set.dimensions) {
      if (table && !liveHas(table, dimension)) continue;
      SliceColumn c = fromLive(dimension, table);
      c.usage = "dimension";
      out.columns.push_back(std::move(c));
    }
    for (const auto& measure : set.measures) {
      if (table && !liveHas(table, measure.column)) continue;
      SliceColumn c = fromLive(measure.column, table);
      c.usage = "measure";
      for (const auto kind : measure.aggregates) c.aggregates.emplace_back(aggregateKindName(kind));
      out.columns.push_back(std::move(c));
    }
    tables.emplace_back(std::move(out), nullptr);  // no keys: it is never joined
  }
  Visible visible;
  for (const auto& [table, source] : tables) {
    if (table.kind == SliceTableKind::kSharedAggregate) continue;
    auto& names = visible[table.schema + "." + table.name];
    for (const auto& column : table.columns) names.insert(column.name);
  }
  for (auto& [table, source] : tables) {
    if (table.kind != SliceTableKind::kSharedAggregate) keepForeignKeys(table, source, visible);
    slice.tables.push_back(std::move(table));
  }
  std::ranges::sort(slice.tables, [](const SliceTable& a, const SliceTable& b) {
    return std::tie(a.schema, a.name) < std::tie(b.schema, b.name);
  });
  return slice;
}

std::string sliceJson(const SchemaSlice& slice) {
  using Json = nlohmann::ordered_json;
  Json j;
  j["principal"] = {{"user", slice.principal.user},
                    {"tenant", slice.principal.tenant},
                    {"role", slice.principal.role}};
  j["live"] = slice.live;
  j["policy"] = {{"version", slice.policy_version}, {"sha256", slice.policy_sha256}};
  Json tables = Json::array();
  for (const auto& table : slice.tables) {
    Json t;
    t["schema"] = table.schema;
    t["name"] = table.name;
    t["kind"] = kindName(table.kind);
    t["comment"] = table.comment.empty() ? Json(nullptr) : Json(table.comment);
    if (table.kind == SliceTableKind::kProtected) {
      t["tenant_column"] = table.tenant_column;
      t["rows"] = "only tenant " + slice.principal.tenant;
    }
    if (table.kind == SliceTableKind::kSharedAggregate) {
      t["min_tenants"] = table.min_tenants;
      t["min_rows"] = table.min_rows;
    }
    Json columns = Json::array();
    for (const auto& column : table.columns) {
      Json c;
      c["name"] = column.name;
      c["type"] = column.type.empty() ? Json(nullptr) : Json(column.type);
      c["not_null"] = column.not_null;
      c["masked"] = column.mask ? Json(std::string(maskKindName(*column.mask))) : Json(nullptr);
      c["tenant_column"] = column.tenant_column;
      c["comment"] = column.comment.empty() ? Json(nullptr) : Json(column.comment);
      if (!column.usage.empty()) {
        c["usage"] = column.usage;
        c["aggregates"] = column.aggregates;
      }
      columns.push_back(std::move(c));
    }
    t["columns"] = std::move(columns);
    Json keys = Json::array();
    for (const auto& key : table.foreign_keys) {
      keys.push_back(
          {{"name", key.name},
           {"columns", key.columns},
           {"references",
            {{"schema", key.ref_schema}, {"table", key.ref_table}, {"columns", key.ref_columns}}}});
    }
    t["foreign_keys"] = std::move(keys);
    tables.push_back(std::move(t));
  }
  j["tables"] = std::move(tables);
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string sliceText(const SchemaSlice& slice) {
  auto list = [](const std::vector<std::string>& items) {
    std::string out;
    for (const auto& item : items) out.append(out.empty() ? "" : ", ").append(item);
    return out;
  };
  std::string out = "-- Tables user " + slice.principal.user + " (tenant " +
                    slice.principal.tenant + ") may query through tenantwall (policy version " +
                    std::to_string(slice.policy_version) + ").\n";
  out += "-- Rows of tenant-scoped tables are already limited to tenant " + slice.principal.tenant +
         "; masked columns return masked text; anything not listed "
         "is refused.\n";
  for (const auto& table : slice.tables) {
    out += "TABLE " + table.schema + "." + table.name;
    switch (table.kind) {
      case SliceTableKind::kProtected:
        out += " -- tenant-scoped (" + table.tenant_column + ")";
        break;
      case SliceTableKind::kReference:
        out += " -- shared reference data, read-only";
        break;
      case SliceTableKind::kSharedAggregate:
        out +=
            " -- AGGREGATE ONLY: SELECT dimensions, count(*) and the listed aggregates of "
            "measures ... GROUP BY dimensions; filter on dimensions only; groups with fewer "
            "than " +
            std::to_string(table.min_tenants) + " tenants or " + std::to_string(table.min_rows) +
            " rows are omitted";
        break;
    }
    if (!table.comment.empty()) out += "; " + table.comment;
    out += "\n";
    for (const auto& column : table.columns) {
      out += "  " + column.name;
      if (!column.type.empty()) out += " " + column.type;
      if (column.not_null) out += " NOT NULL";
      std::vector<std::string> notes;
      if (column.tenant_column)
        notes.push_back("tenant id, always '" + slice.principal.tenant + "'");
      if (column.mask) notes.push_back("masked (" + std::string(maskKindName(*column.mask)) + ")");
      if (column.usage == "dimension") notes.push_back("dimension");
      if (column.usage == "measure") notes.push_back("measure: " + list(column.aggregates));
      if (!column.comment.empty()) notes.push_back(column.comment);
      if (!notes.empty()) out += " -- " + list(notes);
      out += "\n";
    }
    for (const auto& key : table.foreign_keys) {
      out += "  FOREIGN KEY (" + list(key.columns) + ") REFERENCES " + key.ref_schema + "." +
             key.ref_table + " (" + list(key.ref_columns) + ")\n";
    }
  }
  return out;
}

}  // namespace tenantwall::policy
