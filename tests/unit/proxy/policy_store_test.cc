// The policy store's reviewed changes: approval on every load, what the last change was, and
// restoring the previously accepted file for a rollback.
#include "proxy/policy_store.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace tenantwall::proxy {
namespace {

namespace fs = std::filesystem;

const std::string kVerifier =
    "SCRAM-SHA-256$4096:K9gGyX8OAK8aH8Myj6djqQ==$FLJE5BoJ/U+twjfcFVvxz4GOJ7izjZTMwyVl7iyjcoU=:"
    "9ZOyGsv3Lr6EybtxWvt8RuR+rQ6YU4rq6kSKY9F4Vlg=";

std::string pem(EVP_PKEY* key, bool is_private) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  if (is_private)
    PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  else
    PEM_write_bio_PUBKEY(bio.get(), key);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, size);
}

std::string read(const fs::path& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void write(const fs::path& path, const std::string& text) { std::ofstream(path) << text; }

class PolicyStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("tw-store-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    for (const char* name : {"alice", "bob"}) {
      EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
      private_[name] = pem(key, true);
      public_[name] = pem(key, false);
      EVP_PKEY_free(key);
    }
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string policy(const std::string& users) {
    return "author: alice\ntenants: [{id: acme}]\nusers:\n" + users;
  }
  std::string user(const std::string& name) {
    return "  - {name: " + name + ", tenant: acme, role: viewer, scram: \"" + kVerifier + "\"}\n";
  }
  // Writes the policy and its signature file (signed by signer, unsigned when empty).
  void put(const std::string& text, const std::string& signer) {
    write(path(), text);
    fs::remove(path().string() + ".sig");
    if (!signer.empty())
      write(path().string() + ".sig", *policy::signPolicy(text, signer, private_[signer]));
  }
  fs::path path() const { return dir_ / "policy.yaml"; }
  std::unique_ptr<PolicyStore> approvingStore() {
    auto store = std::make_unique<PolicyStore>(path().string());
    store->requireApproval(*policy::ApproverKeys::fromPem(public_));
    return store;
  }

  fs::path dir_;
  std::map<std::string, std::string> private_, public_;
};

TEST_F(PolicyStoreTest, WithoutApproversAnyValidFileLoads) {
  put(policy(user("u")), "");
  PolicyStore store(path().string());
  EXPECT_EQ(store.reload(), "");
  EXPECT_FALSE(store.approvalRequired());
  EXPECT_TRUE(store.lastChange().first);
  EXPECT_EQ(store.lastChange().approver, "");
}

TEST_F(PolicyStoreTest, ApprovalIsCheckedOnEveryLoad) {
  auto owned = approvingStore();
  PolicyStore& store = *owned;
  put(policy(user("u")), "");
  EXPECT_NE(store.reload().find("no approval signature file"), std::string::npos);
  EXPECT_EQ(store.current(), nullptr);
  put(policy(user("u")), "alice");
  EXPECT_NE(store.reload().find("'alice' is the author and cannot approve"), std::string::npos);
  put(policy(user("u")), "bob");
  ASSERT_EQ(store.reload(), "");
  EXPECT_EQ(store.lastChange().author, "alice");
  EXPECT_EQ(store.lastChange().approver, "bob");
  put(policy(user("u") + user("v")), "");
  EXPECT_NE(store.reload(), "");
  EXPECT_EQ(store.current()->users.size(), 1u);  // the running policy stayed
  put(policy(user("u") + user("v")), "bob");
  ASSERT_EQ(store.reload(), "");
  EXPECT_EQ(store.lastChange().diff,
            std::vector<std::string>{
                "+ user v (tenant acme, role viewer) can log in and gains tenant acme's rows"});
}

TEST_F(PolicyStoreTest, RestorePreviousWritesTheAcceptedFileBack) {
  auto owned = approvingStore();
  PolicyStore& store = *owned;
  const std::string v1 = policy(user("u")), v2 = policy(user("u") + user("v"));
  put(v1, "bob");
  ASSERT_EQ(store.reload(), "");
  const std::string v1_sig = read(path().string() + ".sig");
  EXPECT_NE(store.restorePrevious().find("no previous policy version"), std::string::npos);
  put(v2, "bob");
  ASSERT_EQ(store.reload(), "");
  put(v2, "bob");
  ASSERT_EQ(store.reload(), "");  // the same file again: v1 stays the one to go back to
  ASSERT_EQ(store.restorePrevious(), "");
  EXPECT_EQ(read(path()), v1);
  EXPECT_EQ(read(path().string() + ".sig"), v1_sig);
  ASSERT_EQ(store.reload(), "");
  EXPECT_EQ(store.current()->users.size(), 1u);
  EXPECT_EQ(store.lastChange().diff,
            std::vector<std::string>{"- user v (tenant acme) can no longer log in"});
}

}  // namespace
}  // namespace tenantwall::proxy
