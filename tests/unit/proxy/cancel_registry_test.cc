// Cancel keys: a client's key maps to its own backend only, and a wrong key maps to nothing.
#include "proxy/cancel_registry.h"

#include <gtest/gtest.h>

namespace tenantwall::proxy {
namespace {

TEST(CancelRegistryTest, IssuedKeyFindsItsBackend) {
  CancelRegistry registry;
  const BackendKey client = registry.add({111, 222});
  EXPECT_GT(client.pid, 0);
  auto backend = registry.find(client);
  ASSERT_TRUE(backend);
  EXPECT_EQ(backend->pid, 111);
  EXPECT_EQ(backend->key, 222);
}

TEST(CancelRegistryTest, WrongKeyOrRemovedSessionFindsNothing) {
  CancelRegistry registry;
  const BackendKey a = registry.add({1, 2});
  const BackendKey b = registry.add({3, 4});
  EXPECT_NE(a.pid, b.pid);
  EXPECT_FALSE(registry.find({a.pid, a.key ^ 1}));
  EXPECT_FALSE(registry.find({a.pid, b.key}));
  registry.remove(a.pid);
  EXPECT_FALSE(registry.find(a));
  EXPECT_TRUE(registry.find(b));
}

TEST(CancelRegistryTest, ClientKeysAreNotTheBackendKeys) {
  CancelRegistry registry;
  const BackendKey client = registry.add({4242, 987654});
  EXPECT_FALSE(client.pid == 4242 && client.key == 987654);
}

TEST(CancelRegistryTest, RetargetFollowsTheBackendAndNoBackendFindsNothing) {
  CancelRegistry registry;
  const BackendKey client = registry.add({111, 222});
  ASSERT_TRUE(registry.retarget(client.pid, {}));
  EXPECT_FALSE(registry.find(client));
  EXPECT_FALSE(registry.startCancel(client));
  ASSERT_TRUE(registry.retarget(client.pid, {333, 444}));
  auto backend = registry.find(client);
  ASSERT_TRUE(backend);
  EXPECT_EQ(backend->pid, 333);
  EXPECT_FALSE(registry.retarget(client.pid + 1, {1, 1}));
}

TEST(CancelRegistryTest, BackendStaysWhileACancelIsBeingDelivered) {
  CancelRegistry registry;
  const BackendKey client = registry.add({111, 222});
  EXPECT_FALSE(registry.startCancel({client.pid, client.key ^ 1}));
  auto target = registry.startCancel(client);
  ASSERT_TRUE(target);
  EXPECT_EQ(target->pid, 111);
  // The session's transaction ended meanwhile: its backend may not go to another client yet.
  EXPECT_FALSE(registry.retarget(client.pid, {}));
  EXPECT_EQ(registry.find(client)->pid, 111);
  registry.cancelDone(client.pid);
  EXPECT_TRUE(registry.retarget(client.pid, {}));
}

}  // namespace
}  // namespace tenantwall::proxy
