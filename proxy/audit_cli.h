// `tenantwall audit ...`: offline commands on audit log files (verify a chain).
#pragma once

#include <ostream>

namespace tenantwall::proxy {

// argv[0] is "audit" (main calls auditCommand(argc - 1, argv + 1)). Usage:
//   audit verify FILE... [--series PATH] [--key-file PATH | --no-key]... [--from-hash HASH|any]
//                [--expect-hash HASH]
// Files are given oldest first (FILE.2 FILE.1 FILE); --series PATH adds PATH.N ... PATH.1 PATH
// for the rotated files that exist. Keys are given oldest first, one more after each key
// rotation in the log. Prints "ok: N events, last hash H" and returns 0, or prints
// "FILE:LINE: reason" and returns 1; usage errors return 2.
int auditCommand(int argc, char** argv, std::ostream& out, std::ostream& err);
int auditCommand(int argc, char** argv);  // on std::cout and std::cerr

}  // namespace tenantwall::proxy
