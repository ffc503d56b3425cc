// Named prepared statements across pooled backends (see the header).
#include "proxy/pooled_statements.h"

#include "policy/decision_cache.h"
#include "protocol/encoder.h"
#include "protocol/extended.h"
#include "protocol/messages.h"

namespace tenantwall::proxy {

std::string PooledStatements::serverName(std::string_view sql,
                                         const std::vector<std::int32_t>& types) {
  return policy::preparedStatementName(sql, types);
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
  parseServer(statement.server_name, statement.sql, statement.param_types, own, backend, out,
              batch);
}

void PooledStatements::parseServer(std::string_view server_name, std::string_view sql,
                                   const std::vector<std::int32_t>& param_types, bool own,
                                   ServerStatements& backend, std::string& out,
                                   std::uint64_t batch) {
  std::string name(server_name);
  if (backend.contains(name)) {
    closeServer(name, true, backend, out, batch);
  } else if (backend.size() >= kMaxPerBackend) {
    const std::string oldest = *backend.begin();  // any one: re-parsed if needed again
    closeServer(oldest, true, backend, out, batch);
  }
  protocol::appendParse(out, name, sql, param_types);
  backend.insert(name);
  pending_.push_back(Pending{'1', batch, !own, std::move(name)});
}

bool PooledStatements::ensure(const ClientStatement& statement, ServerStatements& backend,
                              std::string& out, std::uint64_t batch) {
  return ensure(statement.server_name, statement.sql, statement.param_types, backend, out, batch);
}

bool PooledStatements::ensure(std::string_view server_name, std::string_view sql,
                              const std::vector<std::int32_t>& param_types,
                              ServerStatements& backend, std::string& out, std::uint64_t batch) {
  if (backend.contains(server_name)) return false;
  parseServer(server_name, sql, param_types, false, backend, out, batch);
  return true;
}

bool PooledStatements::parsing(std::string_view server_name) const {
  for (const Pending& p : pending_)
    if (p.tag == '1' && p.server_name == server_name) return true;
  return false;
}

void PooledStatements::closeAll(ServerStatements& backend, std::string& out, std::uint64_t batch) {
  const std::vector<std::string> names(backend.begin(), backend.end());
  for (const std::string& name : names) closeServer(name, true, backend, out, batch);
}

void PooledStatements::close(const ClientStatement& statement, ServerStatements& backend,
                             std::string& out, std::uint64_t batch) {
  closeServer(statement.server_name, false, backend, out, batch);
}

void PooledStatements::expect(char tag, std::uint64_t batch, bool added) {
  pending_.push_back(Pending{tag, batch, added, {}});
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
