// The EXPLAIN ANALYZE answer: PostgreSQL's RowDescription and JSON DataRow become the rendered
// plan (one text row per line, or one json row), CommandComplete passes; anything else in their
// place becomes one ErrorResponse and nothing of the plan.
#include "proxy/explain_answer.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "protocol/encoder.h"
#include "protocol/messages.h"

namespace tenantwall::proxy {
namespace {

// A real PostgreSQL 15 answer's plan (tests/unit/policy/explain_plans has more).
const std::string kPlan = R"j([
  {
    "Plan": {
      "Node Type": "Seq Scan",
      "Parallel Aware": false,
      "Async Capable": false,
      "Relation Name": "customers",
      "Alias": "customers",
      "Actual Rows": 3,
      "Actual Loops": 1,
      "Filter": "(tenant_id = 'acme'::text)",
      "Rows Removed by Filter": 2
    },
    "Triggers": [
    ]
  }
])j";

std::string rowDescription(int columns) {
  std::vector<protocol::FieldDescription> fields(static_cast<std::size_t>(columns));
  for (auto& field : fields) {
    field.name = "QUERY PLAN";
    field.type_oid = 114;
  }
  std::string out;
  protocol::appendRowDescription(out, fields);
  return out;
}

std::string dataRow(std::vector<std::optional<std::string>> values) {
  std::string out;
  protocol::appendDataRow(out, values);
  return out;
}

std::string commandComplete() {
  std::string out;
  protocol::appendCommandComplete(out, "EXPLAIN");
  return out;
}

// What the client sees, message by message, for the backend messages given; "relay <tag>" for
// each message the caller relays itself.
std::vector<std::string> answer(ExplainAnswer& explain, const std::vector<std::string>& messages) {
  std::vector<std::string> seen;
  for (const auto& bytes : messages) {
    const auto decoded = protocol::decodeFrame(bytes);
    EXPECT_EQ(decoded.status, protocol::DecodeStatus::kReady);
    std::string out;
    if (!explain.relay(decoded.frame, out)) {
      EXPECT_TRUE(out.empty());
      seen.push_back(std::string("relay ") + decoded.frame.tag);
      continue;
    }
    for (std::string_view rest = out; !rest.empty();) {
      const auto frame = protocol::decodeFrame(rest);
      EXPECT_EQ(frame.status, protocol::DecodeStatus::kReady);
      if (frame.status != protocol::DecodeStatus::kReady) break;
      if (frame.frame.tag == protocol::btag::kRowDescription) {
        const auto fields = protocol::parseRowDescription(frame.frame.body);
        EXPECT_TRUE(fields && fields->size() == 1);
        seen.push_back("T " + fields->front().name + " " +
                       std::to_string(fields->front().type_oid));
      } else if (frame.frame.tag == protocol::btag::kDataRow) {
        const auto values = protocol::parseDataRow(frame.frame.body);
        EXPECT_TRUE(values && values->size() == 1 && values->front());
        seen.push_back("D " + *values->front());
      } else if (frame.frame.tag == protocol::btag::kErrorResponse) {
        const auto fields = protocol::parseErrorFields(frame.frame.body);
        EXPECT_TRUE(fields.has_value());
        seen.push_back("E " + protocol::errorField(*fields, 'C') + " " +
                       protocol::errorField(*fields, 'M'));
      } else {
        seen.push_back(std::string("? ") + frame.frame.tag);
      }
      rest.remove_prefix(frame.frame.size);
    }
  }
  return seen;
}

TEST(ExplainAnswerTest, TextPlanIsOneRowPerLine) {
  ExplainAnswer explain(policy::PlanFormat::kText);
  EXPECT_EQ(answer(explain, {rowDescription(1), dataRow({kPlan}), commandComplete()}),
            (std::vector<std::string>{"T QUERY PLAN 25",
                                      "D Seq Scan on customers (actual rows=3 loops=1)",
                                      "D   Filter: (tenant_id = 'acme'::text)", "relay C"}));
}

