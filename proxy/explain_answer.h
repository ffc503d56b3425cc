// The answer to an EXPLAIN ANALYZE whose plan the proxy renders (policy::Allowed::render_plan):
// PostgreSQL's RowDescription and its one DataRow (the plan as FORMAT JSON) are replaced by the
// plan of policy/explain_render.h, as PostgreSQL would describe and send it in the format the
// client asked for; CommandComplete is PostgreSQL's. Pure: backend messages in, bytes out.
#pragma once

#include <string>

#include "policy/explain_render.h"
#include "protocol/decoder.h"

namespace tenantwall::proxy {

class ExplainAnswer {
 public:
  explicit ExplainAnswer(policy::PlanFormat format) : format_(format) {}

  // Takes one backend message of this answer. True: handled here, and out has what the client
  // gets instead (possibly nothing); false: the caller relays it as usual (errors, notices,
  // ReadyForQuery, and CommandComplete after a rendered plan). A plan that cannot be rendered,
  // or an answer shaped unlike EXPLAIN's, becomes one ErrorResponse and nothing of the plan.
  bool relay(const protocol::Frame& frame, std::string& out);

 private:
  enum class State {
    kDescription,  // waiting for the RowDescription
    kRow,          // waiting for the one DataRow
    kRendered,     // the plan went out: CommandComplete is relayed
    kFailed,       // an error went out instead: the rest of the result is dropped
  };
  void fail(std::string& out, const std::string& why);

  policy::PlanFormat format_;
  State state_ = State::kDescription;
};

}  // namespace tenantwall::proxy
