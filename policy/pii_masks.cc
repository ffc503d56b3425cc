// Default masks from PII findings, and the report of what each finding did.
#include "policy/pii_masks.h"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace tenantwall::policy {
namespace {

std::string roleOverrides(const ColumnRule& column) {
  std::string out;
  for (const auto& [role, access] : column.role_access) {
    out.append(out.empty() ? "" : ", ").append(role).append(": ");
    switch (access.kind) {
      case RoleColumnAccess::Kind::kAllow:
        out += "allow";
        break;
      case RoleColumnAccess::Kind::kHide:
        out += "hide";
        break;
      case RoleColumnAccess::Kind::kMask:
        out += access.mask ? maskKindName(*access.mask) : "mask";
        break;
    }
  }
  return out;
}

PiiReportEntry entryFor(const ProtectedTable& table, const PiiFinding& finding) {
  PiiReportEntry entry{finding, PiiAction::kHidden, std::nullopt, {}};
  if (finding.column == table.tenant_column) {
    entry.action = PiiAction::kTenantColumn;
    return entry;
  }
  const ColumnRule* column = table.findColumn(finding.column);
  if (column == nullptr) return entry;
  entry.roles = roleOverrides(*column);
  if (column->pii_masked) {
    entry.action = PiiAction::kMaskedByDefault;
    entry.mask = column->mask;
  } else if (column->mask) {
    entry.action = PiiAction::kPolicyMasks;
    entry.mask = column->mask;
  } else if (column->pii_opt_out) {
    entry.action = PiiAction::kOptedOut;
  } else {
    entry.action = PiiAction::kMaskedByDefault;
    entry.mask = piiDefaultMask(finding.classification.kind);
  }
  return entry;
}

int percent(const PiiEvidence& e) {
  return e.sampled == 0 ? 0 : static_cast<int>(e.matched * 100 / e.sampled);
}

std::string evidenceText(const PiiEvidence& e) {
  std::string out;
  if (e.name) out = "name";
  if (e.values) out.append(out.empty() ? "" : ", ").append("values");
  if (e.sampled > 0)
    out += " (" + std::to_string(e.matched) + "/" + std::to_string(e.sampled) +
           " sampled values, " + std::to_string(percent(e)) + "%)";
  return out;
}

std::string actionText(const PiiReportEntry& entry) {
  const std::string mask = entry.mask ? std::string(maskKindName(*entry.mask)) : "";
  std::string out;
  switch (entry.action) {
    case PiiAction::kMaskedByDefault:
      out = "masked by default (" + mask + ")";
      break;
    case PiiAction::kOptedOut:
      out = "opted out (pii: none), shown as the policy says";
      break;
    case PiiAction::kPolicyMasks:
      out = "policy masks it (" + mask + ")";
      break;
    case PiiAction::kHidden:
      out = "hidden (not listed in the policy)";
      break;
    case PiiAction::kTenantColumn:
      out = "tenant column, never masked";
      break;
  }
  if (!entry.roles.empty() && entry.action != PiiAction::kHidden &&
      entry.action != PiiAction::kTenantColumn)
    out += "; roles " + entry.roles;
  return out;
}

std::string qualifiedColumn(const PiiFinding& f) {
  return f.schema + "." + f.table + "." + f.column;
}

}  // namespace

std::string_view piiActionName(PiiAction action) {
  switch (action) {
    case PiiAction::kMaskedByDefault:
      return "masked_by_default";
    case PiiAction::kOptedOut:
      return "opted_out";
    case PiiAction::kPolicyMasks:
      return "policy_masks";
    case PiiAction::kHidden:
      return "hidden";
    case PiiAction::kTenantColumn:
      return "tenant_column";
  }
  return "unknown";
}

std::vector<PiiReportEntry> piiReport(const Policy& policy, const std::vector<PiiFinding>& found) {
  std::vector<PiiReportEntry> out;
  for (const PiiFinding& finding : found) {
    const ProtectedTable* table = policy.findProtected(finding.schema, finding.table);
    if (table != nullptr) out.push_back(entryFor(*table, finding));
  }
  return out;
}

