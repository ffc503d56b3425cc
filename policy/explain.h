// Validate before run (issue 10): what decide() would do with a statement for a principal, with
// the rewritten SQL and the policy rules that decided, as JSON and as text. For an AI-generated
// or hand-written query to be checked before it runs (`tenantwall explain-decision`, POST
// /explain). Pure: nothing is executed.
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <vector>

#include "policy/model.h"
#include "policy/principal.h"
#include "protocol/pg_error.h"

namespace tenantwall::policy {

struct Explanation {
  Principal principal;
  std::string sql;
  bool allowed = false;
  std::string rewritten_sql;                 // allowed: what PostgreSQL would receive
  std::vector<std::string> statement_kinds;  // allowed
  std::vector<std::string> relations;        // allowed: schema-qualified
  protocol::PgError error;                   // refused: SQLSTATE, message, hint
  std::vector<std::string> rules;            // the policy rules that decided, one per line
  std::uint64_t policy_version = 0;
  std::string policy_sha256;
};

// The principal of a static policy user; tenant and role override it, or make one for a name
// that is not a static user (a token principal), in which case both are required.
std::expected<Principal, std::string> principalFor(const Policy& policy, std::string_view user,
                                                   std::string_view tenant = {},
                                                   std::string_view role = {});

Explanation explainDecision(const Principal& principal, std::string_view sql, const Policy& policy);

std::string explanationJson(const Explanation& explanation);
std::string explanationText(const Explanation& explanation);

}  // namespace tenantwall::policy
