// LRU decision cache.
#include "policy/decision_cache.h"

#include "policy/digest.h"
#include "policy/sql/parameter_literals.h"
#include "policy/sql/parser.h"

namespace tenantwall::policy {
namespace {

void field(std::string& key, std::string_view value) {
  key.append(std::to_string(value.size())).push_back(':');
  key.append(value);
}

}  // namespace

std::string decisionCacheKey(const Principal& principal, std::string_view sql,
                             const Policy& policy) {
  std::string key;
  key.reserve(sql.size() + 128);
  field(key, std::to_string(policy.version));
  field(key, policy.hash);
  field(key, principal.tenant);
  field(key, principal.user);
  field(key, principal.role);
  field(key, std::to_string(principal.groups.size()));
  for (const auto& g : principal.groups) field(key, g);
  field(key, std::to_string(principal.attributes.size()));
  for (const auto& [name, value] : principal.attributes) {
    field(key, name);
    field(key, value.list ? "list" : "scalar");
    field(key, std::to_string(value.values.size()));
    for (const auto& v : value.values) field(key, v);
  }
  field(key, sql);
  return key;
}

std::string preparedStatementName(std::string_view sql, const std::vector<std::int32_t>& types) {
  std::string key(sql);
  key += '\0';
  for (const std::int32_t type : types) key += std::to_string(type) + ",";
  return "tw_" + sha256Hex(key).substr(0, 32);
}

template <typename V>
std::shared_ptr<const V> DecisionCache::Lru<V>::find(const std::string& key) {
  auto it = index.find(key);
  if (it == index.end()) return nullptr;
  order.splice(order.begin(), order, it->second);
  return it->second->second;
}

template <typename V>
void DecisionCache::Lru<V>::insert(std::string key, std::shared_ptr<const V> value,
                                   std::size_t capacity) {
  if (index.contains(key)) return;  // another thread decided the same meanwhile
  order.emplace_front(std::move(key), std::move(value));
  index.emplace(order.front().first, order.begin());
  if (order.size() > capacity) {
    index.erase(order.back().first);
    order.pop_back();
  }
}

namespace {

// Only plain reads and writes share a rewrite across literals; session, cursor, COPY and
// utility statements are always decided in full.
bool shareable(const Allowed& allowed) {
  if (allowed.copy_in || allowed.statement_kinds.size() != 1) return false;
  const std::string& kind = allowed.statement_kinds.front();
  return kind == "SELECT" || kind == "INSERT" || kind == "UPDATE" || kind == "DELETE";
}

constexpr std::int32_t kInt4 = 23;
constexpr std::int32_t kUnspecified = 0;

// The rewrite as a statement with $n for literal n-1, when every literal may be a parameter.
std::shared_ptr<const PreparedForm> preparedForm(std::string_view rewritten_probe,
                                                 const RewriteTemplate& rewrite,
                                                 const LiteralShape& shape) {
  auto tree = sql::parse(rewritten_probe);
  if (!tree) return nullptr;
  for (const bool qualifies : sql::literalsAsParameters(*tree, shape))
    if (!qualifies) return nullptr;
  auto form = std::make_shared<PreparedForm>();
  for (std::size_t i = 0; i < rewrite.holes.size(); ++i) {
    form->sql += rewrite.pieces[i];
    form->sql += "$" + std::to_string(rewrite.holes[i] + 1);
  }
  form->sql += rewrite.pieces.back();
  for (const char kind : shape.kinds)
    form->param_types.push_back(kind == 'I' ? kInt4 : kUnspecified);
  form->name = preparedStatementName(form->sql, form->param_types);
  return form;
}

// A literal as the text value of its parameter: a string loses its quotes and doubled quotes
// (literal_shape admits no escapes or backslashes, so nothing else changes).
std::string parameterValue(std::string_view literal, char kind) {
  if (kind != 'S' || literal.size() < 2) return std::string(literal);
  std::string value;
  value.reserve(literal.size() - 2);
  for (std::size_t i = 1; i + 1 < literal.size(); ++i) {
    value.push_back(literal[i]);
    if (literal[i] == '\'' && literal[i + 1] == '\'') ++i;
  }
  return value;
}

std::vector<std::string> parameterValues(const LiteralShape& shape) {
  std::vector<std::string> values;
  values.reserve(shape.literals.size());
  for (std::size_t i = 0; i < shape.literals.size(); ++i)
    values.push_back(parameterValue(shape.literals[i], shape.kinds[i]));
  return values;
}

}  // namespace

std::shared_ptr<const CachedDecision> DecisionCache::fromShape(const Principal&, std::string_view,
                                                               const Policy&,
                                                               const LiteralShape& shape,
                                                               const std::string& shape_key) {
  std::shared_ptr<const ShapeEntry> entry;
  {
    std::lock_guard lock(mutex_);
    entry = shapes_.find(shape_key);
    if (!entry) return nullptr;
    ++hits_;
  }
  auto made = std::make_shared<CachedDecision>();
  Allowed allowed = entry->allowed;
  allowed.sql = fillTemplate(entry->rewrite, shape.literals);
  made->redacted_sql = entry->redacted_sql;
  made->decision = std::move(allowed);
  if (entry->prepared) {
    made->prepared = entry->prepared;
    made->parameters = parameterValues(shape);
  }
  return made;
}

void DecisionCache::learnShape(const Principal& principal, std::string_view sql,
                               const Policy& policy, const LiteralShape& shape,
                               std::string shape_key, CachedDecision& made) {
  if (!made.decision || !shareable(*made.decision)) return;
  const auto probe = probeText(sql, shape);
  if (!probe) return;
  // A rule that looks at a literal's value refuses or rewrites the probe differently, so the
  // probe's rewrite, filled with this statement's literals, must be exactly this rewrite.
  const Decision probed = policy::decide(principal, *probe, policy);
  if (!probed || probed->statement_kinds != made.decision->statement_kinds ||
      probed->relations != made.decision->relations || probed->copy_in)
    return;
  auto rewrite = rewriteTemplate(probed->sql, shape);
  if (!rewrite || fillTemplate(*rewrite, shape.literals) != made.decision->sql) return;
  auto entry = std::make_shared<ShapeEntry>();
  entry->rewrite = std::move(*rewrite);
  entry->allowed = *made.decision;
  entry->allowed.sql.clear();
  entry->redacted_sql = made.redacted_sql;
  entry->prepared = preparedForm(probed->sql, entry->rewrite, shape);
  if (entry->prepared) {  // the statement that taught the shape runs prepared too
    made.prepared = entry->prepared;
    made.parameters = parameterValues(shape);
  }
  std::lock_guard lock(mutex_);
  shapes_.insert(std::move(shape_key), std::move(entry), capacity_);
}

std::shared_ptr<const CachedDecision> DecisionCache::decide(const Principal& principal,
                                                            std::string_view sql,
                                                            const Policy& policy) {
  std::string key = decisionCacheKey(principal, sql, policy);
  {
    std::lock_guard lock(mutex_);
    if (auto found = exact_.find(key)) {
      ++hits_;
      return found;
    }
  }
  const auto shape = literalShape(sql);
  std::string shape_key;
  if (shape) {
    shape_key = decisionCacheKey(principal, shape->shape, policy);
    if (auto shared = fromShape(principal, sql, policy, *shape, shape_key)) return shared;
  }
  auto made = std::make_shared<CachedDecision>();
  made->decision = policy::decide(principal, sql, policy);
  made->redacted_sql = sql::redactLiterals(sql);
  if (made->decision) made->rewritten_sha256 = sha256Hex(made->decision->sql);
  if (shape) learnShape(principal, sql, policy, *shape, std::move(shape_key), *made);
  std::shared_ptr<const CachedDecision> decision = std::move(made);
  std::lock_guard lock(mutex_);
  ++misses_;
  exact_.insert(std::move(key), decision, capacity_);
  return decision;
}

std::size_t DecisionCache::size() const {
  std::lock_guard lock(mutex_);
  return exact_.order.size();
}

std::uint64_t DecisionCache::hits() const {
  std::lock_guard lock(mutex_);
  return hits_;
}

std::uint64_t DecisionCache::misses() const {
  std::lock_guard lock(mutex_);
  return misses_;
}

}  // namespace tenantwall::policy
