// Audit events as JSON, the hash chain that seals them, and verification of sealed lines.
#include "policy/audit_event.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <optional>
#include <set>

#include "policy/digest.h"
#include "protocol/utf8.h"

namespace tenantwall::policy {
namespace {

constexpr std::size_t kHashHexLength = 64;
constexpr std::string_view kPrevMember = ",\"prev\":\"";
constexpr std::string_view kHashMember = "\",\"hash\":\"";
constexpr std::string_view kLineEnd = "\"}";

void appendString(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
      ++i;
    } else if (c < 0x20 || c == 0x7F) {
      out += "\\u00";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
      ++i;
    } else if (const std::size_t n = protocol::utf8SequenceLength(s, i); n > 0) {
      out.append(s.substr(i, n));
      i += n;
    } else {
      out += "\\ufffd";  // one per invalid byte, so the line stays valid JSON
      ++i;
    }
  }
  out.push_back('"');
}

void appendMember(std::string& out, std::string_view name, std::string_view value) {
  out.push_back(out.size() > 1 ? ',' : '{');
  appendString(out, name);
  out.push_back(':');
  appendString(out, value);
}

void appendMember(std::string& out, std::string_view name, std::uint64_t value) {
  out.push_back(out.size() > 1 ? ',' : '{');
  appendString(out, name);
  out.push_back(':');
  out += std::to_string(value);
}

