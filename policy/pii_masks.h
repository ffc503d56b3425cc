// What PII auto-detection (policy/pii_detect.h) does to a policy, and the report of it.
//
// The semantics, safest first:
// - A column of a protected table that the policy does not list is hidden already (absent from
//   the secured relation): a finding there is only reported ("hidden").
// - A listed column the policy masks keeps the policy's mask ("policy masks it").
// - A listed column with `pii: none` stays as the policy says ("opted out").
// - The tenant column is never masked (it must stay comparable); a finding there is reported.
// - Any other listed column, i.e. one the policy shows plainly without having said so about PII,
//   is masked by default with the finding's mask (policy/pii_detect.h piiDefaultMask). Per-role
//   entries the policy wrote for the column (`roles: {admin: allow}`, hide, another mask) still
//   win for those roles: they are explicit; every other role sees the mask.
// Findings carry counts and shares only, never a sampled value, so reports, logs and audit
// events built from them cannot leak data.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "policy/model.h"
#include "policy/pii_detect.h"

namespace tenantwall::policy {

struct PiiFinding {
  std::string schema, table, column;
  PiiClassification classification;
};

// The findings of one scan of the live database, in schema, table, column order.
struct PiiScan {
  std::vector<PiiFinding> findings;
  std::size_t columns_scanned = 0;  // columns of protected tables classified
  // Empty when values were sampled; otherwise why not (names alone were judged).
  std::string warning;
};

enum class PiiAction { kMaskedByDefault, kOptedOut, kPolicyMasks, kHidden, kTenantColumn };

std::string_view piiActionName(PiiAction action);  // masked_by_default, opted_out, ...

struct PiiReportEntry {
  PiiFinding finding;
  PiiAction action;
  std::optional<MaskKind> mask;  // the mask the column gets (by default or from the policy)
  std::string roles;             // per-role entries that override it, "admin: allow, ..."
};

// What each finding does under policy (as written, or already carrying auto masks).
std::vector<PiiReportEntry> piiReport(const Policy& policy, const std::vector<PiiFinding>& found);

// A copy of policy (same version) with the kMaskedByDefault findings masked.
std::shared_ptr<const Policy> applyPiiFindings(const Policy& policy,
                                               const std::vector<PiiFinding>& found);

// Names alone, on the columns the policy lists (types unknown): what the proxy falls back to
// when the database cannot be sampled.
PiiScan scanPolicyNames(const Policy& policy);

// `tenantwall scan` output: one line per finding, or a JSON document.
std::string piiReportText(const std::vector<PiiReportEntry>& report, const PiiScan& scan);
std::string piiReportJson(const std::vector<PiiReportEntry>& report, const PiiScan& scan);
// One line for the log and the audit log: "3 PII columns: public.t.c email (name, values 5/5
// 100%) masked by default (email); ...".
std::string piiSummary(const std::vector<PiiReportEntry>& report, const PiiScan& scan);

}  // namespace tenantwall::policy
