// Look-ups on the immutable policy model.
#include "policy/model.h"

#include <array>
#include <utility>

namespace tenantwall::policy {
namespace {

constexpr std::array<std::pair<std::string_view, MaskKind>, 5> kMaskNames{{
    {"email", MaskKind::kEmail},
    {"phone", MaskKind::kPhone},
    {"ssn", MaskKind::kSsn},
    {"redact", MaskKind::kRedact},
    {"hash", MaskKind::kHash},
}};

std::string qualified(std::string_view schema, std::string_view name) {
  std::string key;
  key.reserve(schema.size() + name.size() + 1);
  key.append(schema).append(".").append(name);
  return key;
}

}  // namespace

std::optional<MaskKind> maskKindFromName(std::string_view name) {
  for (const auto& [text, kind] : kMaskNames) {
    if (text == name) return kind;
  }
  return std::nullopt;
}

std::string_view maskKindName(MaskKind kind) {
  for (const auto& [text, k] : kMaskNames) {
    if (k == kind) return text;
  }
  return "unknown";
}

const ColumnRule* ProtectedTable::findColumn(std::string_view column) const {
  for (const auto& c : columns) {
    if (c.name == column) return &c;
  }
  return nullptr;
}

const ProtectedTable* Policy::findProtected(std::string_view schema, std::string_view name) const {
  auto it = protected_tables.find(qualified(schema, name));
  return it == protected_tables.end() ? nullptr : &it->second;
}

bool Policy::isReference(std::string_view schema, std::string_view name) const {
  return reference_tables.contains(qualified(schema, name));
}

const User* Policy::findUser(std::string_view name) const {
  auto it = users.find(std::string(name));
  return it == users.end() ? nullptr : &it->second;
}

const Role* Policy::findRole(std::string_view name) const {
  auto it = roles.find(std::string(name));
  return it == roles.end() ? nullptr : &it->second;
}

Principal principalOf(const User& user) {
  return Principal{user.tenant, user.name, user.role, user.groups, user.attributes};
}

bool Policy::isTenant(std::string_view id) const {
  for (const auto& t : tenants) {
    if (t.id == id) return true;
  }
  return false;
}

}  // namespace tenantwall::policy
