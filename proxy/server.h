// The listening server: accepts clients, runs their sessions, reloads the policy on SIGHUP and
// stops on SIGINT/SIGTERM.
#pragma once

#include "proxy/config.h"

namespace tenantwall::proxy {

// Loads the policy (exception on failure: start-up), binds, prints
// "tenantwall listening on HOST:PORT" to stderr, and serves until a stop signal. Returns the
// process exit code.
int runServer(const Config& config);

}  // namespace tenantwall::proxy
