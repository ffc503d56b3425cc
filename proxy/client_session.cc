// The client session state machine: startup -> authenticate -> connect backend -> statements.
#include "proxy/client_session.h"

#include <openssl/rand.h>

#include <optional>
#include <string>

#include "policy/engine.h"
#include "policy/error_scrub.h"
#include "protocol/encoder.h"
#include "protocol/messages.h"
#include "protocol/scram.h"
#include "protocol/sqlstate.h"
#include "proxy/backend_connection.h"
#include "proxy/frame_reader.h"
#include "proxy/log.h"

namespace tenantwall::proxy {
namespace {

namespace sqlstate = protocol::sqlstate;
using protocol::PgError;

// Start-up parameters a client may send. They are harmless display settings; everything else
// (options, replication, search_path, role...) is refused, because a setting is a door.
constexpr std::string_view kForwardedStartupParams[] = {"application_name", "DateStyle", "TimeZone",
                                                        "IntervalStyle", "extra_float_digits"};

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

// Printable ASCII only and bounded, so a client cannot smuggle anything through a setting.
bool harmlessValue(std::string_view value) {
  if (value.size() > 63) return false;
  for (unsigned char c : value)
    if (c < 0x20 || c > 0x7e) return false;
  return true;
}

std::int32_t randomInt32() {
  std::int32_t v = 0;
  RAND_bytes(reinterpret_cast<unsigned char*>(&v), sizeof v);
  return v;
}

class ClientSession {
 public:
  ClientSession(tcp::socket socket, std::shared_ptr<ServerState> state)
      : socket_(std::move(socket)),
        state_(std::move(state)),
        client_(socket_, state_->config.max_message_bytes),
        id_(state_->next_session_id.fetch_add(1)) {}

  awaitable<void> run();

 private:
  awaitable<bool> send(const std::string& bytes);
  awaitable<void> sendFatal(const PgError& error);
  awaitable<std::optional<protocol::StartupPacket>> readStartup();
  std::optional<PgError> checkStartupParams(const protocol::StartupPacket& startup,
                                            std::vector<std::pair<std::string, std::string>>& out);
  awaitable<bool> authenticate(const std::string& user);
  awaitable<bool> statementLoop();
  awaitable<bool> handleQuery(std::string_view body);
  awaitable<bool> relayUntilReady();
  std::string tag() const {
    return "session " + std::to_string(id_) + " (" + principal_.user + ")";
  }

