// The only global mutable state: the current policy snapshot, swapped atomically on reload.
// A statement reads the snapshot once and uses it to the end, so it never sees a mix.
// With approvers configured (issue 10), a file is accepted only with an approval signature by
// someone other than its author (policy/policy_signature.h); the previously accepted file is
// kept so that one command can roll back to it.
#pragma once

#include <atomic>
#include <expected>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "policy/column_facts.h"
#include "policy/model.h"
#include "policy/pii_masks.h"
#include "policy/policy_signature.h"
#include "policy/schema_check.h"

namespace tenantwall::proxy {

// What the last accepted load changed: who wrote it, who approved it, who gains or loses what.
struct PolicyChange {
  std::string author;             // the policy's `author:`, may be empty without approval
  std::string approver;           // empty when approval is not required
  std::vector<std::string> diff;  // policy::policyDiff against the policy it replaced
  bool first = true;              // the first load of this process: nothing to compare
};

class PolicyStore {
 public:
  explicit PolicyStore(std::string path) : path_(std::move(path)) {}

  std::shared_ptr<const policy::Policy> current() const { return current_.load(); }
  // The current snapshot's version (each snapshot has its own), without taking the snapshot.
  std::uint64_t version() const { return version_.load(); }
  // Loads and validates the file; on failure the running policy stays and the error is
  // returned (empty string on success).
  std::string reload();
  const std::string& path() const { return path_; }
  // New facts about the live schema: the current policy is re-annotated under a new version
  // (later reloads use them too). False when they equal what is already applied.
  bool applyColumnFacts(policy::ColumnFacts facts);

  // Reads the live schema for the check every load makes (policy/schema_check.h): a policy
  // naming a table or column the database lacks is rejected. A schema that cannot be read
  // (database unreachable) lets the load go on unchecked, with lastSchemaWarning() saying so.
  using SchemaSource = std::function<std::expected<policy::SchemaColumns, std::string>()>;
  void setSchemaSource(SchemaSource source);  // before the first reload
  // Why the last successful load was not checked against the live schema; empty when it was
  // (or no schema source is set).
  std::string lastSchemaWarning() const;

  // PII auto-detection (policy/pii_masks.h): every load scans with the new policy before it is
  // swapped in and masks what the scan finds by default, so no snapshot ever shows a detected
  // column unmasked. The scan of the last successful load, with its report.
  using PiiSource = std::function<policy::PiiScan(const policy::Policy&)>;
  void setPiiSource(PiiSource source);  // before the first reload
  struct PiiResult {
    policy::PiiScan scan;
    std::vector<policy::PiiReportEntry> report;
  };
  PiiResult lastPiiScan() const;

  // From now on every load needs an approval signature in <path>.sig (call before the first).
  void requireApproval(policy::ApproverKeys approvers);
  bool approvalRequired() const { return approvers_ != nullptr; }
  PolicyChange lastChange() const;
  // Writes the previously accepted policy file (and its signature) back over the policy path,
  // for reload() to load again; the error when there is none or it cannot be written.
  std::string restorePrevious();

 private:
  struct AcceptedFile {
    std::string text;
    std::optional<std::string> signature;
  };

  std::string path_;
  mutable std::mutex reload_mutex_;  // SIGHUP, the file watcher and POST /reload may race
  std::atomic<std::shared_ptr<const policy::Policy>> current_;
  std::atomic<std::uint64_t> version_{0};
  policy::ColumnFacts facts_;                                 // guarded by reload_mutex_
  std::shared_ptr<const policy::ApproverKeys> approvers_;     // set before serving
  std::optional<AcceptedFile> current_file_, previous_file_;  // guarded by reload_mutex_
  PolicyChange last_change_;                                  // guarded by reload_mutex_
  SchemaSource schema_source_;                                // set before serving
  PiiSource pii_source_;                                      // set before serving
  PiiResult pii_;                                             // guarded by reload_mutex_
  std::string schema_warning_;                                // guarded by reload_mutex_
};

}  // namespace tenantwall::proxy
