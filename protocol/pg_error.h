// An error or notice as the PostgreSQL protocol carries it: the value every refusal travels as.
#pragma once

#include <string>
#include <string_view>

namespace tenantwall::protocol {

// The fields of an ErrorResponse / NoticeResponse that tenantwall itself produces.
// severity is "ERROR" or "FATAL" (FATAL closes the connection).
struct PgError {
  std::string severity = "ERROR";
  std::string sqlstate;
  std::string message;
  std::string detail;  // empty: not sent
  std::string hint;    // empty: not sent
};

inline PgError makeError(std::string_view sqlstate, std::string message, std::string hint = {}) {
  return PgError{"ERROR", std::string(sqlstate), std::move(message), {}, std::move(hint)};
}

inline PgError makeFatal(std::string_view sqlstate, std::string message, std::string hint = {}) {
  return PgError{"FATAL", std::string(sqlstate), std::move(message), {}, std::move(hint)};
}

}  // namespace tenantwall::protocol
