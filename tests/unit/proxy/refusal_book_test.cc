// Refusal markers: only PostgreSQL's error for our own secret marker is replaced.
#include "proxy/refusal_book.h"

#include <gtest/gtest.h>

#include "protocol/sqlstate.h"

namespace tenantwall::proxy {
namespace {

std::vector<protocol::ErrorField> syntaxErrorAt(const std::string& token) {
  return {{'S', "ERROR"}, {'C', "42601"}, {'M', "syntax error at or near \"" + token + "\""}};
}

TEST(RefusalBookTest, MarkerIsOneShortIdentifier) {
  RefusalBook book;
  const std::string marker = book.record(protocol::makeError("42501", "no"));
  EXPECT_TRUE(marker.starts_with("tw_refused_"));
  EXPECT_LT(marker.size(), 63u);  // never truncated by PostgreSQL's NAMEDATALEN
  for (char c : marker) EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '_');
}

TEST(RefusalBookTest, MatchesItsMarkerAndReturnsTheRefusal) {
  RefusalBook book;
  const std::string marker =
      book.record(protocol::makeError(protocol::sqlstate::kInsufficientPrivilege, "refused x"));
  auto refusal = book.match(syntaxErrorAt(marker));
  ASSERT_TRUE(refusal.has_value());
  EXPECT_EQ(refusal->sqlstate, "42501");
  EXPECT_EQ(refusal->message, "refused x");
  EXPECT_EQ(refusal->severity, "ERROR");
  EXPECT_EQ(book.pending(), 0u);
  EXPECT_FALSE(book.match(syntaxErrorAt(marker)).has_value());  // used once
}

TEST(RefusalBookTest, AnotherSessionsMarkerIsNotMatched) {
  RefusalBook mine, theirs;
  mine.record(protocol::makeError("42501", "mine"));
  const std::string other = theirs.record(protocol::makeError("42501", "theirs"));
  EXPECT_FALSE(mine.match(syntaxErrorAt(other)).has_value());
  EXPECT_EQ(mine.pending(), 1u);
}

TEST(RefusalBookTest, OrdinaryErrorsAreNotMatched) {
  RefusalBook book;
  book.record(protocol::makeError("42501", "x"));
  EXPECT_FALSE(book.match({{'C', "22012"}, {'M', "division by zero"}}).has_value());
  EXPECT_FALSE(
      book.match({{'C', "42601"}, {'M', "syntax error at or near \"tw_refused_\""}}).has_value());
}

TEST(RefusalBookTest, SkippedMarkersAreForgotten) {
  // PostgreSQL skips the rest of a pipeline after an error, so an older marker may never fail.
  RefusalBook book;
  book.record(protocol::makeError("42501", "first"));
  const std::string second = book.record(protocol::makeError("42501", "second"));
  auto refusal = book.match(syntaxErrorAt(second));
  ASSERT_TRUE(refusal.has_value());
  EXPECT_EQ(refusal->message, "second");
  EXPECT_EQ(book.pending(), 0u);
}

}  // namespace
}  // namespace tenantwall::proxy
