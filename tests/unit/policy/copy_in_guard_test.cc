// COPY FROM STDIN guard: foreign or missing tenants are refused, omitted tenants filled in,
// whatever the chunking of CopyData messages.
#include "policy/copy_in_guard.h"

#include <gtest/gtest.h>

namespace tenantwall::policy {
namespace {

CopyInSpec textSpec(std::size_t columns, std::size_t tenant_index) {
  CopyInSpec s;
  s.column_count = columns;
  s.tenant_index = tenant_index;
  s.tenant = "acme";
  return s;
}

CopyInSpec csvSpec(std::size_t columns, std::size_t tenant_index) {
  CopyInSpec s = textSpec(columns, tenant_index);
  s.csv = true;
  s.delimiter = ',';
  s.null_string = "";
  return s;
}

// Feeds data split into pieces of `step` bytes and returns everything forwarded.
std::expected<std::string, protocol::PgError> run(CopyInSpec spec, std::string_view data,
                                                  std::size_t step) {
  CopyInGuard guard(std::move(spec));
  std::string out;
  for (std::size_t i = 0; i < data.size(); i += step) {
    auto part = guard.feed(data.substr(i, step));
    if (!part) return part;
    out += *part;
  }
  auto rest = guard.finish();
  if (!rest) return rest;
  return out + *rest;
}

TEST(CopyInGuardTest, TextRowsWithOwnTenantPassUnchangedAtAnyChunking) {
  const std::string data = "1\tacme\tAnn\n2\tacme\tBo\\tb\n";
  for (std::size_t step : {1u, 2u, 3u, 7u, 100u}) {
    auto out = run(textSpec(3, 1), data, step);
    ASSERT_TRUE(out) << step;
    EXPECT_EQ(*out, data) << step;
  }
}

TEST(CopyInGuardTest, TextForeignTenantIsRefusedWithRowNumber) {
  for (std::size_t step : {1u, 5u, 100u}) {
    auto out = run(textSpec(3, 1), "1\tacme\tAnn\n2\tglobex\tGus\n3\tacme\tX\n", step);
    ASSERT_FALSE(out) << step;
    EXPECT_EQ(out.error().sqlstate, "42501");
    EXPECT_NE(out.error().message.find("COPY row 2"), std::string::npos) << out.error().message;
    EXPECT_NE(out.error().message.find("globex"), std::string::npos);
  }
}

TEST(CopyInGuardTest, TextEscapedSpellingsOfATenantDoNotPass) {
  // \x61 is 'a': an escape must not smuggle a tenant past the comparison, or name another.
  EXPECT_FALSE(run(textSpec(2, 0), "\\x61cme\t1\n", 100));
  EXPECT_FALSE(run(textSpec(2, 0), "\\141cme\t1\n", 100));
  EXPECT_FALSE(run(textSpec(2, 0), "acme\\\tx\t1\n", 100));  // escaped delimiter: "acme\tx"
  EXPECT_TRUE(run(textSpec(2, 0), "acme\tx\\ty\n", 100));
}

TEST(CopyInGuardTest, TextFieldsAreCountedWithOrWithoutEscapes) {
  // Plain rows and rows with backslashes are split alike: an empty last field counts, an
  // escaped delimiter does not, and a backslash before a raw newline keeps the row going.
  for (std::size_t step : {1u, 3u, 100u}) {
    EXPECT_TRUE(run(textSpec(3, 1), "1\tacme\t\n", step)) << step;
    EXPECT_TRUE(run(textSpec(3, 1), "1\tacme\ta\\\tb\n", step)) << step;
    EXPECT_FALSE(run(textSpec(3, 1), "1\tacme\t\t\n", step)) << step;
    auto out = run(textSpec(3, 1), "1\tacme\tline\\\nnext\n2\tacme\tx\n", step);
    ASSERT_TRUE(out) << step;
    EXPECT_EQ(*out, "1\tacme\tline\\\nnext\n2\tacme\tx\n") << step;
  }
}

TEST(CopyInGuardTest, TextNullTenantIsRefused) {
  auto out = run(textSpec(2, 1), "1\t\\N\n", 100);
  ASSERT_FALSE(out);
  EXPECT_NE(out.error().message.find("cannot be NULL"), std::string::npos);
}

TEST(CopyInGuardTest, WrongColumnCountIsRefused) {
  auto out = run(textSpec(3, 1), "1\tacme\n", 100);
  ASSERT_FALSE(out);
  EXPECT_NE(out.error().message.find("expected 3 columns, got 2"), std::string::npos);
}

TEST(CopyInGuardTest, OmittedTenantIsAppendedToEveryRow) {
  auto out = run(textSpec(2, 2), "1\tAnn\n2\tBo\n", 3);
  ASSERT_TRUE(out);
  EXPECT_EQ(*out, "1\tAnn\tacme\n2\tBo\tacme\n");
  auto csv = run(csvSpec(2, 2), "1,\"A, B\"\n", 1);
  ASSERT_TRUE(csv);
  EXPECT_EQ(*csv, "1,\"A, B\",\"acme\"\n");
}

TEST(CopyInGuardTest, EndMarkerStopsChecking) {
  for (std::size_t step : {1u, 4u, 100u}) {
    auto out = run(textSpec(2, 0), "acme\t1\n\\.\ngarbage that PostgreSQL ignores\n", step);
    ASSERT_TRUE(out) << step;
    EXPECT_EQ(*out, "acme\t1\n\\.\n") << step;
  }
}

TEST(CopyInGuardTest, LastRowWithoutNewlineIsForwardedWithOne) {
  for (std::size_t step : {1u, 5u, 100u}) {
    auto out = run(textSpec(2, 0), "acme\t1\nacme\t2", step);
    ASSERT_TRUE(out) << step;
    EXPECT_EQ(*out, "acme\t1\nacme\t2\n") << step;
    auto appended = run(textSpec(1, 1), "1\n2", step);
    ASSERT_TRUE(appended) << step;
    EXPECT_EQ(*appended, "1\tacme\n2\tacme\n") << step;
  }
}

TEST(CopyInGuardTest, EscapedTenantFieldIsComparedByItsValue) {
  // PostgreSQL reads "ac\me" as "acme" (\m is m): the value, not the spelling, decides.
  EXPECT_TRUE(run(textSpec(2, 0), "ac\\me\t1\n", 100));
  EXPECT_FALSE(run(textSpec(2, 0), "acme\\n\t1\n", 100));  // "acme" + newline
}

TEST(CopyInGuardTest, LastRowWithoutNewlineIsCheckedAtFinish) {
  auto out = run(textSpec(2, 0), "acme\t1\nglobex\t2", 100);
  ASSERT_FALSE(out);
  EXPECT_NE(out.error().message.find("COPY row 2"), std::string::npos);
}

TEST(CopyInGuardTest, CsvQuotedNewlinesAndDelimitersStayInsideTheField) {
  const std::string data = "1,acme,\"line one\nline two, still\"\n2,\"acme\",x\n";
  for (std::size_t step : {1u, 4u, 100u}) {
    auto out = run(csvSpec(3, 1), data, step);
    ASSERT_TRUE(out) << step;
    EXPECT_EQ(*out, data);
  }
}

TEST(CopyInGuardTest, CsvForeignTenantInsideQuotesIsRefused) {
  auto out = run(csvSpec(3, 1), "1,\"globex\",x\n", 2);
  ASSERT_FALSE(out);
  EXPECT_NE(out.error().message.find("globex"), std::string::npos);
  // A quote trick must not split the field differently from PostgreSQL.
  EXPECT_FALSE(run(csvSpec(3, 1), "1,\"acme\"\"\",x\n", 100));
  EXPECT_FALSE(run(csvSpec(3, 1), "1,,x\n", 100));  // unquoted empty is NULL in CSV
}

TEST(CopyInGuardTest, CsvHeaderLineIsPassedThrough) {
  CopyInSpec spec = csvSpec(2, 0);
  spec.header = true;
  auto out = run(spec, "tenant_id,name\nacme,Ann\r\n", 3);
  ASSERT_TRUE(out);
  EXPECT_EQ(*out, "tenant_id,name\nacme,Ann\r\n");
  EXPECT_FALSE(run(spec, "tenant_id,name\nglobex,Gus\n", 3));
}

TEST(CopyInGuardTest, CrLfRowsAreChecked) {
  EXPECT_TRUE(run(textSpec(2, 1), "1\tacme\r\n", 100));
  EXPECT_FALSE(run(textSpec(2, 1), "1\tglobex\r\n", 100));
}

}  // namespace
}  // namespace tenantwall::policy
