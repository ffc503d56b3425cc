// Generic, reflection-driven traversal of the libpg_query tree with fail-closed kind checks.
#include "policy/sql/walker.h"

#include <algorithm>
#include <vector>

#include "protocol/sqlstate.h"

namespace tenantwall::policy::sql {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

// Restores the depth counter whichever way a walk returns.
class DepthGuard {
 public:
  explicit DepthGuard(int& depth) : depth_(depth) { ++depth_; }
  ~DepthGuard() { --depth_; }
  DepthGuard(const DepthGuard&) = delete;
  DepthGuard& operator=(const DepthGuard&) = delete;

 private:
  int& depth_;
};

protocol::PgError tooDeep() {
  return protocol::makeError(protocol::sqlstate::kProgramLimitExceeded,
                             "statement is too deeply nested to be analysed");
}

}  // namespace

std::string_view nodeKind(const pg_query::Node& node) {
  const auto* oneof = pg_query::Node::descriptor()->FindOneofByName("node");
  const FieldDescriptor* field = node.GetReflection()->GetOneofFieldDescriptor(node, oneof);
  if (field == nullptr) return {};
  return field->message_type()->name();
}

protocol::PgError unsupportedNode(std::string_view kind) {
  return protocol::makeError(
      protocol::sqlstate::kFeatureNotSupported,
      "syntax node " + std::string(kind) + " is not supported by tenantwall here",
      "tenantwall analyses every part of a statement and refuses what it does not know");
}

Walker::Walker(Visitor& visitor, int max_depth) : visitor_(visitor), max_depth_(max_depth) {}

Status Walker::walk(Message& node) {
  DepthGuard guard(depth_);
  if (depth_ > max_depth_) return std::unexpected(tooDeep());

  // Fields this build of the tree does not know (a libpg_query newer than its .proto) could
  // hold anything: refuse rather than forward what was never looked at.
  if (!node.GetReflection()->GetUnknownFields(node).empty()) {
    return std::unexpected(unsupportedNode(node.GetDescriptor()->name() + " (unknown fields)"));
  }
  if (node.GetDescriptor() != pg_query::Node::descriptor()) return walkKnown(node, nullptr);
  auto* wrapper = static_cast<pg_query::Node*>(&node);

  const auto* oneof = pg_query::Node::descriptor()->FindOneofByName("node");
  const FieldDescriptor* field = wrapper->GetReflection()->GetOneofFieldDescriptor(*wrapper, oneof);
  // An empty wrapper is how the tree spells a NIL list element (e.g. SELECT DISTINCT); it
  // carries nothing to analyse.
  if (field == nullptr) return {};
  Message* payload = wrapper->GetReflection()->MutableMessage(wrapper, field);
  if (!payload->GetReflection()->GetUnknownFields(*payload).empty()) {
    return std::unexpected(unsupportedNode(payload->GetDescriptor()->name() + " (unknown fields)"));
  }
  return walkKnown(*payload, wrapper);
}

Status Walker::walkKnown(Message& node, pg_query::Node* wrapper) {
  const std::string& kind = node.GetDescriptor()->name();
  if (!visitor_.knows(kind)) return std::unexpected(unsupportedNode(kind));
  auto next = visitor_.visit(node, wrapper, *this);
  if (!next) return std::unexpected(next.error());
  if (*next == Next::kDone) return {};
  return walkFields(node);
}

Status Walker::walkFields(Message& node, std::initializer_list<std::string_view> except) {
  const auto* reflection = node.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  reflection->ListFields(node, &fields);  // set fields only: unset ones hold no nodes
  for (const FieldDescriptor* field : fields) {
    if (field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (std::ranges::find(except, std::string_view(field->name())) != except.end()) continue;
    if (field->is_repeated()) {
      const int size = reflection->FieldSize(node, field);
      for (int i = 0; i < size; ++i) {
        if (auto s = walk(*reflection->MutableRepeatedMessage(&node, field, i)); !s) return s;
      }
    } else {
      if (auto s = walk(*reflection->MutableMessage(&node, field)); !s) return s;
    }
  }
  return {};
}

}  // namespace tenantwall::policy::sql