bool isHash(std::string_view s) {
  if (s.size() != kHashHexLength) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

// Hashes are compared in constant time: with a key, a timing difference would let a forger
// learn a valid seal byte by byte.
bool sameHash(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string lineHash(std::string_view key, std::string_view prev, std::string_view unhashed) {
  std::string message;
  message.reserve(prev.size() + unhashed.size());
  message.append(prev);
  message.append(unhashed);
  return auditDigest(key, message);
}

// A strict reader for the flat objects toJson writes: string, unsigned integer and
// array-of-string members. It only extracts; the hash is what proves the content.
class LineReader {
 public:
  explicit LineReader(std::string_view text) : text_(text) {}

  std::expected<SealedLine, std::string> read() {
    SealedLine out;
    std::set<std::string> seen;
    std::vector<std::string> order;
    if (!consume('{')) return fail("expected '{'");
    if (consume('}')) return fail("empty object");
    do {
      auto name = string();
      if (!name) return std::unexpected(name.error());
      if (!seen.insert(*name).second) return fail("duplicate member \"" + *name + "\"");
      order.push_back(*name);
      if (!consume(':')) return fail("expected ':'");
      if (peek() == '"') {
        auto value = string();
        if (!value) return std::unexpected(value.error());
        if (*name == "kind") out.kind = std::move(*value);
        if (*name == "reason") out.reason = std::move(*value);
        if (*name == "prev") out.prev = std::move(*value);
        if (*name == "hash") out.hash = std::move(*value);
      } else if (peek() == '[') {
        if (auto error = stringArray()) return fail(*error);
      } else if (peek() >= '0' && peek() <= '9') {
        if (auto error = number()) return fail(*error);
      } else {
        return fail("unexpected value for \"" + order.back() + "\"");
      }
    } while (consume(','));
    if (!consume('}')) return fail("expected ',' or '}'");
    if (pos_ != text_.size()) return fail("text after the object");
    if (order.size() < 2 || order[order.size() - 2] != "prev" || order.back() != "hash")
      return fail("\"prev\" and \"hash\" are not the last two members");
    if (!seen.contains("kind")) return fail("no \"kind\" member");
    if (!isHash(out.prev)) return fail("\"prev\" is not 64 lowercase hex digits");
    if (!isHash(out.hash)) return fail("\"hash\" is not 64 lowercase hex digits");
    // The hash is defined on this exact spelling of the last two members (no escapes, no
    // spaces), so a line that spells them otherwise was not written by AuditChain.
    std::string tail(kPrevMember);
    tail += out.prev;
    tail += kHashMember;
    tail += out.hash;
    tail += kLineEnd;
    if (!text_.ends_with(tail)) return fail("\"prev\" and \"hash\" are not spelled as sealed");
    return out;
  }

 private:
  std::unexpected<std::string> fail(const std::string& what) const {
    return std::unexpected("not a sealed audit line: " + what + " at column " +
                           std::to_string(pos_ + 1));
  }
  char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
  bool consume(char c) {
    if (pos_ >= text_.size() || text_[pos_] != c) return false;
    ++pos_;
    return true;
  }

  std::optional<std::string> number() {
    const std::size_t start = pos_;
    while (peek() >= '0' && peek() <= '9') ++pos_;
    if (pos_ - start > 20 || (pos_ - start > 1 && text_[start] == '0'))
      return "not an unsigned 64-bit number";
    return std::nullopt;
  }

  std::optional<std::string> stringArray() {
    consume('[');
    if (consume(']')) return std::nullopt;
    do {
      if (auto s = string(); !s) return s.error();
    } while (consume(','));
    if (!consume(']')) return "expected ',' or ']'";
    return std::nullopt;
  }

  std::optional<unsigned> hex4() {
    if (pos_ + 4 > text_.size()) return std::nullopt;
    unsigned value = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = text_[pos_++];
      value <<= 4;
      if (c >= '0' && c <= '9')
        value |= static_cast<unsigned>(c - '0');
      else if (c >= 'a' && c <= 'f')
        value |= static_cast<unsigned>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        value |= static_cast<unsigned>(c - 'A' + 10);
      else
        return std::nullopt;
    }
    return value;
  }

  static void appendUtf8(std::string& out, unsigned cp) {
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  std::expected<std::string, std::string> string() {
    if (!consume('"')) return fail("expected a string");
    std::string out;
    while (true) {
      if (pos_ >= text_.size()) return fail("unterminated string");
      const auto c = static_cast<unsigned char>(text_[pos_]);
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (c < 0x20) return fail("raw control character in a string");
      if (c == '\\') {
        ++pos_;
        const char e = peek();
        ++pos_;
        switch (e) {
          case '"':
            out.push_back('"');
            break;
          case '\\':
            out.push_back('\\');
            break;
          case '/':
            out.push_back('/');
            break;
          case 'b':
            out.push_back('\b');
            break;
          case 'f':
            out.push_back('\f');
            break;
          case 'n':
            out.push_back('\n');
            break;
          case 'r':
            out.push_back('\r');
            break;
          case 't':
            out.push_back('\t');
            break;
          case 'u': {
            auto cp = hex4();
            if (!cp) return fail("bad \\u escape");
            if (*cp >= 0xD800 && *cp <= 0xDBFF && text_.substr(pos_, 2) == "\\u") {
              pos_ += 2;
              auto low = hex4();
              if (!low || *low < 0xDC00 || *low > 0xDFFF) return fail("bad surrogate pair");
              *cp = 0x10000 + ((*cp - 0xD800) << 10) + (*low - 0xDC00);
            } else if (*cp >= 0xD800 && *cp <= 0xDFFF) {
              return fail("lone surrogate escape");
            }
            appendUtf8(out, *cp);
            break;
          }
          default:
            --pos_;
            return fail("bad escape");
        }
        continue;
      }
      const std::size_t n = protocol::utf8SequenceLength(text_, pos_);
      if (n == 0) return fail("invalid UTF-8");
      out.append(text_.substr(pos_, n));
      pos_ += n;
    }
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

}  // namespace

std::string auditTimeNow() {
  const auto now = std::chrono::system_clock::now();
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char buffer[64];  // room for any int the compiler imagines in each field
  std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<int>(ms % 1000));
  return buffer;
}

std::string toJson(const AuditEvent& e) {
  std::string out;
  out.reserve(256 + e.statement.size() + e.reason.size());
  appendMember(out, "time", e.time);
  appendMember(out, "kind", e.kind);
  appendMember(out, "session", e.session);
  appendMember(out, "client", e.client);
  appendMember(out, "user", e.user);
  appendMember(out, "tenant", e.tenant);
  appendMember(out, "role", e.role);
  appendMember(out, "policy_version", e.policy_version);
  appendMember(out, "decision", e.decision);
  appendMember(out, "sqlstate", e.sqlstate);
  appendMember(out, "reason", e.reason);
  appendMember(out, "rule", e.rule);
  appendMember(out, "statement", e.statement);
  appendMember(out, "rewritten_sha256", e.rewritten_sha256);
  out += ",\"statement_kinds\":[";
  for (std::size_t i = 0; i < e.statement_kinds.size(); ++i) {
    if (i > 0) out.push_back(',');
    appendString(out, e.statement_kinds[i]);
  }
  out += "]}";
  return out;
}

std::string auditDigest(std::string_view key, std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  const auto* bytes = reinterpret_cast<const unsigned char*>(data.data());
  if (key.empty()) {
    EVP_Digest(bytes, data.size(), digest, &length, EVP_sha256(), nullptr);
  } else {
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), bytes, data.size(), digest,
         &length);
  }
  return toHex(digest, length);
}

