// The pool's pure parts: slot bookkeeping (reuse by key, size limit, eviction, idle timeout),
// the pool key, and the check of PostgreSQL's answers to the reset.
#include "proxy/backend_pool.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "protocol/decoder.h"
#include "protocol/encoder.h"

namespace tenantwall::proxy {
namespace {

using namespace std::chrono_literals;
using Book = PoolBook<int>;
using Clock = Book::Clock;

TEST(PoolBookTest, ReusesAnIdleConnectionOfTheSameKeyOnly) {
  Book book(2, 60s);
  const auto now = Clock::now();
  auto first = book.take("a", now);
  ASSERT_TRUE(first.may_open);
  EXPECT_FALSE(first.idle);
  book.put("a", 7, now);
  EXPECT_EQ(book.idle(), 1u);
  EXPECT_EQ(book.inUse(), 0u);

  auto other = book.take("b", now);  // another key: a new slot, the idle one stays
  EXPECT_TRUE(other.may_open);
  EXPECT_FALSE(other.idle);
  EXPECT_TRUE(other.to_close.empty());

  auto again = book.take("a", now);
  ASSERT_TRUE(again.idle);
  EXPECT_EQ(*again.idle, 7);
  EXPECT_FALSE(again.may_open);
  EXPECT_EQ(book.inUse(), 2u);
  EXPECT_EQ(book.idle(), 0u);
}

TEST(PoolBookTest, FullPoolWaitsThenEvictsIdleOfAnotherKey) {
  Book book(1, 60s);
  const auto now = Clock::now();
  ASSERT_TRUE(book.take("a", now).may_open);
  auto blocked = book.take("b", now);  // the only slot is in use: wait
  EXPECT_FALSE(blocked.may_open);
  EXPECT_FALSE(blocked.idle);
  book.put("a", 1, now);
  auto evicting = book.take("b", now);  // idle "a" is closed to make room for "b"
  EXPECT_TRUE(evicting.may_open);
  ASSERT_EQ(evicting.to_close.size(), 1u);
  EXPECT_EQ(evicting.to_close[0], 1);
  EXPECT_EQ(book.open(), 1u);
  book.dropped();  // the open failed: the slot is free again
  EXPECT_EQ(book.open(), 0u);
  EXPECT_TRUE(book.take("c", now).may_open);
}

TEST(PoolBookTest, IdleTimeoutClosesOldConnections) {
  Book book(4, 1000ms);
  const auto start = Clock::now();
  book.take("a", start);
  book.take("a", start);
  book.put("a", 1, start);
  book.put("a", 2, start + 600ms);
  auto expired = book.expire(start + 1100ms);
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0], 1);
  auto take = book.take("a", start + 1700ms);  // 2 has expired too by now
  ASSERT_EQ(take.to_close.size(), 1u);
  EXPECT_EQ(take.to_close[0], 2);
  EXPECT_FALSE(take.idle);
  EXPECT_TRUE(take.may_open);
}

TEST(PoolBookTest, PrefersAnIdleConnectionTheCallerPrefersThenTheNewestOfTheKey) {
  Book book(4, 60s);
  const auto now = Clock::now();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(book.take("a", now).may_open);
  book.put("a", 10, now);  // oldest; say, the caller's I/O thread
  book.put("a", 20, now);
  book.put("a", 30, now);  // newest
  auto on_this_thread = [](int c) { return c == 10; };
  auto take = book.take("a", now, on_this_thread);
  ASSERT_TRUE(take.idle);
  EXPECT_EQ(*take.idle, 10);
  take = book.take("b", now, on_this_thread);  // the preference never crosses keys
  EXPECT_FALSE(take.idle);
  EXPECT_TRUE(take.may_open);
  take = book.take("a", now, on_this_thread);  // none preferred left: the newest of the key
  ASSERT_TRUE(take.idle);
  EXPECT_EQ(*take.idle, 30);
  EXPECT_EQ(book.idle(), 1u);
}

TEST(PoolKeyTest, OrderDoesNotMatterValuesDo) {
  EXPECT_EQ(poolKey({{"application_name", "x"}, {"TimeZone", "UTC"}}),
            poolKey({{"TimeZone", "UTC"}, {"application_name", "x"}}));
  EXPECT_NE(poolKey({{"application_name", "x"}}), poolKey({{"application_name", "y"}}));
  EXPECT_NE(poolKey({}), poolKey({{"application_name", ""}}));
}

