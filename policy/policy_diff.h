// Who gains or loses access to what between two policies (issue 10): the human-readable diff
// shown by `tenantwall policy diff OLD NEW` and written to the log and audit log on a reload.
#pragma once

#include <string>
#include <vector>

#include "policy/model.h"

namespace tenantwall::policy {

// One line per change, each starting with "+" (access gained), "-" (access lost) or "~"
// (changed, with the effect spelled out); empty when access is the same.
std::vector<std::string> policyDiff(const Policy& before, const Policy& after);

}  // namespace tenantwall::policy
