// Duplicate mapping keys in YAML. yaml-cpp keeps the first of two equal keys and drops the
// second without a word, so a policy or configuration whose author wrote a setting twice would
// run with the one they did not look at last. Start-up and reload path only.
#pragma once

#include <yaml-cpp/yaml.h>

#include <optional>
#include <string>

namespace tenantwall::policy {

struct DuplicateKey {
  YAML::Mark mark;  // where the second occurrence is
  std::string key;
};

// The first key, in document order, that a mapping anywhere under node repeats.
std::optional<DuplicateKey> findDuplicateKey(const YAML::Node& node);

}  // namespace tenantwall::policy
