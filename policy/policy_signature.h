// Reviewed policy changes (issue 10): a policy file is accepted only with a detached approval,
// `<policy>.sig`, signed by a configured approver who is not the policy's author.
//
// The signature file holds one or more entries:
//   signer: <approver id>
//   sha256: <hex SHA-256 of the policy file's bytes>
//   signature: <base64 signature over those 64 hex characters (ASCII)>
// An approver's public key is <approvers_dir>/<id>.pem (Ed25519, ECDSA P-256 with SHA-256, or
// RSA with SHA-256). `tenantwall policy sign` writes entries; so does
//   printf %s "$(sha256sum policy.yaml | cut -c1-64)" > digest
//   openssl pkeyutl -sign -inkey bob.key -rawin -in digest | base64 -w0     (Ed25519)
// The author is the policy's `author:` key; a file signed only by its author is refused, so
// every accepted change names two people, and both go to the audit log.
#pragma once

#include <expected>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tenantwall::policy {

// Configured approvers' public keys, by id. Built once at start-up.
class ApproverKeys {
 public:
  struct Key;
  ApproverKeys();
  ~ApproverKeys();
  ApproverKeys(ApproverKeys&&) noexcept;
  ApproverKeys& operator=(ApproverKeys&&) noexcept;

  // Reads every <id>.pem public key in dir; an error when the directory holds none or a key
  // cannot be read.
  static std::expected<ApproverKeys, std::string> loadDirectory(const std::string& dir);
  // From PEM texts by id (for tests).
  static std::expected<ApproverKeys, std::string> fromPem(
      const std::map<std::string, std::string>& pem_by_id);

  // True when signature verifies message with the key of id.
  bool verifies(std::string_view id, std::string_view message, std::string_view signature) const;
  bool has(std::string_view id) const;
  std::vector<std::string> ids() const;

 private:
  std::map<std::string, std::unique_ptr<Key>, std::less<>> keys_;
};

struct SignatureEntry {
  std::string signer;
  std::string sha256;
  std::string signature;  // decoded bytes
};

std::expected<std::vector<SignatureEntry>, std::string> parseSignatureFile(std::string_view text);

// Who wrote and who approved an accepted policy.
struct Approval {
  std::string author;
  std::string approver;
};

// Accepts policy_bytes when some entry of signature_file is a valid signature, by a configured
// approver other than author, over exactly these bytes. The error says why not, for the audit
// log and the person reloading.
std::expected<Approval, std::string> checkApproval(std::string_view policy_bytes,
                                                   std::string_view signature_file,
                                                   const std::string& author,
                                                   const ApproverKeys& approvers);

// One signature file entry for policy_bytes, signed with a PEM private key.
std::expected<std::string, std::string> signPolicy(std::string_view policy_bytes,
                                                   const std::string& signer,
                                                   const std::string& private_key_pem);

}  // namespace tenantwall::policy