TEST(ExplainAnswerTest, JsonPlanIsOneJsonRow) {
  ExplainAnswer explain(policy::PlanFormat::kJson);
  const auto seen = answer(explain, {rowDescription(1), dataRow({kPlan}), commandComplete()});
  ASSERT_EQ(seen.size(), 3U);
  EXPECT_EQ(seen[0], "T QUERY PLAN 114");
  EXPECT_TRUE(seen[1].starts_with("D [")) << seen[1];
  EXPECT_NE(seen[1].find("\"Actual Rows\": 3"), std::string::npos) << seen[1];
  EXPECT_EQ(seen[1].find("Rows Removed"), std::string::npos) << seen[1];
  EXPECT_EQ(seen[1].find("Triggers"), std::string::npos) << seen[1];
  EXPECT_EQ(seen[2], "relay C");
}

TEST(ExplainAnswerTest, APlanThatDoesNotRenderBecomesAnError) {
  ExplainAnswer explain(policy::PlanFormat::kText);
  EXPECT_EQ(answer(explain, {rowDescription(1), dataRow({"[{\"Plan\": 1}]"}), commandComplete()}),
            (std::vector<std::string>{
                "E XX000 tenantwall cannot show this EXPLAIN ANALYZE plan: a plan node is not an "
                "object"}));
}

TEST(ExplainAnswerTest, AnAnswerNotShapedLikeExplainsBecomesAnError) {
  const std::string wrong_shape = "E XX000 tenantwall cannot show this EXPLAIN ANALYZE plan: ";
  {
    ExplainAnswer explain(policy::PlanFormat::kText);
    EXPECT_EQ(
        answer(explain, {rowDescription(2), dataRow({kPlan, kPlan}), commandComplete()}),
        (std::vector<std::string>{wrong_shape + "PostgreSQL's answer is not one plan column"}));
  }
  {
    ExplainAnswer explain(policy::PlanFormat::kText);
    EXPECT_EQ(answer(explain, {rowDescription(1), dataRow({std::nullopt}), commandComplete()}),
              (std::vector<std::string>{wrong_shape + "PostgreSQL's answer is not one plan"}));
  }
  {
    ExplainAnswer explain(policy::PlanFormat::kText);  // rows before any description
    EXPECT_EQ(answer(explain, {dataRow({kPlan}), commandComplete()}),
              (std::vector<std::string>{wrong_shape + "PostgreSQL's answer is not one plan"}));
  }
  {
    ExplainAnswer explain(policy::PlanFormat::kText);  // a second row after the plan
    const auto seen =
        answer(explain, {rowDescription(1), dataRow({kPlan}), dataRow({kPlan}), commandComplete()});
    ASSERT_EQ(seen.size(), 4U);
    EXPECT_EQ(seen[3], wrong_shape + "PostgreSQL's answer is not one plan");
  }
  {
    ExplainAnswer explain(policy::PlanFormat::kText);  // no plan at all
    EXPECT_EQ(answer(explain, {rowDescription(1), commandComplete()}),
              (std::vector<std::string>{wrong_shape + "PostgreSQL's answer has no plan"}));
  }
}

TEST(ExplainAnswerTest, ErrorsNoticesAndReadyForQueryAreTheCallersToRelay) {
  // The statement failed while it ran: PostgreSQL's error is relayed (scrubbed) as any other.
  ExplainAnswer explain(policy::PlanFormat::kText);
  std::string error;
  protocol::appendErrorResponse(error, protocol::makeError("23503", "violates foreign key"));
  std::string notice;
  protocol::appendNoticeResponse(notice, protocol::makeError("01000", "note"));
  std::string ready;
  protocol::appendReadyForQuery(ready, 'I');
  EXPECT_EQ(answer(explain, {notice, rowDescription(1), error, ready}),
            (std::vector<std::string>{"relay N", "relay E", "relay Z"}));
}

}  // namespace
}  // namespace tenantwall::proxy
