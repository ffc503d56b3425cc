// The audit subcommand: reads audit files line by line and verifies them as one chain.
#include "proxy/audit_cli.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "policy/audit_event.h"
#include "proxy/audit_log.h"

namespace tenantwall::proxy {
namespace {

constexpr std::string_view kUsage =
    R"(Usage:
  tenantwall audit verify FILE... [options]
      Checks that the files, oldest first (audit.jsonl.2 audit.jsonl.1 audit.jsonl), hold one
      unbroken hash chain. Prints "ok: N events, last hash H", or "FILE:LINE: reason" and
      exits 1.
  Options:
    --series PATH        add PATH.N ... PATH.1 PATH, the rotated files that exist
    --key-file PATH      the HMAC key; repeat oldest first, one more per key rotation
    --no-key             a plain SHA-256 stretch of the chain, in the key order
    --from-hash HASH     the hash the first line continues from (default: 64 zeros);
                         `any` when the oldest files were rotated away
    --expect-hash HASH   a hash remembered earlier that the chain must still contain, to
                         catch lines removed from the end
)";

// PATH.N ... PATH.1 PATH for the rotated files that exist, oldest first.
std::vector<std::string> series(const std::string& path) {
  std::vector<std::string> files;
  for (unsigned n = 1; std::filesystem::exists(path + "." + std::to_string(n)); ++n)
    files.insert(files.begin(), path + "." + std::to_string(n));
  files.push_back(path);
  return files;
}

int usage(std::ostream& err, std::string_view problem) {
  err << "tenantwall audit: " << problem << "\n\n" << kUsage;
  return 2;
}

int verify(const std::vector<std::string_view>& args, std::ostream& out, std::ostream& err) {
  std::vector<std::string> files;
  policy::VerifyOptions options;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    const bool has_value = i + 1 < args.size();
    if (arg == "--key-file" || arg == "--series" || arg == "--from-hash" ||
        arg == "--expect-hash") {
      if (!has_value) return usage(err, std::string(arg) + " needs a value");
      const std::string value(args[++i]);
      if (arg == "--key-file") {
        auto key = readAuditKeyFile(value);
        if (!key) return usage(err, key.error());
        options.keys.push_back(std::move(*key));
      } else if (arg == "--series") {
        for (auto& file : series(value)) files.push_back(std::move(file));
      } else if (arg == "--from-hash") {
        options.previous_hash = value == "any" ? std::string() : value;
      } else {
        options.expected_last_hash = value;
      }
    } else if (arg == "--no-key") {
      options.keys.emplace_back();
    } else if (arg.starts_with("-")) {
      return usage(err, "unknown option '" + std::string(arg) + "'");
    } else {
      files.emplace_back(arg);
    }
  }
  if (files.empty()) return usage(err, "verify needs at least one file");

  policy::AuditVerifier verifier(options);
  for (const std::string& file : files) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      err << file << ": cannot read\n";
      return 1;
    }
    verifier.beginFile(file);
    std::string line;
    while (std::getline(in, line))
      if (!verifier.add(line)) break;
    if (!verifier.result().reason.empty()) break;
  }
  const policy::VerifyResult& result = verifier.finish();
  if (!result.ok) {
    err << result.file << ":" << result.line << ": " << result.reason;
    if (result.events == 0 && result.line == 1 && result.reason.starts_with("chain does not start"))
      err << "; use --from-hash any when the oldest files were rotated away";
    err << "\n";
    return 1;
  }
  out << "ok: " << result.events << " events, last hash " << result.last_hash << "\n";
  return 0;
}

}  // namespace

int auditCommand(int argc, char** argv, std::ostream& out, std::ostream& err) {
  std::vector<std::string_view> args(argv + std::min(argc, 1), argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    (args.empty() ? err : out) << kUsage;
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "verify") return verify({args.begin() + 1, args.end()}, out, err);
  return usage(err, "unknown command '" + std::string(args[0]) + "'");
}

int auditCommand(int argc, char** argv) { return auditCommand(argc, argv, std::cout, std::cerr); }

}  // namespace tenantwall::proxy
