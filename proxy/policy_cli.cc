// policy diff, sign and rollback.
#include "proxy/policy_cli.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "policy/loader.h"
#include "policy/policy_diff.h"
#include "policy/policy_signature.h"
#include "proxy/asio.h"
#include "proxy/config.h"

namespace tenantwall::proxy {
namespace {

constexpr std::string_view kUsage =
    "Usage:\n"
    "  tenantwall policy diff OLD NEW\n"
    "      who gains or loses access to what between two policy files\n"
    "  tenantwall policy sign --key KEY.pem --signer ID FILE\n"
    "      append an approval entry signed with the approver's private key to FILE.sig\n"
    "  tenantwall policy rollback --config FILE [--admin HOST:PORT]\n"
    "      ask the running proxy (its admin port and token) to reinstate the previously\n"
    "      accepted policy file; the reload checks and audits it like any other\n";

int usage(std::ostream& err, std::string_view problem) {
  err << "tenantwall policy: " << problem << "\n\n" << kUsage;
  return 2;
}

bool readFile(const std::string& path, std::string& text) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream buffer;
  buffer << in.rdbuf();
  text = buffer.str();
  return true;
}

int diff(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  if (args.size() != 2) return usage(err, "diff takes OLD and NEW");
  try {
    const auto before = policy::loadPolicyFile(args[0]);
    const auto after = policy::loadPolicyFile(args[1]);
    const auto lines = policy::policyDiff(*before, *after);
    if (lines.empty()) out << "no change in access\n";
    for (const auto& line : lines) out << line << "\n";
    return 0;
  } catch (const policy::PolicyLoadError& e) {
    err << e.what() << "\n";
    return 2;
  }
}

int sign(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  std::string key_file, signer, file;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--key" && i + 1 < args.size()) {
      key_file = args[++i];
    } else if (args[i] == "--signer" && i + 1 < args.size()) {
      signer = args[++i];
    } else if (file.empty() && !args[i].starts_with("--")) {
      file = args[i];
    } else {
      return usage(err, "unexpected argument " + args[i]);
    }
  }
  if (key_file.empty() || signer.empty() || file.empty())
    return usage(err, "sign needs --key, --signer and FILE");
  std::string text, key;
  if (!readFile(file, text)) return usage(err, "cannot read " + file);
  if (!readFile(key_file, key)) return usage(err, "cannot read " + key_file);
  auto entry = policy::signPolicy(text, signer, key);
  if (!entry) {
    err << "tenantwall policy sign: " << entry.error() << "\n";
    return 2;
  }
  std::ofstream sig(file + ".sig", std::ios::binary | std::ios::app);
  sig << *entry;
  if (!sig) {
    err << "tenantwall policy sign: cannot write " << file << ".sig\n";
    return 2;
  }
  out << "signed " << file << " as " << signer << " into " << file << ".sig\n";
  return 0;
}

// One HTTP/1.1 request to the admin port; returns the status (0 when unreachable) and body.
std::pair<int, std::string> post(const std::string& host, const std::string& port,
                                 const std::string& path, const std::string& token) {
  asio::io_context io;
  tcp::resolver resolver(io);
  tcp::socket socket(io);
  boost::system::error_code ec;
  asio::connect(socket, resolver.resolve(host, port, ec), ec);
  if (ec) return {0, "cannot connect to " + host + ":" + port + ": " + ec.message()};
  const std::string request = "POST " + path + " HTTP/1.1\r\nHost: " + host +
                              "\r\nAuthorization: Bearer " + token +
                              "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
  asio::write(socket, asio::buffer(request), ec);
  std::string response;
  asio::read(socket, asio::dynamic_buffer(response), ec);
  const auto space = response.find(' ');
  const auto body = response.find("\r\n\r\n");
  if (space == std::string::npos || body == std::string::npos)
    return {0, "no HTTP answer from " + host + ":" + port};
  return {std::atoi(response.c_str() + space + 1), response.substr(body + 4)};
}

int rollback(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  std::string config_file, admin;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--config" && i + 1 < args.size()) {
      config_file = args[++i];
    } else if (args[i] == "--admin" && i + 1 < args.size()) {
      admin = args[++i];
    } else {
      return usage(err, "unexpected argument " + args[i]);
    }
  }
  if (config_file.empty()) return usage(err, "rollback needs --config FILE");
  Config config;
  try {
    config = loadConfigFile(config_file);
  } catch (const std::exception& e) {
    err << e.what() << "\n";
    return 2;
  }
  std::string host = config.admin.listen_host;
  std::string port = config.admin.port ? std::to_string(*config.admin.port) : "";
  if (!admin.empty()) {
    const auto colon = admin.rfind(':');
    if (colon == std::string::npos) return usage(err, "--admin takes HOST:PORT");
    host = admin.substr(0, colon);
    port = admin.substr(colon + 1);
  }
  if (port.empty() || port == "0")
    return usage(err, "the admin port is not fixed in the configuration; give --admin HOST:PORT");
  if (config.admin.token.empty())
    return usage(err, "no admin token (admin.token_file or TENANTWALL_ADMIN_TOKEN)");
  const auto [status, body] = post(host, port, "/rollback", config.admin.token);
  (status == 200 ? out : err) << body;
  if (status == 0) return 2;
  return status == 200 ? 0 : 1;
}

}  // namespace

int policyCommand(int argc, char** argv, std::ostream& out, std::ostream& err) {
  if (argc < 2) return usage(err, "which policy command?");
  const std::string_view command = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  if (command == "diff") return diff(args, out, err);
  if (command == "sign") return sign(args, out, err);
  if (command == "rollback") return rollback(args, out, err);
  if (command == "--help" || command == "-h") {
    out << kUsage;
    return 0;
  }
  return usage(err, "unknown policy command '" + std::string(command) + "'");
}

}  // namespace tenantwall::proxy
