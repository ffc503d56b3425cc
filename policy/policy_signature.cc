// Approval signatures: approver keys, the signature file, verification and signing (OpenSSL).
#include "policy/policy_signature.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "policy/digest.h"

namespace tenantwall::policy {

struct ApproverKeys::Key {
  EVP_PKEY* pkey = nullptr;
  ~Key() { EVP_PKEY_free(pkey); }
};

namespace {

using Context = std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>;

// Ed25519 signs the message itself; the other key types sign its SHA-256.
const EVP_MD* digestFor(EVP_PKEY* key) {
  return EVP_PKEY_id(key) == EVP_PKEY_ED25519 ? nullptr : EVP_sha256();
}

std::string base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(n);
  return out;
}

std::expected<std::string, std::string> unbase64(std::string_view text) {
  if (text.empty() || text.size() % 4 != 0) return std::unexpected(std::string("bad base64"));
  std::string out(text.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0) return std::unexpected(std::string("bad base64"));
  std::size_t padding = 0;
  if (text.ends_with("=="))
    padding = 2;
  else if (text.ends_with("="))
    padding = 1;
  out.resize(static_cast<std::size_t>(n) - padding);
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

}  // namespace

ApproverKeys::ApproverKeys() = default;
ApproverKeys::~ApproverKeys() = default;
ApproverKeys::ApproverKeys(ApproverKeys&&) noexcept = default;
ApproverKeys& ApproverKeys::operator=(ApproverKeys&&) noexcept = default;

std::expected<ApproverKeys, std::string> ApproverKeys::fromPem(
    const std::map<std::string, std::string>& pem_by_id) {
  ApproverKeys keys;
  for (const auto& [id, pem] : pem_by_id) {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(
        BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
    auto key = std::make_unique<Key>();
    key->pkey = bio ? PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr) : nullptr;
    if (!key->pkey) return std::unexpected("approver '" + id + "': not a PEM public key");
    const int type = EVP_PKEY_id(key->pkey);
    if (type != EVP_PKEY_ED25519 && type != EVP_PKEY_EC && type != EVP_PKEY_RSA)
      return std::unexpected("approver '" + id + "': key type must be Ed25519, EC or RSA");
    keys.keys_.emplace(id, std::move(key));
  }
  return keys;
}

std::expected<ApproverKeys, std::string> ApproverKeys::loadDirectory(const std::string& dir) {
  std::map<std::string, std::string> pems;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.path().extension() != ".pem") continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    if (!in) return std::unexpected("cannot read " + entry.path().string());
    pems.emplace(entry.path().stem().string(), text.str());
  }
  if (ec) return std::unexpected("cannot list " + dir + ": " + ec.message());
  if (pems.empty()) return std::unexpected(dir + " holds no approver key (<id>.pem)");
  return fromPem(pems);
}

bool ApproverKeys::verifies(std::string_view id, std::string_view message,
                            std::string_view signature) const {
  const auto it = keys_.find(id);
  if (it == keys_.end()) return false;
  EVP_PKEY* key = it->second->pkey;
  Context ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  return ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, digestFor(key), nullptr, key) == 1 &&
         EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                          signature.size(), reinterpret_cast<const unsigned char*>(message.data()),
                          message.size()) == 1;
}

bool ApproverKeys::has(std::string_view id) const { return keys_.contains(id); }

std::vector<std::string> ApproverKeys::ids() const {
  std::vector<std::string> out;
  for (const auto& [id, key] : keys_) out.push_back(id);
  return out;
}

std::expected<std::vector<SignatureEntry>, std::string> parseSignatureFile(std::string_view text) {
  std::vector<SignatureEntry> entries;
  std::size_t line_number = 0;
  while (!text.empty()) {
    const auto end = text.find('\n');
    const std::string_view line = trim(text.substr(0, end));
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    ++line_number;
    if (line.empty() || line.front() == '#') continue;
    const auto colon = line.find(':');
    if (colon == std::string_view::npos)
      return std::unexpected("signature file line " + std::to_string(line_number) +
                             ": expected 'key: value'");
    const std::string_view key = trim(line.substr(0, colon));
    const std::string value(trim(line.substr(colon + 1)));
    if (key == "signer") {
      entries.push_back(SignatureEntry{value, {}, {}});
      continue;
    }
    if (entries.empty())
      return std::unexpected("signature file line " + std::to_string(line_number) +
                             ": an entry starts with 'signer:'");
    if (key == "sha256") {
      entries.back().sha256 = value;
    } else if (key == "signature") {
      auto bytes = unbase64(value);
      if (!bytes)
        return std::unexpected("signature file line " + std::to_string(line_number) + ": " +
                               bytes.error());
      entries.back().signature = std::move(*bytes);
    } else {
      return std::unexpected("signature file line " + std::to_string(line_number) +
                             ": unknown key '" + std::string(key) + "'");
    }
  }
  if (entries.empty()) return std::unexpected(std::string("the signature file holds no entry"));
  return entries;
}

std::expected<Approval, std::string> checkApproval(std::string_view policy_bytes,
                                                   std::string_view signature_file,
                                                   const std::string& author,
                                                   const ApproverKeys& approvers) {
  if (author.empty())
    return std::unexpected(std::string(
        "the policy names no author (`author:`), so its approval cannot be told apart from "
        "self-approval"));
  auto entries = parseSignatureFile(signature_file);
  if (!entries) return std::unexpected(entries.error());
  const std::string digest = sha256Hex(policy_bytes);
  std::string why;
  auto note = [&why](std::string reason) { why.append(why.empty() ? "" : "; ").append(reason); };
  for (const auto& entry : *entries) {
    if (entry.signer == author) {
      note("'" + entry.signer + "' is the author and cannot approve their own change");
    } else if (!approvers.has(entry.signer)) {
      note("'" + entry.signer + "' is not a configured approver");
    } else if (entry.sha256 != digest) {
      note("the entry of '" + entry.signer + "' is for another file (sha256 " +
           entry.sha256.substr(0, 12) + "..., this file " + digest.substr(0, 12) + "...)");
    } else if (!approvers.verifies(entry.signer, digest, entry.signature)) {
      note("the signature of '" + entry.signer + "' does not verify");
    } else {
      return Approval{author, entry.signer};
    }
  }
  return std::unexpected("not approved: " + why);
}

std::expected<std::string, std::string> signPolicy(std::string_view policy_bytes,
                                                   const std::string& signer,
                                                   const std::string& private_key_pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(private_key_pem.data(), static_cast<int>(private_key_pem.size())), BIO_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr, EVP_PKEY_free);
  if (!key) return std::unexpected(std::string("not a PEM private key"));
  const std::string digest = sha256Hex(policy_bytes);
  Context ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  std::size_t size = 0;
  if (!ctx ||
      EVP_DigestSignInit(ctx.get(), nullptr, digestFor(key.get()), nullptr, key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &size,
                     reinterpret_cast<const unsigned char*>(digest.data()), digest.size()) != 1)
    return std::unexpected(std::string("signing failed"));
  std::string signature(size, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &size,
                     reinterpret_cast<const unsigned char*>(digest.data()), digest.size()) != 1)
    return std::unexpected(std::string("signing failed"));
  signature.resize(size);
  return "signer: " + signer + "\nsha256: " + digest + "\nsignature: " + base64(signature) + "\n";
}

}  // namespace tenantwall::policy
