// Probe constants in value positions of a rewritten statement.
#include "policy/sql/parameter_literals.h"

#include <optional>
#include <string_view>

#include "policy/sql/parser.h"
#include "policy/sql/walker.h"

namespace tenantwall::policy::sql {
namespace {

// Counts each probe's occurrences, and those in value positions, over the whole tree.
class ProbeCounter : public Visitor {
 public:
  explicit ProbeCounter(const LiteralShape& shape)
      : shape_(shape), seen_(shape.literals.size(), 0), placed_(shape.literals.size(), 0) {}

  bool knows(std::string_view) const override { return true; }

  Visit visit(google::protobuf::Message& node, pg_query::Node*, Walker&) override {
    if (const auto* constant = dynamic_cast<const pg_query::A_Const*>(&node)) {
      if (auto i = probe(*constant)) ++seen_[*i];
      return Next::kDone;
    }
    if (const auto* expr = dynamic_cast<const pg_query::A_Expr*>(&node)) place(*expr);
    return Next::kChildren;
  }

  std::vector<bool> verdict() const {
    std::vector<bool> out(seen_.size());
    for (std::size_t i = 0; i < seen_.size(); ++i) out[i] = seen_[i] > 0 && seen_[i] == placed_[i];
    return out;
  }

 private:
  // The literal index of a probe constant of the right kind.
  std::optional<std::size_t> probe(const pg_query::A_Const& constant) const {
    if (constant.has_ival()) {
      const std::int64_t index =
          static_cast<std::int64_t>(constant.ival().ival()) - intProbeValue(0);
      if (index >= 0 && static_cast<std::size_t>(index) < shape_.kinds.size() &&
          shape_.kinds[static_cast<std::size_t>(index)] == 'I')
        return static_cast<std::size_t>(index);
    } else if (constant.has_sval()) {
      const std::string& value = constant.sval().sval();
      for (std::size_t i = 0; i < shape_.kinds.size(); ++i)
        if (shape_.kinds[i] == 'S' && value == stringProbeValue(i)) return i;
    }
    return std::nullopt;
  }

  // A probe operand in a value position counts as placed; `beside_column` says whether the
  // other side is a plain column reference (required of strings).
  void operand(const pg_query::Node& node, bool beside_column) {
    if (!node.has_a_const()) return;
    const auto i = probe(node.a_const());
    if (i && (shape_.kinds[*i] == 'I' || beside_column)) ++placed_[*i];
  }

  void place(const pg_query::A_Expr& expr) {
    switch (expr.kind()) {
      case pg_query::AEXPR_OP: {
        if (!expr.has_lexpr() || !expr.has_rexpr() || expr.name_size() == 0 ||
            !expr.name(expr.name_size() - 1).has_string())
          return;
        static constexpr std::string_view kComparisons[] = {"=", "<>", "!=", "<", ">", "<=", ">="};
        const std::string& op = expr.name(expr.name_size() - 1).string().sval();
        bool comparison = false;
        for (auto c : kComparisons) comparison = comparison || op == c;
        if (!comparison) return;
        operand(expr.lexpr(), expr.rexpr().has_column_ref());
        operand(expr.rexpr(), expr.lexpr().has_column_ref());
        return;
      }
      case pg_query::AEXPR_IN:
      case pg_query::AEXPR_BETWEEN:
      case pg_query::AEXPR_NOT_BETWEEN:
        if (!expr.has_lexpr() || !expr.has_rexpr() || !expr.rexpr().has_list()) return;
        for (const auto& item : expr.rexpr().list().items())
          operand(item, expr.lexpr().has_column_ref());
        return;
      default:
        return;
    }
  }

  const LiteralShape& shape_;
  std::vector<std::size_t> seen_;    // occurrences of each literal's probe
  std::vector<std::size_t> placed_;  // of those, in a value position
};

}  // namespace

std::vector<bool> literalsAsParameters(pg_query::ParseResult& tree, const LiteralShape& shape) {
  ProbeCounter counter(shape);
  Walker walker(counter, kMaxTreeDepth);
  if (!walker.walk(tree)) return std::vector<bool>(shape.literals.size(), false);
  return counter.verdict();
}

}  // namespace tenantwall::policy::sql
