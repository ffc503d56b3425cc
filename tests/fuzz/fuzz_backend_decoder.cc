// Fuzz target: server bytes through decodeFrame, the backend message parsers, and the scrubbing
// of relayed errors and notices (policy/error_scrub.h).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "policy/error_scrub.h"
#include "protocol/decoder.h"
#include "protocol/messages.h"

namespace p = tenantwall::protocol;

namespace {

using Parser = void (*)(std::string_view);

Parser parserFor(char tag) {
  switch (tag) {
    case p::btag::kAuthentication:
      return [](std::string_view b) { (void)p::parseAuthentication(b); };
    case p::btag::kErrorResponse:
    case p::btag::kNoticeResponse:
      return [](std::string_view b) {
        if (auto f = p::parseErrorFields(b)) {
          (void)p::errorField(*f, 'C');
          (void)tenantwall::policy::scrubServerError(*f);
        }
      };
    case p::btag::kRowDescription:
      return [](std::string_view b) { (void)p::parseRowDescription(b); };
    case p::btag::kDataRow:
      return [](std::string_view b) { (void)p::parseDataRow(b); };
    case p::btag::kParameterStatus:
      return [](std::string_view b) { (void)p::parseParameterStatus(b); };
    case p::btag::kBackendKeyData:
      return [](std::string_view b) { (void)p::parseBackendKeyData(b); };
    case p::btag::kReadyForQuery:
      return [](std::string_view b) { (void)p::parseReadyForQuery(b); };
    case p::btag::kCommandComplete:
      return [](std::string_view b) { (void)p::parseCommandComplete(b); };
    default:
      return nullptr;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view buf(reinterpret_cast<const char*>(data), size);
  while (!buf.empty()) {
    const p::FrameResult r = p::decodeFrame(buf);
    if (r.status != p::DecodeStatus::kReady) break;
    if (r.frame.size == 0 || r.frame.size > buf.size()) __builtin_trap();  // must make progress
    if (Parser parse = parserFor(r.frame.tag)) parse(r.frame.body);
    buf.remove_prefix(r.frame.size);
  }
  return 0;
}
