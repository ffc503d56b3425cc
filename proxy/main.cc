// tenantwall command line: serve, or one of the offline commands (passwd, check-policy).
#include <csignal>
#include <iostream>
#include <string>
#include <string_view>

#include "policy/loader.h"
#include "protocol/scram.h"
#include "proxy/audit_cli.h"
#include "proxy/config.h"
#include "proxy/explain_cli.h"
#include "proxy/policy_cli.h"
#include "proxy/scan_cli.h"
#include "proxy/server.h"

#ifndef TENANTWALL_VERSION
#define TENANTWALL_VERSION "0.0.0"
#endif

namespace {

constexpr std::string_view kUsage =
    R"(tenantwall: a PostgreSQL proxy that enforces tenant isolation and column masks

Usage:
  tenantwall [--config FILE]        serve (default config: /etc/tenantwall/tenantwall.yaml)
  tenantwall passwd                 read a password on stdin, print a SCRAM-SHA-256 verifier
                                    for the `scram:` field of a policy user
  tenantwall check-policy FILE      validate a policy file; exit 1 with file:line:column on error
  tenantwall audit verify FILE...   check an audit log's hash chain (oldest file first;
                                    --key-file K for HMAC-keyed logs, --help for more)
  tenantwall explain-decision (--config F | --policy P) --principal USER [--format json] "SQL"
                                    dry run: the decision, rewritten SQL or SQLSTATE, and the
                                    policy rule that decided (exit 0 allowed, 1 refused)
  tenantwall schema (--config F | --policy P) --principal USER [--format text] [--offline]
                                    the tables, columns (masked marked, hidden absent), types,
                                    foreign keys and comments USER may see, as JSON or text
  tenantwall scan --config F [--json]
                                    PII auto-detection report: columns of protected tables
                                    that look like emails, phones, SSNs, cards or IBANs, with
                                    evidence and action (masked by default, opted out, ...)
  tenantwall policy diff OLD NEW    who gains or loses access to what between two policies
  tenantwall policy sign --key KEY.pem --signer ID FILE
                                    append an approval signature to FILE.sig
  tenantwall policy rollback --config F [--admin HOST:PORT]
                                    reinstate the previously accepted policy (POST /rollback)
  tenantwall --version | --help

Environment:
  TENANTWALL_BACKEND_PASSWORD       overrides backend.password from the configuration
)";

int passwd() {
  std::string password;
  if (!std::getline(std::cin, password) || password.empty()) {
    std::cerr << "tenantwall passwd: expected a non-empty password on stdin\n";
    return 2;
  }
  std::cout << tenantwall::protocol::makeScramVerifier(password) << "\n";
  return 0;
}

int checkPolicy(const std::string& path) {
  try {
    auto policy = tenantwall::policy::loadPolicyFile(path);
    std::cout << path << ": ok, " << policy->tenants.size() << " tenants, " << policy->users.size()
              << " users, " << policy->protected_tables.size() << " protected tables, sha256 "
              << policy->hash << "\n";
    return 0;
  } catch (const tenantwall::policy::PolicyLoadError& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path = "/etc/tenantwall/tenantwall.yaml";
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      return 0;
    }
    if (arg == "--version") {
      std::cout << "tenantwall " << TENANTWALL_VERSION << "\n";
      return 0;
    }
    if (arg == "passwd" && i == 1) return passwd();
    if (arg == "audit" && i == 1) return tenantwall::proxy::auditCommand(argc - 1, argv + 1);
    if (arg == "explain-decision" && i == 1)
      return tenantwall::proxy::explainCommand(argc - 1, argv + 1, std::cout, std::cerr);
    if (arg == "policy" && i == 1)
      return tenantwall::proxy::policyCommand(argc - 1, argv + 1, std::cout, std::cerr);
    if (arg == "scan" && i == 1)
      return tenantwall::proxy::scanCommand(argc - 1, argv + 1, std::cout, std::cerr);
    if (arg == "schema" && i == 1)
      return tenantwall::proxy::schemaCommand(argc - 1, argv + 1, std::cout, std::cerr);
    if (arg == "check-policy" && i == 1) {
      if (argc != 3) {
        std::cerr << kUsage;
        return 2;
      }
      return checkPolicy(argv[2]);
    }
    if ((arg == "--config" || arg == "-c") && i + 1 < argc) {
      config_path = argv[++i];
      continue;
    }
    std::cerr << "tenantwall: unknown argument '" << arg << "'\n\n" << kUsage;
    return 2;
  }
  // A file-size limit must show as an audit write failure, not kill the process.
  std::signal(SIGXFSZ, SIG_IGN);
  try {
    return tenantwall::proxy::runServer(tenantwall::proxy::loadConfigFile(config_path));
  } catch (const std::exception& e) {
    // Start-up only: configuration, policy and bind errors end the process with a reason.
    std::cerr << "tenantwall: " << e.what() << "\n";
    return 1;
  }
}