std::shared_ptr<const Policy> applyPiiFindings(const Policy& policy,
                                               const std::vector<PiiFinding>& found) {
  auto copy = std::make_shared<Policy>(policy);
  for (const PiiFinding& finding : found) {
    auto it = copy->protected_tables.find(finding.schema + "." + finding.table);
    if (it == copy->protected_tables.end()) continue;
    ProtectedTable& table = it->second;
    const PiiReportEntry entry = entryFor(table, finding);
    if (entry.action != PiiAction::kMaskedByDefault) continue;
    for (ColumnRule& column : table.columns) {
      if (column.name != finding.column) continue;
      column.mask = entry.mask;
      column.pii_masked = true;
    }
  }
  return copy;
}

PiiScan scanPolicyNames(const Policy& policy) {
  PiiScan scan;
  for (const auto& [key, table] : policy.protected_tables) {
    for (const ColumnRule& column : table.columns) {
      ++scan.columns_scanned;
      if (auto found = classifyColumn(table.name, column.name, "", {}))
        scan.findings.push_back(PiiFinding{table.schema, table.name, column.name, *found});
    }
  }
  return scan;
}

std::string piiReportText(const std::vector<PiiReportEntry>& report, const PiiScan& scan) {
  std::string out = "PII scan: " + std::to_string(scan.columns_scanned) +
                    " columns of protected tables, " + std::to_string(report.size()) +
                    (report.size() == 1 ? " finding" : " findings") + "\n";
  if (!scan.warning.empty()) out += "warning: " + scan.warning + "\n";
  std::size_t width = 0;
  for (const auto& entry : report) width = std::max(width, qualifiedColumn(entry.finding).size());
  for (const auto& entry : report) {
    std::string name = qualifiedColumn(entry.finding);
    name.resize(width, ' ');
    std::string kind(piiKindName(entry.finding.classification.kind));
    kind.resize(6, ' ');
    out += name + "  " + kind + "  " + evidenceText(entry.finding.classification.evidence) +
           "  -> " + actionText(entry) + "\n";
  }
  return out;
}

std::string piiReportJson(const std::vector<PiiReportEntry>& report, const PiiScan& scan) {
  nlohmann::ordered_json findings = nlohmann::ordered_json::array();
  for (const auto& entry : report) {
    const PiiFinding& f = entry.finding;
    const PiiEvidence& e = f.classification.evidence;
    nlohmann::ordered_json evidence = nlohmann::ordered_json::array();
    if (e.name) evidence.push_back("name");
    if (e.values) evidence.push_back("values");
    nlohmann::ordered_json item = {
        {"schema", f.schema},
        {"table", f.table},
        {"column", f.column},
        {"kind", piiKindName(f.classification.kind)},
        {"evidence", evidence},
        {"sampled", e.sampled},
        {"matched", e.matched},
        {"share", e.share()},
        {"action", piiActionName(entry.action)},
        {"mask", entry.mask ? nlohmann::ordered_json(maskKindName(*entry.mask))
                            : nlohmann::ordered_json(nullptr)},
        {"roles", entry.roles},
    };
    findings.push_back(std::move(item));
  }
  nlohmann::ordered_json doc = {{"columns_scanned", scan.columns_scanned},
                                {"sampled", scan.warning.empty()},
                                {"warning", scan.warning},
                                {"findings", findings}};
  return doc.dump(2);
}

std::string piiSummary(const std::vector<PiiReportEntry>& report, const PiiScan& scan) {
  std::string out = "PII scan of " + std::to_string(scan.columns_scanned) +
                    " columns: " + std::to_string(report.size()) +
                    (report.size() == 1 ? " finding" : " findings");
  if (!scan.warning.empty()) out += " (names only: " + scan.warning + ")";
  std::string items;
  for (const auto& entry : report) {
    items.append(items.empty() ? "" : "; ")
        .append(qualifiedColumn(entry.finding))
        .append(" ")
        .append(piiKindName(entry.finding.classification.kind))
        .append(" [")
        .append(evidenceText(entry.finding.classification.evidence))
        .append("] ")
        .append(actionText(entry));
  }
  return items.empty() ? out : out + ": " + items;
}

}  // namespace tenantwall::policy
