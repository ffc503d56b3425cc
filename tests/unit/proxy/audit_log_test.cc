// The audit log writer on a real file system: chain on disk, restart, rotation, failures, and
// the configuration and `audit verify` command around it.
#include "proxy/audit_log.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "proxy/audit_cli.h"
#include "proxy/config.h"

namespace tenantwall::proxy {
namespace {

namespace fs = std::filesystem;

class AuditTempDir : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "tw-audit-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string file(const std::string& name) const { return (fs::path(dir_) / name).string(); }

  std::unique_ptr<AuditLog> openLog(AuditOptions options) {
    if (options.path.empty()) options.path = file("audit.jsonl");
    auto log = AuditLog::open(std::move(options));
    EXPECT_TRUE(log) << log.error();
    return log ? std::move(*log) : nullptr;
  }

  std::string dir_;
};

using AuditLogTest = AuditTempDir;
using AuditConfigTest = AuditTempDir;
using AuditCliTest = AuditTempDir;

std::vector<std::string> readLines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

policy::AuditEvent event(int n) {
  policy::AuditEvent e;
  e.kind = "statement";
  e.session = 1;
  e.user = "alice";
  e.tenant = "acme";
  e.decision = "allow";
  e.statement = "SELECT " + std::to_string(n) + " FROM customers";
  return e;
}

policy::VerifyResult verifySeries(const std::vector<std::string>& paths,
                                  std::vector<std::string> keys = {},
                                  std::string previous_hash = policy::kGenesis) {
  std::vector<policy::AuditFile> files;
  for (const auto& path : paths) files.push_back({path, readLines(path)});
  policy::VerifyOptions options;
  options.keys = std::move(keys);
  options.previous_hash = std::move(previous_hash);
  return verifyAuditFiles(files, options);
}

std::size_t countContaining(const std::vector<std::string>& lines, const std::string& text) {
  std::size_t n = 0;
  for (const auto& line : lines) n += line.find(text) != std::string::npos;
  return n;
}

TEST_F(AuditLogTest, WritesSealedLinesThatVerify) {
  auto log = openLog({.hmac_key = "k"});
  ASSERT_TRUE(log);
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(log->record(event(i)));
  log->flush();
  const auto lines = readLines(log->path());
  ASSERT_EQ(lines.size(), 100u);
  EXPECT_NE(lines[42].find("\"statement\":\"SELECT 42 FROM customers\""), std::string::npos);
  const auto r = policy::verifyAuditLines(lines, "k");
  EXPECT_TRUE(r.ok) << r.line << ": " << r.reason;
  EXPECT_EQ(r.last_hash, log->lastHash());
  EXPECT_TRUE(log->healthy());
  EXPECT_EQ(log->failures(), 0u);
  struct stat st {};
  ASSERT_EQ(::stat(log->path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(AuditLogTest, DestructorDrainsTheQueue) {
  {
    auto log = openLog({});
    ASSERT_TRUE(log);
    for (int i = 0; i < 1000; ++i) log->record(event(i));
  }
  const auto lines = readLines(file("audit.jsonl"));
  EXPECT_EQ(lines.size(), 1000u);
  EXPECT_TRUE(policy::verifyAuditLines(lines, "").ok);
}

TEST_F(AuditLogTest, FlushWithNothingQueuedReturns) {
  auto log = openLog({});
  ASSERT_TRUE(log);
  log->flush();
  EXPECT_EQ(log->lastHash(), policy::kGenesis);
}

TEST_F(AuditLogTest, RestartContinuesTheChain) {
  std::string hash;
  for (int run = 0; run < 3; ++run) {
    auto log = openLog({.hmac_key = "k"});
    ASSERT_TRUE(log);
    if (run > 0) {
      EXPECT_EQ(log->lastHash(), hash);
    }
    for (int i = 0; i < 5; ++i) log->record(event(i));
    log->flush();
    hash = log->lastHash();
  }
  const auto lines = readLines(file("audit.jsonl"));
  EXPECT_EQ(lines.size(), 15u);
  const auto r = policy::verifyAuditLines(lines, "k");
  EXPECT_TRUE(r.ok) << r.line << ": " << r.reason;
  EXPECT_EQ(r.last_hash, hash);
}

TEST_F(AuditLogTest, RestartRefusesACorruptOrIncompleteLastLine) {
  {
    auto log = openLog({});
    ASSERT_TRUE(log);
    log->record(event(1));
  }
  const std::string path = file("audit.jsonl");
  std::ofstream(path, std::ios::app) << "{\"kind\":\"x\"}\n";
  auto opened = AuditLog::open({.path = path});
  ASSERT_FALSE(opened);
  EXPECT_NE(opened.error().find("last line: not a sealed audit line"), std::string::npos)
      << opened.error();

  const auto lines = readLines(path);
  std::ofstream(path, std::ios::trunc) << lines[0] << "\n" << lines[0].substr(0, 30);
  opened = AuditLog::open({.path = path});
  ASSERT_FALSE(opened);
  EXPECT_NE(opened.error().find("incomplete"), std::string::npos) << opened.error();
}

TEST_F(AuditLogTest, RestartWithAnotherKeyIsRefused) {
  {
    auto log = openLog({.hmac_key = "old"});
    ASSERT_TRUE(log);
    log->record(event(1));
  }
  auto opened = AuditLog::open({.path = file("audit.jsonl"), .hmac_key = "new"});
  ASSERT_FALSE(opened);
  EXPECT_NE(opened.error().find("not sealed with the configured audit key"), std::string::npos)
      << opened.error();
}

TEST_F(AuditLogTest, UnwritablePathFailsWithAMessage) {
  auto opened = AuditLog::open({.path = file("missing-dir/audit.jsonl")});
  ASSERT_FALSE(opened);
  EXPECT_NE(opened.error().find("cannot open audit log"), std::string::npos) << opened.error();
  EXPECT_NE(opened.error().find("No such file or directory"), std::string::npos);

  opened = AuditLog::open({.path = dir_});
  ASSERT_FALSE(opened);
  EXPECT_NE(opened.error().find(dir_), std::string::npos) << opened.error();

  EXPECT_FALSE(AuditLog::open({}));
}

TEST_F(AuditLogTest, SecondWriterOnTheSameFileIsRefused) {
  auto log = openLog({});
  ASSERT_TRUE(log);
  auto second = AuditLog::open({.path = log->path()});
  ASSERT_FALSE(second);
  EXPECT_NE(second.error().find("in use"), std::string::npos) << second.error();
}

TEST_F(AuditLogTest, RotationBySizeKeepsOneChainAcrossFiles) {
  const std::string path = file("audit.jsonl");
  {
    auto log = openLog({.max_bytes = 2000, .keep = 10, .hmac_key = "k"});
    ASSERT_TRUE(log);
    for (int i = 0; i < 30; ++i) log->record(event(i));
  }
  std::vector<std::string> series;
  for (unsigned n = 10; n >= 1; --n)
    if (fs::exists(path + "." + std::to_string(n)))
      series.push_back(path + "." + std::to_string(n));
  series.push_back(path);
  ASSERT_GE(series.size(), 3u);
  ASSERT_LT(series.size(), 11u);  // nothing rotated away yet
  for (const auto& f : series) EXPECT_LE(fs::file_size(f), 2000u) << f;
  const auto r = verifySeries(series, {"k"});
  EXPECT_TRUE(r.ok) << r.file << ":" << r.line << ": " << r.reason;
  EXPECT_EQ(r.events, 30u);
}

TEST_F(AuditLogTest, RotationDeletesFilesBeyondKeep) {
  const std::string path = file("audit.jsonl");
  std::string last;
  {
    auto log = openLog({.max_bytes = 1000, .keep = 3});
    ASSERT_TRUE(log);
    for (int i = 0; i < 60; ++i) log->record(event(i));
    log->flush();
    last = log->lastHash();
  }
  EXPECT_TRUE(fs::exists(path + ".3"));
  EXPECT_FALSE(fs::exists(path + ".4"));
  const std::vector<std::string> series{path + ".3", path + ".2", path + ".1", path};
  auto r = verifySeries(series);
  EXPECT_FALSE(r.ok);  // its start was rotated away
  EXPECT_EQ(r.file, path + ".3");
  r = verifySeries(series, {}, "");
  EXPECT_TRUE(r.ok) << r.file << ":" << r.line << ": " << r.reason;
  EXPECT_EQ(r.last_hash, last);
  EXPECT_LT(r.events, 60u);
}

TEST_F(AuditLogTest, EmptyCurrentFileContinuesFromTheRotatedOne) {
  const std::string path = file("audit.jsonl");
  {
    auto log = openLog({});
    ASSERT_TRUE(log);
    for (int i = 0; i < 3; ++i) log->record(event(i));
  }
  fs::rename(path, path + ".1");  // as if the proxy stopped right after a rotation
  {
    auto log = openLog({});
    ASSERT_TRUE(log);
    for (int i = 0; i < 2; ++i) log->record(event(i));
  }
  const auto r = verifySeries({path + ".1", path});
  EXPECT_TRUE(r.ok) << r.file << ":" << r.line << ": " << r.reason;
  EXPECT_EQ(r.events, 5u);
}

TEST_F(AuditLogTest, KeyRotationIsSealedWithTheOldKeyAndSurvivesRestart) {
  const std::string path = file("audit.jsonl");
  {
    auto log = openLog({.hmac_key = "old"});
    ASSERT_TRUE(log);
    log->record(event(1));
    log->rotateKey("new");
  }
  {
    // The last line is the rotation event, sealed with the old key: start with the new one.
    auto log = openLog({.hmac_key = "new"});
    ASSERT_TRUE(log);
    log->record(event(2));
  }
  {
    auto log = openLog({.hmac_key = "new"});
    ASSERT_TRUE(log);
    log->record(event(3));
  }
  const auto lines = readLines(path);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_NE(lines[1].find("\"reason\":\"audit key rotated\""), std::string::npos) << lines[1];
  auto r = verifySeries({path}, {"old", "new"});
  EXPECT_TRUE(r.ok) << r.line << ": " << r.reason;
  EXPECT_EQ(r.events, 4u);
  r = verifySeries({path}, {"old"});
  EXPECT_EQ(r.line, 3u);
}

// Makes every write past the file's current size fail with EFBIG, the way a full disk would.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t limit) {
    ::signal(SIGXFSZ, SIG_IGN);
    ::getrlimit(RLIMIT_FSIZE, &saved_);
    rlimit lowered = saved_;
    lowered.rlim_cur = limit;
    ::setrlimit(RLIMIT_FSIZE, &lowered);
  }
  ~FileSizeLimit() { lift(); }
  void lift() { ::setrlimit(RLIMIT_FSIZE, &saved_); }

 private:
  rlimit saved_{};
};

TEST_F(AuditLogTest, WriteFailureIsUnhealthyUntilAWriteSucceeds) {
  auto log = openLog({.hmac_key = "k"});
  ASSERT_TRUE(log);
  log->record(event(1));
  log->flush();
  {
    FileSizeLimit limit(fs::file_size(log->path()));
    log->record(event(2));
    log->record(event(3));
    log->flush();
    EXPECT_FALSE(log->healthy());
    EXPECT_GE(log->failures(), 2u);
    EXPECT_FALSE(log->record(event(4)));
    log->flush();
    EXPECT_FALSE(log->healthy());
    EXPECT_EQ(readLines(log->path()).size(), 1u);  // failed writes leave no partial line
  }
  log->record(event(5));  // queued even while unhealthy, so the log can recover
  log->flush();
  EXPECT_TRUE(log->healthy());
  EXPECT_TRUE(log->record(event(6)));
  log->flush();

  const auto lines = readLines(log->path());
  const auto r = policy::verifyAuditLines(lines, "k");
  EXPECT_TRUE(r.ok) << r.line << ": " << r.reason;
  // The lost events are recorded as a gap before the next event that made it.
  ASSERT_GE(lines.size(), 4u);
  EXPECT_NE(lines[1].find("\"decision\":\"fail\""), std::string::npos) << lines[1];
  EXPECT_NE(lines[1].find("3 audit events lost"), std::string::npos) << lines[1];
  EXPECT_NE(lines.back().find("SELECT 6"), std::string::npos);
}

TEST_F(AuditLogTest, FullQueueRefusesAndRecordsTheGap) {
  auto log = openLog({.queue_limit = 1});
  ASSERT_TRUE(log);
  bool refused = false;
  for (int i = 0; i < 1000000 && !refused; ++i) refused = !log->record(event(i));
  ASSERT_TRUE(refused) << "the writer kept up with a one-event queue";
  EXPECT_FALSE(log->healthy());
  EXPECT_GE(log->failures(), 1u);
  log->flush();
  log->record(event(-1));
  log->flush();
  EXPECT_TRUE(log->healthy());
  const auto lines = readLines(log->path());
  EXPECT_TRUE(policy::verifyAuditLines(lines, "").ok);
  EXPECT_EQ(countContaining(lines, "audit events lost (queue full"), 1u);
}

TEST_F(AuditConfigTest, SettingsLoadAndResolveAgainstTheConfigFile) {
  std::ofstream(file("audit.key")) << "s3cret\n";
  std::ofstream(file("tw.yaml")) << "backend: {database: app, user: svc}\npolicy: p.yaml\n"
                                    "audit:\n  path: logs/audit.jsonl\n  max_bytes: 1048576\n"
                                    "  keep: 3\n  hmac_key_file: audit.key\n"
                                    "  on_failure: continue\n";
  const Config c = loadConfigFile(file("tw.yaml"));
  EXPECT_EQ(c.audit.path, file("logs/audit.jsonl"));
  EXPECT_EQ(c.audit.max_bytes, 1048576u);
  EXPECT_EQ(c.audit.keep, 3u);
  EXPECT_EQ(c.audit.hmac_key, "s3cret");
  EXPECT_FALSE(c.audit.refuse_on_failure);
  const AuditOptions options = auditOptions(c.audit);
  EXPECT_EQ(options.path, c.audit.path);
  EXPECT_EQ(options.hmac_key, "s3cret");
  EXPECT_FALSE(options.refuse_on_failure);
}

TEST_F(AuditConfigTest, DefaultsAndReferenceConfigLeaveItOff) {
  std::ofstream(file("tw.yaml")) << "backend: {database: app, user: svc}\npolicy: p.yaml\n";
  const Config c = loadConfigFile(file("tw.yaml"));
  EXPECT_TRUE(c.audit.path.empty());
  EXPECT_TRUE(c.audit.refuse_on_failure);
  EXPECT_EQ(c.audit.max_bytes, 64u * 1024 * 1024);
  EXPECT_EQ(c.audit.keep, 10u);
  const Config reference =
      loadConfigFile(std::string(TENANTWALL_TEST_DATA) + "/../../../conf/tenantwall.yaml");
  EXPECT_TRUE(reference.audit.path.empty());
  EXPECT_TRUE(reference.audit.refuse_on_failure);
}

TEST_F(AuditConfigTest, BadSettingsAreRefused) {
  const auto error = [&](const std::string& audit) {
    std::ofstream(file("tw.yaml"), std::ios::trunc)
        << "backend: {database: app, user: svc}\npolicy: p.yaml\naudit:\n"
        << audit;
    try {
      loadConfigFile(file("tw.yaml"));
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("loaded");
  };
  EXPECT_NE(error("  on_failure: ignore\n").find("expected 'refuse' or 'continue'"),
            std::string::npos);
  EXPECT_NE(error("  hmac_key_file: nope.key\n").find("cannot read audit key file"),
            std::string::npos);
  std::ofstream(file("empty.key")) << "\n";
  EXPECT_NE(error("  hmac_key_file: empty.key\n").find("is empty"), std::string::npos);
  EXPECT_NE(error("  max_bytes: 10\n").find("out of range"), std::string::npos);
  EXPECT_NE(error("  rotate: daily\n").find("unknown setting 'audit.rotate'"), std::string::npos);
}

int runCli(std::vector<std::string> args, std::string& out, std::string& err) {
  args.insert(args.begin(), "audit");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  std::ostringstream o, e;
  const int code = auditCommand(static_cast<int>(argv.size()), argv.data(), o, e);
  out = o.str();
  err = e.str();
  return code;
}

TEST_F(AuditCliTest, VerifyReportsOkOrWhereTheChainBreaks) {
  const std::string path = file("audit.jsonl");
  std::ofstream(file("k1")) << "one\n";
  std::ofstream(file("k2")) << "two\n";
  std::string last;
  {
    auto log = openLog({.max_bytes = 1500, .hmac_key = "one"});
    ASSERT_TRUE(log);
    for (int i = 0; i < 10; ++i) log->record(event(i));
    log->rotateKey("two");
    for (int i = 0; i < 10; ++i) log->record(event(i));
    log->flush();
    last = log->lastHash();
  }
  ASSERT_TRUE(fs::exists(path + ".2"));
  std::string out, err;
  EXPECT_EQ(runCli({"verify", "--series", path, "--key-file", file("k1"), "--key-file", file("k2")},
                   out, err),
            0)
      << err;
  EXPECT_EQ(out, "ok: 21 events, last hash " + last + "\n");

  // Only the first key: the break is reported at the first line sealed with the second.
  EXPECT_EQ(runCli({"verify", "--series", path, "--key-file", file("k1")}, out, err), 1);
  EXPECT_NE(err.find("hash mismatch"), std::string::npos) << err;

  // Files out of order.
  EXPECT_EQ(runCli({"verify", path + ".1", path + ".2", path, "--key-file", file("k1"),
                    "--key-file", file("k2")},
                   out, err),
            1);
  EXPECT_TRUE(err.starts_with(path + ".1:1: chain does not start")) << err;

  // An edited line.
  auto lines = readLines(path);
  ASSERT_GE(lines.size(), 2u);
  lines[1].replace(lines[1].find("alice"), 5, "mallory");
  {
    std::ofstream rewrite(path, std::ios::trunc);
    for (const auto& line : lines) rewrite << line << "\n";
  }
  EXPECT_EQ(runCli({"verify", "--series", path, "--key-file", file("k1"), "--key-file", file("k2")},
                   out, err),
            1);
  EXPECT_EQ(err, path +
                     ":2: hash mismatch: the line was edited, or it was sealed with another "
                     "key\n");
}

TEST_F(AuditCliTest, TruncationIsCaughtWithTheExpectedHash) {
  const std::string path = file("audit.jsonl");
  std::string last;
  {
    auto log = openLog({});
    ASSERT_TRUE(log);
    for (int i = 0; i < 5; ++i) log->record(event(i));
    log->flush();
    last = log->lastHash();
  }
  auto lines = readLines(path);
  lines.pop_back();
  {
    std::ofstream rewrite(path, std::ios::trunc);
    for (const auto& line : lines) rewrite << line << "\n";
  }
  std::string out, err;
  EXPECT_EQ(runCli({"verify", path}, out, err), 0);
  EXPECT_EQ(runCli({"verify", path, "--expect-hash", last}, out, err), 1);
  EXPECT_TRUE(err.starts_with(path + ":5: the chain ends at hash")) << err;
}

TEST_F(AuditCliTest, UsageErrorsExitTwo) {
  std::string out, err;
  EXPECT_EQ(runCli({}, out, err), 2);
  EXPECT_EQ(runCli({"verify"}, out, err), 2);
  EXPECT_EQ(runCli({"verify", "x", "--key-file"}, out, err), 2);
  EXPECT_EQ(runCli({"verify", "x", "--bogus"}, out, err), 2);
  EXPECT_EQ(runCli({"frobnicate"}, out, err), 2);
  EXPECT_EQ(runCli({"verify", file("absent")}, out, err), 1);
  EXPECT_EQ(runCli({"--help"}, out, err), 0);
}

}  // namespace
}  // namespace tenantwall::proxy