std::string AuditChain::seal(const AuditEvent& event) {
  std::string line;
  if (event.time.empty()) {
    AuditEvent timed = event;
    timed.time = auditTimeNow();
    line = toJson(timed);
  } else {
    line = toJson(event);
  }
  line.pop_back();  // the closing '}'
  line += kPrevMember;
  line += last_;
  line += kLineEnd;
  std::string hash = lineHash(key_, last_, line);
  line.resize(line.size() - kLineEnd.size());
  line += kHashMember;
  line += hash;
  line += kLineEnd;
  last_ = std::move(hash);
  return line;
}

std::string AuditChain::sealKeyRotation(std::string new_key, std::string time) {
  AuditEvent event;
  event.time = std::move(time);
  event.kind = "admin";
  event.decision = "ok";
  event.reason = kKeyRotatedReason;
  std::string line = seal(event);
  key_ = std::move(new_key);
  return line;
}

std::expected<SealedLine, std::string> parseSealedLine(std::string_view line) {
  return LineReader(line).read();
}

bool sealMatches(std::string_view line, const SealedLine& parsed, std::string_view key) {
  // The reader guaranteed the line ends with ,"prev":"P","hash":"H"} exactly.
  const std::size_t tail = kHashMember.size() + kHashHexLength + kLineEnd.size();
  if (line.size() < tail) return false;
  std::string unhashed(line.substr(0, line.size() - tail));
  unhashed += kLineEnd;
  return sameHash(lineHash(key, parsed.prev, unhashed), parsed.hash);
}

AuditVerifier::AuditVerifier(VerifyOptions options) : options_(std::move(options)) {
  if (options_.keys.empty()) options_.keys.emplace_back();
  result_.last_hash = options_.previous_hash;
  reached_expected_ = options_.expected_last_hash.empty();
}

void AuditVerifier::beginFile(std::string name) {
  if (failed_) return;
  result_.file = std::move(name);
  line_ = 0;
}

bool AuditVerifier::failHere(std::string reason) {
  failed_ = true;
  result_.ok = false;
  result_.line = line_;
  result_.reason = std::move(reason);
  return false;
}

bool AuditVerifier::add(std::string_view text) {
  if (failed_) return false;
  ++line_;
  auto parsed = parseSealedLine(text);
  if (!parsed) return failHere(parsed.error());
  const std::string& last = result_.last_hash;
  if (!last.empty() && !sameHash(parsed->prev, last)) {
    if (result_.events == 0)
      return failHere("chain does not start where expected: prev is " + parsed->prev +
                      ", expected " + last +
                      " (lines before it were removed, or give the hash it continues from)");
    return failHere(
        "chain broken: prev does not match the hash of the line before; a line before it was "
        "removed, inserted or reordered");
  }
  if (!sealMatches(text, *parsed, options_.keys[key_index_])) {
    std::string reason = "hash mismatch: the line was edited, or it was sealed with another key";
    if (!rotated_at_.empty())
      reason += " (the key was rotated at " + rotated_at_ + "; give the next key too)";
    return failHere(std::move(reason));
  }
  if (parsed->keyRotation()) {
    if (key_index_ + 1 < options_.keys.size())
      ++key_index_;
    else
      rotated_at_ = result_.file + ":" + std::to_string(line_);
  }
  result_.last_hash = std::move(parsed->hash);
  ++result_.events;
  if (!reached_expected_ && sameHash(result_.last_hash, options_.expected_last_hash))
    reached_expected_ = true;
  return true;
}

const VerifyResult& AuditVerifier::finish() {
  if (failed_) return result_;
  if (!reached_expected_) {
    ++line_;  // where the missing lines would have been
    failHere("the chain ends at hash " +
             (result_.last_hash.empty() ? std::string("(none)") : result_.last_hash) +
             " without reaching the expected hash " + options_.expected_last_hash +
             ": lines were removed from the end");
    return result_;
  }
  result_.ok = true;
  result_.line = 0;
  result_.file.clear();
  return result_;
}

VerifyResult verifyAuditFiles(const std::vector<AuditFile>& files, const VerifyOptions& options) {
  AuditVerifier verifier(options);
  for (const AuditFile& file : files) {
    verifier.beginFile(file.name);
    for (const std::string& line : file.lines)
      if (!verifier.add(line)) return verifier.result();
  }
  return verifier.finish();
}

VerifyResult verifyAuditLines(const std::vector<std::string>& lines, const std::string& hmac_key,
                              std::string previous_hash, std::string expected_last_hash) {
  VerifyOptions options;
  options.keys = {hmac_key};
  options.previous_hash = std::move(previous_hash);
  options.expected_last_hash = std::move(expected_last_hash);
  return verifyAuditFiles({AuditFile{"", lines}}, options);
}

}  // namespace tenantwall::policy
