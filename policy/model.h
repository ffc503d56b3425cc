// The policy model: tenants, users, protected and reference tables, column masks.
// Built once by the loader and shared read-only as std::shared_ptr<const Policy>.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace tenantwall::policy {

enum class MaskKind { kEmail, kPhone, kSsn, kRedact, kHash };

std::optional<MaskKind> maskKindFromName(std::string_view name);
std::string_view maskKindName(MaskKind kind);

// A column a tenant may see, plainly or through a mask. Columns of a protected table that are
// not listed are hidden: they are absent from the secured relation, so `*` never shows them.
struct ColumnRule {
  std::string name;
  std::optional<MaskKind> mask;
  // Every `=` operator on the column's type is leakproof (read from the live database after
  // loading; false until then), so `column = constant` may be copied into the fence.
  bool leakproof_equality = false;
};

struct ProtectedTable {
  std::string schema;
  std::string name;
  std::string tenant_column;
  std::vector<ColumnRule> columns;  // visible columns, in the order `*` shows them

  const ColumnRule* findColumn(std::string_view column) const;
};

struct Tenant {
  std::string id;
  std::string name;
};

struct User {
  std::string name;
  std::string tenant;
  std::string role;
  std::string scram_verifier;  // "SCRAM-SHA-256$..." (see `tenantwall passwd`)
};

struct Policy {
  std::string source;   // file it was loaded from
  std::string hash;     // SHA-256 hex of the file contents
  std::uint64_t version = 0;  // increases with every successful load in one process
  std::vector<Tenant> tenants;
  std::map<std::string, User> users;                       // by name
  std::map<std::string, ProtectedTable> protected_tables;  // by "schema.name"
  std::set<std::string> reference_tables;                  // "schema.name": read-only, shared

  const ProtectedTable* findProtected(std::string_view schema, std::string_view name) const;
  bool isReference(std::string_view schema, std::string_view name) const;
  const User* findUser(std::string_view name) const;
  bool isTenant(std::string_view id) const;
};

}  // namespace tenantwall::policy
