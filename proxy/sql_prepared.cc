#include "proxy/sql_prepared.h"

#include <algorithm>

namespace tenantwall::proxy {

bool SqlPreparedStatements::record(std::string_view query, std::string_view sql,
                                   const std::vector<std::string>& names, std::uint64_t version) {
  if (queries_ + names.size() > kMaxQueries) return false;
  const std::uint64_t sequence = ++sequence_;
  for (const std::string& name : names) {
    auto [it, inserted] = names_.try_emplace(name);
    // Versions only grow: the oldest one that decided any of the rewrites is what was checked.
    it->second.checked = inserted ? version : std::min(it->second.checked, version);
    it->second.queries.push_back(Query{std::string(query), std::string(sql), sequence});
    ++queries_;
  }
  return true;
}

std::optional<std::string> SqlPreparedStatements::stale(const std::vector<std::string>& names,
                                                        std::uint64_t version,
                                                        const Redecide& redecide) {
  for (const std::string& name : names) {
    const auto it = names_.find(name);
    if (it == names_.end() || it->second.checked == version) continue;
    for (const Query& query : it->second.queries) {
      const auto now = redecide(query.text);
      if (!now || *now != query.sql) return name;
    }
    it->second.checked = version;
  }
  return std::nullopt;
}

void SqlPreparedStatements::erase(std::map<std::string, Name, std::less<>>::iterator it,
                                  std::uint64_t before) {
  const auto removed = std::erase_if(it->second.queries,
                                     [&](const Query& query) { return query.sequence < before; });
  queries_ -= removed;
  if (it->second.queries.empty()) names_.erase(it);
}

void SqlPreparedStatements::forget(std::string_view name, std::uint64_t before) {
  if (!name.empty()) {
    if (const auto it = names_.find(name); it != names_.end()) erase(it, before);
    return;
  }
  for (auto it = names_.begin(); it != names_.end();) erase(it++, before);
}

}  // namespace tenantwall::proxy
