// Policy reload: build a new snapshot off to the side, check its approval, then swap.
#include "proxy/policy_store.h"

#include <cstdio>
#include <fstream>
#include <sstream>

#include "policy/loader.h"
#include "policy/policy_diff.h"

namespace tenantwall::proxy {
namespace {

std::optional<std::string> readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Writes path through a temporary file and a rename, so a reader sees the old or the new
// contents, never a mix.
std::string writeAtomically(const std::string& path, const std::string& text) {
  const std::string temporary = path + ".tenantwall-rollback";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) return "cannot write " + temporary;
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    std::remove(temporary.c_str());
    return "cannot replace " + path;
  }
  return {};
}

}  // namespace

std::string PolicyStore::reload() {
  // Serialised so two reloads never interleave their version numbers or swap out of order.
  std::lock_guard lock(reload_mutex_);
  try {
    // The bytes are read once: the ones approved are the ones loaded.
    const auto text = readFile(path_);
    if (!text) return path_ + ":1:1: cannot open policy file";
    const auto signature = readFile(path_ + ".sig");
    auto loaded = policy::loadPolicyText(*text, path_, version_.load() + 1);
    PolicyChange change;
    change.author = loaded->author;
    if (approvers_) {
      if (!signature)
        return path_ + ": policy change not approved: no approval signature file " + path_ +
               ".sig (see `tenantwall policy sign`)";
      auto approval = policy::checkApproval(*text, *signature, loaded->author, *approvers_);
      if (!approval)
        return path_ + ": policy change by '" + loaded->author + "' " + approval.error();
      change.approver = approval->approver;
    }
    std::string schema_warning;
    if (schema_source_) {
      auto schema = schema_source_();
      if (!schema) {
        schema_warning = "policy not checked against the live schema: " + schema.error();
      } else if (auto errors = policy::checkPolicySchema(*loaded, *schema); !errors.empty()) {
        std::string joined;
        for (const auto& error : errors) joined.append(joined.empty() ? "" : "; ").append(error);
        return "policy does not match the live schema: " + joined;
      }
    }
    schema_warning_ = std::move(schema_warning);
    auto next = policy::annotateColumns(*loaded, facts_, loaded->version);
    if (pii_source_) {
      PiiResult pii{pii_source_(*next), {}};
      pii.report = policy::piiReport(*next, pii.scan.findings);
      next = policy::applyPiiFindings(*next, pii.scan.findings);
      pii_ = std::move(pii);
    }
    if (const auto running = current_.load()) {
      change.first = false;
      change.diff = policy::policyDiff(*running, *next);
    }
    if (!current_file_ || current_file_->text != *text) previous_file_ = std::move(current_file_);
    current_file_ = AcceptedFile{*text, signature};
    last_change_ = std::move(change);
    version_.store(next->version);
    current_.store(std::move(next));
    return {};
  } catch (const policy::PolicyLoadError& e) {
    return e.what();
  }
}

bool PolicyStore::applyColumnFacts(policy::ColumnFacts facts) {
  std::lock_guard lock(reload_mutex_);
  if (facts == facts_) return false;
  facts_ = std::move(facts);
  if (const auto running = current_.load()) {
    auto next = policy::annotateColumns(*running, facts_, version_.load() + 1);
    version_.store(next->version);
    current_.store(std::move(next));
  }
  return true;
}

void PolicyStore::setSchemaSource(SchemaSource source) {
  std::lock_guard lock(reload_mutex_);
  schema_source_ = std::move(source);
}

void PolicyStore::setPiiSource(PiiSource source) {
  std::lock_guard lock(reload_mutex_);
  pii_source_ = std::move(source);
}

PolicyStore::PiiResult PolicyStore::lastPiiScan() const {
  std::lock_guard lock(reload_mutex_);
  return pii_;
}

std::string PolicyStore::lastSchemaWarning() const {
  std::lock_guard lock(reload_mutex_);
  return schema_warning_;
}

void PolicyStore::requireApproval(policy::ApproverKeys approvers) {
  std::lock_guard lock(reload_mutex_);
  approvers_ = std::make_shared<const policy::ApproverKeys>(std::move(approvers));
}

PolicyChange PolicyStore::lastChange() const {
  std::lock_guard lock(reload_mutex_);
  return last_change_;
}

std::string PolicyStore::restorePrevious() {
  std::lock_guard lock(reload_mutex_);
  if (!previous_file_)
    return "no previous policy version to roll back to: only one was accepted since start-up";
  // The signature first: the file watcher reacts to the policy file.
  if (previous_file_->signature) {
    if (std::string error = writeAtomically(path_ + ".sig", *previous_file_->signature);
        !error.empty())
      return error;
  }
  return writeAtomically(path_, previous_file_->text);
}

}  // namespace tenantwall::proxy
