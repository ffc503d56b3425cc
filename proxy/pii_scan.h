// Samples the live database for PII auto-detection (policy/pii_detect.h): the columns of the
// policy's protected tables with their types, then up to sample_rows non-null values of each
// string column, over service connections. The values stay in this unit's memory for the
// classifier and are dropped; only counts and shares leave it.
#pragma once

#include <cstddef>
#include <expected>
#include <string>

#include "policy/model.h"
#include "policy/pii_masks.h"
#include "proxy/config.h"

namespace tenantwall::proxy {

constexpr std::size_t kPiiSampleRows = 200;

// The scan, or why the database could not be read or sampled.
std::expected<policy::PiiScan, std::string> scanLiveDatabase(
    const BackendConfig& backend, const policy::Policy& policy,
    std::size_t sample_rows = kPiiSampleRows);

// The scan every policy load makes: the live database, or, when it cannot be read, the names of
// the columns the policy lists (scan.warning says why), so a telling name is masked regardless.
policy::PiiScan scanForPolicyLoad(const BackendConfig& backend, const policy::Policy& policy);

}  // namespace tenantwall::proxy
