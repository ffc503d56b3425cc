// Parsing the bodies of individual protocol messages that tenantwall needs to read.
// Every parser is bounds-checked and returns an error value (08P01) instead of throwing.
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "protocol/pg_error.h"

namespace tenantwall::protocol {

// Frontend message tags (PostgreSQL documentation 55.7).
namespace ftag {
inline constexpr char kQuery = 'Q', kParse = 'P', kBind = 'B', kDescribe = 'D', kExecute = 'E',
                      kSync = 'S', kFlush = 'H', kClose = 'C', kFunctionCall = 'F',
                      kTerminate = 'X', kPassword = 'p', kCopyData = 'd', kCopyDone = 'c',
                      kCopyFail = 'f';
}
// Backend message tags.
namespace btag {
inline constexpr char kAuthentication = 'R', kParameterStatus = 'S', kBackendKeyData = 'K',
                      kReadyForQuery = 'Z', kRowDescription = 'T', kDataRow = 'D',
                      kCommandComplete = 'C', kErrorResponse = 'E', kNoticeResponse = 'N',
                      kEmptyQuery = 'I', kNotification = 'A', kCopyInResponse = 'G',
                      kCopyOutResponse = 'H', kCopyBothResponse = 'W', kParseComplete = '1',
                      kBindComplete = '2', kCloseComplete = '3', kNoData = 'n',
                      kParameterDescription = 't', kPortalSuspended = 's',
                      kNegotiateProtocolVersion = 'v', kCopyData = 'd', kCopyDone = 'c';
}

// Authentication request codes in an 'R' message.
enum class AuthCode : std::int32_t {
  kOk = 0,
  kCleartext = 3,
  kMd5 = 5,
  kSasl = 10,
  kSaslContinue = 11,
  kSaslFinal = 12,
};

struct AuthRequest {
  std::int32_t code = 0;
  std::string_view data;  // md5: 4-byte salt; SASL: mechanism list; continue/final: payload
};

struct SaslInitialResponse {
  std::string mechanism;
  std::string_view data;  // empty when length is -1
};

struct FieldDescription {
  std::string name;
  std::int32_t table_oid = 0;
  std::int16_t column_attr = 0;
  std::int32_t type_oid = 25;
  std::int16_t type_size = -1;
  std::int32_t type_modifier = -1;
  std::int16_t format = 0;
};

// One (code, value) field of an ErrorResponse/NoticeResponse, in wire order.
using ErrorField = std::pair<char, std::string>;

std::expected<std::string_view, PgError> parseQuery(std::string_view body);
std::expected<AuthRequest, PgError> parseAuthentication(std::string_view body);
std::expected<SaslInitialResponse, PgError> parseSaslInitialResponse(std::string_view body);
std::expected<std::pair<std::string, std::string>, PgError> parseParameterStatus(
    std::string_view body);
std::expected<std::pair<std::int32_t, std::int32_t>, PgError> parseBackendKeyData(
    std::string_view body);
std::expected<char, PgError> parseReadyForQuery(std::string_view body);
std::expected<std::vector<ErrorField>, PgError> parseErrorFields(std::string_view body);
std::expected<std::vector<FieldDescription>, PgError> parseRowDescription(std::string_view body);
std::expected<std::vector<std::optional<std::string>>, PgError> parseDataRow(std::string_view body);
std::expected<std::string_view, PgError> parseCommandComplete(std::string_view body);

// The largest body PostgreSQL accepts for a frontend message of this tag once started: 10,000
// bytes with the length word for Sync, Flush, Describe, Execute, Close, CopyDone, CopyFail and
// Terminate (PQ_SMALL_MESSAGE_LIMIT); no limit of its own for the others.
std::size_t frontendBodyLimit(char tag);

// Returns the value of the field with this code, or an empty string.
std::string errorField(const std::vector<ErrorField>& fields, char code);

}  // namespace tenantwall::protocol
