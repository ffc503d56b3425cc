// Operational log lines on stderr (the audit log is separate and hash-chained).
#pragma once

#include <string_view>

namespace tenantwall::proxy {

enum class LogLevel { kInfo, kWarn, kError };

// Writes one timestamped line with a single write(2), so lines from threads never interleave.
void logLine(LogLevel level, std::string_view message);

}  // namespace tenantwall::proxy
