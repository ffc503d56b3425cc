// Marker statements for refusals, and recognising their errors.
#include "proxy/refusal_book.h"

#include <openssl/rand.h>

#include <charconv>
#include <stdexcept>

#include "policy/digest.h"

namespace tenantwall::proxy {

RefusalBook::RefusalBook() {
  unsigned char raw[8];
  if (RAND_bytes(raw, sizeof raw) != 1) throw std::runtime_error("no randomness for session");
  prefix_ = "tw_refused_" + policy::toHex(raw, sizeof raw) + "_";
}

std::string RefusalBook::record(protocol::PgError refusal) {
  const std::uint64_t seq = next_++;
  refusal.severity = "ERROR";
  refusals_.emplace(seq, std::move(refusal));
  // One identifier token (under 63 bytes, so never truncated): PostgreSQL's syntax error
  // quotes it back as: syntax error at or near "tw_refused_<token>_<seq>".
  return prefix_ + std::to_string(seq);
}

std::optional<protocol::PgError> RefusalBook::match(
    const std::vector<protocol::ErrorField>& fields) {
  const std::string message = protocol::errorField(fields, 'M');
  const auto at = message.find(prefix_);
  if (at == std::string::npos) return std::nullopt;
  std::uint64_t seq = 0;
  const char* begin = message.data() + at + prefix_.size();
  const auto [end, ec] = std::from_chars(begin, message.data() + message.size(), seq);
  if (ec != std::errc() || end == begin) return std::nullopt;
  auto it = refusals_.find(seq);
  if (it == refusals_.end()) return std::nullopt;
  protocol::PgError refusal = std::move(it->second);
  refusals_.erase(refusals_.begin(), std::next(it));
  return refusal;
}

}  // namespace tenantwall::proxy
