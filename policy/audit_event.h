// Audit events, their JSON form and the hash chain that makes the audit log tamper-evident.
// Pure: no I/O. proxy/audit_log writes the sealed lines; proxy/audit_cli verifies files.
//
// A sealed line is the event's JSON object with two more members at the end:
//
//   line     = J + ',"prev":"' + P + '","hash":"' + H + '"}'
//   unhashed = J + ',"prev":"' + P + '"}'          (the line without its hash member)
//   H        = hex(SHA-256(P || unhashed))                   without a key
//            = hex(HMAC-SHA-256(key, P || unhashed))         with a key
//
// J is toJson(event) without its closing '}'. P is the previous line's H (kGenesis for the
// first line of a chain), H and P are 64 lowercase hex digits, || is concatenation of bytes.
// Every line commits to the one before it, so an edited, removed, inserted or reordered line
// breaks the chain at that point; with a key nobody without it can re-seal an edited tail.
// Removing lines from the end is only visible against a hash remembered from earlier
// (VerifyOptions::expected_last_hash).
//
// Key rotation: the event kind "admin" with reason kKeyRotatedReason is sealed with the old
// key, and every line after it with the next key. Verification takes the keys oldest first
// and moves to the next one after each verified key-rotation event.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <vector>

namespace tenantwall::policy {

// The hash before the first line of a chain.
inline constexpr char kGenesis[] =
    "0000000000000000000000000000000000000000000000000000000000000000";
inline constexpr char kKeyRotatedReason[] = "audit key rotated";

// One audited fact: an authentication, a statement decision, a policy change or an admin act.
struct AuditEvent {
  std::string time;  // RFC 3339 UTC with milliseconds; sealing fills it in when empty
  std::string kind;  // "auth", "statement", "policy", "admin"
  std::uint64_t session = 0;
  std::string client;  // address:port
  std::string user, tenant, role;
  std::uint64_t policy_version = 0;
  std::string decision;  // "allow" | "deny" | "ok" | "fail"
  std::string sqlstate;
  std::string reason;     // the refusal message or failure reason
  std::string rule;       // which rule decided, may be empty
  std::string statement;  // SQL with literals already redacted by the caller
  std::string rewritten_sha256;
  std::vector<std::string> statement_kinds;
};

// The current time as RFC 3339 UTC with milliseconds: "2024-05-01T12:34:56.789Z".
std::string auditTimeNow();

// One JSON object, members always present and always in the order of AuditEvent, no newline.
// Strings are escaped so the result is valid JSON whatever the bytes: quote and backslash
// escaped, control characters as \u00XX, valid UTF-8 kept, each byte of invalid UTF-8
// replaced by \ufffd.
std::string toJson(const AuditEvent& event);

// hex(SHA-256(data)), or hex(HMAC-SHA-256(key, data)) when key is not empty.
std::string auditDigest(std::string_view key, std::string_view data);

// Appends events to a chain. Copyable, not thread-safe: one writer owns it.
class AuditChain {
 public:
  explicit AuditChain(std::string hmac_key = {}, std::string previous_hash = kGenesis)
      : key_(std::move(hmac_key)), last_(std::move(previous_hash)) {}

  // Returns the complete sealed line (no newline) and makes its hash the chain's last hash.
  std::string seal(const AuditEvent& event);
  // Seals the key-rotation event (kind "admin", decision "ok", reason kKeyRotatedReason) with
  // the current key, then switches to new_key for every later line.
  std::string sealKeyRotation(std::string new_key, std::string time = {});
  const std::string& lastHash() const { return last_; }

 private:
  std::string key_;
  std::string last_;
};

// The members of a sealed line that the chain and its verification need.
struct SealedLine {
  std::string prev;
  std::string hash;
  std::string kind;
  std::string reason;
  bool keyRotation() const { return kind == "admin" && reason == kKeyRotatedReason; }
};

// Checks the shape of a sealed line (one flat JSON object of the AuditEvent members, then
// prev and hash) without checking its hash; the error says what is wrong.
std::expected<SealedLine, std::string> parseSealedLine(std::string_view line);
// True when the line's hash is right for its own prev and this key (constant-time compare).
bool sealMatches(std::string_view line, const SealedLine& parsed, std::string_view key);

struct VerifyResult {
  bool ok = false;
  std::size_t line = 0;  // 1-based line of the first problem in `file`, 0 when ok
  std::string file;      // the file of the first problem (AuditFile::name)
  std::string reason;
  std::string last_hash;   // hash of the last line that verified
  std::size_t events = 0;  // lines that verified
};

struct AuditFile {
  std::string name;                // for messages only
  std::vector<std::string> lines;  // without newlines
};

struct VerifyOptions {
  // Oldest first. Empty, or an empty key, means plain SHA-256. The first key checks the
  // first line; each verified key-rotation event moves to the next key.
  std::vector<std::string> keys;
  // The prev the first line must carry. Empty: trust the first line's prev, for a series
  // whose oldest files were rotated away.
  std::string previous_hash = kGenesis;
  // A hash remembered from earlier (a previous verify, or AuditLog::lastHash()): some line of
  // the chain must carry it, or lines were removed from the end. The chain may go on past it.
  std::string expected_last_hash;
};

// Checks a chain line by line, file after file, so a large series needs no more memory than
// one line. verifyAuditFiles and verifyAuditLines below are the whole-input forms.
class AuditVerifier {
 public:
  explicit AuditVerifier(VerifyOptions options);

  // Starts the next file of the series (oldest first); line numbers restart at 1.
  void beginFile(std::string name);
  // Checks the next line (without newline). False once a problem was found; later lines are
  // then ignored and result() says where.
  bool add(std::string_view line);
  // Applies the end-of-chain check (expected_last_hash) and returns the outcome.
  const VerifyResult& finish();
  const VerifyResult& result() const { return result_; }

 private:
  bool failHere(std::string reason);

  VerifyOptions options_;
  VerifyResult result_;
  std::size_t key_index_ = 0;
  std::string rotated_at_;  // where the key was last rotated with no next key given
  std::size_t line_ = 0;    // in the current file
  bool failed_ = false;
  bool reached_expected_ = false;
};

// Verifies a rotated series given oldest first (file.N, ..., file.1, file): one chain that
// continues from each file into the next.
VerifyResult verifyAuditFiles(const std::vector<AuditFile>& files, const VerifyOptions& options);

// Verifies lines of one file with one key (empty: SHA-256); see VerifyOptions for the rest.
VerifyResult verifyAuditLines(const std::vector<std::string>& lines, const std::string& hmac_key,
                              std::string previous_hash = kGenesis,
                              std::string expected_last_hash = {});

}  // namespace tenantwall::policy
