// Approval signatures: sign and verify with Ed25519 and ECDSA keys, and every way an approval
// fails (missing author, self-approval, unknown signer, other file, forged signature).
#include "policy/policy_signature.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <memory>
#include <string>

namespace tenantwall::policy {
namespace {

struct Pem {
  std::string private_key;
  std::string public_key;
};

Pem generate(bool ed25519) {
  EVP_PKEY* key = ed25519 ? EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")
                          : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> owned(key, EVP_PKEY_free);
  auto text = [](auto write) {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
    write(bio.get());
    char* data = nullptr;
    const long size = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, size);
  };
  return Pem{text([&](BIO* b) {
               PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr);
             }),
             text([&](BIO* b) { PEM_write_bio_PUBKEY(b, key); })};
}

class PolicySignatureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    alice_ = generate(true);
    bob_ = generate(false);
    eve_ = generate(true);
    auto keys = ApproverKeys::fromPem({{"alice", alice_.public_key}, {"bob", bob_.public_key}});
    ASSERT_TRUE(keys) << keys.error();
    approvers_ = std::move(*keys);
  }

  std::string sign(const std::string& text, const std::string& signer, const Pem& key) {
    auto entry = signPolicy(text, signer, key.private_key);
    EXPECT_TRUE(entry) << entry.error();
    return entry ? *entry : std::string();
  }

  Pem alice_, bob_, eve_;
  ApproverKeys approvers_;
  const std::string policy_ = "author: alice\ntenants: [{id: a}]\n";
};

TEST_F(PolicySignatureTest, ApprovedByAnotherApprover) {
  const std::string file = sign(policy_, "alice", alice_) + sign(policy_, "bob", bob_);
  auto approval = checkApproval(policy_, file, "alice", approvers_);
  ASSERT_TRUE(approval) << approval.error();
  EXPECT_EQ(approval->author, "alice");
  EXPECT_EQ(approval->approver, "bob");
  EXPECT_EQ(approvers_.ids(), (std::vector<std::string>{"alice", "bob"}));
}

TEST_F(PolicySignatureTest, SelfApprovalIsRefused) {
  auto approval = checkApproval(policy_, sign(policy_, "alice", alice_), "alice", approvers_);
  ASSERT_FALSE(approval);
  EXPECT_EQ(approval.error(),
            "not approved: 'alice' is the author and cannot approve their own change");
}

TEST_F(PolicySignatureTest, EveryOtherFailureSaysWhy) {
  auto anonymous = checkApproval(policy_, sign(policy_, "bob", bob_), "", approvers_);
  ASSERT_FALSE(anonymous);
  EXPECT_NE(anonymous.error().find("names no author"), std::string::npos);
  auto unknown = checkApproval(policy_, sign(policy_, "eve", eve_), "alice", approvers_);
  EXPECT_EQ(unknown.error(), "not approved: 'eve' is not a configured approver");
  auto forged = checkApproval(policy_, sign(policy_, "bob", eve_), "alice", approvers_);
  EXPECT_EQ(forged.error(), "not approved: the signature of 'bob' does not verify");
  auto other =
      checkApproval(policy_ + "# changed\n", sign(policy_, "bob", bob_), "alice", approvers_);
  ASSERT_FALSE(other);
  EXPECT_NE(other.error().find("the entry of 'bob' is for another file"), std::string::npos);
  EXPECT_FALSE(checkApproval(policy_, "garbage", "alice", approvers_));
  EXPECT_FALSE(checkApproval(policy_, "", "alice", approvers_));
}

TEST_F(PolicySignatureTest, SignatureFileFormat) {
  auto entries = parseSignatureFile("# comment\nsigner: bob\nsha256: ab\nsignature: AAEC\n");
  ASSERT_TRUE(entries) << entries.error();
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_EQ((*entries)[0].signer, "bob");
  EXPECT_EQ((*entries)[0].signature, std::string("\0\1\2", 3));
  EXPECT_EQ(parseSignatureFile("sha256: ab\n").error(),
            "signature file line 1: an entry starts with 'signer:'");
  EXPECT_EQ(parseSignatureFile("signer: a\nsignature: ***\n").error(),
            "signature file line 2: bad base64");
  EXPECT_FALSE(ApproverKeys::fromPem({{"x", "not a key"}}));
}

}  // namespace
}  // namespace tenantwall::policy
