// The rewriting Visitor shared by rewriter.cc (queries) and write_rewriter.cc (INSERT, UPDATE,
// DELETE): internal to policy/sql, the public entry points are in rewriter.h.
#pragma once

#include <expected>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "pg_query_pb/pg_query.pb.h"
#include "policy/model.h"
#include "policy/principal.h"
#include "policy/sql/allowlists.h"
#include "policy/sql/catalog_rewriter.h"
#include "policy/sql/tenant_guard.h"
#include "policy/sql/walker.h"
#include "protocol/pg_error.h"

namespace tenantwall::policy::sql {

inline constexpr std::string_view kCatalog = "pg_catalog";
// The backend's search_path is pinned to this schema, so unqualified names resolve here.
inline constexpr std::string_view kDefaultSchema = "public";

// A 42501 refusal with its hint.
protocol::PgError refused(std::string message, std::string hint);

// The allowed pg_catalog function a name list denotes (name or pg_catalog.name), or the refusal.
std::expected<FunctionUse, protocol::PgError> allowedFunction(const NodeList& funcname);

class StatementRewriter final : public Visitor {
 public:
  StatementRewriter(const Principal& principal, const Policy& policy)
      : principal_(principal), policy_(policy) {}

  // Rewrites statement (its wrapper Node), which may hold a SELECT or a write.
  std::expected<std::vector<std::string>, protocol::PgError> run(pg_query::Node& statement);

  // After run(): the parameters that must be bound to the principal's tenant.
  const std::vector<int>& tenantParameters() const { return tenant_parameters_; }
  // Whether one of them is written to a tenant column (not only compared with one).
  bool writesTenantParameter() const { return !written_parameters_.empty(); }

  bool knows(std::string_view kind) const override;
  Visit visit(google::protobuf::Message& node, pg_query::Node* wrapper, Walker& walker) override;

  // Query handlers (rewriter.cc).
  Visit onSelect(google::protobuf::Message& node, pg_query::Node* wrapper, Walker& walker);
  Visit onCommonTableExpr(google::protobuf::Message& node, pg_query::Node* wrapper, Walker& walker);
  Visit onRangeVar(google::protobuf::Message& node, pg_query::Node* wrapper, Walker& walker);
  Visit onRangeTableSample(google::protobuf::Message& node, pg_query::Node* wrapper,
                           Walker& walker);
  Visit onRangeFunction(google::protobuf::Message& node, pg_query::Node* wrapper, Walker& walker);
  Visit onRangeSubselect(google::protobuf::Message& node, pg_query::Node* wrapper, Walker& walker);
  Visit onJoinExpr(google::protobuf::Message& node, pg_query::Node* wrapper, Walker& walker);
  Visit onFuncCall(google::protobuf::Message& node, pg_query::Node* wrapper, Walker& walker);
  Visit onAExpr(google::protobuf::Message& node, pg_query::Node* wrapper, Walker& walker);
  Visit onSubLink(google::protobuf::Message& node, pg_query::Node* wrapper, Walker& walker);
  Visit onSortBy(google::protobuf::Message& node, pg_query::Node* wrapper, Walker& walker);
  Visit onTypeName(google::protobuf::Message& node, pg_query::Node* wrapper, Walker& walker);
  Visit onTypeCast(google::protobuf::Message& node, pg_query::Node* wrapper, Walker& walker);
  Visit onSqlValueFunction(google::protobuf::Message& node, pg_query::Node* wrapper,
                           Walker& walker);
  Visit onColumnRef(google::protobuf::Message& node, pg_query::Node* wrapper, Walker& walker);
  Visit onIndirection(google::protobuf::Message& node, pg_query::Node* wrapper, Walker& walker);
  Visit onResTarget(google::protobuf::Message& node, pg_query::Node* wrapper, Walker& walker);

  // Write handlers (write_rewriter.cc).
  Visit onInsert(google::protobuf::Message& node, pg_query::Node* wrapper, Walker& walker);
  Visit onUpdate(google::protobuf::Message& node, pg_query::Node* wrapper, Walker& walker);
  Visit onDelete(google::protobuf::Message& node, pg_query::Node* wrapper, Walker& walker);

 private:
  enum class Target { kCte, kProtected, kReference, kCatalog };
  struct Resolved {
    Target target;
    std::string schema;
    const ProtectedTable* table = nullptr;
    const CatalogRelation* catalog = nullptr;
  };

  bool isCte(std::string_view name) const;
  std::expected<Resolved, protocol::PgError> resolve(const pg_query::RangeVar& relation) const;
  // The protected table a write names, or the refusal (reference, catalog or unknown).
  std::expected<const ProtectedTable*, protocol::PgError> resolveWriteTarget(
      pg_query::RangeVar& relation, std::string_view command) const;
  std::expected<pg_query::Node, protocol::PgError> fence(const ProtectedTable& table,
                                                         const pg_query::Alias* alias,
                                                         pg_query::Node from_item);
  // Walks a statement's WITH list with PostgreSQL's scoping and leaves its names in scope;
  // returns the scope depth to restore with ctes_.resize() when the statement is done.
  std::expected<std::size_t, protocol::PgError> walkWith(pg_query::WithClause& with,
                                                         Walker& walker);
  // Whether wrapper is a place where PostgreSQL accepts a data-modifying statement: the
  // statement itself or the body of a CTE.
  bool writeAllowedAt(const pg_query::Node* wrapper) const;
  void noteRelation(std::string name);
  void noteTenantParameter(int number);
  std::expected<void, protocol::PgError> shapeInsert(pg_query::InsertStmt& insert,
                                                     const ProtectedTable& table);
  std::expected<void, protocol::PgError> checkOnConflict(pg_query::OnConflictClause& clause,
                                                         const ProtectedTable& table);

  const Principal& principal_;
  const Policy& policy_;
  // CTE names in scope, innermost WITH last (DESIGN 5: CTE names resolve before tables).
  std::vector<std::vector<std::string>> ctes_;
  std::vector<std::string> relations_;
  std::set<const pg_query::Node*> write_places_;
  std::vector<int> tenant_parameters_;
  std::vector<int> written_parameters_;  // written to a tenant column (INSERT, SET)
  TenantGuard guard_;
};

}  // namespace tenantwall::policy::sql
