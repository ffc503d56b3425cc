// Mask templates, parsed on first use into immutable trees, and the placeholder substitution.
#include "policy/sql/masks.h"

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "policy/sql/parser.h"
#include "policy/sql/walker.h"
#include "protocol/sqlstate.h"

namespace tenantwall::policy::sql {
namespace {

// Stands for the masked column in the templates; replaced before anything is deparsed.
constexpr std::string_view kPlaceholder = "tenantwall_masked_column";

// Each template casts the column to text, so a mask works whatever the column's type, and uses
// only strict functions and operators, which return NULL for NULL.
constexpr std::array<std::pair<MaskKind, std::string_view>, 5> kTemplates{{
    {MaskKind::kEmail,
     "SELECT pg_catalog.left(tenantwall_masked_column::pg_catalog.text, 1) "
     "OPERATOR(pg_catalog.||) '***@' OPERATOR(pg_catalog.||) "
     "pg_catalog.split_part(tenantwall_masked_column::pg_catalog.text, '@', 2)"},
    {MaskKind::kPhone,
     "SELECT '***-***-' OPERATOR(pg_catalog.||) "
     "pg_catalog.right(tenantwall_masked_column::pg_catalog.text, 4)"},
    {MaskKind::kSsn,
     "SELECT '***-**-' OPERATOR(pg_catalog.||) "
     "pg_catalog.right(tenantwall_masked_column::pg_catalog.text, 4)"},
    {MaskKind::kRedact,
     "SELECT CASE WHEN tenantwall_masked_column IS NULL THEN NULL ELSE '***' END"},
    {MaskKind::kHash,
     "SELECT pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to("
     "tenantwall_masked_column::pg_catalog.text, 'UTF8')), 'hex')"},
}};

using Templates = std::array<std::optional<pg_query::Node>, kTemplates.size()>;

Templates buildTemplates() {
  Templates built;
  for (std::size_t i = 0; i < kTemplates.size(); ++i) {
    auto tree = parse(kTemplates[i].second);
    // A template that fails to parse is a programming error caught by the unit tests; at run
    // time it leaves the slot empty and every use of that mask is refused.
    if (!tree || tree->stmts_size() != 1) continue;
    const auto& select = tree->stmts(0).stmt().select_stmt();
    if (select.target_list_size() != 1) continue;
    built[i] = select.target_list(0).res_target().val();
  }
  return built;
}

const Templates& templates() {
  static const Templates built = buildTemplates();  // immutable after first use, thread-safe
  return built;
}

// Replaces every placeholder ColumnRef in a cloned template with the real column.
class Substitute : public Visitor {
 public:
  explicit Substitute(const pg_query::Node& column) : column_(column) {}

  bool knows(std::string_view) const override { return true; }  // trusted template

  Visit visit(google::protobuf::Message&, pg_query::Node* wrapper, Walker&) override {
    if (wrapper == nullptr || !wrapper->has_column_ref()) return Next::kChildren;
    const auto& fields = wrapper->column_ref().fields();
    if (fields.size() == 1 && fields[0].has_string() && fields[0].string().sval() == kPlaceholder) {
      *wrapper = column_;
      ++replaced_;
      return Next::kDone;
    }
    return Next::kChildren;
  }

  int replaced() const { return replaced_; }

 private:
  const pg_query::Node& column_;
  int replaced_ = 0;
};

protocol::PgError maskUnavailable(MaskKind kind) {
  return protocol::makeError(protocol::sqlstate::kInternalError,
                             "mask '" + std::string(maskKindName(kind)) + "' is unavailable");
}

}  // namespace

std::expected<pg_query::Node, protocol::PgError> maskExpression(MaskKind kind,
                                                                const pg_query::Node& column) {
  const Templates& all = templates();
  for (std::size_t i = 0; i < kTemplates.size(); ++i) {
    if (kTemplates[i].first != kind) continue;
    if (!all[i]) return std::unexpected(maskUnavailable(kind));
    pg_query::Node expression = *all[i];
    Substitute substitute(column);
    Walker walker(substitute, kMaxTreeDepth);
    if (auto s = walker.walk(expression); !s) return std::unexpected(s.error());
    if (substitute.replaced() == 0) return std::unexpected(maskUnavailable(kind));
    return expression;
  }
  return std::unexpected(maskUnavailable(kind));
}

}  // namespace tenantwall::policy::sql
