// Node builders and readers; the only place that knows how a name list is spelled in the tree.
#include "policy/sql/nodes.h"

namespace tenantwall::policy::sql {

pg_query::Node stringNode(std::string_view value) {
  pg_query::Node node;
  node.mutable_string()->set_sval(std::string(value));
  return node;
}

pg_query::Node columnRef(std::initializer_list<std::string_view> names) {
  pg_query::Node node;
  auto* ref = node.mutable_column_ref();
  for (std::string_view name : names) *ref->add_fields() = stringNode(name);
  return node;
}

pg_query::Node stringConst(std::string_view value) {
  pg_query::Node node;
  node.mutable_a_const()->mutable_sval()->set_sval(std::string(value));
  return node;
}

std::optional<std::vector<std::string>> stringNames(const NodeList& names) {
  std::vector<std::string> out;
  out.reserve(names.size());
  for (const auto& name : names) {
    if (!name.has_string()) return std::nullopt;
    out.push_back(name.string().sval());
  }
  return out;
}

std::string dotted(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& name : names) out.append(out.empty() ? "" : ".").append(name);
  return out;
}

void prependName(NodeList& names, std::string_view schema) {
  *names.Add() = stringNode(schema);
  for (int i = names.size() - 1; i > 0; --i) names.SwapElements(i, i - 1);
}

}  // namespace tenantwall::policy::sql
