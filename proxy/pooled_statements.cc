// Named prepared statements across pooled backends (see the header).
#include "proxy/pooled_statements.h"

#include "policy/digest.h"
#include "protocol/encoder.h"
#include "protocol/extended.h"
#include "protocol/messages.h"

namespace tenantwall::proxy {

std::string PooledStatements::serverName(std::string_view sql,
                                         const std::vector<std::int32_t>& types) {
  std::string key(sql);
  key += '\0';
  for (const std::int32_t type : types) key += std::to_string(type) + ",";
  return "tw_" + policy::sha256Hex(key).substr(0, 32);
}

void PooledStatements::closeServer(const std::string& name, bool added, ServerStatements& backend,
                                   std::string& out, std::uint64_t batch) {
  std::string body(1, 'S');
  body += name;
  body += '\0';
  protocol::appendMessage(out, protocol::ftag::kClose, body);
  pending_.push_back(Pending{'3', batch, added, name});
  backend.erase(name);
}

void PooledStatements::parse(const ClientStatement& statement, bool own, ServerStatements& backend,
                             std::string& out, std::uint64_t batch) {
  if (backend.contains(statement.server_name)) {
    closeServer(statement.server_name, true, backend, out, batch);
  } else if (backend.size() >= kMaxPerBackend) {
    const std::string oldest = *backend.begin();  // any one: re-parsed if needed again
    closeServer(oldest, true, backend, out, batch);
  }
  protocol::appendParse(out, statement.server_name, statement.sql, statement.param_types);
  pending_.push_back(Pending{'1', batch, !own, statement.server_name});
  backend.insert(statement.server_name);
}

void PooledStatements::ensure(const ClientStatement& statement, ServerStatements& backend,
                              std::string& out, std::uint64_t batch) {
  if (!backend.contains(statement.server_name)) parse(statement, false, backend, out, batch);
}

void PooledStatements::close(const ClientStatement& statement, ServerStatements& backend,
                             std::string& out, std::uint64_t batch) {
  closeServer(statement.server_name, false, backend, out, batch);
}

void PooledStatements::expect(char tag, std::uint64_t batch) {
  pending_.push_back(Pending{tag, batch, false, {}});
}

PooledStatements::Answer PooledStatements::complete(char tag) {
  if (pending_.empty() || pending_.front().tag != tag) return Answer::kUnexpected;
  const bool added = pending_.front().added;
  pending_.pop_front();
  return added ? Answer::kSwallow : Answer::kRelay;
}

void PooledStatements::failed(std::uint64_t batch, ServerStatements& backend) {
  std::vector<Pending> skipped;
  while (!pending_.empty() && pending_.front().batch == batch) {
    skipped.push_back(std::move(pending_.front()));
    pending_.pop_front();
  }
  // Undone latest first: a Parse that did not run left nothing, a Close that did not run left
  // the statement in place.
  for (auto it = skipped.rbegin(); it != skipped.rend(); ++it) {
    if (it->server_name.empty()) continue;
    if (it->tag == '1')
      backend.erase(it->server_name);
    else
      backend.insert(it->server_name);
  }
}

}  // namespace tenantwall::proxy
