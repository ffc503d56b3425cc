// stderr logging with one write per line.
#include "proxy/log.h"

#include <unistd.h>

#include <chrono>
#include <ctime>
#include <string>

namespace tenantwall::proxy {

void logLine(LogLevel level, std::string_view message) {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
  std::string line(stamp);
  line += level == LogLevel::kInfo ? " INFO " : level == LogLevel::kWarn ? " WARN " : " ERROR ";
  line += message;
  line += '\n';
  ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
  (void)ignored;
}

}  // namespace tenantwall::proxy
