// SQL-level prepared statements (PREPARE name AS ...) of one client session. PostgreSQL keeps
// the rewrite the policy in force at PREPARE gave; after a reload that changes it, an EXECUTE
// would still run the old one (without a new mask or row rule). So the session remembers, per
// name, every query string that PREPAREd it since a DEALLOCATE of it last succeeded: one of
// them is what PostgreSQL holds (a PREPARE may have failed). After a reload an EXECUTE runs only
// if none of their rewrites changed. Pure: no I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tenantwall::proxy {

class SqlPreparedStatements {
 public:
  // Query strings remembered at most, for all names together (54000 beyond).
  static constexpr std::size_t kMaxQueries = 1000;

  // A query string forwarded with PREPAREs of `names`, rewritten to `sql` under policy
  // `version`, numbered nextSequence(). False, and nothing remembered, when that would pass
  // kMaxQueries.
  bool record(std::string_view query, std::string_view sql, const std::vector<std::string>& names,
              std::uint64_t version);

  // The rewrite of a query string under the policy now in force; nothing when it is refused.
  using Redecide = std::function<std::optional<std::string>(std::string_view query)>;
  // Before an EXECUTE of `names` under policy `version`: the first name whose remembered
  // rewrites `redecide` no longer gives, if any. Names checked clean are not decided again
  // until the next version.
  std::optional<std::string> stale(const std::vector<std::string>& names, std::uint64_t version,
                                   const Redecide& redecide);

  // A DEALLOCATE of `name` ("" for ALL) succeeded, sent after the query strings numbered below
  // `before`: those are gone from PostgreSQL (later ones may have prepared the name again).
  void forget(std::string_view name, std::uint64_t before);

  // The next query string's sequence number: a DEALLOCATE sent now forgets those below it.
  std::uint64_t nextSequence() const { return sequence_ + 1; }
  std::size_t size() const { return queries_; }

 private:
  struct Query {
    std::string text;  // as the client sent it
    std::string sql;   // as rewritten then
    std::uint64_t sequence;
  };
  struct Name {
    std::vector<Query> queries;
    std::uint64_t checked = 0;  // every rewrite is known to be current under this version
  };
  void erase(std::map<std::string, Name, std::less<>>::iterator it, std::uint64_t before);

  std::map<std::string, Name, std::less<>> names_;
  std::size_t queries_ = 0;
  std::uint64_t sequence_ = 0;
};

}  // namespace tenantwall::proxy
