// policyDiff(): tenants, users, protected and reference tables, columns and masks, shared
// datasets and the token section, compared by name.
#include "policy/policy_diff.h"

#include <algorithm>
#include <set>

namespace tenantwall::policy {
namespace {

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out.append(out.empty() ? "" : ", ").append(item);
  return out;
}

std::string columnShape(const ColumnRule& column) {
  return column.mask ? "masked (" + std::string(maskKindName(*column.mask)) + ")" : "plain";
}

void diffUsers(const Policy& a, const Policy& b, std::vector<std::string>& out) {
  for (const auto& [name, user] : b.users) {
    const User* old = a.findUser(name);
    if (!old) {
      out.push_back("+ user " + name + " (tenant " + user.tenant + ", role " + user.role +
                    ") can log in and gains tenant " + user.tenant + "'s rows");
      continue;
    }
    if (old->tenant != user.tenant)
      out.push_back("~ user " + name + " moves from tenant " + old->tenant + " to " + user.tenant +
                    ": loses " + old->tenant + "'s rows, gains " + user.tenant + "'s");
    if (old->role != user.role)
      out.push_back("~ user " + name + ": role " + old->role + " -> " + user.role);
    if (old->scram_verifier != user.scram_verifier)
      out.push_back("~ user " + name + ": password changed");
  }
  for (const auto& [name, user] : a.users) {
    if (!b.findUser(name))
      out.push_back("- user " + name + " (tenant " + user.tenant + ") can no longer log in");
  }
}

void diffTenants(const Policy& a, const Policy& b, std::vector<std::string>& out) {
  for (const auto& tenant : b.tenants)
    if (!a.isTenant(tenant.id)) out.push_back("+ tenant " + tenant.id);
  for (const auto& tenant : a.tenants)
    if (!b.isTenant(tenant.id))
      out.push_back("- tenant " + tenant.id + ": its sessions and tokens are refused");
}

void diffColumns(const std::string& key, const ProtectedTable& a, const ProtectedTable& b,
                 const std::string& who, std::vector<std::string>& out) {
  if (a.tenant_column != b.tenant_column)
    out.push_back("~ table " + key + ": tenant column " + a.tenant_column + " -> " +
                  b.tenant_column + " (which rows each tenant owns changes)");
  std::set<std::string> before_rules, after_rules;
  for (const auto& rule : a.rules) before_rules.insert(rule.where);
  for (const auto& rule : b.rules) after_rules.insert(rule.where);
  for (const auto& where : after_rules)
    if (!before_rules.contains(where))
      out.push_back("- table " + key + ": new row rule for " + who + " (fewer rows): " + where);
  for (const auto& where : before_rules)
    if (!after_rules.contains(where))
      out.push_back("+ table " + key + ": row rule dropped for " + who + " (more rows): " + where);
  for (const auto& column : b.columns) {
    const ColumnRule* old = a.findColumn(column.name);
    if (!old) {
      out.push_back("+ column " + key + "." + column.name + ": " + who + " gains it, " +
                    columnShape(column));
    } else if (old->mask != column.mask) {
      const bool unmasked = !column.mask;
      out.push_back(std::string(unmasked ? "+" : "~") + " column " + key + "." + column.name +
                    ": " + columnShape(*old) + " -> " + columnShape(column) + " for " + who +
                    (unmasked ? " (gains the raw values)" : ""));
    }
  }
  for (const auto& column : a.columns) {
    if (!b.findColumn(column.name))
      out.push_back("- column " + key + "." + column.name + ": " + who + " loses it (hidden)");
  }
}

// Protected tables and their columns as one role sees them.
void diffProtected(const Policy& a, const Policy& b, const std::string& who,
                   std::vector<std::string>& out) {
  for (const auto& [key, table] : b.protected_tables) {
    auto it = a.protected_tables.find(key);
    if (it == a.protected_tables.end()) {
      std::vector<std::string> columns;
      for (const auto& column : table.columns)
        columns.push_back(column.name + (column.mask ? " (masked)" : ""));
      out.push_back("+ table " + key + ": " + who + " gains its tenant's rows (tenant column " +
                    table.tenant_column + "), columns " + joined(columns));
      continue;
    }
    diffColumns(key, it->second, table, who, out);
  }
  for (const auto& [key, table] : a.protected_tables)
    if (!b.protected_tables.contains(key))
      out.push_back("- table " + key + ": " + who + " loses access");
}

std::string statementList(const Role& role) {
  std::vector<std::string> names;
  for (const auto kind : role.statements) names.emplace_back(statementKindName(kind));
  return joined(names);
}

// Per role: its statements, and the tables and columns its view shows.
void diffRoles(const Policy& a, const Policy& b, std::vector<std::string>& out) {
  for (const auto& [name, role] : b.roles) {
    const Role* old = a.findRole(name);
    const Policy* after = b.forRole(name);
    const Policy* before = old ? a.forRole(name) : nullptr;
    if (!old) {
      out.push_back("+ role " + name + " (statements " + statementList(role) + ")");
      continue;
    }
    if (old->statements != role.statements)
      out.push_back("~ role " + name + ": statements " + statementList(*old) + " -> " +
                    statementList(role));
    if (old->unmask != role.unmask || old->write_masked != role.write_masked)
      out.push_back("~ role " + name + ": unmask " + (role.unmask ? "on" : "off") +
                    ", write_masked " + (role.write_masked ? "on" : "off"));
    if (before && after) diffProtected(*before, *after, "role " + name, out);
  }
  for (const auto& [name, role] : a.roles)
    if (!b.findRole(name)) out.push_back("- role " + name + ": its users are refused");
}

void diffTables(const Policy& a, const Policy& b, std::vector<std::string>& out) {
  diffRoles(a, b, out);
  for (const auto& key : b.reference_tables)
    if (!a.reference_tables.contains(key))
      out.push_back("+ reference table " + key + ": every tenant gains read access to all rows");
  for (const auto& key : a.reference_tables)
    if (!b.reference_tables.contains(key))
      out.push_back("- reference table " + key + ": every tenant loses read access");
}

void diffShared(const Policy& a, const Policy& b, std::vector<std::string>& out) {
  for (const auto& [key, set] : b.shared_datasets) {
    auto it = a.shared_datasets.find(key);
    if (it == a.shared_datasets.end()) {
      out.push_back("+ shared dataset " + key + ": tenants " + joined(set.opt_in) +
                    " pool their rows and gain aggregates (k = " + std::to_string(set.min_tenants) +
                    ", min rows " + std::to_string(set.min_rows) + ")");
      continue;
    }
    const SharedDataset& old = it->second;
    for (const auto& tenant : set.opt_in)
      if (!old.optedIn(tenant))
        out.push_back("+ shared dataset " + key + ": tenant " + tenant +
                      " opts in (its rows are pooled; it gains the aggregates)");
    for (const auto& tenant : old.opt_in)
      if (!set.optedIn(tenant))
        out.push_back("- shared dataset " + key + ": tenant " + tenant +
                      " opts out (its rows leave the pool; it loses the aggregates)");
    if (old.min_tenants != set.min_tenants || old.min_rows != set.min_rows)
      out.push_back(std::string(set.min_tenants < old.min_tenants || set.min_rows < old.min_rows
                                    ? "+"
                                    : "~") +
                    " shared dataset " + key + ": threshold k " + std::to_string(old.min_tenants) +
                    " -> " + std::to_string(set.min_tenants) + ", min rows " +
                    std::to_string(old.min_rows) + " -> " + std::to_string(set.min_rows));
    for (const auto& d : set.dimensions)
      if (!old.isDimension(d))
        out.push_back("+ shared dataset " + key + ": new dimension " + d + " (finer groups)");
    for (const auto& d : old.dimensions)
      if (!set.isDimension(d)) out.push_back("- shared dataset " + key + ": dimension " + d);
    for (const auto& m : set.measures) {
      const SharedMeasure* before = old.findMeasure(m.column);
      for (const auto kind : m.aggregates)
        if (!before || std::ranges::find(before->aggregates, kind) == before->aggregates.end())
          out.push_back("+ shared dataset " + key + ": " + std::string(aggregateKindName(kind)) +
                        "(" + m.column + ")");
    }
    for (const auto& m : old.measures) {
      const SharedMeasure* after = set.findMeasure(m.column);
      for (const auto kind : m.aggregates)
        if (!after || std::ranges::find(after->aggregates, kind) == after->aggregates.end())
          out.push_back("- shared dataset " + key + ": " + std::string(aggregateKindName(kind)) +
                        "(" + m.column + ")");
    }
  }
  for (const auto& [key, set] : a.shared_datasets)
    if (!b.shared_datasets.contains(key))
      out.push_back("- shared dataset " + key + ": tenants " + joined(set.opt_in) +
                    " lose the aggregates");
}

}  // namespace

std::vector<std::string> policyDiff(const Policy& before, const Policy& after) {
  std::vector<std::string> out;
  diffTenants(before, after, out);
  diffUsers(before, after, out);
  diffTables(before, after, out);
  diffShared(before, after, out);
  if (before.jwt.has_value() != after.jwt.has_value())
    out.push_back(after.jwt ? "+ bearer tokens (jwt) are accepted"
                            : "- bearer tokens (jwt) are no longer accepted");
  else if (before.jwt && after.jwt &&
           (before.jwt->issuer != after.jwt->issuer ||
            before.jwt->audiences != after.jwt->audiences ||
            before.jwt->jwks_file != after.jwt->jwks_file ||
            before.jwt->tenant_claim != after.jwt->tenant_claim))
    out.push_back("~ bearer tokens (jwt): issuer, audience, keys or tenant claim changed");
  return out;
}

}  // namespace tenantwall::policy
