// ExplainAnswer: RowDescription + DataRow of PostgreSQL's JSON plan -> the rendered plan rows.
#include "proxy/explain_answer.h"

#include "protocol/encoder.h"
#include "protocol/messages.h"
#include "protocol/sqlstate.h"

namespace tenantwall::proxy {

namespace {

// PostgreSQL describes EXPLAIN's one column so (pg_type oids: text 25, json 114).
protocol::FieldDescription planColumn(policy::PlanFormat format) {
  protocol::FieldDescription column;
  column.name = "QUERY PLAN";
  column.type_oid = format == policy::PlanFormat::kJson ? 114 : 25;
  return column;
}

}  // namespace

void ExplainAnswer::fail(std::string& out, const std::string& why) {
  protocol::appendErrorResponse(
      out, protocol::makeError(protocol::sqlstate::kInternalError,
                               "tenantwall cannot show this EXPLAIN ANALYZE plan: " + why,
                               "the statement itself did run; EXPLAIN without ANALYZE shows "
                               "the plan"));
  state_ = State::kFailed;
}

bool ExplainAnswer::relay(const protocol::Frame& frame, std::string& out) {
  switch (frame.tag) {
    case protocol::btag::kRowDescription: {
      if (state_ == State::kFailed) return true;
      const auto fields = protocol::parseRowDescription(frame.body);
      if (state_ != State::kDescription || !fields || fields->size() != 1) {
        fail(out, "PostgreSQL's answer is not one plan column");
        return true;
      }
      state_ = State::kRow;
      return true;
    }
    case protocol::btag::kDataRow: {
      if (state_ == State::kFailed) return true;
      const auto values = protocol::parseDataRow(frame.body);
      if (state_ != State::kRow || !values || values->size() != 1 || !values->front()) {
        fail(out, "PostgreSQL's answer is not one plan");
        return true;
      }
      auto rows = policy::renderPlan(*values->front(), format_);
      if (!rows) {
        protocol::appendErrorResponse(out, rows.error());
        state_ = State::kFailed;
        return true;
      }
      protocol::appendRowDescription(out, {planColumn(format_)});
      for (auto& row : *rows) protocol::appendDataRow(out, {std::move(row)});
      state_ = State::kRendered;
      return true;
    }
    case protocol::btag::kCommandComplete:
      if (state_ == State::kRendered) return false;
      if (state_ != State::kFailed) fail(out, "PostgreSQL's answer has no plan");
      return true;
    default:
      return false;
  }
}

}  // namespace tenantwall::proxy
