// The policy watcher: a change of the policy file or of a file the policy reads (the JWT key
// set) triggers a reload; a file that only joins the watched list does not.
#include "proxy/policy_watcher.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace tenantwall::proxy {
namespace {

namespace fs = std::filesystem;

class PolicyWatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("tw-watch-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    std::ofstream(policy()) << "policy";
    std::ofstream(keys()) << "keys";
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path policy() const { return dir_ / "policy.yaml"; }
  fs::path keys() const { return dir_ / "jwks.json"; }

  // Runs the watcher's polls for a while; returns how often it fired.
  int pollFor(PolicyWatcher& watcher, asio::io_context& io, const std::function<void()>& change) {
    fired_ = 0;
    asio::steady_timer later(io);
    later.expires_after(std::chrono::milliseconds(60));
    later.async_wait([&](const boost::system::error_code&) { change(); });
    asio::steady_timer stop(io);
    stop.expires_after(std::chrono::milliseconds(300));
    stop.async_wait([&](const boost::system::error_code&) { watcher.stop(); });
    io.restart();
    io.run();
    return fired_;
  }

  fs::path dir_;
  int fired_ = 0;
};

TEST_F(PolicyWatcherTest, AChangedKeySetAloneReloads) {
  asio::io_context io;
  std::vector<std::string> also = {keys().string()};
  PolicyWatcher watcher(io, policy().string(), std::chrono::milliseconds(10), [&] { ++fired_; });
  watcher.watchAlso([&] { return also; });
  watcher.start();
  EXPECT_EQ(pollFor(watcher, io, [&] { std::ofstream(keys()) << "rotated keys"; }), 1);
}

TEST_F(PolicyWatcherTest, AFileJoiningTheListDoesNotReload) {
  asio::io_context io;
  std::vector<std::string> also;
  PolicyWatcher watcher(io, policy().string(), std::chrono::milliseconds(10), [&] { ++fired_; });
  watcher.watchAlso([&] { return also; });
  watcher.start();
  EXPECT_EQ(pollFor(watcher, io, [&] { also.push_back(keys().string()); }), 0);
}

TEST_F(PolicyWatcherTest, ThePolicyFileStillReloads) {
  asio::io_context io;
  PolicyWatcher watcher(io, policy().string(), std::chrono::milliseconds(10), [&] { ++fired_; });
  watcher.start();
  EXPECT_EQ(pollFor(watcher, io, [&] { std::ofstream(policy()) << "a longer policy"; }), 1);
}

}  // namespace
}  // namespace tenantwall::proxy
