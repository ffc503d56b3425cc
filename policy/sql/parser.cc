// libpg_query calls and the conversions around them; every result is freed on every path.
#include "policy/sql/parser.h"

#include <google/protobuf/io/coded_stream.h>
#include <pg_query.h>

#include <memory>

#include "protocol/sqlstate.h"

namespace tenantwall::policy::sql {
namespace {

using protocol::makeError;
namespace sqlstate = protocol::sqlstate;

// Owns a protobuf parse result so that it is freed whichever way we leave.
struct ParseResultGuard {
  PgQueryProtobufParseResult result;
  ~ParseResultGuard() { pg_query_free_protobuf_parse_result(result); }
};

struct DeparseResultGuard {
  PgQueryDeparseResult result;
  ~DeparseResultGuard() { pg_query_free_deparse_result(result); }
};

protocol::PgError syntaxError(const PgQueryError& error) {
  auto e = makeError(sqlstate::kSyntaxError,
                     error.message != nullptr ? error.message : "syntax error");
  if (error.cursorpos > 0) e.detail = "at character " + std::to_string(error.cursorpos);
  return e;
}

}  // namespace

std::expected<pg_query::ParseResult, protocol::PgError> parse(std::string_view sql) {
  // libpg_query reads a C string: an embedded NUL would silently cut the statement short, so
  // the text PostgreSQL would see and the text we analysed could differ.
  if (sql.find('\0') != std::string_view::npos) {
    return std::unexpected(
        makeError(sqlstate::kSyntaxError, "the query string contains a NUL byte"));
  }
  const std::string text(sql);
  ParseResultGuard guard{pg_query_parse_protobuf(text.c_str())};
  if (guard.result.error != nullptr) return std::unexpected(syntaxError(*guard.result.error));

  pg_query::ParseResult tree;
  google::protobuf::io::CodedInputStream input(
      reinterpret_cast<const std::uint8_t*>(guard.result.parse_tree.data),
      static_cast<int>(guard.result.parse_tree.len));
  input.SetRecursionLimit(kMaxTreeDepth);
  if (!tree.ParseFromCodedStream(&input) || !input.ConsumedEntireMessage()) {
    return std::unexpected(makeError(sqlstate::kProgramLimitExceeded,
                                     "statement is too deeply nested to be analysed"));
  }
  return tree;
}

std::expected<std::string, protocol::PgError> deparse(const pg_query::ParseResult& tree) {
  std::string bytes;
  if (!tree.SerializeToString(&bytes)) {
    return std::unexpected(
        makeError(sqlstate::kInternalError, "could not serialise the rewritten statement"));
  }
  PgQueryProtobuf input{bytes.size(), bytes.data()};
  DeparseResultGuard guard{pg_query_deparse_protobuf(input)};
  if (guard.result.error != nullptr) {
    std::string message = "could not deparse the rewritten statement";
    if (guard.result.error->message != nullptr)
      message.append(": ").append(guard.result.error->message);
    return std::unexpected(makeError(sqlstate::kInternalError, std::move(message)));
  }
  return std::string(guard.result.query != nullptr ? guard.result.query : "");
}

}  // namespace tenantwall::policy::sql
