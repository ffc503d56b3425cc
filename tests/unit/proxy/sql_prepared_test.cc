#include "proxy/sql_prepared.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace tenantwall::proxy {
namespace {

// The rewrites the policy now in force gives; a query it does not list is refused.
struct Policy {
  std::map<std::string, std::string> rewrites;
  int decided = 0;
  SqlPreparedStatements::Redecide redecide() {
    return [this](std::string_view query) -> std::optional<std::string> {
      ++decided;
      const auto it = rewrites.find(std::string(query));
      if (it == rewrites.end()) return std::nullopt;
      return it->second;
    };
  }
};

const std::vector<std::string> kP{"p"};

TEST(SqlPreparedStatementsTest, UnchangedRewritesRunAndAreCheckedOncePerVersion) {
  SqlPreparedStatements prepared;
  ASSERT_TRUE(prepared.record("PREPARE p AS SELECT 1", "PREPARE p AS SELECT 1 /*v1*/", kP, 1));
  Policy policy{{{"PREPARE p AS SELECT 1", "PREPARE p AS SELECT 1 /*v1*/"}}};
  EXPECT_EQ(prepared.stale(kP, 1, policy.redecide()), std::nullopt);
  EXPECT_EQ(policy.decided, 0);  // nothing changed since it was decided
  EXPECT_EQ(prepared.stale(kP, 2, policy.redecide()), std::nullopt);
  EXPECT_EQ(prepared.stale(kP, 2, policy.redecide()), std::nullopt);
  EXPECT_EQ(policy.decided, 1);
  // A name the session never prepared is PostgreSQL's to answer.
  EXPECT_EQ(prepared.stale({"other"}, 3, policy.redecide()), std::nullopt);
}

TEST(SqlPreparedStatementsTest, AChangedOrRefusedRewriteIsStale) {
  SqlPreparedStatements prepared;
  ASSERT_TRUE(prepared.record("PREPARE p AS SELECT email FROM c", "old", kP, 1));
  Policy masked{{{"PREPARE p AS SELECT email FROM c", "new"}}};
  EXPECT_EQ(prepared.stale(kP, 2, masked.redecide()), "p");
  EXPECT_EQ(prepared.stale(kP, 2, masked.redecide()), "p");  // until it is prepared again
  Policy refused;
  EXPECT_EQ(prepared.stale(kP, 3, refused.redecide()), "p");
  EXPECT_EQ(prepared.stale({"q", "p"}, 3, refused.redecide()), "p");
}

TEST(SqlPreparedStatementsTest, APrepareThatMayHaveFailedKeepsTheEarlierOneChecked) {
  // PREPARE p again while PostgreSQL still holds the first (it answers 42P05): both are
  // remembered, so the first one's changed rewrite still refuses EXECUTE p.
  SqlPreparedStatements prepared;
  ASSERT_TRUE(prepared.record("PREPARE p AS SELECT email FROM c", "old", kP, 1));
  ASSERT_TRUE(prepared.record("PREPARE p AS SELECT 1", "one", kP, 2));
  Policy policy{{{"PREPARE p AS SELECT email FROM c", "new"}, {"PREPARE p AS SELECT 1", "one"}}};
  EXPECT_EQ(prepared.stale(kP, 2, policy.redecide()), "p");
  EXPECT_EQ(prepared.size(), 2u);
}

TEST(SqlPreparedStatementsTest, ASucceededDeallocateForgetsWhatCameBeforeIt) {
  SqlPreparedStatements prepared;
  ASSERT_TRUE(prepared.record("PREPARE p AS SELECT email FROM c", "old", kP, 1));
  ASSERT_TRUE(prepared.record("PREPARE q AS SELECT email FROM c", "old-q", {"q"}, 1));
  // "DEALLOCATE p; PREPARE p AS ..." in one string: the new PREPARE is numbered after the
  // DEALLOCATE's mark and survives it.
  const std::uint64_t mark = prepared.nextSequence();
  ASSERT_TRUE(prepared.record("DEALLOCATE p; PREPARE p AS SELECT email FROM c", "new", kP, 2));
  prepared.forget("p", mark);
  EXPECT_EQ(prepared.size(), 2u);
  Policy policy{{{"DEALLOCATE p; PREPARE p AS SELECT email FROM c", "new"},
                 {"PREPARE q AS SELECT email FROM c", "new-q"}}};
  EXPECT_EQ(prepared.stale(kP, 2, policy.redecide()), std::nullopt);
  EXPECT_EQ(prepared.stale({"q"}, 2, policy.redecide()), "q");
  // DEALLOCATE ALL forgets every name up to its mark.
  prepared.forget("", prepared.nextSequence());
  EXPECT_EQ(prepared.size(), 0u);
  EXPECT_EQ(prepared.stale({"p", "q"}, 3, Policy{}.redecide()), std::nullopt);
  prepared.forget("never", prepared.nextSequence());  // nothing to forget
}

TEST(SqlPreparedStatementsTest, ANewPrepareUnderANewerPolicyDoesNotVouchForOlderOnes) {
  SqlPreparedStatements prepared;
  ASSERT_TRUE(prepared.record("PREPARE p AS SELECT email FROM c", "old", kP, 1));
  ASSERT_TRUE(prepared.record("PREPARE p AS SELECT email FROM c", "new", kP, 2));
  Policy policy{{{"PREPARE p AS SELECT email FROM c", "new"}}};
  EXPECT_EQ(prepared.stale(kP, 2, policy.redecide()), "p");
}

TEST(SqlPreparedStatementsTest, RemembersABoundedNumberOfQueries) {
  SqlPreparedStatements prepared;
  for (std::size_t i = 0; i < SqlPreparedStatements::kMaxQueries; ++i)
    ASSERT_TRUE(prepared.record("PREPARE p" + std::to_string(i) + " AS SELECT 1", "x",
                                {"p" + std::to_string(i)}, 1));
  EXPECT_FALSE(prepared.record("PREPARE last AS SELECT 1", "x", {"last"}, 1));
  EXPECT_EQ(prepared.size(), SqlPreparedStatements::kMaxQueries);
  prepared.forget("p0", prepared.nextSequence());
  EXPECT_TRUE(prepared.record("PREPARE last AS SELECT 1", "x", {"last"}, 1));
}

}  // namespace
}  // namespace tenantwall::proxy
