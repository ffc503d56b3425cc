// UTF-8 validity as PostgreSQL's UTF8 encoding defines it.
#include "protocol/utf8.h"

#include <gtest/gtest.h>

#include <string>

namespace tenantwall::protocol {
namespace {

TEST(Utf8, ValidSequencesHaveTheirLength) {
  EXPECT_EQ(utf8SequenceLength("a", 0), 1u);
  EXPECT_EQ(utf8SequenceLength("\xC3\xA9", 0), 2u);          // é
  EXPECT_EQ(utf8SequenceLength("\xE2\x82\xAC", 0), 3u);      // €
  EXPECT_EQ(utf8SequenceLength("\xF0\x9F\x98\x80", 0), 4u);  // U+1F600
  EXPECT_EQ(invalidUtf8At("plain ascii, caf\xC3\xA9 \xE2\x82\xAC"), std::string_view::npos);
}

TEST(Utf8, InvalidFormsAreRefused) {
  EXPECT_EQ(utf8SequenceLength("\xC0\xAF", 0), 0u);          // overlong '/'
  EXPECT_EQ(utf8SequenceLength("\xE0\x80\xAF", 0), 0u);      // overlong, three bytes
  EXPECT_EQ(utf8SequenceLength("\xED\xA0\x80", 0), 0u);      // UTF-16 surrogate
  EXPECT_EQ(utf8SequenceLength("\xF4\x90\x80\x80", 0), 0u);  // past U+10FFFF
  EXPECT_EQ(utf8SequenceLength("\xFF", 0), 0u);
  EXPECT_EQ(utf8SequenceLength("\xE2\x82", 0), 0u);      // cut short by the end
  EXPECT_EQ(utf8SequenceLength("\xE2\x28\xA1", 0), 0u);  // bad continuation byte
}

TEST(Utf8, InvalidAtNamesTheFirstBadByte) {
  EXPECT_EQ(invalidUtf8At(std::string("ab\xC3\xA9x\xFFz")), 5u);
  EXPECT_EQ(invalidUtf8At(std::string("\xE2\x82")), 0u);
  EXPECT_EQ(invalidUtf8At(""), std::string_view::npos);
}

}  // namespace
}  // namespace tenantwall::protocol
