// `tenantwall explain-decision` and `tenantwall schema`: what a principal may run and see,
// checked offline against the policy (schema also reads the live schema through the backend).
#pragma once

#include <ostream>

namespace tenantwall::proxy {

// argv[0] is the command name. Exit: 0 allowed, 1 refused, 2 usage or load error.
//   explain-decision (--config F | --policy P) --principal USER [--tenant T --role R]
//                    [--format text|json] "SQL"
int explainCommand(int argc, char** argv, std::ostream& out, std::ostream& err);

// Exit: 0, or 2 on usage, load or connection errors.
//   schema (--config F | --policy P [--offline]) --principal USER [--tenant T --role R]
//          [--format json|text]
// With --config the backend is read for types, foreign keys and comments; --offline (or
// --policy alone) lists the policy's tables and columns without them.
int schemaCommand(int argc, char** argv, std::ostream& out, std::ostream& err);

}  // namespace tenantwall::proxy
