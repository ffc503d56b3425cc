// What PII findings do to a policy: default masks for columns the policy shows plainly, nothing
// for columns it masks, hides or opts out (`pii: none`), role entries kept; the report; and the
// loader's `pii:` key.
#include "policy/pii_masks.h"

#include <gtest/gtest.h>

#include "policy/loader.h"

namespace tenantwall::policy {
namespace {

const std::string kPolicy = R"(tenants: [{id: acme}]
protected_tables:
  - table: public.people
    tenant_column: tenant_id
    columns:
      - id
      - tenant_id
      - contact
      - { name: work_email, mask: hash }
      - { name: support_line, pii: none }
      - { name: tax_ref, roles: { admin: allow, viewer: hide, analyst: redact } }
roles:
  analyst: { statements: [select] }
)";

PiiFinding finding(std::string column, PiiKind kind, bool name, std::size_t sampled,
                   std::size_t matched) {
  PiiEvidence evidence;
  evidence.name = name;
  evidence.sampled = sampled;
  evidence.matched = matched;
  evidence.values = sampled > 0 && matched == sampled;
  return PiiFinding{"public", "people", std::move(column), PiiClassification{kind, evidence}};
}

std::vector<PiiFinding> findings() {
  return {finding("contact", PiiKind::kEmail, false, 5, 5),
          finding("work_email", PiiKind::kEmail, true, 5, 5),
          finding("support_line", PiiKind::kPhone, false, 4, 4),
          finding("tax_ref", PiiKind::kSsn, false, 3, 3),
          finding("card", PiiKind::kCard, true, 0, 0),  // not listed: hidden
          finding("tenant_id", PiiKind::kEmail, false, 5, 5)};
}

const ColumnRule& column(const Policy& policy, std::string_view name) {
  return *policy.findProtected("public", "people")->findColumn(name);
}

TEST(PiiMasks, ReportSaysWhatEachFindingDoes) {
  const auto policy = loadPolicyText(kPolicy, "policy.yaml");
  const auto report = piiReport(*policy, findings());
  ASSERT_EQ(report.size(), 6u);
  EXPECT_EQ(report[0].action, PiiAction::kMaskedByDefault);
  EXPECT_EQ(report[0].mask, MaskKind::kEmail);
  EXPECT_EQ(report[1].action, PiiAction::kPolicyMasks);
  EXPECT_EQ(report[1].mask, MaskKind::kHash);
  EXPECT_EQ(report[2].action, PiiAction::kOptedOut);
  EXPECT_EQ(report[2].mask, std::nullopt);
  EXPECT_EQ(report[3].action, PiiAction::kMaskedByDefault);
  EXPECT_EQ(report[3].mask, MaskKind::kSsn);
  EXPECT_EQ(report[3].roles, "admin: allow, analyst: redact, viewer: hide");
  EXPECT_EQ(report[4].action, PiiAction::kHidden);
  EXPECT_EQ(report[5].action, PiiAction::kTenantColumn);
}

TEST(PiiMasks, MasksOnlyWhatThePolicyShowsPlainlyWithoutSayingSo) {
  const auto policy = loadPolicyText(kPolicy, "policy.yaml", 4);
  const auto masked = applyPiiFindings(*policy, findings());
  EXPECT_EQ(masked->version, 4u);
  EXPECT_EQ(column(*masked, "contact").mask, MaskKind::kEmail);
  EXPECT_TRUE(column(*masked, "contact").pii_masked);
  EXPECT_EQ(column(*masked, "work_email").mask, MaskKind::kHash);
  EXPECT_FALSE(column(*masked, "work_email").pii_masked);
  EXPECT_EQ(column(*masked, "support_line").mask, std::nullopt);
  EXPECT_EQ(column(*masked, "tenant_id").mask, std::nullopt);
  EXPECT_EQ(column(*masked, "id").mask, std::nullopt);
  EXPECT_EQ(masked->findProtected("public", "people")->findColumn("card"), nullptr);
  // The snapshot it was made from is untouched.
  EXPECT_EQ(column(*policy, "contact").mask, std::nullopt);
  // Reporting on the masked copy says the same.
  const auto again = piiReport(*masked, findings());
  ASSERT_EQ(again.size(), 6u);
  EXPECT_EQ(again[0].action, PiiAction::kMaskedByDefault);
  EXPECT_EQ(again[0].mask, MaskKind::kEmail);
  EXPECT_EQ(again[1].action, PiiAction::kPolicyMasks);
}

TEST(PiiMasks, RoleEntriesStillWinAndMaskedColumnsAreNotWritable) {
  const auto masked = applyPiiFindings(*loadPolicyText(kPolicy, "policy.yaml"), findings());
  const Policy* editor = masked->forRole("editor");
  ASSERT_NE(editor, nullptr);
  EXPECT_EQ(column(*editor, "tax_ref").mask, MaskKind::kSsn);
  EXPECT_EQ(column(*editor, "contact").mask, MaskKind::kEmail);
  EXPECT_FALSE(column(*editor, "contact").writable);
  EXPECT_TRUE(column(*editor, "support_line").writable);
  EXPECT_EQ(column(*masked->forRole("admin"), "tax_ref").mask, std::nullopt);
  EXPECT_EQ(column(*masked->forRole("admin"), "contact").mask, MaskKind::kEmail);
  EXPECT_EQ(column(*masked->forRole("analyst"), "tax_ref").mask, MaskKind::kRedact);
  EXPECT_EQ(masked->forRole("viewer")->findProtected("public", "people")->findColumn("tax_ref"),
            nullptr);
}

TEST(PiiMasks, TextJsonAndSummaryCarryCountsOnly) {
  const auto policy = loadPolicyText(kPolicy, "policy.yaml");
  PiiScan scan;
  scan.columns_scanned = 7;
  scan.findings = {finding("contact", PiiKind::kEmail, false, 5, 5),
                   finding("support_line", PiiKind::kPhone, true, 4, 3)};
  scan.findings[1].classification.evidence.values = false;
  const auto report = piiReport(*policy, scan.findings);
  EXPECT_EQ(piiReportText(report, scan),
            "PII scan: 7 columns of protected tables, 2 findings\n"
            "public.people.contact       email   values (5/5 sampled values, 100%)  -> masked by "
            "default (email)\n"
            "public.people.support_line  phone   name (3/4 sampled values, 75%)  -> opted out "
            "(pii: none), shown as the policy says\n");
  EXPECT_EQ(piiSummary(report, scan),
            "PII scan of 7 columns: 2 findings: public.people.contact email [values (5/5 sampled "
            "values, 100%)] masked by default (email); public.people.support_line phone [name "
            "(3/4 sampled values, 75%)] opted out (pii: none), shown as the policy says");
  EXPECT_EQ(piiReportJson(report, scan),
            R"({
  "columns_scanned": 7,
  "sampled": true,
  "warning": "",
  "findings": [
    {
      "schema": "public",
      "table": "people",
      "column": "contact",
      "kind": "email",
      "evidence": [
        "values"
      ],
      "sampled": 5,
      "matched": 5,
      "share": 1.0,
      "action": "masked_by_default",
      "mask": "email",
      "roles": ""
    },
    {
      "schema": "public",
      "table": "people",
      "column": "support_line",
      "kind": "phone",
      "evidence": [
        "name"
      ],
      "sampled": 4,
      "matched": 3,
      "share": 0.75,
      "action": "opted_out",
      "mask": null,
      "roles": ""
    }
  ]
})");
}

