// Bodies of the extended-query frontend messages (Parse, Bind, Describe, Close, Execute).
// See PostgreSQL documentation 55.2.3 "Extended Query" and 55.7 "Message Formats".
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/pg_error.h"

namespace tenantwall::protocol {

struct ParseMessage {
  std::string_view statement;  // "" is the unnamed statement
  std::string_view query;
  std::vector<std::int32_t> param_types;
};

struct BindTarget {
  std::string_view portal;
  std::string_view statement;
  std::vector<std::int16_t> formats;                    // parameter format codes, as sent
  std::vector<std::optional<std::string_view>> values;  // nullopt: NULL
};

// Describe and Close name a statement ('S') or a portal ('P').
struct NamedTarget {
  char kind = 'S';
  std::string_view name;
};

struct ExecuteMessage {
  std::string_view portal;
  std::int32_t max_rows = 0;
};

std::expected<ParseMessage, PgError> parseParse(std::string_view body);
// Only the names are read here; the rest of Bind is checked for framing and passed on as is.
std::expected<BindTarget, PgError> parseBind(std::string_view body);
std::expected<NamedTarget, PgError> parseDescribeOrClose(std::string_view body);
std::expected<ExecuteMessage, PgError> parseExecute(std::string_view body);

void appendParse(std::string& out, std::string_view statement, std::string_view query,
                 const std::vector<std::int32_t>& param_types);

// One run of a prepared statement with text parameters, as a simple Query would run it: Bind
// to the unnamed portal (text results), Describe it, Execute all rows, Sync.
void appendBoundExecution(std::string& out, std::string_view statement,
                          const std::vector<std::string>& text_values);

}  // namespace tenantwall::protocol
