// `tenantwall policy ...`: reviewed policy changes from the command line (issue 10).
#pragma once

#include <ostream>

namespace tenantwall::proxy {

// argv[0] is "policy". Usage:
//   policy diff OLD NEW                       who gains or loses access (exit 0)
//   policy sign --key KEY.pem --signer ID FILE  append an approval entry to FILE.sig
//   policy rollback --config F [--admin HOST:PORT]
//                                             POST /rollback on the running proxy's admin port
// Exit 2 on usage and load errors, 1 when the proxy refuses.
int policyCommand(int argc, char** argv, std::ostream& out, std::ostream& err);

}  // namespace tenantwall::proxy