TEST(PiiMasks, NamesAloneWhenTheDatabaseCannotBeRead) {
  const auto scan = scanPolicyNames(*loadPolicyText(kPolicy, "policy.yaml"));
  EXPECT_EQ(scan.columns_scanned, 6u);
  ASSERT_EQ(scan.findings.size(), 1u);
  EXPECT_EQ(scan.findings[0].column, "work_email");
  EXPECT_EQ(scan.findings[0].classification.kind, PiiKind::kEmail);
  EXPECT_TRUE(scan.findings[0].classification.evidence.name);
}

TEST(PiiMasks, LoaderReadsTheOptOut) {
  const auto policy = loadPolicyText(kPolicy, "policy.yaml");
  EXPECT_TRUE(column(*policy, "support_line").pii_opt_out);
  EXPECT_FALSE(column(*policy, "contact").pii_opt_out);
}

TEST(PiiMasks, LoaderRefusesOtherPiiValuesWithTheirPosition) {
  for (const char* value : {"email", "false", "[none]", "null", "''"}) {
    std::string text = kPolicy;
    text.replace(text.find("pii: none"), 9, std::string("pii: ") + value);
    try {
      loadPolicyText(text, "policy.yaml");
      ADD_FAILURE() << value << " was accepted";
    } catch (const PolicyLoadError& e) {
      EXPECT_EQ(std::string(e.what()),
                "policy.yaml:10:36: column 'support_line': pii must be 'none' (it opts the "
                "column out of PII auto-detection)")
          << value;
    }
  }
}

}  // namespace
}  // namespace tenantwall::policy
