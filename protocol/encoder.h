// Encoding PostgreSQL v3 protocol messages that tenantwall writes itself, in both directions.
// Each function appends one whole message to out, so callers batch several into one write.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "protocol/messages.h"
#include "protocol/pg_error.h"

namespace tenantwall::protocol {

// Towards clients (backend messages).
void appendErrorResponse(std::string& out, const PgError& error);
void appendNoticeResponse(std::string& out, const PgError& notice);
// Re-emits fields in the given order, for scrubbed errors relayed from PostgreSQL.
void appendErrorFields(std::string& out, char tag, const std::vector<ErrorField>& fields);
void appendReadyForQuery(std::string& out, char status);
void appendAuthenticationOk(std::string& out);
void appendAuthenticationSasl(std::string& out, const std::vector<std::string>& mechanisms);
void appendAuthenticationSaslContinue(std::string& out, std::string_view data);
void appendAuthenticationSaslFinal(std::string& out, std::string_view data);
void appendParameterStatus(std::string& out, std::string_view name, std::string_view value);
void appendBackendKeyData(std::string& out, std::int32_t pid, std::int32_t key);
void appendRowDescription(std::string& out, const std::vector<FieldDescription>& fields);
void appendDataRow(std::string& out, const std::vector<std::optional<std::string>>& values);
void appendCommandComplete(std::string& out, std::string_view tag);
void appendEmptyQueryResponse(std::string& out);
// A single byte answer to SSLRequest / GSSENCRequest ('N' or 'S').
void appendSslAnswer(std::string& out, char answer);

// Towards PostgreSQL (frontend messages).
void appendStartup(std::string& out,
                   const std::vector<std::pair<std::string, std::string>>& params);
void appendCancelRequest(std::string& out, std::int32_t pid, std::int32_t key);
void appendQuery(std::string& out, std::string_view sql);
void appendPasswordMessage(std::string& out, std::string_view password);
void appendSaslInitialResponse(std::string& out, std::string_view mechanism,
                               std::string_view data);
void appendSaslResponse(std::string& out, std::string_view data);
void appendTerminate(std::string& out);

// Any tagged message, for tests and for relaying.
void appendMessage(std::string& out, char tag, std::string_view body);

}  // namespace tenantwall::protocol
