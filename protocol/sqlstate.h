// SQLSTATE codes tenantwall answers with: one table, so every refusal names a known code.
// See PostgreSQL documentation, Appendix A "PostgreSQL Error Codes".
#pragma once

#include <string_view>

namespace tenantwall::protocol::sqlstate {

inline constexpr std::string_view kFeatureNotSupported = "0A000";
inline constexpr std::string_view kConnectionFailure = "08006";
inline constexpr std::string_view kConnectionRejected = "08004";
inline constexpr std::string_view kProtocolViolation = "08P01";
inline constexpr std::string_view kInvalidParameterValue = "22023";
inline constexpr std::string_view kCharacterNotInRepertoire = "22021";
inline constexpr std::string_view kInvalidSqlStatementName = "26000";
inline constexpr std::string_view kInvalidAuthorizationSpecification = "28000";
inline constexpr std::string_view kInvalidPassword = "28P01";
inline constexpr std::string_view kInvalidCursorName = "34000";
inline constexpr std::string_view kSyntaxError = "42601";
inline constexpr std::string_view kInsufficientPrivilege = "42501";
inline constexpr std::string_view kReservedName = "42939";
inline constexpr std::string_view kUndefinedTable = "42P01";
inline constexpr std::string_view kUndefinedFunction = "42883";
inline constexpr std::string_view kProgramLimitExceeded = "54000";
inline constexpr std::string_view kTooManyConnections = "53300";
inline constexpr std::string_view kQueryCanceled = "57014";
inline constexpr std::string_view kAdminShutdown = "57P01";
inline constexpr std::string_view kCannotConnectNow = "57P03";
inline constexpr std::string_view kConfigFileError = "F0000";
inline constexpr std::string_view kInternalError = "XX000";

}  // namespace tenantwall::protocol::sqlstate
