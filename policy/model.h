// The policy model: tenants, users, protected and reference tables, column masks.
// Built once by the loader and shared read-only as std::shared_ptr<const Policy>.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "policy/certificate_map.h"
#include "policy/jwt_keys.h"
#include "policy/principal.h"
#include "policy/roles.h"
#include "policy/shared_dataset.h"

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
  // Per-role treatment in place of the default above (policy/roles.h); empty in role views.
  std::map<std::string, RoleColumnAccess> role_access;
  // In a role view: the role may write the column (it sees it plainly, or may write masked).
  bool writable = true;
  // `pii: none`: PII auto-detection never masks the column (policy/pii_masks.h).
  bool pii_opt_out = false;
  // Masked by PII auto-detection, not by the policy text: `mask` holds the finding's mask.
  bool pii_masked = false;
};

// A foreign key of a protected table, as the live database has it (read by the proxy with the
// column facts, policy/column_facts.h): writes must not point it at another tenant's row.
struct ForeignKey {
  std::string constraint;            // pg_constraint.conname
  std::vector<std::string> columns;  // referencing columns, in key order
  std::string referenced_schema;
  std::string referenced_table;
  std::vector<std::string> referenced_columns;  // in key order
  // Each referencing column's type as {schema, name} (pg_type), to cast a written value to.
  std::vector<std::vector<std::string>> column_types;

  friend bool operator==(const ForeignKey&, const ForeignKey&) = default;
};

// A unique index or constraint (exclusion constraints too) of a protected table, as the live
// database has it (policy/column_facts.h). One whose key columns leave out the tenant column is
// unique across all tenants: a tenant choosing its values learns which values others use
// (policy/sql/unique_key_guard.h).
struct UniqueKey {
  std::string id;                    // pg_index.indexrelid, to group the rows of one index
  std::string name;                  // the index's name, also its constraint's (ON CONSTRAINT)
  std::vector<std::string> columns;  // its plain key columns, in index order
  // The columns its expressions and predicate (partial index) read.
  std::vector<std::string> expression_columns;

  friend bool operator==(const UniqueKey&, const UniqueKey&) = default;
};

struct ProtectedTable {
  std::string schema;
  std::string name;
  std::string tenant_column;
  std::vector<ColumnRule> columns;       // visible columns, in the order `*` shows them
  std::vector<RowRule> rules;            // row rules (in a role view: only the role's)
  std::vector<ForeignKey> foreign_keys;  // from the live database; empty until read
  // Its unique keys that leave out the tenant column, from the live database; empty until read.
  std::vector<UniqueKey> global_unique_keys;
  // It has inheritance children or partitions (pg_inherits), which plans name: no EXPLAIN.
  bool has_children = false;

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
  std::string scram_verifier;                   // "SCRAM-SHA-256$..." (see `tenantwall passwd`)
  std::vector<std::string> groups;              // for row rules (principal.groups)
  std::map<std::string, Attribute> attributes;  // for row rules (principal.attributes.X)
};

// The principal a static user logs in as.
Principal principalOf(const User& user);

// One step of a token's group-to-role mapping: a token carrying `group` gets `role`.
struct JwtRoleMapping {
  std::string group;
  std::string role;
};

// The policy's `jwt` section: which bearer tokens are accepted and how their claims become a
// principal (policy/jwt.h). A client logs in as startup_user and sends the token as password.
struct JwtConfig {
  std::string startup_user = "jwt";
  std::string jwks_file;                 // resolved against the policy file's directory
  std::shared_ptr<const JwkSet> keys;    // read from jwks_file with the policy
  std::string issuer;                    // iss must equal it
  std::vector<std::string> audiences;    // aud must contain one of them
  std::vector<JwtAlgorithm> algorithms;  // header alg must be one of them
  std::int64_t leeway_seconds = 30;      // clock skew allowed on exp and nbf
  std::string tenant_claim;
  std::string user_claim = "sub";
  std::string groups_claim;                             // empty: tokens carry no groups
  std::map<std::string, std::string> attribute_claims;  // principal attribute -> claim
  std::vector<JwtRoleMapping> roles;                    // first match wins; none: refused
};

struct Policy {
  std::string source;         // file it was loaded from
  std::string hash;           // SHA-256 hex of the file contents
  std::uint64_t version = 0;  // increases with every successful load in one process
  std::vector<Tenant> tenants;
  std::map<std::string, User> users;                       // by name
  std::map<std::string, ProtectedTable> protected_tables;  // by "schema.name"
  std::set<std::string> reference_tables;                  // "schema.name": read-only, shared
  std::optional<JwtConfig> jwt;                            // absent: no bearer tokens
  std::vector<CertificateMapping> certificates;            // client certificates -> users
  std::map<std::string, SharedDataset> shared_datasets;    // by "schema.name" (issue 10)
  std::string author;  // who wrote this version (`author:`), for reviewed policy changes
  std::map<std::string, Role> roles;  // by name; the defaults of policy/roles.h when not given
  // Where tables and columns were written ("schema.table", "schema.table.column"), for the
  // live-schema check (policy/schema_check.h).
  std::map<std::string, SourcePosition> positions;
  RoleViews role_views;
  // Set by the proxy while it has not yet read the database's foreign keys: writes to protected
  // tables are refused until then (policy/sql/foreign_key_guard.h). A loaded file leaves it off.
  bool foreign_keys_pending = false;

  const ProtectedTable* findProtected(std::string_view schema, std::string_view name) const;
  bool isReference(std::string_view schema, std::string_view name) const;
  const User* findUser(std::string_view name) const;
  bool isTenant(std::string_view id) const;
  const SharedDataset* findShared(std::string_view schema, std::string_view name) const;
  const Role* findRole(std::string_view name) const;
  // The policy as that role sees it (policy/roles.h), or nullptr for a role it does not define.
  const Policy* forRole(std::string_view role) const { return role_views.get(*this, role); }
};

}  // namespace tenantwall::policy
