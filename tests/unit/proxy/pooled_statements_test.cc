// Named statements under server names across pooled backends (pool.mode transaction).
#include "proxy/pooled_statements.h"

#include <gtest/gtest.h>

#include "protocol/decoder.h"

namespace tenantwall::proxy {
namespace {

std::string tags(const std::string& out) {
  std::string t;
  std::string_view rest = out;
  while (!rest.empty()) {
    auto decoded = protocol::decodeFrame(rest);
    EXPECT_EQ(decoded.status, protocol::DecodeStatus::kReady);
    if (decoded.status != protocol::DecodeStatus::kReady) break;
    t += decoded.frame.tag;
    rest.remove_prefix(decoded.frame.size);
  }
  return t;
}

ClientStatement statement(const char* sql) {
  ClientStatement s{"", sql, {25}};
  s.server_name = PooledStatements::serverName(s.sql, s.param_types);
  return s;
}

TEST(PooledStatementsTest, ServerNamesDependOnTextAndTypes) {
  const auto a = PooledStatements::serverName("SELECT 1 WHERE t = 'acme'", {});
  EXPECT_EQ(a.size(), 35u);
  EXPECT_EQ(a.rfind("tw_", 0), 0u);
  EXPECT_EQ(a, PooledStatements::serverName("SELECT 1 WHERE t = 'acme'", {}));
  EXPECT_NE(a, PooledStatements::serverName("SELECT 1 WHERE t = 'globex'", {}));
  EXPECT_NE(a, PooledStatements::serverName("SELECT 1 WHERE t = 'acme'", {25}));
}

TEST(PooledStatementsTest, AddedParseIsSwallowedAndOwnParseRelayed) {
  PooledStatements pooled;
  ServerStatements backend;
  std::string out;
  const auto s = statement("SELECT $1");
  pooled.parse(s, true, backend, out, 0);
  EXPECT_EQ(tags(out), "P");
  EXPECT_TRUE(backend.contains(s.server_name));
  EXPECT_EQ(pooled.complete('1'), PooledStatements::Answer::kRelay);
  EXPECT_TRUE(pooled.idle());

  ServerStatements other;  // the next transaction's backend lacks it
  out.clear();
  pooled.ensure(s, other, out, 1);
  EXPECT_EQ(tags(out), "P");
  out.clear();
  pooled.ensure(s, other, out, 1);  // now held: nothing to add
  EXPECT_EQ(out, "");
  EXPECT_EQ(pooled.complete('1'), PooledStatements::Answer::kSwallow);
  EXPECT_EQ(pooled.complete('1'), PooledStatements::Answer::kUnexpected);
}

// The unnamed statement's messages are the session's own; their answers stay in order with
// the rest, relayed unless the proxy added the message.
TEST(PooledStatementsTest, ExpectedAnswersKeepTheirOrderAndWhoseTheyAre) {
  PooledStatements pooled;
  pooled.expect('1', 0, true);  // the proxy re-parses a client's unnamed statement
  pooled.expect('1', 0);        // the client's own Parse
  pooled.expect('3', 0);
  EXPECT_EQ(pooled.complete('3'), PooledStatements::Answer::kUnexpected);
  EXPECT_EQ(pooled.complete('1'), PooledStatements::Answer::kSwallow);
  EXPECT_EQ(pooled.complete('1'), PooledStatements::Answer::kRelay);
  EXPECT_EQ(pooled.complete('3'), PooledStatements::Answer::kRelay);
  EXPECT_TRUE(pooled.idle());
}

TEST(PooledStatementsTest, ParsingAHeldNameClosesItFirst) {
  PooledStatements pooled;
  ServerStatements backend;
  std::string out;
  const auto s = statement("SELECT 2");
  pooled.parse(s, true, backend, out, 0);
  out.clear();
  pooled.parse(s, true, backend, out, 0);
  EXPECT_EQ(tags(out), "CP");
  EXPECT_EQ(pooled.complete('1'), PooledStatements::Answer::kRelay);
  EXPECT_EQ(pooled.complete('3'), PooledStatements::Answer::kSwallow);
  EXPECT_EQ(pooled.complete('1'), PooledStatements::Answer::kRelay);
  EXPECT_EQ(pooled.complete('3'), PooledStatements::Answer::kUnexpected);  // nothing pending
}

TEST(PooledStatementsTest, AnErrorUndoesWhatItsBatchSkipped) {
  PooledStatements pooled;
  ServerStatements backend;
  std::string out;
  const auto held = statement("SELECT 3");
  const auto fresh = statement("SELECT 4");
  pooled.parse(held, true, backend, out, 0);
  EXPECT_EQ(pooled.complete('1'), PooledStatements::Answer::kRelay);
  // Batch 1: the client closes `held` and parses `fresh`; an error skips both.
  pooled.close(held, backend, out, 1);
  pooled.parse(fresh, true, backend, out, 1);
  pooled.expect('1', 2);  // batch 2 is not touched
  EXPECT_FALSE(backend.contains(held.server_name));
  pooled.failed(1, backend);
  EXPECT_TRUE(backend.contains(held.server_name));
  EXPECT_FALSE(backend.contains(fresh.server_name));
  EXPECT_EQ(pooled.complete('1'), PooledStatements::Answer::kRelay);
  EXPECT_TRUE(pooled.idle());
}

TEST(PooledStatementsTest, ABackendHoldsABoundedNumber) {
  PooledStatements pooled;
  ServerStatements backend;
  std::string out;
  for (std::size_t i = 0; i < PooledStatements::kMaxPerBackend; ++i)
    backend.insert("tw_" + std::to_string(i));
  pooled.parse(statement("SELECT 5"), false, backend, out, 0);
  EXPECT_EQ(tags(out), "CP");
  EXPECT_EQ(backend.size(), PooledStatements::kMaxPerBackend);
}

TEST(PooledStatementsTest, ParsingUntilAnsweredAndEnsureSaysWhetherItParsed) {
  PooledStatements pooled;
  ServerStatements backend;
  std::string out;
  const auto s = statement("SELECT $1");
  EXPECT_TRUE(pooled.ensure(s.server_name, s.sql, s.param_types, backend, out, 0));
  EXPECT_TRUE(pooled.parsing(s.server_name));
  EXPECT_FALSE(pooled.ensure(s, backend, out, 0));  // held (in flight): no second Parse
  EXPECT_EQ(tags(out), "P");
  EXPECT_EQ(pooled.complete('1'), PooledStatements::Answer::kSwallow);
  EXPECT_FALSE(pooled.parsing(s.server_name));
  EXPECT_TRUE(backend.contains(s.server_name));
}

TEST(PooledStatementsTest, CloseAllClosesEveryServerStatementSilently) {
  PooledStatements pooled;
  ServerStatements backend;
  std::string out;
  pooled.ensure(statement("SELECT $1"), backend, out, 0);
  pooled.ensure(statement("SELECT $1 + 1"), backend, out, 0);
  EXPECT_EQ(pooled.complete('1'), PooledStatements::Answer::kSwallow);
  EXPECT_EQ(pooled.complete('1'), PooledStatements::Answer::kSwallow);
  out.clear();
  pooled.closeAll(backend, out, 1);
  EXPECT_EQ(tags(out), "CC");
  EXPECT_TRUE(backend.empty());
  EXPECT_EQ(pooled.complete('3'), PooledStatements::Answer::kSwallow);
  EXPECT_EQ(pooled.complete('3'), PooledStatements::Answer::kSwallow);
  EXPECT_TRUE(pooled.idle());
}

}  // namespace
}  // namespace tenantwall::proxy
