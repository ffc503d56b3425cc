// Fuzz target: CopyInGuard rows. The first four bytes choose a spec of the kind the COPY
// rewriter produces (valid delimiters and quotes only); the rest is split into CopyData
// payloads of a size the fourth byte gives, followed by finish().
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "policy/copy_in_guard.h"

namespace pol = tenantwall::policy;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 4) return 0;
  static const char kDelimiters[] = {'\t', ',', '|', ';'};
  static const char kQuotes[] = {'"', '\''};
  static const char* const kNulls[] = {"\\N", "", "NULL", "-"};
  pol::CopyInSpec spec;
  spec.csv = data[0] & 1;
  spec.header = data[0] & 2;
  spec.delimiter = kDelimiters[(data[0] >> 2) & 3];
  spec.quote = kQuotes[(data[0] >> 4) & 1];
  spec.escape = (data[0] & 0x20) ? '\\' : spec.quote;
  spec.null_string = kNulls[(data[0] >> 6) & 3];
  spec.column_count = 1 + data[1] % 6;
  spec.tenant_index = data[2] % (spec.column_count + 1);  // == column_count: proxy appends it
  spec.tenant = "acme";
  const std::size_t chunk = 1 + data[3] % 64;  // CopyData payload size

  pol::CopyInGuard guard(spec);
  std::string_view rest(reinterpret_cast<const char*>(data) + 4, size - 4);
  while (!rest.empty()) {
    const std::string_view piece = rest.substr(0, chunk);
    rest.remove_prefix(piece.size());
    if (!guard.feed(piece)) return 0;
  }
  (void)guard.finish();
  return 0;
}
