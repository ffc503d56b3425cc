// libpg_query calls and the conversions around them; every result is freed on every path.
#include "policy/sql/parser.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <pg_query.h>

#include <cstdio>
#include <cstdlib>
#include <memory>

#include "policy/sql/walker.h"
#include "protocol/sqlstate.h"
#include "protocol/utf8.h"

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
  auto e =
      makeError(sqlstate::kSyntaxError, error.message != nullptr ? error.message : "syntax error");
  if (error.cursorpos > 0) e.detail = "at character " + std::to_string(error.cursorpos);
  return e;
}

// Clears source positions, the only fields in which a faithful round trip may differ.
class ForgetLocations : public Visitor {
 public:
  bool knows(std::string_view) const override { return true; }
  Visit visit(google::protobuf::Message& node, pg_query::Node*, Walker&) override {
    const auto* descriptor = node.GetDescriptor();
    for (const char* name : {"location", "stmt_location", "stmt_len"}) {
      if (const auto* field = descriptor->FindFieldByName(name)) {
        node.GetReflection()->ClearField(&node, field);
      }
    }
    return Next::kChildren;
  }
};

std::expected<std::string, protocol::PgError> withoutLocations(pg_query::ParseResult tree) {
  ForgetLocations forget;
  Walker walker(forget, kMaxTreeDepth);
  for (auto& statement : *tree.mutable_stmts()) {
    if (auto s = walker.walk(statement); !s) return std::unexpected(s.error());
  }
  std::string bytes;
  google::protobuf::io::StringOutputStream stream(&bytes);
  google::protobuf::io::CodedOutputStream output(&stream);
  output.SetSerializationDeterministic(true);
  if (!tree.SerializeToCodedStream(&output)) {
    return std::unexpected(
        makeError(sqlstate::kInternalError, "could not serialise the rewritten statement"));
  }
  output.Trim();
  return bytes;
}

}  // namespace

std::expected<pg_query::ParseResult, protocol::PgError> parse(std::string_view sql) {
  // libpg_query reads a C string: an embedded NUL would silently cut the statement short, so
  // the text PostgreSQL would see and the text we analysed could differ.
  if (sql.find('\0') != std::string_view::npos) {
    return std::unexpected(
        makeError(sqlstate::kSyntaxError, "the query string contains a NUL byte"));
  }
  // Sessions are UTF8 (tenantwall pins client_encoding): invalid bytes are PostgreSQL's 22021,
  // and they must not reach the parse tree, whose protobuf strings are UTF-8 only.
  if (const std::size_t bad = protocol::invalidUtf8At(sql); bad != std::string_view::npos) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%02x", static_cast<unsigned char>(sql[bad]));
    return std::unexpected(
        makeError(sqlstate::kCharacterNotInRepertoire,
                  std::string("invalid byte sequence for encoding \"UTF8\": ") + hex));
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

std::expected<pg_query::Node, protocol::PgError> parseExpression(std::string_view expression) {
  // "SELECT WHERE <expression>": a SELECT with no target list, so any clause the text smuggles
  // in (FROM, ORDER BY, UNION, a second statement) shows in the tree and is refused below.
  static constexpr std::string_view kPrefix = "SELECT WHERE ";
  auto tree = parse(std::string(kPrefix) + std::string(expression));
  if (!tree) {
    auto error = tree.error();
    if (error.detail.starts_with("at character ")) {
      const int at = std::atoi(error.detail.c_str() + 13) - static_cast<int>(kPrefix.size());
      error.detail = at > 0 ? "at character " + std::to_string(at) : std::string();
    }
    return std::unexpected(std::move(error));
  }
  const auto notOneExpression = [] {
    return makeError(sqlstate::kSyntaxError, "expected one boolean expression, nothing around it");
  };
  if (tree->stmts_size() != 1 || !tree->stmts(0).stmt().has_select_stmt())
    return std::unexpected(notOneExpression());
  pg_query::SelectStmt select = tree->stmts(0).stmt().select_stmt();
  if (!select.has_where_clause()) return std::unexpected(notOneExpression());
  pg_query::Node where = std::move(*select.mutable_where_clause());
  select.clear_where_clause();
  pg_query::SelectStmt bare;
  bare.set_limit_option(select.limit_option());
  bare.set_op(select.op());
  if (select.SerializeAsString() != bare.SerializeAsString() || select.op() != pg_query::SETOP_NONE)
    return std::unexpected(notOneExpression());
  return where;
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

namespace tenantwall::policy::sql {

std::expected<std::string, protocol::PgError> deparseVerified(const pg_query::ParseResult& tree) {
  auto text = deparse(tree);
  if (!text) return text;
  auto again = parse(*text);
  auto expected = withoutLocations(tree);
  if (!expected) return std::unexpected(expected.error());
  std::expected<std::string, protocol::PgError> actual =
      again ? withoutLocations(std::move(*again))
            : std::expected<std::string, protocol::PgError>(std::unexpected(again.error()));
  if (!actual || *actual != *expected) {
    return std::unexpected(makeError(
        sqlstate::kInternalError, "the rewritten statement could not be verified",
        "tenantwall refuses statements whose rewrite does not deparse faithfully; please report "
        "the statement"));
  }
  return text;
}

std::string redactLiterals(std::string_view sql) {
  const std::string text(sql);
  PgQueryNormalizeResult result = pg_query_normalize(text.c_str());
  std::string out = result.error || !result.normalized_query
                        ? std::string("<statement not parseable: not logged>")
                        : std::string(result.normalized_query);
  pg_query_free_normalize_result(result);
  return out;
}

}  // namespace tenantwall::policy::sql