  tcp::socket socket_;
  std::shared_ptr<ServerState> state_;
  FrameReader client_;
  std::uint64_t id_;
  policy::Principal principal_;
  std::optional<BackendConnection> backend_;
  std::optional<FrameReader> backend_reader_;
  char transaction_status_ = 'I';
};

awaitable<bool> ClientSession::send(const std::string& bytes) {
  boost::system::error_code ec;
  co_await asio::async_write(socket_, asio::buffer(bytes), asio::redirect_error(use_awaitable, ec));
  co_return !ec;
}

awaitable<void> ClientSession::sendFatal(const PgError& error) {
  PgError fatal = error;
  fatal.severity = "FATAL";
  std::string out;
  protocol::appendErrorResponse(out, fatal);
  co_await send(out);
}

awaitable<std::optional<protocol::StartupPacket>> ClientSession::readStartup() {
  for (;;) {
    auto read = co_await client_.nextStartup();
    if (read.status == ReadStatus::kClosed) co_return std::nullopt;
    if (read.status == ReadStatus::kInvalid) {
      co_await sendFatal(read.error);
      co_return std::nullopt;
    }
    switch (read.packet.kind) {
      case protocol::StartupKind::kSslRequest:
      case protocol::StartupKind::kGssEncRequest: {
        // Bytes after the request, before our answer, would be accepted unencrypted by
        // mistake (CVE-2021-23222 class): refuse them.
        if (client_.buffered() != 0) {
          co_await sendFatal(protocol::makeFatal(sqlstate::kProtocolViolation,
                                                 "unexpected data after encryption request"));
          co_return std::nullopt;
        }
        std::string answer;
        protocol::appendSslAnswer(answer, 'N');
        if (!co_await send(answer)) co_return std::nullopt;
        continue;
      }
      case protocol::StartupKind::kCancelRequest:
        co_return std::nullopt;  // not yet mapped to backends: closed without effect
      case protocol::StartupKind::kStartup:
        co_return std::move(read.packet);
    }
  }
}

std::optional<PgError> ClientSession::checkStartupParams(
    const protocol::StartupPacket& startup,
    std::vector<std::pair<std::string, std::string>>& forwarded) {
  for (const auto& [name, value] : startup.params) {
    if (name == "user") continue;
    if (name == "database") {
      if (value != state_->config.backend.database)
        return protocol::makeFatal(
            "3D000", "database \"" + value + "\" does not exist",
            "connect to database \"" + state_->config.backend.database + "\"");
      continue;
    }
    if (name == "client_encoding") {
      // The proxy parses and PostgreSQL executes UTF-8; SQL_ASCII is its subset.
      if (!equalsIgnoreCase(value, "UTF8") && !equalsIgnoreCase(value, "UTF-8") &&
          !equalsIgnoreCase(value, "UNICODE") && !equalsIgnoreCase(value, "SQL_ASCII"))
        return protocol::makeFatal(sqlstate::kInvalidParameterValue,
                                   "client_encoding \"" + value + "\" is not supported",
                                   "tenantwall accepts UTF8 clients only");
      continue;
    }
    bool allowed = false;
    for (auto p : kForwardedStartupParams) allowed = allowed || equalsIgnoreCase(name, p);
    if (!allowed)
      return protocol::makeFatal(sqlstate::kInsufficientPrivilege,
                                 "startup parameter \"" + name + "\" is not allowed",
                                 "session settings are pinned by tenantwall");
    if (!harmlessValue(value))
      return protocol::makeFatal(sqlstate::kInvalidParameterValue,
                                 "invalid value for startup parameter \"" + name + "\"");
    forwarded.emplace_back(name, value);
  }
  return std::nullopt;
}

awaitable<bool> ClientSession::authenticate(const std::string& user) {
  const auto policy = state_->policies.current();
  const policy::User* known = policy->findUser(user);
  std::optional<protocol::ScramVerifier> verifier;
  if (known) {
    if (auto v = protocol::parseScramVerifier(known->scram_verifier)) verifier = *v;
  }
  // Unknown users run the same exchange against a verifier nothing matches, so a client
  // cannot tell unknown users from wrong passwords.
  protocol::ScramServer scram(verifier ? *verifier : protocol::impossibleScramVerifier());
  const PgError failed = protocol::makeFatal(
      sqlstate::kInvalidPassword, "password authentication failed for user \"" + user + "\"");

  std::string out;
  protocol::appendAuthenticationSasl(out, {"SCRAM-SHA-256"});
  if (!co_await send(out)) co_return false;

  auto first = co_await client_.next();
  if (first.status != ReadStatus::kOk || first.frame.tag != protocol::ftag::kPassword) {
    if (first.status != ReadStatus::kClosed)
      co_await sendFatal(
          protocol::makeFatal(sqlstate::kProtocolViolation, "expected SASL initial response"));
    co_return false;
  }
  auto initial = protocol::parseSaslInitialResponse(first.frame.body);
  if (!initial || initial->mechanism != "SCRAM-SHA-256") {
    co_await sendFatal(protocol::makeFatal(sqlstate::kProtocolViolation,
                                           "client selected an invalid SASL mechanism"));
    co_return false;
  }
  auto server_first = scram.handleClientFirst(initial->data);
  if (!server_first) {
    co_await sendFatal(server_first.error());
    co_return false;
  }
  out.clear();
  protocol::appendAuthenticationSaslContinue(out, *server_first);
  if (!co_await send(out)) co_return false;

  auto second = co_await client_.next();
  if (second.status != ReadStatus::kOk || second.frame.tag != protocol::ftag::kPassword) {
    if (second.status != ReadStatus::kClosed)
      co_await sendFatal(
          protocol::makeFatal(sqlstate::kProtocolViolation, "expected SASL response"));
    co_return false;
  }
  auto server_final = scram.handleClientFinal(second.frame.body);
  if (!server_final || !known || !verifier) {
    logLine(LogLevel::kWarn,
            "session " + std::to_string(id_) + ": authentication failed for user \"" + user + "\"");
    co_await sendFatal(server_final || server_final.error().sqlstate == sqlstate::kInvalidPassword
                           ? failed
                           : server_final.error());
    co_return false;
  }
  principal_ = policy::Principal{known->tenant, known->name, known->role, {}, {}};
  out.clear();
  protocol::appendAuthenticationSaslFinal(out, *server_final);
  protocol::appendAuthenticationOk(out);
  co_return co_await send(out);
}

awaitable<void> ClientSession::run() {
  auto startup = co_await readStartup();
  if (!startup) co_return;
  const std::string user = startup->param("user");
  std::vector<std::pair<std::string, std::string>> forwarded;
  if (auto refusal = checkStartupParams(*startup, forwarded)) {
    co_await sendFatal(*refusal);
    co_return;
  }
  if (!co_await authenticate(user)) co_return;

  auto backend = co_await connectBackend(state_->config.backend, forwarded);
  if (!backend) {
    logLine(LogLevel::kError, tag() + ": backend connection failed: " + backend.error());
    co_await sendFatal(protocol::makeFatal(sqlstate::kConnectionFailure,
                                           "tenantwall could not connect to the database"));
    co_return;
  }
  backend_.emplace(std::move(*backend));
  backend_reader_.emplace(backend_->socket, protocol::kDefaultMaxMessage);
  logLine(LogLevel::kInfo, tag() + ": authenticated, tenant " + principal_.tenant);

  std::string out;
  for (const auto& [name, value] : backend_->parameters) {
    // The service role's name is not the client's business.
    if (name == "session_authorization")
      protocol::appendParameterStatus(out, name, principal_.user);
    else
      protocol::appendParameterStatus(out, name, value);
  }
  protocol::appendBackendKeyData(out, randomInt32() & 0x7fffffff, randomInt32());
  protocol::appendReadyForQuery(out, 'I');
  if (!co_await send(out)) co_return;

  co_await statementLoop();
  std::string bye;
  protocol::appendTerminate(bye);
  boost::system::error_code ec;
  co_await asio::async_write(backend_->socket, asio::buffer(bye),
                             asio::redirect_error(use_awaitable, ec));
}

awaitable<bool> ClientSession::statementLoop() {
  bool discarding = false;  // after an extended-protocol refusal, until Sync
  for (;;) {
    auto read = co_await client_.next();
    if (read.status == ReadStatus::kClosed) co_return true;
    if (read.status == ReadStatus::kInvalid) {
      co_await sendFatal(read.error);
      co_return false;
    }
    const char tag_byte = read.frame.tag;
    switch (tag_byte) {
      case protocol::ftag::kQuery:
        if (!co_await handleQuery(read.frame.body)) co_return false;
        break;
      case protocol::ftag::kTerminate:
        co_return true;
      case protocol::ftag::kParse:
      case protocol::ftag::kBind:
      case protocol::ftag::kDescribe:
      case protocol::ftag::kExecute:
      case protocol::ftag::kClose:
      case protocol::ftag::kFlush:
        // Not analysed yet, so never forwarded. Like PostgreSQL after an error, skip to Sync.
        if (!discarding) {
          std::string out;
          protocol::appendErrorResponse(
              out, protocol::makeError(sqlstate::kFeatureNotSupported,
                                       "the extended query protocol is not supported yet",
                                       "use the simple query protocol"));
          if (!co_await send(out)) co_return false;
          discarding = true;
        }
        break;
      case protocol::ftag::kSync: {
        discarding = false;
        std::string out;
        protocol::appendReadyForQuery(out, transaction_status_);
        if (!co_await send(out)) co_return false;
        break;
      }
      case protocol::ftag::kFunctionCall: {
        std::string out;
        protocol::appendErrorResponse(
            out, protocol::makeError(sqlstate::kInsufficientPrivilege,
                                     "the FunctionCall message is not allowed by tenantwall"));
        protocol::appendReadyForQuery(out, transaction_status_);
        if (!co_await send(out)) co_return false;
        break;
      }
      default: {
        std::string what = "unexpected message type 0x";
        static constexpr char kHex[] = "0123456789abcdef";
        what += kHex[(static_cast<unsigned char>(tag_byte) >> 4) & 15];
        what += kHex[static_cast<unsigned char>(tag_byte) & 15];
        co_await sendFatal(protocol::makeFatal(sqlstate::kProtocolViolation, what));
        co_return false;
      }
    }
  }
}

awaitable<bool> ClientSession::handleQuery(std::string_view body) {
  auto sql = protocol::parseQuery(body);
  if (!sql) {
    co_await sendFatal(sql.error());
    co_return false;
  }
  // One snapshot for the whole statement, even if a reload lands meanwhile.
  const auto policy = state_->policies.current();
  auto decision = policy::decide(principal_, *sql, *policy);
  std::string out;
  if (!decision) {
    logLine(LogLevel::kInfo,
            tag() + ": refused " + decision.error().sqlstate + ": " + decision.error().message);
    protocol::appendErrorResponse(out, decision.error());
    protocol::appendReadyForQuery(out, transaction_status_);
    co_return co_await send(out);
  }
  protocol::appendQuery(out, decision->sql);
  boost::system::error_code ec;
  co_await asio::async_write(backend_->socket, asio::buffer(out),
                             asio::redirect_error(use_awaitable, ec));
  if (ec) {
    co_await sendFatal(
        protocol::makeFatal(sqlstate::kConnectionFailure, "connection to the database was lost"));
    co_return false;
  }
  co_return co_await relayUntilReady();
}

// Relays PostgreSQL's answer in batches until ReadyForQuery. Row data passes unchanged (masks
// live in the SQL); errors and notices are scrubbed; COPY never starts because COPY statements
// are not forwarded, so a copy response means desynchronisation and ends the session.
awaitable<bool> ClientSession::relayUntilReady() {
  FrameReader& backend = *backend_reader_;
  std::string out;
  for (;;) {
    const std::string_view pending = backend.pending();
    std::size_t pos = 0;
    bool ready = false;
    out.clear();
    while (!ready) {
      auto decoded = protocol::decodeFrame(pending.substr(pos));
      if (decoded.status == protocol::DecodeStatus::kNeedMore) break;
      if (decoded.status == protocol::DecodeStatus::kInvalid) {
        logLine(LogLevel::kError, tag() + ": invalid message from PostgreSQL");
        co_await sendFatal(
            protocol::makeFatal(sqlstate::kProtocolViolation, "invalid message from the database"));
        co_return false;
      }
      const auto& frame = decoded.frame;
      switch (frame.tag) {
        case protocol::btag::kErrorResponse:
        case protocol::btag::kNoticeResponse: {
          auto fields = protocol::parseErrorFields(frame.body);
          if (!fields) {
            co_await sendFatal(protocol::makeFatal(sqlstate::kProtocolViolation,
                                                   "invalid error message from the database"));
            co_return false;
          }
          protocol::appendErrorFields(out, frame.tag, policy::scrubServerError(*fields));
          break;
        }
        case protocol::btag::kCopyInResponse:
        case protocol::btag::kCopyOutResponse:
        case protocol::btag::kCopyBothResponse:
          logLine(LogLevel::kError, tag() + ": unexpected COPY from PostgreSQL");
          co_await sendFatal(protocol::makeFatal(sqlstate::kProtocolViolation,
                                                 "unexpected COPY from the database"));
          co_return false;
        case protocol::btag::kReadyForQuery:
          if (auto status = protocol::parseReadyForQuery(frame.body)) transaction_status_ = *status;
          out.append(pending.substr(pos, frame.size));
          ready = true;
          break;
        default:
          out.append(pending.substr(pos, frame.size));
      }
      pos += frame.size;
    }
    backend.consume(pos);
    if (!out.empty() && !co_await send(out)) co_return false;
    if (ready) co_return true;
    if (!co_await backend.fill()) {
      co_await sendFatal(
          protocol::makeFatal(sqlstate::kConnectionFailure, "connection to the database was lost"));
      co_return false;
    }
  }
}

}  // namespace

awaitable<void> runClientSession(tcp::socket socket, std::shared_ptr<ServerState> state) {
  boost::system::error_code ec;
  socket.set_option(tcp::no_delay(true), ec);
  ClientSession session(std::move(socket), state);
  co_await session.run();
  state->connections.fetch_sub(1);
}

}  // namespace tenantwall::proxy
