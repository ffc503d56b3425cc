// A visitor layer over libpg_query's protobuf tree. Protobuf reflection reaches every message
// field of every node, so nothing is skipped by accident; a node kind the visitor does not know
// is refused (fail closed), never passed over.
#pragma once

#include <expected>
#include <initializer_list>
#include <string>
#include <string_view>

#include "pg_query_pb/pg_query.pb.h"
#include "protocol/pg_error.h"

namespace tenantwall::policy::sql {

using Status = std::expected<void, protocol::PgError>;

// What the walker does after a visitor has seen a node.
enum class Next {
  kChildren,  // walk every message field of the node, generically
  kDone,      // the visitor walked (or replaced) the node's children itself
};

using Visit = std::expected<Next, protocol::PgError>;

class Walker;

// The analysis plugged into a Walker. A node's kind is its protobuf message name ("SelectStmt",
// "ColumnRef", ...); pg_query::Node is the oneof wrapper and is never a kind of its own.
class Visitor {
 public:
  virtual ~Visitor() = default;
  // Whether this node kind may appear at all; unknown kinds are refused by the walker.
  virtual bool knows(std::string_view kind) const = 0;
  // Called once per known node before its fields. wrapper is the pg_query::Node holding it, or
  // null when the node sits in a typed field; a visitor may replace wrapper's payload, and must
  // then return kDone, because `node` no longer exists.
  virtual Visit visit(google::protobuf::Message& node, pg_query::Node* wrapper, Walker& walker) = 0;
};

class Walker {
 public:
  Walker(Visitor& visitor, int max_depth);

  // Walks one node (a pg_query::Node wrapper or any other pg_query message) and its subtree.
  Status walk(google::protobuf::Message& node);
  // Walks the subtrees of every message field of node except the named ones (protobuf field
  // names, e.g. "with_clause"), without visiting node itself: for visitors that handle some
  // fields in a particular order or scope and leave the rest to the generic walk.
  Status walkFields(google::protobuf::Message& node,
                    std::initializer_list<std::string_view> except = {});

 private:
  Status walkKnown(google::protobuf::Message& node, pg_query::Node* wrapper);

  Visitor& visitor_;
  int max_depth_;
  int depth_ = 0;
};

// The message name of the payload of a pg_query::Node ("" when it holds nothing).
std::string_view nodeKind(const pg_query::Node& node);

// The refusal for a node kind the analysis does not know.
protocol::PgError unsupportedNode(std::string_view kind);

}  // namespace tenantwall::policy::sql
