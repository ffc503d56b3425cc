#include "policy/yaml_keys.h"

#include <set>

namespace tenantwall::policy {
namespace {

class Walk {
 public:
  std::optional<YamlProblem> visit(const YAML::Node& node, std::size_t depth) {
    if (depth > kMaxYamlDepth)
      return YamlProblem{node.Mark(), "nested deeper than " + std::to_string(kMaxYamlDepth) +
                                          " levels (or an alias inside the node it names)"};
    if (++visited_ > kMaxYamlNodes)
      return YamlProblem{node.Mark(), "more than " + std::to_string(kMaxYamlNodes) +
                                          " nodes once its aliases are expanded"};
    if (node.IsSequence()) {
      for (const auto& item : node)
        if (auto found = visit(item, depth + 1)) return found;
      return std::nullopt;
    }
    if (!node.IsMap()) return std::nullopt;
    std::set<std::string> seen;
    for (const auto& entry : node) {
      // A non-scalar key is compared by its text (the loaders refuse it anyway), after it has
      // been checked like any node: dumping an endless key would not end either.
      if (!entry.first.IsScalar())
        if (auto found = visit(entry.first, depth + 1)) return found;
      const std::string key =
          entry.first.IsScalar() ? entry.first.Scalar() : YAML::Dump(entry.first);
      if (!seen.insert(key).second)
        return YamlProblem{entry.first.Mark(),
                           "key '" + key + "' appears twice in the same mapping"};
      if (auto found = visit(entry.second, depth + 1)) return found;
    }
    return std::nullopt;
  }

 private:
  std::size_t visited_ = 0;
};

}  // namespace

std::optional<YamlProblem> findYamlProblem(const YAML::Node& node) { return Walk().visit(node, 0); }

}  // namespace tenantwall::policy
