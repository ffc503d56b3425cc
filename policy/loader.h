// Loading and validating a policy from YAML. Runs at start-up and on reload, so errors are
// exceptions carrying file, line and column; the running policy is never touched by a failure.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include "policy/model.h"

namespace tenantwall::policy {

class PolicyLoadError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Parses and validates; the message of a PolicyLoadError reads "file:line:column: what".
std::shared_ptr<const Policy> loadPolicyText(std::string_view yaml_text, const std::string& source,
                                             std::uint64_t version = 1);
std::shared_ptr<const Policy> loadPolicyFile(const std::string& path, std::uint64_t version = 1);

}  // namespace tenantwall::policy
