// Refusals raised by PostgreSQL itself. Instead of answering a refused message locally, the
// proxy sends PostgreSQL a statement that fails to parse at exactly that point, so transaction
// blocks abort and pipelines skip to Sync just as they would for a real error. The failing
// statement is a secret per-session marker, and its error is replaced by the refusal.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "protocol/messages.h"
#include "protocol/pg_error.h"

namespace tenantwall::proxy {

class RefusalBook {
 public:
  RefusalBook();  // draws a random token

  // Records a refusal and returns the SQL text that PostgreSQL will fail to parse.
  std::string record(protocol::PgError refusal);
  // When fields are PostgreSQL's error for one of our markers, returns the refusal to send
  // instead (and forgets it and any older one PostgreSQL skipped).
  std::optional<protocol::PgError> match(const std::vector<protocol::ErrorField>& fields);
  std::size_t pending() const { return refusals_.size(); }

 private:
  std::string prefix_;  // "tw_refused_<token>_", an identifier no client can guess
  std::uint64_t next_ = 1;
  std::map<std::uint64_t, protocol::PgError> refusals_;
};

}  // namespace tenantwall::proxy
