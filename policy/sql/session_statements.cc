// The settings table and the checks of transaction and session statements.
#include "policy/sql/session_statements.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <optional>
#include <string_view>

#include "policy/sql/walker.h"
#include "protocol/sqlstate.h"

namespace tenantwall::policy::sql {
namespace {

using protocol::PgError;
namespace sqlstate = protocol::sqlstate;

enum class Access {
  kShow,         // SHOW only
  kSet,          // SET, SET LOCAL, RESET and SHOW, any value
  kPinnedValue,  // SET to the pinned value only (checked by the rule), SHOW
};

// What a value of a kPinnedValue setting must normalise to (lower case, letters and digits).
struct Setting {
  std::string_view name;  // lower case: PostgreSQL compares setting names case-insensitively
  Access access;
  std::array<std::string_view, 4> pinned = {};  // accepted spellings, the canonical one first
};

// Settings that change only how this session formats, times out or labels itself. Identity
// (role, session_authorization), name resolution (search_path), encoding and quoting
// (client_encoding, standard_conforming_strings, only to the pinned value), row security,
// planner and resource settings are absent, so they are refused.
constexpr Setting kSettings[] = {
    {"statement_timeout", Access::kSet},
    {"lock_timeout", Access::kSet},
    {"idle_in_transaction_session_timeout", Access::kSet},
    {"idle_session_timeout", Access::kSet},
    {"datestyle", Access::kSet},
    {"timezone", Access::kSet},
    {"intervalstyle", Access::kSet},
    {"extra_float_digits", Access::kSet},
    {"application_name", Access::kSet},
    {"client_min_messages", Access::kSet},
    {"bytea_output", Access::kSet},
    {"default_transaction_isolation", Access::kSet},
    {"default_transaction_read_only", Access::kSet},
    {"default_transaction_deferrable", Access::kSet},
    {"lc_monetary", Access::kSet},
    {"lc_numeric", Access::kSet},
    {"lc_time", Access::kSet},
    {"xmloption", Access::kSet},
    {"client_encoding", Access::kPinnedValue, {"utf8", "unicode"}},
    {"standard_conforming_strings", Access::kPinnedValue, {"on", "true", "yes", "1"}},
    {"transaction_isolation", Access::kShow},
    {"transaction_read_only", Access::kShow},
    {"transaction_deferrable", Access::kShow},
    {"server_version", Access::kShow},
    {"server_version_num", Access::kShow},
    {"server_encoding", Access::kShow},
    {"integer_datetimes", Access::kShow},
    {"max_identifier_length", Access::kShow},
    {"lc_collate", Access::kShow},
    {"lc_ctype", Access::kShow},
    {"search_path", Access::kShow},
};

constexpr std::string_view kSettingsHint =
    "tenantwall pins the session's role, search_path, encoding, row security and planner "
    "settings; formatting and timeout settings (DateStyle, TimeZone, extra_float_digits, "
    "statement_timeout, application_name, ...) can be set";

std::string lower(std::string_view text) {
  std::string out(text);
  std::ranges::transform(out, out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

const Setting* findSetting(std::string_view name) {
  const std::string key = lower(name);
  const auto* it = std::ranges::find(kSettings, key, &Setting::name);
  return it == std::end(kSettings) ? nullptr : it;
}

PgError settingRefused(std::string_view command, std::string_view name) {
  return protocol::makeError(
      sqlstate::kInsufficientPrivilege,
      std::string(command) + " " + std::string(name) + " is not allowed by the tenantwall policy",
      std::string(kSettingsHint));
}

std::optional<std::string> constantText(const pg_query::Node& value) {
  if (!value.has_a_const()) return std::nullopt;
  const auto& c = value.a_const();
  if (c.has_sval()) return c.sval().sval();
  if (c.has_ival()) return std::to_string(c.ival().ival());
  if (c.has_fval()) return c.fval().fval();
  if (c.has_boolval()) return c.boolval().boolval() ? "on" : "off";
  return std::nullopt;
}

// Letters and digits of a value, lower case: how PostgreSQL matches encoding names.
std::string normalised(std::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c)) out.push_back(static_cast<char>(std::tolower(c)));
  }
  return out;
}

std::expected<std::string, PgError> checkSet(const pg_query::VariableSetStmt& set) {
  switch (set.kind()) {
    case pg_query::VAR_SET_MULTI:
      // SET TRANSACTION and SET SESSION CHARACTERISTICS AS TRANSACTION carry transaction
      // options; importing another session's snapshot is refused.
      if (set.name() == "TRANSACTION" || set.name() == "SESSION CHARACTERISTICS") {
        for (const auto& option : set.args()) {
          if (!option.has_def_elem()) return std::unexpected(unsupportedNode(nodeKind(option)));
          const auto& def = option.def_elem();
          const bool known = def.defname() == "transaction_isolation" ||
                             def.defname() == "transaction_read_only" ||
                             def.defname() == "transaction_deferrable";
          if (!known || (def.has_arg() && !def.arg().has_a_const()))
            return std::unexpected(settingRefused("SET", set.name()));
        }
        return "SET";
      }
      return std::unexpected(settingRefused("SET", set.name()));
    case pg_query::VAR_RESET_ALL:
      return std::unexpected(protocol::makeError(
          sqlstate::kInsufficientPrivilege, "RESET ALL is not allowed by the tenantwall policy",
          "it would also reset settings tenantwall pins; reset settings one by one"));
    case pg_query::VAR_SET_VALUE:
    case pg_query::VAR_SET_DEFAULT:
    case pg_query::VAR_RESET:
      break;
    default:  // SET ... FROM CURRENT belongs in function definitions
      return std::unexpected(settingRefused("SET", set.name()));
  }
  const std::string_view command = set.kind() == pg_query::VAR_RESET ? "RESET" : "SET";
  const Setting* setting = findSetting(set.name());
  if (setting == nullptr || setting->access == Access::kShow)
    return std::unexpected(settingRefused(command, set.name()));
  if (setting->access == Access::kPinnedValue) {
    // DEFAULT and RESET go to a value tenantwall cannot see; only the pinned value is allowed.
    const auto value = set.args_size() == 1 ? constantText(set.args(0)) : std::nullopt;
    if (set.kind() != pg_query::VAR_SET_VALUE || !value || normalised(*value).empty() ||
        std::ranges::find(setting->pinned, normalised(*value)) == setting->pinned.end()) {
      return std::unexpected(
          protocol::makeError(sqlstate::kInsufficientPrivilege,
                              std::string(command) + " " + set.name() + " is allowed only to " +
                                  std::string(setting->pinned[0]) + " under the tenantwall policy",
                              "tenantwall pins " + std::string(setting->name) + " to " +
                                  std::string(setting->pinned[0])));
    }
  }
  for (const auto& value : set.args()) {
    // Plain constants only: an INTERVAL time zone does not survive the round trip.
    if (!constantText(value)) {
      return std::unexpected(protocol::makeError(sqlstate::kFeatureNotSupported,
                                                 "this form of " + std::string(command) + " " +
                                                     set.name() + " is not supported by tenantwall",
                                                 "write the value as a string or number constant"));
    }
  }
  return std::string(command);
}

std::expected<std::string, PgError> checkShow(const pg_query::VariableShowStmt& show) {
  if (isShowableSetting(show.name())) return std::string("SHOW");
  return std::unexpected(protocol::makeError(
      sqlstate::kInsufficientPrivilege,
      "SHOW " + show.name() + " is not allowed by the tenantwall policy",
      "server settings can reveal the deployment; SHOW works for the session's formatting, "
      "timeout and transaction settings and the server version"));
}

// The command a transaction statement is, if tenants may run it. Two-phase commit is refused:
// a prepared transaction outlives the session and the proxy's view of it.
std::optional<std::string_view> transactionCommand(const pg_query::TransactionStmt& statement) {
  switch (statement.kind()) {
    case pg_query::TRANS_STMT_BEGIN:
      return "BEGIN";
    case pg_query::TRANS_STMT_START:
      return "START TRANSACTION";
    case pg_query::TRANS_STMT_COMMIT:
      return "COMMIT";
    case pg_query::TRANS_STMT_ROLLBACK:
      return "ROLLBACK";
    case pg_query::TRANS_STMT_SAVEPOINT:
      return "SAVEPOINT";
    case pg_query::TRANS_STMT_RELEASE:
      return "RELEASE";
    case pg_query::TRANS_STMT_ROLLBACK_TO:
      return "ROLLBACK TO SAVEPOINT";
    default:
      return std::nullopt;
  }
}

std::string_view twoPhaseName(const pg_query::TransactionStmt& statement) {
  switch (statement.kind()) {
    case pg_query::TRANS_STMT_PREPARE:
      return "PREPARE TRANSACTION";
    case pg_query::TRANS_STMT_COMMIT_PREPARED:
      return "COMMIT PREPARED";
    case pg_query::TRANS_STMT_ROLLBACK_PREPARED:
      return "ROLLBACK PREPARED";
    default:
      return "transaction statement";
  }
}

PgError transactionRefused(std::string_view name, std::string_view why) {
  std::string message = std::string(name) + " is not allowed by the tenantwall policy";
  if (!why.empty()) message.append(": ").append(why);
  return protocol::makeError(sqlstate::kInsufficientPrivilege, std::move(message),
                             "two-phase commit outlives the session; use COMMIT");
}

std::expected<std::string, PgError> checkTransaction(const pg_query::TransactionStmt& statement) {
  const auto command = transactionCommand(statement);
  if (!command) return std::unexpected(transactionRefused(twoPhaseName(statement), {}));
  // Options are DefElems with constant arguments (isolation level, read only, deferrable).
  const bool plain = std::ranges::all_of(statement.options(), [](const pg_query::Node& option) {
    if (!option.has_def_elem()) return false;
    const auto& def = option.def_elem();
    if (def.defname() != "transaction_isolation" && def.defname() != "transaction_read_only" &&
        def.defname() != "transaction_deferrable")
      return false;
    return !def.has_arg() || def.arg().has_a_const();
  });
  if (!plain)
    return std::unexpected(transactionRefused(*command, "unsupported transaction options"));
  return std::string(*command);
}

std::expected<std::string, PgError> checkDiscard(const pg_query::DiscardStmt& discard) {
  switch (discard.target()) {
    case pg_query::DISCARD_PLANS:
    case pg_query::DISCARD_SEQUENCES:
    case pg_query::DISCARD_TEMP:
      return std::string("DISCARD");
    default:
      return std::unexpected(protocol::makeError(
          sqlstate::kInsufficientPrivilege, "DISCARD ALL is not allowed by the tenantwall policy",
          "it also runs RESET ALL, which would reset settings tenantwall pins; DISCARD PLANS, "
          "SEQUENCES and TEMP are allowed"));
  }
}

}  // namespace

bool isShowableSetting(std::string_view name) { return findSetting(name) != nullptr; }

std::expected<std::string, PgError> checkSessionStatement(const pg_query::Node& statement) {
  if (statement.has_transaction_stmt()) return checkTransaction(statement.transaction_stmt());
  if (statement.has_variable_set_stmt()) return checkSet(statement.variable_set_stmt());
  if (statement.has_variable_show_stmt()) return checkShow(statement.variable_show_stmt());
  if (statement.has_discard_stmt()) return checkDiscard(statement.discard_stmt());
  if (statement.has_constraints_set_stmt()) return std::string("SET CONSTRAINTS");
  return std::unexpected(unsupportedNode(nodeKind(statement)));
}

}  // namespace tenantwall::policy::sql
