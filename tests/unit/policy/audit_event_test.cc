// Audit events: JSON escaping, the hash chain, and verification catching every kind of edit.
#include "policy/audit_event.h"

#include <gtest/gtest.h>

#include <regex>

namespace tenantwall::policy {
namespace {

AuditEvent statement(int n) {
  AuditEvent e;
  e.time = "2024-05-01T12:00:00.000Z";
  e.kind = "statement";
  e.session = 7;
  e.client = "10.0.0.1:5555";
  e.user = "alice";
  e.tenant = "acme";
  e.role = "analyst";
  e.policy_version = 3;
  e.decision = n % 3 == 0 ? "deny" : "allow";
  e.statement = "SELECT name FROM customers WHERE id = $" + std::to_string(n);
  e.statement_kinds = {"select"};
  return e;
}

std::vector<std::string> chainOf(int count, const std::string& key = {}) {
  AuditChain chain(key);
  std::vector<std::string> lines;
  for (int i = 1; i <= count; ++i) lines.push_back(chain.seal(statement(i)));
  return lines;
}

std::string jsonString(std::string_view s) {
  AuditEvent e;
  e.reason = std::string(s);
  const std::string json = toJson(e);
  const std::string start = "\"reason\":";
  const auto at = json.find(start) + start.size();
  return json.substr(at, json.find(",\"rule\"") - at);
}

TEST(AuditEventTest, JsonHasEveryMemberInOrder) {
  AuditEvent e = statement(1);
  e.sqlstate = "42501";
  e.reason = "no";
  e.rule = "tables.customers";
  e.rewritten_sha256 = "ab";
  e.statement_kinds = {"select", "explain"};
  EXPECT_EQ(toJson(e),
            R"({"time":"2024-05-01T12:00:00.000Z","kind":"statement","session":7,)"
            R"("client":"10.0.0.1:5555","user":"alice","tenant":"acme","role":"analyst",)"
            R"("policy_version":3,"decision":"allow","sqlstate":"42501","reason":"no",)"
            R"("rule":"tables.customers","statement":"SELECT name FROM customers WHERE id = $1",)"
            R"("rewritten_sha256":"ab","statement_kinds":["select","explain"]})");
  EXPECT_EQ(toJson(AuditEvent{}),
            R"({"time":"","kind":"","session":0,"client":"","user":"","tenant":"","role":"",)"
            R"("policy_version":0,"decision":"","sqlstate":"","reason":"","rule":"",)"
            R"("statement":"","rewritten_sha256":"","statement_kinds":[]})");
}

TEST(AuditEventTest, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(jsonString("say \"hi\" \\ bye"), R"("say \"hi\" \\ bye")");
  EXPECT_EQ(jsonString("a\nb\tc\rd"), R"("a\u000ab\u0009c\u000dd")");
  EXPECT_EQ(jsonString(std::string("nul\0x\x1f\x7f", 7)), R"("nul\u0000x\u001f\u007f")");
}

TEST(AuditEventTest, ValidUtf8PassesAndInvalidBytesBecomeReplacementCharacters) {
  EXPECT_EQ(jsonString("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
            "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
  EXPECT_EQ(jsonString("a\xff"
                       "b"),
            R"("a\ufffdb")");
  EXPECT_EQ(jsonString("\xc3"), R"("\ufffd")");                                // truncated sequence
  EXPECT_EQ(jsonString("\xc0\xaf"), R"("\ufffd\ufffd")");                      // overlong '/'
  EXPECT_EQ(jsonString("\xed\xa0\x80"), R"("\ufffd\ufffd\ufffd")");            // UTF-16 surrogate
  EXPECT_EQ(jsonString("\xf4\x90\x80\x80"), R"("\ufffd\ufffd\ufffd\ufffd")");  // > U+10FFFF
  EXPECT_EQ(jsonString("\xe2\x82"
                       "x"),
            R"("\ufffd\ufffdx")");
}

TEST(AuditEventTest, AnyBytesGiveALineTheReaderAccepts) {
  AuditEvent e = statement(1);
  e.kind = std::string("k\"\\\n\xff\xc3\xa9\0", 8);
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  e.statement = all;
  AuditChain chain;
  const std::string line = chain.seal(e);
  auto parsed = parseSealedLine(line);
  ASSERT_TRUE(parsed) << parsed.error();
  EXPECT_EQ(parsed->kind, std::string("k\"\\\n\xef\xbf\xbd\xc3\xa9\0", 10));
  EXPECT_TRUE(verifyAuditLines({line}, "").ok);
}

TEST(AuditEventTest, TimeIsRfc3339UtcWithMilliseconds) {
  EXPECT_TRUE(
      std::regex_match(auditTimeNow(), std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")))
      << auditTimeNow();
}

TEST(AuditChainTest, HashIsOverPrevAndTheLineWithoutItsHash) {
  AuditChain chain;
  EXPECT_EQ(chain.lastHash(), kGenesis);
  const std::string line = chain.seal(statement(1));
  const std::string json = toJson(statement(1));
  const std::string unhashed = json.substr(0, json.size() - 1) + ",\"prev\":\"" + kGenesis + "\"}";
  const std::string hash = auditDigest("", std::string(kGenesis) + unhashed);
  EXPECT_EQ(line, unhashed.substr(0, unhashed.size() - 1) + ",\"hash\":\"" + hash + "\"}");
  EXPECT_EQ(chain.lastHash(), hash);

  const std::string second = chain.seal(statement(2));
  EXPECT_NE(second.find(",\"prev\":\"" + hash + "\","), std::string::npos);
}

TEST(AuditChainTest, KeyedChainUsesHmac) {
  AuditChain plain, keyed("secret");
  plain.seal(statement(1));
  keyed.seal(statement(1));
  EXPECT_NE(plain.lastHash(), keyed.lastHash());
  // HMAC-SHA-256 test vector, RFC 4231 case 2.
  EXPECT_EQ(auditDigest("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(auditDigest("", "abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(AuditChainTest, SealFillsAnEmptyTime) {
  AuditChain chain;
  AuditEvent e = statement(1);
  e.time.clear();
  auto parsed = parseSealedLine(chain.seal(e));
  ASSERT_TRUE(parsed);
  const std::string line = chain.seal(e);
  EXPECT_TRUE(std::regex_search(line, std::regex(R"(^\{"time":"\d{4}-\d\d-\d\dT[0-9:.]{12}Z")")))
      << line;
}

TEST(AuditVerifyTest, IntactChainVerifies) {
  const auto lines = chainOf(20);
  const VerifyResult r = verifyAuditLines(lines, "");
  EXPECT_TRUE(r.ok) << r.line << ": " << r.reason;
  EXPECT_EQ(r.events, 20u);
  EXPECT_EQ(r.line, 0u);
  AuditChain chain;
  for (int i = 1; i <= 20; ++i) chain.seal(statement(i));
  EXPECT_EQ(r.last_hash, chain.lastHash());
  EXPECT_TRUE(verifyAuditLines({}, "").ok);
}

TEST(AuditVerifyTest, EditedLineIsAHashMismatchAtThatLine) {
  auto lines = chainOf(20);
  const auto at = lines[16].find("customers");
  lines[16].replace(at, 9, "employees");
  const VerifyResult r = verifyAuditLines(lines, "");
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.line, 17u);
  EXPECT_EQ(r.events, 16u);
  EXPECT_TRUE(r.reason.starts_with("hash mismatch: the line was edited")) << r.reason;
}

TEST(AuditVerifyTest, RemovedLineBreaksTheChainAtTheNextLine) {
  auto lines = chainOf(20);
  lines.erase(lines.begin() + 4);
  const VerifyResult r = verifyAuditLines(lines, "");
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.line, 5u);
  EXPECT_TRUE(r.reason.starts_with("chain broken")) << r.reason;
}

TEST(AuditVerifyTest, RemovedFirstLineIsCaught) {
  auto lines = chainOf(5);
  lines.erase(lines.begin());
  const VerifyResult r = verifyAuditLines(lines, "");
  EXPECT_EQ(r.line, 1u);
  EXPECT_TRUE(r.reason.starts_with("chain does not start where expected")) << r.reason;
  // Trusting the first line's prev accepts a series whose start was rotated away.
  EXPECT_TRUE(verifyAuditLines(lines, "", "").ok);
}

TEST(AuditVerifyTest, ReorderedLinesAreCaught) {
  auto lines = chainOf(20);
  std::swap(lines[2], lines[3]);
  const VerifyResult r = verifyAuditLines(lines, "");
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.line, 3u);
  EXPECT_TRUE(r.reason.starts_with("chain broken")) << r.reason;
}

TEST(AuditVerifyTest, InsertedLinesAreCaught) {
  auto lines = chainOf(10);
  auto duplicated = lines;
  duplicated.insert(duplicated.begin() + 2, lines[1]);
  EXPECT_EQ(verifyAuditLines(duplicated, "").line, 3u);

  // A line sealed on a forked chain from the same point: its successor no longer links.
  AuditChain fork("", parseSealedLine(lines[1])->hash);
  auto forged = lines;
  forged.insert(forged.begin() + 2, fork.seal(statement(99)));
  const VerifyResult r = verifyAuditLines(forged, "");
  EXPECT_EQ(r.line, 4u);
  EXPECT_TRUE(r.reason.starts_with("chain broken")) << r.reason;
}

TEST(AuditVerifyTest, TruncatedTailNeedsTheExpectedHash) {
  auto lines = chainOf(20);
  const std::string last = parseSealedLine(lines.back())->hash;
  const std::string middle = parseSealedLine(lines[9])->hash;
  lines.resize(17);
  EXPECT_TRUE(verifyAuditLines(lines, "").ok);  // without a remembered hash it looks whole
  const VerifyResult r = verifyAuditLines(lines, "", kGenesis, last);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.line, 18u);
  EXPECT_EQ(r.events, 17u);
  EXPECT_NE(r.reason.find("lines were removed from the end"), std::string::npos) << r.reason;
  // A hash remembered earlier is fine when the chain went on past it.
  EXPECT_TRUE(verifyAuditLines(lines, "", kGenesis, middle).ok);
}

TEST(AuditVerifyTest, GarbageLineIsReported) {
  auto lines = chainOf(3);
  lines[1] = "not json";
  const VerifyResult r = verifyAuditLines(lines, "");
  EXPECT_EQ(r.line, 2u);
  EXPECT_TRUE(r.reason.starts_with("not a sealed audit line")) << r.reason;
}

TEST(AuditVerifyTest, ReaderRefusesLinesNotShapedAsSealed) {
  const std::string line = chainOf(1)[0];
  EXPECT_TRUE(parseSealedLine(line));
  EXPECT_FALSE(parseSealedLine(line + " "));
  EXPECT_FALSE(parseSealedLine("{\"kind\":\"a\",\"kind\":\"b\"," + line.substr(1)));
  // prev and hash must come last.
  EXPECT_FALSE(parseSealedLine(line.substr(0, line.size() - 1) + ",\"x\":\"y\"}"));
  std::string upper = line;
  const auto at = upper.rfind("\"hash\":\"") + 8;
  upper[at] = upper[at] == 'a' ? 'A' : 'B';
  EXPECT_FALSE(parseSealedLine(upper));
  EXPECT_FALSE(parseSealedLine(""));
  EXPECT_FALSE(parseSealedLine("{\"kind\":\"a\xff\"}"));
}

TEST(AuditVerifyTest, HmacChainNeedsTheRightKey) {
  const auto lines = chainOf(5, "k1");
  EXPECT_TRUE(verifyAuditLines(lines, "k1").ok);
  for (const std::string key : {"k2", ""}) {
    const VerifyResult r = verifyAuditLines(lines, key);
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.line, 1u);
    EXPECT_TRUE(r.reason.starts_with("hash mismatch")) << r.reason;
  }
  // Re-sealing an edited tail with a guessed key is caught at the first edited line.
  auto forged = lines;
  AuditChain attacker("guess", parseSealedLine(lines[1])->hash);
  AuditEvent edited = statement(3);
  edited.decision = "allow";
  forged[2] = attacker.seal(edited);
  forged[3] = attacker.seal(statement(4));
  forged[4] = attacker.seal(statement(5));
  EXPECT_EQ(verifyAuditLines(forged, "k1").line, 3u);
}

TEST(AuditVerifyTest, RotatedSeriesIsOneChain) {
  AuditChain chain("key");
  std::vector<AuditFile> files{{"a.3", {}}, {"a.2", {}}, {"a.1", {}}, {"a", {}}};
  int n = 0;
  for (auto& file : files)
    for (int i = 0; i < 4; ++i) file.lines.push_back(chain.seal(statement(++n)));
  VerifyOptions options;
  options.keys = {"key"};
  VerifyResult r = verifyAuditFiles(files, options);
  EXPECT_TRUE(r.ok) << r.file << ":" << r.line << ": " << r.reason;
  EXPECT_EQ(r.events, 16u);
  EXPECT_EQ(r.last_hash, chain.lastHash());

  auto swapped = files;
  std::swap(swapped[1], swapped[2]);
  r = verifyAuditFiles(swapped, options);
  EXPECT_EQ(r.file, "a.1");
  EXPECT_EQ(r.line, 1u);

  auto missing = files;
  missing.erase(missing.begin() + 1);
  r = verifyAuditFiles(missing, options);
  EXPECT_EQ(r.file, "a.1");
  EXPECT_EQ(r.line, 1u);
  EXPECT_TRUE(r.reason.starts_with("chain broken")) << r.reason;

  // The oldest file rotated away: fine when the first prev is trusted, caught otherwise.
  const std::vector<AuditFile> newest(files.begin() + 2, files.end());
  r = verifyAuditFiles(newest, options);
  EXPECT_EQ(r.file, "a.1");
  EXPECT_TRUE(r.reason.starts_with("chain does not start")) << r.reason;
  options.previous_hash.clear();
  EXPECT_TRUE(verifyAuditFiles(newest, options).ok);

  // An edit in a middle file is located in that file.
  auto edited = files;
  edited[2].lines[1][edited[2].lines[1].find("alice")] = 'A';
  r = verifyAuditFiles(edited, options);
  EXPECT_EQ(r.file, "a.1");
  EXPECT_EQ(r.line, 2u);
}

TEST(AuditVerifyTest, KeyRotationMovesToTheNextKey) {
  AuditChain chain("old");
  std::vector<std::string> lines{chain.seal(statement(1)), chain.seal(statement(2))};
  lines.push_back(chain.sealKeyRotation("new"));
  lines.push_back(chain.seal(statement(3)));
  lines.push_back(chain.seal(statement(4)));
  auto rotation = parseSealedLine(lines[2]);
  ASSERT_TRUE(rotation);
  EXPECT_TRUE(rotation->keyRotation());

  VerifyOptions options;
  options.keys = {"old", "new"};
  VerifyResult r = verifyAuditFiles({{"log", lines}}, options);
  EXPECT_TRUE(r.ok) << r.line << ": " << r.reason;
  EXPECT_EQ(r.events, 5u);

  options.keys = {"old"};
  r = verifyAuditFiles({{"log", lines}}, options);
  EXPECT_EQ(r.line, 4u);
  EXPECT_NE(r.reason.find("rotated at log:3"), std::string::npos) << r.reason;

  options.keys = {"new"};
  EXPECT_EQ(verifyAuditFiles({{"log", lines}}, options).line, 1u);

  // The rotation event itself is sealed with the old key: it cannot be forged without it.
  AuditChain forger("new", parseSealedLine(lines[1])->hash);
  auto forged = lines;
  forged[2] = forger.sealKeyRotation("new");
  options.keys = {"old", "new"};
  EXPECT_EQ(verifyAuditFiles({{"log", forged}}, options).line, 3u);
}

}  // namespace
}  // namespace tenantwall::policy
