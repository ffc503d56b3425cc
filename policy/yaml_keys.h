// Structural checks of a parsed YAML document before a loader reads it. yaml-cpp keeps the
// first of two equal mapping keys and drops the second without a word, so a policy or
// configuration whose author wrote a setting twice would run with the one they did not look at
// last. And an alias inside the node it names (`&t [*t]`) makes an endless graph, which any
// walk of the document follows until the stack runs out. Start-up and reload path only.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <optional>
#include <string>

namespace tenantwall::policy {

// Deeper than any policy or configuration nests; an alias cycle reaches it at once.
inline constexpr std::size_t kMaxYamlDepth = 64;
// Nodes visited with aliases expanded: a few aliases of aliases can stand for billions.
inline constexpr std::size_t kMaxYamlNodes = 1'000'000;

struct YamlProblem {
  YAML::Mark mark;  // the second occurrence of a key, or the node where the limit was passed
  std::string message;
};

// The first problem in document order under node: a key a mapping repeats, nesting deeper than
// kMaxYamlDepth, or more than kMaxYamlNodes nodes once aliases are expanded.
std::optional<YamlProblem> findYamlProblem(const YAML::Node& node);

}  // namespace tenantwall::policy
