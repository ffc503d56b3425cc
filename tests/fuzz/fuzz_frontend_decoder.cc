// Fuzz target: client bytes through decodeFrame and the frontend message parsers.
// Untrusted bytes must never crash, hang or throw (STYLE.md rule 3).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "protocol/decoder.h"
#include "protocol/extended.h"
#include "protocol/messages.h"

namespace p = tenantwall::protocol;

namespace {

using Parser = void (*)(std::string_view);

// The parser for each frontend tag the proxy reads, as the proxy's dispatch table keys them.
Parser parserFor(char tag) {
  switch (tag) {
    case p::ftag::kQuery:
      return [](std::string_view b) { (void)p::parseQuery(b); };
    case p::ftag::kParse:
      return [](std::string_view b) { (void)p::parseParse(b); };
    case p::ftag::kBind:
      return [](std::string_view b) { (void)p::parseBind(b); };
    case p::ftag::kDescribe:
    case p::ftag::kClose:
      return [](std::string_view b) { (void)p::parseDescribeOrClose(b); };
    case p::ftag::kExecute:
      return [](std::string_view b) { (void)p::parseExecute(b); };
    case p::ftag::kPassword:
      return [](std::string_view b) { (void)p::parseSaslInitialResponse(b); };
    default:
      return nullptr;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view buf(reinterpret_cast<const char*>(data), size);
  // A small bound as well as the default, so both length checks are reached.
  (void)p::decodeFrame(buf, 16);
  while (!buf.empty()) {
    const p::FrameResult r = p::decodeFrame(buf);
    if (r.status != p::DecodeStatus::kReady) break;
    if (r.frame.size == 0 || r.frame.size > buf.size()) __builtin_trap();  // must make progress
    if (Parser parse = parserFor(r.frame.tag)) parse(r.frame.body);
    buf.remove_prefix(r.frame.size);
  }
  return 0;
}
