// PII auto-detection in the policy store: every load scans the new policy before it is swapped
// in, so the snapshot clients see already carries the default masks.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "proxy/policy_store.h"

namespace tenantwall::proxy {
namespace {

namespace fs = std::filesystem;

TEST(PolicyStorePii, EveryLoadIsScannedBeforeItIsSwappedIn) {
  const fs::path dir = fs::temp_directory_path() / ("tw-store-pii-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const fs::path path = dir / "policy.yaml";
  std::ofstream(path) << "tenants: [{id: acme}]\nprotected_tables:\n"
                         "  - {table: public.people, tenant_column: tenant_id,"
                         " columns: [id, tenant_id, contact]}\n";
  PolicyStore store(path.string());
  int scans = 0;
  store.setPiiSource([&](const policy::Policy& loaded) {
    ++scans;
    // The scan sees the policy being loaded, not the running one.
    EXPECT_NE(loaded.findProtected("public", "people"), nullptr);
    policy::PiiEvidence evidence;
    evidence.sampled = evidence.matched = 4;
    evidence.values = true;
    policy::PiiScan scan;
    scan.columns_scanned = 3;
    scan.findings.push_back({"public", "people", "contact",
                             policy::PiiClassification{policy::PiiKind::kPhone, evidence}});
    return scan;
  });
  ASSERT_EQ(store.reload(), "");
  EXPECT_EQ(scans, 1);
  auto current = store.current();
  EXPECT_EQ(current->findProtected("public", "people")->findColumn("contact")->mask,
            policy::MaskKind::kPhone);
  const auto pii = store.lastPiiScan();
  ASSERT_EQ(pii.report.size(), 1u);
  EXPECT_EQ(pii.report[0].action, policy::PiiAction::kMaskedByDefault);

  // Column facts re-annotate the masked snapshot: the mask stays.
  policy::ColumnFacts facts;
  facts.leakproof_equality.insert("public.people.id");
  ASSERT_TRUE(store.applyColumnFacts(facts));
  EXPECT_EQ(store.current()->findProtected("public", "people")->findColumn("contact")->mask,
            policy::MaskKind::kPhone);
  EXPECT_GT(store.current()->version, current->version);

  // The next load is scanned again.
  ASSERT_EQ(store.reload(), "");
  EXPECT_EQ(scans, 2);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace tenantwall::proxy
