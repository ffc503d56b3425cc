// backend.password_file: read at load relative to the config file, re-read for rotation, and
// never combined with another source of the backend password.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "proxy/config.h"

namespace tenantwall::proxy {
namespace {

namespace fs = std::filesystem;

class BackendPasswordTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::unsetenv("TENANTWALL_BACKEND_PASSWORD");
    dir_ = fs::temp_directory_path() / ("tw-backend-password-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    ::unsetenv("TENANTWALL_BACKEND_PASSWORD");
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  std::string writeConfig(const std::string& backend_extra) {
    const fs::path path = dir_ / "tenantwall.yaml";
    std::ofstream(path) << "backend:\n  database: app\n  user: svc\n"
                        << backend_extra << "policy: policy.yaml\n";
    return path.string();
  }

  std::string loadError(const std::string& backend_extra) {
    try {
      loadConfigFile(writeConfig(backend_extra));
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "loaded without error";
  }

  fs::path dir_;
};

TEST_F(BackendPasswordTest, FileIsReadRelativeToTheConfigAndRereadOnDemand) {
  std::ofstream(dir_ / "backend.password") << "first-secret\n";
  const Config config = loadConfigFile(writeConfig("  password_file: backend.password\n"));
  EXPECT_EQ(config.backend.password_file, (dir_ / "backend.password").string());
  EXPECT_EQ(config.backend.password, "first-secret");
  std::ofstream(dir_ / "backend.password") << "second-secret\n";
  EXPECT_EQ(readBackendPasswordFile(config.backend), "second-secret");
  fs::remove(dir_ / "backend.password");
  EXPECT_FALSE(readBackendPasswordFile(config.backend));
}

TEST_F(BackendPasswordTest, MissingOrEmptyFileIsAnError) {
  std::string e = loadError("  password_file: nowhere.password\n");
  EXPECT_NE(e.find("backend.password_file: "), std::string::npos) << e;
  std::ofstream(dir_ / "empty.password") << "\n";
  e = loadError("  password_file: empty.password\n");
  EXPECT_NE(e.find("backend.password_file: "), std::string::npos) << e;
}

TEST_F(BackendPasswordTest, OnlyOneSourceOfThePassword) {
  std::ofstream(dir_ / "backend.password") << "from-file\n";
  EXPECT_NE(loadError("  password: inline\n  password_file: backend.password\n")
                .find("backend.password and backend.password_file are both set"),
            std::string::npos);
  ::setenv("TENANTWALL_BACKEND_PASSWORD", "from-env", 1);
  EXPECT_NE(loadError("  password_file: backend.password\n")
                .find("TENANTWALL_BACKEND_PASSWORD and backend.password_file both give the "
                      "backend password"),
            std::string::npos);
  // Without a file, the environment still overrides backend.password as before.
  EXPECT_EQ(loadConfigFile(writeConfig("  password: inline\n")).backend.password, "from-env");
}

}  // namespace
}  // namespace tenantwall::proxy