// Frames as PostgreSQL sends them, decoded one by one into the check.
ResetCheck::Verdict feedAll(ResetCheck& check, const std::string& bytes) {
  std::string_view rest = bytes;
  auto verdict = ResetCheck::Verdict::kMore;
  while (!rest.empty()) {
    auto decoded = protocol::decodeFrame(rest);
    EXPECT_EQ(decoded.status, protocol::DecodeStatus::kReady);
    verdict = check.feed(decoded.frame);
    rest.remove_prefix(decoded.frame.size);
    if (verdict != ResetCheck::Verdict::kMore) break;
  }
  return verdict;
}

std::string complete(std::string_view tag) {
  std::string body(tag);
  body.push_back('\0');
  std::string out;
  protocol::appendMessage(out, 'C', body);
  return out;
}

std::string ready(char status) {
  std::string out;
  protocol::appendReadyForQuery(out, status);
  return out;
}

TEST(ResetCheckTest, RequestIsRollbackThenDiscardAll) {
  std::string expected;
  protocol::appendQuery(expected, "ROLLBACK");
  protocol::appendQuery(expected, "DISCARD ALL");
  EXPECT_EQ(ResetCheck::request(), expected);
}

TEST(ResetCheckTest, ExactAnswersAreClean) {
  ResetCheck check;
  std::string notice;
  protocol::appendErrorFields(
      notice, 'N',
      {{'S', "WARNING"}, {'C', "25P01"}, {'M', "there is no transaction in progress"}});
  std::string status;
  protocol::appendParameterStatus(status, "application_name", "app");
  const std::string answers =
      notice + complete("ROLLBACK") + ready('I') + status + complete("DISCARD ALL") + ready('I');
  EXPECT_EQ(feedAll(check, answers), ResetCheck::Verdict::kClean);
  ASSERT_EQ(check.parameters().size(), 1u);
  EXPECT_EQ(check.parameters()[0].second, "app");
}

TEST(ResetCheckTest, AnythingElseIsDirty) {
  std::string error;
  protocol::appendErrorFields(error, 'E', {{'S', "ERROR"}, {'C', "57014"}, {'M', "canceled"}});
  std::string copy_in;
  protocol::appendMessage(copy_in, 'G', std::string("\0\0\0", 3));
  const std::vector<std::string> bad = {
      error,                              // the ROLLBACK failed
      complete("ROLLBACK") + ready('T'),  // still in a transaction
      ready('I'),                         // no CommandComplete
      complete("COMMIT") + ready('I'),    // someone else's answer
      complete("ROLLBACK") + ready('I') + complete("DISCARD ALL") + ready('E'),
      complete("ROLLBACK") + ready('I') + error,  // DISCARD ALL failed
      copy_in,                                    // a COPY in progress
  };
  for (const auto& answers : bad) {
    ResetCheck check;
    EXPECT_EQ(feedAll(check, answers), ResetCheck::Verdict::kDirty);
  }
  // A frame after the clean end is dirty too.
  ResetCheck check;
  EXPECT_EQ(
      feedAll(check, complete("ROLLBACK") + ready('I') + complete("DISCARD ALL") + ready('I')),
      ResetCheck::Verdict::kClean);
  auto decoded = protocol::decodeFrame(ready('I'));
  EXPECT_EQ(check.feed(decoded.frame), ResetCheck::Verdict::kDirty);
}

Config loadPoolConfig(const std::string& pool) {
  const auto path =
      std::filesystem::temp_directory_path() / ("tw-pool-" + std::to_string(::getpid()) + ".yaml");
  std::ofstream(path) << "backend: {database: app, user: svc}\npolicy: /p.yaml\n" << pool;
  Config config = loadConfigFile(path.string());
  std::filesystem::remove(path);
  return config;
}

TEST(PoolConfigTest, DefaultsAndSessionMode) {
  const Config none = loadPoolConfig("");
  EXPECT_EQ(none.pool.mode, PoolMode::kNone);
  EXPECT_EQ(none.pool.size, 100u);
  EXPECT_EQ(none.pool.idle_timeout_ms, 60000u);
  const Config session = loadPoolConfig("pool: {mode: session, size: 7, idle_timeout_ms: 2000}\n");
  EXPECT_EQ(session.pool.mode, PoolMode::kSession);
  EXPECT_EQ(session.pool.size, 7u);
  EXPECT_EQ(session.pool.idle_timeout_ms, 2000u);
}

TEST(PoolConfigTest, TransactionModeLoadsAndResetQueryIsRefused) {
  EXPECT_EQ(loadPoolConfig("pool: {mode: transaction}\n").pool.mode, PoolMode::kTransaction);
  EXPECT_THROW(loadPoolConfig("pool: {mode: statement}\n"), ConfigError);
  EXPECT_THROW(loadPoolConfig("pool: {reset_query: SELECT 1}\n"), ConfigError);
  EXPECT_THROW(loadPoolConfig("pool: {size: 0}\n"), ConfigError);
}

}  // namespace
}  // namespace tenantwall::proxy
