// Fuzz target: the SQL analyser and rewriter (policy::decide) on arbitrary SQL, with the
// reference policy conf/policy.yaml as acme's analyst, both as loaded and as the proxy annotates
// it when every tenant column has a leakproof equality (the pushdown path).
// Property: a rewrite that was allowed is allowed again when decided again (the rewriter never
// produces SQL its own analyser refuses, e.g. unparseable deparser output); a violation aborts.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string_view>

#include "policy/engine.h"
#include "policy/loader.h"

namespace pol = tenantwall::policy;

namespace {

const pol::Policy& referencePolicy() {
  static const std::shared_ptr<const pol::Policy> policy =
      pol::loadPolicyFile(TENANTWALL_SOURCE_DIR "/conf/policy.yaml");
  return *policy;
}

// As the proxy annotates the policy after reading pg_operator and pg_proc of a live database.
const pol::Policy& leakproofPolicy() {
  static const pol::Policy annotated = [] {
    pol::Policy copy = referencePolicy();
    for (auto& [key, table] : copy.protected_tables)
      for (auto& column : table.columns) column.leakproof_equality = true;
    return copy;
  }();
  return annotated;
}

void check(const pol::Principal& principal, std::string_view sql, const pol::Policy& policy) {
  const pol::Decision first = pol::decide(principal, sql, policy);
  if (!first) return;
  const pol::Decision again = pol::decide(principal, first->sql, policy);
  if (again) return;
  std::fprintf(stderr,
               "allowed rewrite refused when decided again\n  input: %.*s\n  rewritten: %s\n"
               "  refusal: %s %s\n",
               static_cast<int>(sql.size()), sql.data(), first->sql.c_str(),
               again.error().sqlstate.c_str(), again.error().message.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const pol::Principal principal{.tenant = "acme", .user = "alice", .role = "analyst"};
  const std::string_view sql(reinterpret_cast<const char*>(data), size);
  check(principal, sql, referencePolicy());
  check(principal, sql, leakproofPolicy());
  return 0;
}
