// `tenantwall scan`: the PII auto-detection report for the live database behind a configuration,
// the same scan the proxy makes on every policy load (proxy/pii_scan.h).
#pragma once

#include <ostream>

namespace tenantwall::proxy {

// argv[0] is the command name.
//   scan --config FILE [--json] [--sample-rows N]
// Exit: 0 with the report (findings are not failures), 2 on usage, load or connection errors.
int scanCommand(int argc, char** argv, std::ostream& out, std::ostream& err);

}  // namespace tenantwall::proxy
