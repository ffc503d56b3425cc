// explain-decision and schema: option parsing, policy loading, output.
#include "proxy/explain_cli.h"

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "policy/explain.h"
#include "policy/loader.h"
#include "policy/schema_slice.h"
#include "proxy/config.h"
#include "proxy/schema_reader.h"

namespace tenantwall::proxy {
namespace {

struct Options {
  std::string config;
  std::string policy;
  std::string principal;
  std::string tenant;
  std::string role;
  std::string format;
  bool offline = false;
  std::vector<std::string> positional;
};

// Parses the shared options; returns the problem, empty when fine.
std::string parse(int argc, char** argv, Options& options) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    auto value = [&](std::string& into) {
      if (i + 1 >= argc) return false;
      into = argv[++i];
      return true;
    };
    bool ok = true;
    if (arg == "--config" || arg == "-c") {
      ok = value(options.config);
    } else if (arg == "--policy") {
      ok = value(options.policy);
    } else if (arg == "--principal" || arg == "--user") {
      ok = value(options.principal);
    } else if (arg == "--tenant") {
      ok = value(options.tenant);
    } else if (arg == "--role") {
      ok = value(options.role);
    } else if (arg == "--format") {
      ok = value(options.format);
    } else if (arg == "--offline") {
      options.offline = true;
    } else if (arg.starts_with("--")) {
      return "unknown option " + std::string(arg);
    } else {
      options.positional.emplace_back(arg);
    }
    if (!ok) return std::string(arg) + " needs a value";
  }
  if (options.config.empty() == options.policy.empty())
    return "give exactly one of --config FILE and --policy FILE";
  if (options.principal.empty()) return "--principal USER is required";
  return {};
}

struct Loaded {
  std::shared_ptr<const policy::Policy> policy;
  std::optional<Config> config;
};

std::optional<Loaded> load(const Options& options, std::ostream& err) {
  Loaded loaded;
  try {
    std::string path = options.policy;
    if (!options.config.empty()) {
      loaded.config = loadConfigFile(options.config);
      path = loaded.config->policy_path;
    }
    loaded.policy = policy::loadPolicyFile(path);
  } catch (const std::exception& e) {
    err << e.what() << "\n";
    return std::nullopt;
  }
  return loaded;
}

constexpr std::string_view kExplainUsage =
    "Usage: tenantwall explain-decision (--config FILE | --policy FILE) --principal USER\n"
    "                                   [--tenant T --role R] [--format text|json] \"SQL\"\n"
    "Prints the decision, the rewritten SQL (or SQLSTATE, message and hint) and the policy\n"
    "rules that decided; exit 0 when allowed, 1 when refused. --tenant and --role describe\n"
    "a principal that is not a static user (a token login).\n";

constexpr std::string_view kSchemaUsage =
    "Usage: tenantwall schema (--config FILE | --policy FILE) --principal USER\n"
    "                         [--tenant T --role R] [--format json|text] [--offline]\n"
    "Prints the tables, columns (masked ones marked, hidden ones absent), types, foreign keys\n"
    "and comments the principal may see. With --config the backend is read for types, keys\n"
    "and comments; --policy or --offline lists policy names only.\n";

}  // namespace

int explainCommand(int argc, char** argv, std::ostream& out, std::ostream& err) {
  Options options;
  options.format = "text";
  if (std::string problem = parse(argc, argv, options); !problem.empty()) {
    err << "tenantwall explain-decision: " << problem << "\n\n" << kExplainUsage;
    return 2;
  }
  if (options.positional.size() != 1 || (options.format != "text" && options.format != "json")) {
    err << kExplainUsage;
    return 2;
  }
  auto loaded = load(options, err);
  if (!loaded) return 2;
  auto principal =
      policy::principalFor(*loaded->policy, options.principal, options.tenant, options.role);
  if (!principal) {
    err << "tenantwall explain-decision: " << principal.error() << "\n";
    return 2;
  }
  const auto explanation =
      policy::explainDecision(*principal, options.positional[0], *loaded->policy);
  out << (options.format == "json" ? policy::explanationJson(explanation) + "\n"
                                   : policy::explanationText(explanation));
  return explanation.allowed ? 0 : 1;
}

int schemaCommand(int argc, char** argv, std::ostream& out, std::ostream& err) {
  Options options;
  options.format = "json";
  if (std::string problem = parse(argc, argv, options); !problem.empty()) {
    err << "tenantwall schema: " << problem << "\n\n" << kSchemaUsage;
    return 2;
  }
  if (!options.positional.empty() || (options.format != "text" && options.format != "json")) {
    err << kSchemaUsage;
    return 2;
  }
  auto loaded = load(options, err);
  if (!loaded) return 2;
  auto principal =
      policy::principalFor(*loaded->policy, options.principal, options.tenant, options.role);
  if (!principal) {
    err << "tenantwall schema: " << principal.error() << "\n";
    return 2;
  }
  std::optional<policy::LiveSchema> live;
  if (loaded->config && !options.offline) {
    auto read = readLiveSchemaNow(loaded->config->backend);
    if (!read) {
      err << "tenantwall schema: cannot read the live schema (use --offline for policy names "
             "only): "
          << read.error() << "\n";
      return 2;
    }
    live = std::move(*read);
  }
  const auto slice = policy::sliceSchema(*loaded->policy, *principal, live ? &*live : nullptr);
  out << (options.format == "json" ? policy::sliceJson(slice) + "\n" : policy::sliceText(slice));
  return 0;
}

}  // namespace tenantwall::proxy
