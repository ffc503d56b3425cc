// pool.mode transaction: a client's named prepared statements follow it from backend to backend.
//
// A client that parsed "S_1" in one transaction may bind it in the next, on another backend.
// So each named statement is sent to PostgreSQL under a name derived from its rewritten text and
// parameter types (two clients share a server statement only if they would have sent the very
// same SQL, tenant literal included), every backend remembers which of those it holds, and a
// Bind or Describe of a statement the current backend lacks is preceded by its Parse. Answers to
// the Parse and Close messages the proxy adds are not relayed: the queue below matches each
// ParseComplete and CloseComplete to the message it answers. Pure: no I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace tenantwall::proxy {

// The server-side statements one backend connection holds (kept with the connection).
using ServerStatements = std::set<std::string, std::less<>>;

struct ClientStatement {
  std::string server_name;
  std::string sql;  // as rewritten, what PostgreSQL parses
  std::vector<std::int32_t> param_types;
  std::string query;                  // as the client sent it
  std::uint64_t policy_version = 0;   // of the policy snapshot that decided sql
  std::vector<std::string> executes;  // SQL-level statements it EXECUTEs (checked at Bind)
};

class PooledStatements {
 public:
  // A backend holds at most this many; the proxy closes one before preparing another.
  static constexpr std::size_t kMaxPerBackend = 1000;

  // "tw_" and 32 hex digits of SHA-256 over the text and types.
  static std::string serverName(std::string_view sql, const std::vector<std::int32_t>& types);

  // Appends to `out` the messages that parse `statement` on the backend (a client's own Parse
  // when `own`, whose answer the client sees; else one the proxy adds). A statement the backend
  // already holds is closed first (PostgreSQL refuses to parse a name twice). `batch` numbers
  // the Sync (or Query) the messages precede.
  void parse(const ClientStatement& statement, bool own, ServerStatements& backend,
             std::string& out, std::uint64_t batch);
  // Before a Bind or Describe of `statement`: its Parse, unless the backend holds it. True
  // when a Parse was added.
  bool ensure(const ClientStatement& statement, ServerStatements& backend, std::string& out,
              std::uint64_t batch);
  bool ensure(std::string_view server_name, std::string_view sql,
              const std::vector<std::int32_t>& param_types, ServerStatements& backend,
              std::string& out, std::uint64_t batch);
  // Whether a Parse of this server statement is still unanswered (it may yet fail).
  bool parsing(std::string_view server_name) const;
  // Closes every statement the backend holds under a server name, answers not relayed.
  void closeAll(ServerStatements& backend, std::string& out, std::uint64_t batch);
  // The client's Close of a named statement, sent under the server name.
  void close(const ClientStatement& statement, ServerStatements& backend, std::string& out,
             std::uint64_t batch);
  // Any other Parse ('1') or Close ('3') the session forwards (the unnamed statement, portals),
  // so that answers stay matched; `added` when the proxy sent it (its answer is not relayed).
  void expect(char tag, std::uint64_t batch, bool added = false);

  enum class Answer { kRelay, kSwallow, kUnexpected };
  // A ParseComplete ('1') or CloseComplete ('3') from the backend.
  Answer complete(char tag);
  // An ErrorResponse in batch `batch`: PostgreSQL skipped the rest of it, so the Parse and
  // Close messages still waiting never ran.
  void failed(std::uint64_t batch, ServerStatements& backend);
  // The backend left the session: nothing more is expected from it.
  void detached() { pending_.clear(); }
  bool idle() const { return pending_.empty(); }

 private:
  struct Pending {
    char tag;  // '1' Parse, '3' Close
    std::uint64_t batch;
    bool added;               // the proxy's own message: its answer is not relayed
    std::string server_name;  // empty for messages not tracked per backend
  };
  void parseServer(std::string_view server_name, std::string_view sql,
                   const std::vector<std::int32_t>& param_types, bool own,
                   ServerStatements& backend, std::string& out, std::uint64_t batch);
  void closeServer(const std::string& name, bool added, ServerStatements& backend, std::string& out,
                   std::uint64_t batch);
  std::deque<Pending> pending_;
};

}  // namespace tenantwall::proxy
