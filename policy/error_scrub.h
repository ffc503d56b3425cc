// What of a PostgreSQL error or notice may reach a tenant (DESIGN.md 5b): fields that can carry
// row data, hidden names or the rewritten SQL are dropped, and data values cut from messages.
#pragma once

#include <vector>

#include "protocol/messages.h"

namespace tenantwall::policy {

std::vector<protocol::ErrorField> scrubServerError(const std::vector<protocol::ErrorField>& fields);

}  // namespace tenantwall::policy
