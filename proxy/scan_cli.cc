// scan: option parsing, loading, the live scan, output.
#include "proxy/scan_cli.h"

#include <charconv>
#include <string>
#include <string_view>

#include "policy/loader.h"
#include "policy/pii_masks.h"
#include "proxy/config.h"
#include "proxy/pii_scan.h"

namespace tenantwall::proxy {
namespace {

constexpr std::string_view kUsage =
    "Usage: tenantwall scan --config FILE [--json] [--sample-rows N]\n"
    "Reads the columns of the policy's protected tables from the configured database, samples\n"
    "up to N (default 200) values of each string column, and prints the columns that look like\n"
    "email addresses, phone numbers, SSNs, card numbers or IBANs, with the evidence (name,\n"
    "share of matching values) and what the proxy does: masked by default, opted out\n"
    "(pii: none), policy masks it, hidden, or tenant column. Sampled values are never printed.\n";

struct Options {
  std::string config;
  bool json = false;
  std::size_t sample_rows = kPiiSampleRows;
};

std::string parse(int argc, char** argv, Options& options) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if ((arg == "--config" || arg == "-c") && i + 1 < argc) {
      options.config = argv[++i];
    } else if (arg == "--json") {
      options.json = true;
    } else if (arg == "--sample-rows" && i + 1 < argc) {
      const std::string_view text = argv[++i];
      const auto [end, error] =
          std::from_chars(text.data(), text.data() + text.size(), options.sample_rows);
      if (error != std::errc() || end != text.data() + text.size() || options.sample_rows == 0 ||
          options.sample_rows > 100000)
        return "--sample-rows needs a number from 1 to 100000";
    } else {
      return "unexpected argument " + std::string(arg);
    }
  }
  if (options.config.empty()) return "--config FILE is required";
  return {};
}

}  // namespace

int scanCommand(int argc, char** argv, std::ostream& out, std::ostream& err) {
  Options options;
  if (std::string problem = parse(argc, argv, options); !problem.empty()) {
    err << "tenantwall scan: " << problem << "\n\n" << kUsage;
    return 2;
  }
  std::shared_ptr<const policy::Policy> policy;
  Config config;
  try {
    config = loadConfigFile(options.config);
    policy = policy::loadPolicyFile(config.policy_path);
  } catch (const std::exception& e) {
    err << e.what() << "\n";
    return 2;
  }
  auto scan = scanLiveDatabase(config.backend, *policy, options.sample_rows);
  if (!scan) {
    err << "tenantwall scan: " << scan.error() << "\n";
    return 2;
  }
  const auto report = policy::piiReport(*policy, scan->findings);
  out << (options.json ? policy::piiReportJson(report, *scan) + "\n"
                       : policy::piiReportText(report, *scan));
  return 0;
}

}  // namespace tenantwall::proxy
