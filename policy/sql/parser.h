// The one seam to libpg_query: SQL text to the typed protobuf tree and back. Nothing else in
// tenantwall calls pg_query_* functions, so the parser library could be replaced here alone.
#pragma once

#include <expected>
#include <string>
#include <string_view>

#include "pg_query_pb/pg_query.pb.h"
#include "protocol/pg_error.h"

namespace tenantwall::policy::sql {

// Deepest protobuf nesting accepted from the parser. Every level of SQL nesting costs two or
// three protobuf levels, so this admits any realistic query while bounding the recursion of
// the walker (and protobuf's own decoder, whose default limit of 100 is far too low).
inline constexpr int kMaxTreeDepth = 3000;

// Parses a simple-query string (zero or more statements) into the typed tree. A syntax error
// is 42601 with libpg_query's message; its cursor position (1-based character, as PostgreSQL
// reports it) goes in detail because PgError has no position field yet.
std::expected<pg_query::ParseResult, protocol::PgError> parse(std::string_view sql);

// Parses one boolean expression (a row rule's `where` in the policy) on its own: the text must be
// exactly a WHERE condition, nothing around it. A syntax error is 42601 with detail "at
// character N", counted in the expression's own text.
std::expected<pg_query::Node, protocol::PgError> parseExpression(std::string_view expression);

// Turns a (rewritten) tree back into SQL text, all statements separated by "; ".
std::expected<std::string, protocol::PgError> deparse(const pg_query::ParseResult& tree);

// deparse(), then parses the text again and requires the very same tree back (source
// locations aside). What PostgreSQL will parse is then exactly what was analysed, even if the
// deparser mishandles some node: a mismatch is refused (XX000), never forwarded.
std::expected<std::string, protocol::PgError> deparseVerified(const pg_query::ParseResult& tree);

// The statement with every literal replaced by $n (pg_query_normalize), for the audit log:
// row data and secrets typed into SQL never reach it. Unparseable text is not echoed at all.
std::string redactLiterals(std::string_view sql);

}  // namespace tenantwall::policy::sql
