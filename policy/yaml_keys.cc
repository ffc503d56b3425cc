#include "policy/yaml_keys.h"

#include <set>

namespace tenantwall::policy {

std::optional<DuplicateKey> findDuplicateKey(const YAML::Node& node) {
  if (node.IsSequence()) {
    for (const auto& item : node)
      if (auto found = findDuplicateKey(item)) return found;
    return std::nullopt;
  }
  if (!node.IsMap()) return std::nullopt;
  std::set<std::string> seen;
  for (const auto& entry : node) {
    // Non-scalar keys are compared by their text; the loaders refuse them anyway.
    const std::string key = entry.first.IsScalar() ? entry.first.Scalar() : YAML::Dump(entry.first);
    if (!seen.insert(key).second) return DuplicateKey{entry.first.Mark(), key};
    if (auto found = findDuplicateKey(entry.second)) return found;
  }
  return std::nullopt;
}

}  // namespace tenantwall::policy
