// The client session: startup -> authenticate -> connect backend -> two pumps.
// The client pump analyses every client message and writes to PostgreSQL; the backend pump
// relays PostgreSQL's answers (scrubbed) to the client. Only the backend pump writes to the
// client after start-up, so writes never interleave; both run on the session's I/O thread.
#include "proxy/client_session.h"

#include <algorithm>
#include <cstdio>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "policy/copy_in_guard.h"
#include "policy/digest.h"
#include "policy/engine.h"
#include "policy/error_scrub.h"
#include "policy/jwt.h"
#include "protocol/encoder.h"
#include "protocol/extended.h"
#include "protocol/messages.h"
#include "protocol/scram.h"
#include "protocol/sqlstate.h"
#include "protocol/utf8.h"
#include "proxy/backend_connection.h"
#include "proxy/explain_answer.h"
#include "proxy/frame_reader.h"
#include "proxy/log.h"
#include "proxy/pooled_statements.h"
#include "proxy/refusal_book.h"
#include "proxy/sql_prepared.h"
#include "proxy/startup_params.h"
#include "proxy/tcp_options.h"

namespace tenantwall::proxy {
namespace {

namespace sqlstate = protocol::sqlstate;
using protocol::PgError;

// A handler's verdict on one client message: carry on, or end the session with this error.
using Handled = std::expected<void, PgError>;

// What sendNow could not take: waits until the socket takes it all.
awaitable<bool> writeRest(Stream& socket, std::string_view bytes) {
  boost::system::error_code ec;
  co_await asio::async_write(socket, asio::buffer(bytes.data(), bytes.size()),
                             asio::redirect_error(use_awaitable, ec));
  co_return !ec;
}

awaitable<bool> writeAll(Stream& socket, std::string_view bytes) {
  bytes.remove_prefix(socket.sendNow(bytes));
  if (bytes.empty()) co_return true;
  co_return co_await writeRest(socket, bytes);
}

// Forwards a cancel to the backend that owns the key; unknown keys are ignored silently, as
// PostgreSQL does, so keys cannot be probed.
awaitable<void> forwardCancel(std::shared_ptr<ServerState> state, protocol::StartupPacket packet) {
  auto backend = state->cancel_keys.startCancel(BackendKey{packet.cancel_pid, packet.cancel_key});
  if (!backend) co_return;
  // Until PostgreSQL has acted on it (it closes the connection then), the session keeps that
  // backend (pool.mode transaction), so the cancel cannot hit another client's query.
  struct Done {
    CancelRegistry& keys;
    std::int32_t pid;
    ~Done() { keys.cancelDone(pid); }
  } done{state->cancel_keys, packet.cancel_pid};
  // Over TLS too when backend.tls asks: the cancel key is a secret.
  Stream socket(tcp::socket(co_await asio::this_coro::executor));
  if (co_await openBackendStream(socket, state->backendConfig())) co_return;
  std::string out;
  protocol::appendCancelRequest(out, backend->pid, backend->key);
  if (!co_await writeAll(socket, out)) co_return;
  asio::steady_timer timer(co_await asio::this_coro::executor);
  timer.expires_after(std::chrono::milliseconds(state->config.backend.connect_timeout_ms));
  timer.async_wait([&socket](boost::system::error_code ec) {
    if (ec) return;  // cancelled: the read below finished first
    boost::system::error_code ignored;
    socket.lowest_layer().close(ignored);
  });
  char byte = 0;
  boost::system::error_code ec;
  co_await socket.async_read_some(asio::buffer(&byte, 1), asio::redirect_error(use_awaitable, ec));
  timer.cancel();
}

// pool.mode transaction sends statements under other names, so PostgreSQL no longer sees the
// client's: its check of the name's encoding (22021) is made here.
std::optional<PgError> invalidStatementName(std::string_view name) {
  const std::size_t bad = protocol::invalidUtf8At(name);
  if (bad == std::string_view::npos) return std::nullopt;
  char hex[8];
  std::snprintf(hex, sizeof hex, "0x%02x", static_cast<unsigned char>(name[bad]));
  return protocol::makeError(sqlstate::kCharacterNotInRepertoire,
                             std::string("invalid byte sequence for encoding \"UTF8\": ") + hex);
}

class ClientSession : public std::enable_shared_from_this<ClientSession> {
 public:
  ClientSession(tcp::socket socket, std::shared_ptr<ServerState> state)
      : socket_(Stream(std::move(socket))),
        state_(std::move(state)),
        client_(socket_, state_->config.max_message_bytes),
        id_(state_->next_session_id.fetch_add(1)) {
    boost::system::error_code ec;
    const auto peer = socket_.lowest_layer().remote_endpoint(ec);
    if (!ec) client_address_ = peer.address().to_string() + ":" + std::to_string(peer.port());
    state_->metrics.sessionStarted();
  }
  ~ClientSession() {
    state_->drain.remove(id_);
    state_->metrics.sessionEnded();
    if (backend_) {
      state_->metrics.backendClosed();
      state_->pool.dropped();
    }
    if (client_key_.pid != 0) state_->cancel_keys.remove(client_key_.pid);
    state_->connections.fetch_sub(1);
  }

  awaitable<void> run();

 private:
  using Handler = Handled (ClientSession::*)(std::string_view body);
  struct HandlerEntry {
    char tag;
    Handler handler;
    bool extended;  // skipped while discarding after an error, until Sync
  };
  static const HandlerEntry kHandlers[];

  awaitable<void> sendFatal(const PgError& error);
  // limits.login_timeout_ms, from accept to AuthenticationOk (TLS handshake, start-up packet,
  // authentication), as PostgreSQL's authentication_timeout: a client that stalls there would
  // hold one of limits.max_connections for ever. At the deadline the client's pending read or
  // write is cancelled; if the session has not ended a second later, its socket is closed.
  void armLoginDeadline(const asio::any_io_executor& executor);
  void onLoginDeadline();
  awaitable<void> endTimedOutLogin(const std::optional<protocol::StartupPacket>& startup);
  awaitable<std::optional<protocol::StartupPacket>> readStartup();
  awaitable<bool> authenticate(const std::string& user);
  awaitable<bool> authenticateCertificate(const std::string& user,
                                          const policy::CertificateIdentity& certificate,
                                          std::shared_ptr<const policy::Policy> policy);
  awaitable<bool> startTls();
  awaitable<bool> authenticateBearer(std::shared_ptr<const policy::Policy> policy);
  awaitable<void> clientPump();
  awaitable<void> backendPump();
  awaitable<void> closeClient();
  // pool.mode session: the client has left and PostgreSQL owes it nothing, so the connection
  // may be reset and pooled (backend_pool.h) instead of closed.
  bool poolable() const {
    return state_->pool.pooling() && answers_.empty() && !copy_in_ && !copy_failed_ && !unsynced_ &&
           !state_->drain.draining();
  }
  awaitable<bool> startReset();
  // pool.mode transaction: a pooled backend for the client's next messages, with its own
  // backend pump; false sets fatal_.
  awaitable<bool> attach();
  // pool.mode transaction: at the end of a transaction that left nothing behind in the
  // database session, the backend goes back to the pool; false if it must stay.
  bool detach();
  // Idle: outside a transaction with no answer pending, so closing loses nothing.
  bool idle() const { return transaction_status_ == 'I' && answers_.empty() && !copy_in_; }
  void closeIfIdle();
  void refuse(PgError error, bool extended, std::string_view marker_statement = "tw_refusal");
  // The decision for one statement, refused outright while a failed audit log must refuse.
  // `policy_version`, when given, receives the version of the snapshot that decided.
  std::shared_ptr<const policy::CachedDecision> decideAudited(
      std::string_view sql, std::uint64_t* policy_version = nullptr);
  // A statement the client prepared under an earlier policy snapshot is decided again before
  // it runs: unchanged, it goes on; refused now, or rewritten differently (a mask or row rule
  // the reload added), it is refused until the client prepares it again.
  std::optional<PgError> staleStatement(ClientStatement& statement, std::string_view name);
  // The same for SQL-level PREPARE and EXECUTE (sql_prepared.h): an EXECUTE of a statement
  // whose rewrite a reload changed is refused (26000); PREPAREs are remembered (54000 when
  // there are too many).
  std::optional<PgError> checkSqlPrepared(std::string_view query, const policy::Allowed& allowed,
                                          std::uint64_t policy_version);
  std::optional<PgError> staleExecutes(const std::vector<std::string>& names);
  policy::AuditEvent auditEvent(std::string kind, std::string decision) const;
  void audit(policy::AuditEvent event);
  bool relayFrame(const protocol::Frame& frame, std::string_view raw, std::string& out);
  bool relaysUnchanged(const protocol::Frame& frame) const;

  Handled onQuery(std::string_view body);
  Handled onParse(std::string_view body);
  Handled onBind(std::string_view body);
  Handled onDescribe(std::string_view body);
  Handled onExecute(std::string_view body);
  Handled onClose(std::string_view body);
  Handled onSync(std::string_view body);
  Handled onFlush(std::string_view body);
  Handled onFunctionCall(std::string_view body);
  Handled onCopyData(std::string_view body);
  Handled onCopyDone(std::string_view body);
  Handled onCopyFail(std::string_view body);
  void failCopy(PgError refusal);

  std::string tag() const {
    return "session " + std::to_string(id_) + " (" + principal_.user + ")";
  }

  Stream socket_;  // the client: plain TCP, or TLS after SSLRequest
  std::shared_ptr<ServerState> state_;
  FrameReader client_;
  std::uint64_t id_;
  std::string client_address_;
  policy::Principal principal_;
  BackendKey client_key_;
  std::optional<BackendConnection> backend_;
  std::optional<FrameReader> backend_reader_;
  std::string to_backend_;     // analysed client messages waiting to be written
  std::string current_frame_;  // raw bytes of the message being handled
  RefusalBook refusals_;
  // Statements created through this proxy session, by the client's name.
  std::map<std::string, ClientStatement, std::less<>> statements_;
  // Per statement: parameters whose bound value must be the principal's tenant (checked at Bind).
  std::map<std::string, std::vector<int>, std::less<>> tenant_parameters_;
  std::set<std::string, std::less<>> portals_;
  SqlPreparedStatements sql_prepared_;
  bool discarding_ = false;  // an extended-protocol message was refused: skip until Sync
  // What each answer still to come may hold: one entry per Query or Sync forwarded, each
  // answer ending with one ReadyForQuery.
  enum class CopyAllowed { kNone, kOut, kIn };
  struct Expected {
    // Which COPY PostgreSQL may start; any other COPY is desynchronisation.
    CopyAllowed copy = CopyAllowed::kNone;
    // An EXPLAIN ANALYZE whose plan the proxy renders (policy::Allowed::render_plan).
    std::optional<ExplainAnswer> plan;
    // A simple Query sent as its prepared form (Bind, Describe, Execute, Sync): the
    // BindComplete and NoData the client did not ask for are not relayed.
    bool prepared_query = false;
    // DEALLOCATEs in the Query ("" for ALL), in order: each CommandComplete "DEALLOCATE"
    // answers the next, and the statements prepared before `deallocation_mark` are gone.
    std::vector<std::string> deallocations;
    std::uint64_t deallocation_mark = 0;
  };
  std::deque<Expected> answers_;
  std::optional<policy::CopyInGuard> copy_in_;  // rows of a COPY FROM STDIN being checked
  bool copy_failed_ = false;  // refused mid-COPY: drop the client's rows until CopyDone/Fail
  bool closing_ = false;      // the client said goodbye: a backend close is expected
  bool unsynced_ = false;     // extended-protocol messages were forwarded since the last Sync
  std::vector<std::pair<std::string, std::string>> forwarded_;  // startup params; the pool key
  std::optional<ResetCheck> reset_;                // the client left: resetting for the pool
  std::optional<asio::steady_timer> reset_timer_;  // closes a backend that does not answer
  std::optional<PgError> fatal_;  // set by the client pump for the backend pump to deliver
  std::optional<asio::steady_timer> login_timer_;
  bool logging_in_ = true;        // until AuthenticationOk
  bool login_timed_out_ = false;  // the login deadline passed while logging_in_
  char transaction_status_ = 'I';
  // pool.mode transaction: the client left state in its database session (session_state in
  // policy/engine.h: SET, PREPARE, WITH HOLD), so it keeps its backend until it leaves. Named
  // protocol-level statements do not pin: they follow the client (pooled_statements.h).
  bool pinned_ = false;
  bool writing_ = false;  // the client pump is writing to the backend
  // An unnamed statement was parsed and not yet bound: the client may bind it in a later
  // transaction, so its backend stays until it does (or parses another).
  bool unnamed_unbound_ = false;
  // pool.mode transaction: the client's unnamed statement was parsed on the backend it holds
  // now. Bound or described on a later one, it is parsed there first (ensureUnnamed).
  bool unnamed_on_backend_ = false;
  void ensureUnnamed(const ClientStatement& statement);
  // pool.mode transaction: named statements under server names (pooled_statements.h), and the
  // Query/Sync messages forwarded and answered (ReadyForQuery), numbering the batches.
  PooledStatements pooled_;
  std::uint64_t batches_sent_ = 0;
  std::uint64_t batches_done_ = 0;
  bool renaming() const { return state_->config.pool.mode == PoolMode::kTransaction; }
  bool preparing() const { return state_->config.pool.prepare_simple_queries; }
  // The answers to every Parse and Close are matched to what sent them (pooled_statements.h)
  // whenever the proxy adds its own: renamed statements or prepared simple queries.
  bool tracking() const { return renaming() || preparing(); }
  // A simple Query as its prepared form (policy/decision_cache.h), when it has one and running
  // it so cannot differ from the plain Query; false: send the Query.
  bool runPrepared(const policy::CachedDecision& cached);
  // DEALLOCATE drops server statements the proxy prepared (DEALLOCATE ALL, or one by its
  // name), so before it runs the proxy closes its own and forgets them.
  static bool dropsServerStatements(const policy::Allowed& allowed);
  void closeServerStatements();
  // Appends a Bind, Describe or Close naming `server_name` instead of the client's statement.
  void appendRenamed(std::string_view body, std::string_view client_name,
                     std::string_view server_name);
};

const ClientSession::HandlerEntry ClientSession::kHandlers[] = {
    {protocol::ftag::kQuery, &ClientSession::onQuery, false},
    {protocol::ftag::kParse, &ClientSession::onParse, true},
    {protocol::ftag::kBind, &ClientSession::onBind, true},
    {protocol::ftag::kDescribe, &ClientSession::onDescribe, true},
    {protocol::ftag::kExecute, &ClientSession::onExecute, true},
    {protocol::ftag::kClose, &ClientSession::onClose, true},
    {protocol::ftag::kSync, &ClientSession::onSync, false},
    {protocol::ftag::kFlush, &ClientSession::onFlush, true},
    {protocol::ftag::kFunctionCall, &ClientSession::onFunctionCall, false},
    {protocol::ftag::kCopyData, &ClientSession::onCopyData, false},
    {protocol::ftag::kCopyDone, &ClientSession::onCopyDone, false},
    {protocol::ftag::kCopyFail, &ClientSession::onCopyFail, false},
};

awaitable<void> ClientSession::sendFatal(const PgError& error) {
  PgError fatal = error;
  fatal.severity = "FATAL";
  std::string out;
  protocol::appendErrorResponse(out, fatal);
  co_await writeAll(socket_, out);
}

void ClientSession::closeIfIdle() {
  if (!idle() || fatal_ || reset_ || closing_) return;
  fatal_ = protocol::makeFatal(sqlstate::kAdminShutdown,
                               "terminating connection due to administrator command",
                               "tenantwall is shutting down; reconnect");
  boost::system::error_code ignored;
  if (!backend_) {
    // Holding no backend (pool.mode transaction): the client pump's read ends, and it
    // delivers fatal_ itself.
    socket_.lowest_layer().cancel(ignored);
    return;
  }
  // The backend pump delivers fatal_ to the client once the backend side is closed.
  backend_->socket.close(ignored);
}

awaitable<void> ClientSession::closeClient() { co_await socket_.closeGracefully(); }

void ClientSession::armLoginDeadline(const asio::any_io_executor& executor) {
  login_timer_.emplace(executor);
  login_timer_->expires_after(std::chrono::milliseconds(state_->config.login_timeout_ms));
  login_timer_->async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    if (auto self = weak.lock(); self && !ec) self->onLoginDeadline();
  });
}

void ClientSession::onLoginDeadline() {
  // The handler may have been queued already when the login finished.
  if (!logging_in_) return;
  boost::system::error_code ignored;
  if (login_timed_out_) {
    socket_.lowest_layer().close(ignored);
    return;
  }
  login_timed_out_ = true;
  // Cancelled rather than closed, so the client can still be told why (endTimedOutLogin).
  socket_.lowest_layer().cancel(ignored);
  login_timer_->expires_after(std::chrono::seconds(1));
  login_timer_->async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    if (auto self = weak.lock(); self && !ec) self->onLoginDeadline();
  });
}

// Before the start-up packet the client is not yet speaking the protocol, and the connection is
// closed without a word, as PostgreSQL does; after it, the client learns why (57014).
awaitable<void> ClientSession::endTimedOutLogin(
    const std::optional<protocol::StartupPacket>& startup) {
  state_->metrics.loginTimedOut();
  const auto limit = std::to_string(state_->config.login_timeout_ms) + " ms";
  if (!startup) {
    logLine(LogLevel::kWarn, "session " + std::to_string(id_) + " (" + client_address_ +
                                 "): closed, no start-up packet within " + limit);
    co_return;
  }
  const std::string user = startup->param("user");
  logLine(LogLevel::kWarn, "session " + std::to_string(id_) + " (" + client_address_ +
                               "): authentication of user \"" + user + "\" timed out after " +
                               limit);
  policy::AuditEvent event = auditEvent("auth", "fail");
  event.user = user;
  event.sqlstate = sqlstate::kQueryCanceled;
  event.reason = "authentication not completed within " + limit + " (limits.login_timeout_ms)";
  audit(std::move(event));
  state_->metrics.authenticated(false);
  co_await sendFatal(
      protocol::makeFatal(sqlstate::kQueryCanceled, "canceling authentication due to timeout"));
}

// Answers SSLRequest with 'S' and completes the handshake; false ends the session (logged).
awaitable<bool> ClientSession::startTls() {
  std::string answer;
  protocol::appendSslAnswer(answer, 'S');
  if (!co_await writeAll(socket_, answer)) co_return false;
  auto context = state_->client_tls->current();
  // The login deadline ends a stalled handshake; this timeout is only a backstop.
  const auto ec = co_await socket_.handshakeAsServer(
      std::move(context),
      std::chrono::milliseconds(state_->config.login_timeout_ms) + std::chrono::seconds(2));
  if (ec && login_timed_out_) co_return false;
  if (ec) {
    const auto failure = describeHandshakeFailure(socket_.tlsHandle(), ec);
    logLine(LogLevel::kWarn, "session " + std::to_string(id_) + " (" + client_address_ +
                                 "): TLS handshake failed: " + failure.text);
    if (failure.certificate) {
      // A refused client certificate is a failed login, though no user was named yet; the
      // client learns it from the TLS alert (there is no SQLSTATE).
      policy::AuditEvent event = auditEvent("auth", "fail");
      event.reason = "TLS handshake: " + failure.text;
      audit(std::move(event));
      state_->metrics.authenticated(false);
    }
    co_return false;
  }
  logLine(LogLevel::kInfo, "session " + std::to_string(id_) + " (" + client_address_ +
                               "): " + describeTls(socket_.tlsHandle()));
  co_return true;
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
        // Bytes sent before our answer would be taken as if encrypted (CVE-2021-23222 class).
        if (client_.buffered() != 0) {
          co_await sendFatal(protocol::makeFatal(sqlstate::kProtocolViolation,
                                                 "unexpected data after encryption request"));
          co_return std::nullopt;
        }
        if (socket_.tls()) {
          co_await sendFatal(protocol::makeFatal(sqlstate::kProtocolViolation,
                                                 "encryption request on an encrypted connection"));
          co_return std::nullopt;
        }
        if (read.packet.kind == protocol::StartupKind::kSslRequest && state_->client_tls) {
          if (!co_await startTls()) co_return std::nullopt;
          continue;
        }
        std::string answer;
        protocol::appendSslAnswer(answer, 'N');
        if (!co_await writeAll(socket_, answer)) co_return std::nullopt;
        continue;
      }
      case protocol::StartupKind::kCancelRequest:
        co_await forwardCancel(state_, std::move(read.packet));
        co_return std::nullopt;
      case protocol::StartupKind::kStartup:
        if (state_->config.tls.require && !socket_.tls()) {
          // As pg_hba.conf's hostssl refuses: before any authentication.
          const std::string user = read.packet.param("user");
          logLine(LogLevel::kWarn, "session " + std::to_string(id_) + " (" + client_address_ +
                                       "): refused, no encryption");
          policy::AuditEvent event = auditEvent("auth", "fail");
          event.user = user;
          event.sqlstate = sqlstate::kInvalidAuthorizationSpecification;
          event.reason = "no encryption (tls.require)";
          audit(std::move(event));
          state_->metrics.authenticated(false);
          co_await sendFatal(protocol::makeFatal(
              sqlstate::kInvalidAuthorizationSpecification,
              "connection for user \"" + user + "\" refused: no encryption",
              "tenantwall accepts TLS connections only: connect with sslmode=require, verify-ca "
              "or verify-full"));
          co_return std::nullopt;
        }
        co_return std::move(read.packet);
    }
  }
}

awaitable<bool> ClientSession::authenticate(const std::string& user) {
  const auto policy = state_->policies.current();
  // A verified client certificate decides when the policy maps certificates to users.
  if (socket_.tls() && !policy->certificates.empty()) {
    if (auto certificate = verifiedPeerIdentity(socket_.tlsHandle()))
      co_return co_await authenticateCertificate(user, *certificate, policy);
  }
  if (policy->jwt && user == policy->jwt->startup_user)
    co_return co_await authenticateBearer(std::move(policy));
  const policy::User* known = policy->findUser(user);
  std::optional<protocol::ScramVerifier> verifier;
  if (known) {
    if (auto v = protocol::parseScramVerifier(known->scram_verifier)) verifier = *v;
  }
  // Unknown users run the same exchange against a verifier nothing matches, with a stable salt,
  // so a client cannot tell unknown users from wrong passwords.
  protocol::ScramServer scram(verifier ? *verifier : protocol::impossibleScramVerifier(user));
  const PgError failed = protocol::makeFatal(
      sqlstate::kInvalidPassword, "password authentication failed for user \"" + user + "\"");

  std::string out;
  protocol::appendAuthenticationSasl(out, {"SCRAM-SHA-256"});
  if (!co_await writeAll(socket_, out)) co_return false;

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
  if (!co_await writeAll(socket_, out)) co_return false;

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
    const bool wrong_password =
        server_final || server_final.error().sqlstate == sqlstate::kInvalidPassword;
    policy::AuditEvent event = auditEvent("auth", "fail");
    event.user = user;
    event.sqlstate =
        wrong_password ? std::string(sqlstate::kInvalidPassword) : server_final.error().sqlstate;
    // Unknown users are told apart only here, never on the wire.
    event.reason = !known           ? "unknown user"
                   : !verifier      ? "the policy holds no usable verifier for this user"
                   : wrong_password ? "wrong password"
                                    : server_final.error().message;
    audit(std::move(event));
    state_->metrics.authenticated(false);
    co_await sendFatal(wrong_password ? failed : server_final.error());
    co_return false;
  }
  principal_ = policy::principalOf(*known);
  audit(auditEvent("auth", "ok"));
  state_->metrics.authenticated(true);
  out.clear();
  protocol::appendAuthenticationSaslFinal(out, *server_final);
  protocol::appendAuthenticationOk(out);
  co_return co_await writeAll(socket_, out);
}

// A bearer token (the policy's `jwt` section) sent as the password of jwt.startup_user. It has
// to travel in clear (AuthenticationCleartextPassword), so it belongs on TLS connections only.
awaitable<bool> ClientSession::authenticateBearer(std::shared_ptr<const policy::Policy> policy) {
  std::string out;
  protocol::appendMessage(out, protocol::btag::kAuthentication, std::string_view("\0\0\0\3", 4));
  if (!co_await writeAll(socket_, out)) co_return false;
  auto reply = co_await client_.next();
  if (reply.status != ReadStatus::kOk || reply.frame.tag != protocol::ftag::kPassword) {
    if (reply.status != ReadStatus::kClosed)
      co_await sendFatal(
          protocol::makeFatal(sqlstate::kProtocolViolation, "expected a password message"));
    co_return false;
  }
  // PasswordMessage: one NUL-terminated string.
  const std::string_view body = reply.frame.body;
  if (body.empty() || body.find('\0') != body.size() - 1) {
    co_await sendFatal(
        protocol::makeFatal(sqlstate::kProtocolViolation, "invalid password message"));
    co_return false;
  }
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  auto identity =
      policy::authenticateToken(body.substr(0, body.size() - 1), *policy->jwt, *policy, now);
  if (!identity) {
    const auto& refusal = identity.error();
    logLine(LogLevel::kWarn, "session " + std::to_string(id_) +
                                 ": token authentication failed: " + refusal.error.message);
    policy::AuditEvent event = auditEvent("auth", "fail");
    event.user = refusal.user.empty() ? policy->jwt->startup_user : refusal.user;
    event.sqlstate = refusal.error.sqlstate;
    event.reason = "bearer token: " + refusal.error.message;  // never the token itself
    event.policy_version = policy->version;
    audit(std::move(event));
    state_->metrics.authenticated(false);
    co_await sendFatal(refusal.error);
    co_return false;
  }
  principal_ = std::move(identity->principal);
  policy::AuditEvent event = auditEvent("auth", "ok");
  event.reason = "bearer token" + (identity->kid.empty() ? "" : ", kid " + identity->kid) +
                 ", expires " + policy::tokenTime(identity->expires_at);
  event.policy_version = policy->version;
  audit(std::move(event));
  state_->metrics.authenticated(true);
  out.clear();
  protocol::appendAuthenticationOk(out);
  co_return co_await writeAll(socket_, out);
}

// A verified client certificate that a `certificates` entry maps to the startup user logs in
// without a password; any other verified certificate is refused.
awaitable<bool> ClientSession::authenticateCertificate(
    const std::string& user, const policy::CertificateIdentity& certificate,
    std::shared_ptr<const policy::Policy> policy) {
  const std::string described = "client certificate \"" + certificate.subject + "\"";
  const auto match = policy::matchCertificate(policy->certificates, certificate, user);
  const policy::User* known = match ? policy->findUser(user) : nullptr;
  if (!known) {
    const bool other = !match && match.error() == policy::CertificateRefusal::kOtherUser;
    const std::string reason = match   ? described + " maps to a user the policy does not have"
                               : other ? described + " is mapped to other users only"
                                       : described + " is not mapped to any user";
    logLine(LogLevel::kWarn, "session " + std::to_string(id_) +
                                 ": certificate authentication failed for user \"" + user +
                                 "\": " + reason);
    policy::AuditEvent event = auditEvent("auth", "fail");
    event.user = user;
    event.sqlstate = sqlstate::kInvalidAuthorizationSpecification;
    event.reason = reason;
    event.policy_version = policy->version;
    audit(std::move(event));
    state_->metrics.authenticated(false);
    co_await sendFatal(
        protocol::makeFatal(sqlstate::kInvalidAuthorizationSpecification,
                            "certificate authentication failed for user \"" + user + "\"",
                            other ? "the client certificate is mapped to another user"
                                  : "the client certificate is not mapped to a tenantwall user"));
    co_return false;
  }
  principal_ = policy::principalOf(*known);
  policy::AuditEvent event = auditEvent("auth", "ok");
  event.reason =
      described + " (" + std::string(policy::certificateFieldName((*match)->field)) + " match)";
  event.policy_version = policy->version;
  audit(std::move(event));
  state_->metrics.authenticated(true);
  std::string out;
  protocol::appendAuthenticationOk(out);
  co_return co_await writeAll(socket_, out);
}

awaitable<void> ClientSession::run() {
  armLoginDeadline(co_await asio::this_coro::executor);
  auto startup = co_await readStartup();
  if (login_timed_out_) {
    co_await endTimedOutLogin(startup);  // a packet that came just as the deadline passed
    co_return;
  }
  if (!startup) co_return;
  const std::string user = startup->param("user");
  std::vector<std::pair<std::string, std::string>> forwarded;
  if (auto refusal = checkStartupParams(*startup, state_->config.backend.database, forwarded)) {
    co_await sendFatal(*refusal);
    co_return;
  }
  const bool authenticated = co_await authenticate(user);
  if (login_timed_out_) {
    co_await endTimedOutLogin(startup);
    co_return;
  }
  if (!authenticated) co_return;
  logging_in_ = false;
  login_timer_->cancel();

  auto backend = co_await state_->pool.acquire(state_->backendConfig(), forwarded);
  if (!backend) {
    state_->metrics.backendConnectFailed();
    logLine(LogLevel::kError, tag() + ": backend connection failed: " + backend.error());
    co_await sendFatal(protocol::makeFatal(sqlstate::kConnectionFailure,
                                           "tenantwall could not connect to the database"));
    co_return;
  }
  backend_.emplace(std::move(*backend));
  forwarded_ = std::move(forwarded);
  backend_reader_.emplace(backend_->socket, protocol::kDefaultMaxMessage);
  client_key_ = state_->cancel_keys.add(BackendKey{backend_->pid, backend_->key});
  logLine(LogLevel::kInfo, tag() + ": authenticated, tenant " + principal_.tenant);

  std::string out;
  for (const auto& [name, value] : backend_->parameters) {
    // The service role's name is not the client's business.
    protocol::appendParameterStatus(out, name,
                                    name == "session_authorization" ? principal_.user : value);
  }
  protocol::appendBackendKeyData(out, client_key_.pid, client_key_.key);
  protocol::appendReadyForQuery(out, 'I');
  if (!co_await writeAll(socket_, out)) co_return;
  // pool.mode transaction: the backend only served the start-up; the first message takes one.
  const bool detached = detach();

  // The session's I/O thread (proxy/io_threads.h), which alone runs its io_context: both pumps
  // and drain requests run on it, so session state is never touched concurrently.
  const auto here = co_await asio::this_coro::executor;
  state_->drain.add(id_, [weak = weak_from_this(), executor = here] {
    asio::post(executor, [weak] {
      if (auto self = weak.lock()) self->closeIfIdle();
    });
  });
  if (!detached) {
    asio::co_spawn(
        here, [self = shared_from_this()]() { return self->backendPump(); }, asio::detached);
  }
  if (state_->drain.draining()) closeIfIdle();  // the drain began while we were starting
  co_await clientPump();
}

awaitable<void> ClientSession::clientPump() {
  for (;;) {
    // Batch: write what was analysed once no further whole message is already buffered.
    auto polled = client_.poll();
    if (!polled && !to_backend_.empty()) {
      if (!backend_ && !co_await attach()) break;
      const std::size_t sent = backend_->socket.sendNow(to_backend_);
      if (sent < to_backend_.size()) {
        writing_ = true;
        const bool written =
            co_await writeRest(backend_->socket, std::string_view(to_backend_).substr(sent));
        writing_ = false;
        if (!written) co_return;
      }
      to_backend_.clear();
    }
    if (!polled) {
      if (!co_await client_.fill()) break;
      continue;
    }
    auto& read = *polled;
    if (read.status == ReadStatus::kInvalid) {
      fatal_ = read.error;
      break;
    }
    const char tag_byte = read.frame.tag;
    if (tag_byte == protocol::ftag::kTerminate) break;
    const HandlerEntry* entry = nullptr;
    for (const auto& e : kHandlers)
      if (e.tag == tag_byte) entry = &e;
    if (!entry) {
      const auto byte = static_cast<unsigned char>(tag_byte);
      const std::string what = "unexpected message type 0x" + policy::toHex(&byte, 1);
      fatal_ = protocol::makeFatal(sqlstate::kProtocolViolation, what);
      break;
    }
    // PostgreSQL reads most control messages with a 10,000-byte limit and drops the connection
    // above it; the client hears why here instead of seeing the database vanish.
    if (read.frame.body.size() > protocol::frontendBodyLimit(tag_byte)) {
      fatal_ = protocol::makeFatal(sqlstate::kProtocolViolation, "invalid message length");
      break;
    }
    // Like PostgreSQL after an error in an extended-protocol batch: skip to Sync.
    if (discarding_ && tag_byte != protocol::ftag::kSync) continue;
    // pool.mode transaction: the handlers name the backend's statements, so take it first.
    if (!backend_ && !co_await attach()) break;
    current_frame_.assign(1, tag_byte);
    current_frame_.append(reinterpret_cast<const char*>(read.frame.body.data()) - 4, 4);
    current_frame_.append(read.frame.body);
    if (auto handled = (this->*entry->handler)(read.frame.body); !handled) {
      fatal_ = handled.error();
      break;
    }
    if (entry->extended) unsynced_ = true;
    if (tag_byte == protocol::ftag::kSync) unsynced_ = false;
  }
  // Ending: whatever was analysed goes out, then the backend is told goodbye (or, on a fatal
  // error, cut off so the backend pump delivers the error and closes the client).
  closing_ = !fatal_;
  // Holding no backend (pool.mode transaction): take one only for what is still to be sent.
  if (!backend_ && !fatal_ && !to_backend_.empty()) co_await attach();
  if (!backend_) {
    if (fatal_) co_await sendFatal(*fatal_);
    co_await closeClient();
    co_return;
  }
  if (!fatal_ && poolable()) {
    co_await startReset();
    co_return;
  }
  if (!fatal_) protocol::appendTerminate(to_backend_);
  if (!to_backend_.empty()) co_await writeAll(backend_->socket, to_backend_);
  boost::system::error_code ignored;
  backend_->socket.shutdown(tcp::socket::shutdown_send, ignored);
  if (fatal_) backend_->socket.close(ignored);
}

// The client has gone: its cancel key dies now (a late cancel must not reach the next client),
// and the reset goes out; the backend pump checks the answers and pools or closes the backend.
awaitable<bool> ClientSession::startReset() {
  if (client_key_.pid != 0) state_->cancel_keys.remove(client_key_.pid);
  client_key_.pid = 0;
  reset_.emplace();
  to_backend_ += ResetCheck::request();
  reset_timer_.emplace(co_await asio::this_coro::executor);
  reset_timer_->expires_after(std::chrono::milliseconds(state_->config.backend.connect_timeout_ms));
  reset_timer_->async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    auto self = weak.lock();
    if (ec || !self || !self->backend_) return;
    logLine(LogLevel::kWarn, self->tag() + ": backend reset timed out; closing it");
    boost::system::error_code ignored;
    self->backend_->socket.close(ignored);
  });
  const bool written = co_await writeAll(backend_->socket, to_backend_);
  to_backend_.clear();
  if (!written && backend_) {
    boost::system::error_code ignored;
    backend_->socket.close(ignored);
  }
  co_return written;
}

awaitable<bool> ClientSession::attach() {
  auto backend = co_await state_->pool.acquire(state_->backendConfig(), forwarded_);
  if (!backend) {
    state_->metrics.backendConnectFailed();
    logLine(LogLevel::kError, tag() + ": no backend connection: " + backend.error());
    fatal_ = protocol::makeFatal(sqlstate::kConnectionFailure,
                                 "tenantwall could not get a database connection");
    co_return false;
  }
  backend_.emplace(std::move(*backend));
  backend_reader_.emplace(backend_->socket, protocol::kDefaultMaxMessage);
  state_->cancel_keys.retarget(client_key_.pid, BackendKey{backend_->pid, backend_->key});
  // The executor first: GCC 12 mishandles a co_await among the arguments of a call that also
  // builds a lambda (the lambda's capture was released twice).
  const auto here = co_await asio::this_coro::executor;
  asio::co_spawn(
      here, [self = shared_from_this()]() { return self->backendPump(); }, asio::detached);
  co_return true;
}

bool ClientSession::detach() {
  if (state_->config.pool.mode != PoolMode::kTransaction || !backend_ || pinned_ ||
      unnamed_unbound_ || writing_ || !to_backend_.empty() || reset_ || closing_ || fatal_ ||
      !idle() || copy_failed_ || unsynced_ || discarding_ || !pooled_.idle() ||
      backend_reader_->buffered() != 0)
    return false;
  // A cancel on its way to this backend must not reach the next client's query.
  if (!state_->cancel_keys.retarget(client_key_.pid, BackendKey{})) return false;
  // PostgreSQL dropped the portals at the end of the transaction; the unnamed statement stays
  // in the backend, which the client will not have next time (ensureUnnamed).
  portals_.clear();
  unnamed_on_backend_ = false;
  pooled_.detached();
  backend_reader_.reset();
  state_->pool.release(forwarded_, std::move(*backend_));
  backend_.reset();
  return true;
}

void ClientSession::appendRenamed(std::string_view body, std::string_view client_name,
                                  std::string_view server_name) {
  // client_name points into body (protocol/extended.h parses in place).
  const auto at = static_cast<std::size_t>(client_name.data() - body.data());
  std::string renamed(body.substr(0, at));
  renamed += server_name;
  renamed += body.substr(at + client_name.size());
  protocol::appendMessage(to_backend_, current_frame_[0], renamed);
}

void ClientSession::refuse(PgError error, bool extended, std::string_view marker_statement) {
  logLine(LogLevel::kInfo, tag() + ": refused " + error.sqlstate + ": " + error.message);
  state_->metrics.refused(error.sqlstate);
  const std::string marker = refusals_.record(std::move(error));
  if (extended) {
    // A named target, so the client's unnamed statement survives as it would in PostgreSQL,
    // unless the refused message was itself a Parse of the unnamed statement, which
    // PostgreSQL drops before it parses.
    protocol::appendParse(to_backend_, marker_statement, marker, {});
    discarding_ = true;
  } else {
    protocol::appendQuery(to_backend_, marker);
    answers_.emplace_back();
    ++batches_sent_;
  }
}

policy::AuditEvent ClientSession::auditEvent(std::string kind, std::string decision) const {
  policy::AuditEvent event;
  event.kind = std::move(kind);
  event.decision = std::move(decision);
  event.session = id_;
  event.client = client_address_;
  event.user = principal_.user;
  event.tenant = principal_.tenant;
  event.role = principal_.role;
  event.policy_version = state_->policies.current()->version;
  return event;
}

void ClientSession::audit(policy::AuditEvent event) {
  if (state_->audit) state_->audit->record(std::move(event));
}

std::shared_ptr<const policy::CachedDecision> ClientSession::decideAudited(
    std::string_view sql, std::uint64_t* policy_version) {
  // One snapshot for the whole statement, even if a reload lands meanwhile.
  const auto policy = state_->policies.current();
  if (policy_version) *policy_version = policy->version;
  const auto started = std::chrono::steady_clock::now();
  std::shared_ptr<const policy::CachedDecision> cached;
  AuditLog* log = state_->audit.get();
  if (log && !log->healthy() && log->refuseOnFailure()) {
    auto refused = std::make_shared<policy::CachedDecision>();
    refused->decision = std::unexpected(protocol::makeError(
        "58030", "the audit log is unavailable, so tenantwall refuses statements",
        "an operator must fix the audit log's storage"));
    refused->redacted_sql = "<not analysed: audit log unavailable>";
    cached = std::move(refused);
  } else {
    cached = state_->decisions.decide(principal_, sql, *policy);
  }
  static const std::vector<std::string> kNoKinds;
  state_->metrics.decided(
      cached->decision.has_value(), cached->decision ? cached->decision->statement_kinds : kNoKinds,
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  if (log) {
    policy::AuditEvent event = auditEvent("statement", cached->decision ? "allow" : "deny");
    event.policy_version = policy->version;
    event.statement = cached->redacted_sql;
    if (cached->decision) {
      event.rewritten_sha256 = cached->rewritten_sha256.empty()
                                   ? policy::sha256Hex(cached->decision->sql)
                                   : cached->rewritten_sha256;
      event.statement_kinds = cached->decision->statement_kinds;
    } else {
      event.sqlstate = cached->decision.error().sqlstate;
      event.reason = cached->decision.error().message;
    }
    if (!log->record(std::move(event)) && log->refuseOnFailure() && cached->decision) {
      // The event was dropped (queue full): an allowed statement must not run unaudited.
      auto refused = std::make_shared<policy::CachedDecision>(*cached);
      refused->decision = std::unexpected(protocol::makeError(
          "58030", "the audit log cannot keep up, so tenantwall refused this statement"));
      return refused;
    }
  }
  return cached;
}

Handled ClientSession::onQuery(std::string_view body) {
  auto sql = protocol::parseQuery(body);
  if (!sql) return std::unexpected(sql.error());
  // A new query ends a COPY FROM that PostgreSQL never started (it answered with an error).
  copy_in_.reset();
  copy_failed_ = false;
  // PostgreSQL runs every simple Query in the unnamed portal and drops the unnamed statement
  // first, so neither is there for the client afterwards (unless it skips the Query, as it
  // does after an error in an extended-protocol batch until Sync).
  if (!discarding_) {
    statements_.erase(std::string());
    tenant_parameters_.erase(std::string());
    portals_.erase(std::string());
    unnamed_unbound_ = false;
  }
  std::uint64_t policy_version = 0;
  const auto cached = decideAudited(*sql, &policy_version);
  const policy::Decision& decision = cached->decision;
  if (!decision) {
    refuse(decision.error(), false);
    return {};
  }
  const std::uint64_t deallocation_mark = sql_prepared_.nextSequence();
  if (auto refusal = checkSqlPrepared(*sql, *decision, policy_version)) {
    refuse(std::move(*refusal), false);
    return {};
  }
  if (decision->session_state) pinned_ = true;
  if (runPrepared(*cached)) return {};
  if (dropsServerStatements(*decision)) closeServerStatements();
  protocol::appendQuery(to_backend_, decision->sql);
  Expected expected;
  if (const auto& in = decision->copy_in) {
    policy::CopyInSpec spec;
    spec.csv = in->format == "csv";
    spec.delimiter = in->delimiter;
    spec.quote = in->quote;
    spec.escape = in->escape;
    spec.header = in->header;
    spec.null_string = in->null_string;
    spec.column_count = in->columns.size() - (in->tenant_appended ? 1 : 0);
    spec.tenant_index =
        in->tenant_appended ? spec.column_count : static_cast<std::size_t>(in->tenant_column_index);
    spec.tenant = in->tenant;
    copy_in_.emplace(std::move(spec));
    expected.copy = CopyAllowed::kIn;
  } else {
    for (const auto& kind : decision->statement_kinds)
      if (kind == "COPY") expected.copy = CopyAllowed::kOut;
  }
  if (decision->render_plan) expected.plan.emplace(*decision->render_plan);
  if (!decision->deallocated_names.empty()) {
    expected.deallocations = decision->deallocated_names;
    expected.deallocation_mark = deallocation_mark;
  }
  answers_.push_back(std::move(expected));
  ++batches_sent_;
  return {};
}

bool ClientSession::runPrepared(const policy::CachedDecision& cached) {
  // Not when the Query would end an unsynced extended-protocol batch (or be skipped after an
  // error in one): a Sync of ours would act differently.
  if (!preparing() || !cached.prepared || !backend_ || unsynced_ || discarding_) return false;
  const policy::PreparedForm& form = *cached.prepared;
  // A Parse still unanswered may yet fail, and a Bind behind it would fail differently.
  if (pooled_.parsing(form.name)) return false;
  const bool parsed = pooled_.ensure(form.name, form.sql, form.param_types, backend_->prepared,
                                     to_backend_, batches_sent_);
  protocol::appendBoundExecution(to_backend_, form.name, cached.parameters);
  answers_.push_back(Expected{.prepared_query = true});
  ++batches_sent_;
  state_->metrics.preparedQuery(parsed);
  return true;
}

bool ClientSession::dropsServerStatements(const policy::Allowed& allowed) {
  for (const auto& kind : allowed.statement_kinds)
    if (kind == "DEALLOCATE") return true;
  return false;
}

void ClientSession::closeServerStatements() {
  if (backend_) pooled_.closeAll(backend_->prepared, to_backend_, batches_sent_);
}

Handled ClientSession::onParse(std::string_view body) {
  auto parse = protocol::parseParse(body);
  if (!parse) return std::unexpected(parse.error());
  const bool unnamed = parse->statement.empty();
  auto refuseParse = [&](PgError error) {
    if (unnamed) {
      statements_.erase(std::string());
      unnamed_unbound_ = false;
    }
    refuse(std::move(error), true, unnamed ? "" : "tw_refusal");
  };
  if (renaming()) {
    if (auto invalid = invalidStatementName(parse->statement)) {
      refuseParse(std::move(*invalid));
      return {};
    }
  }
  if (auto reserved = policy::checkPreparedName(parse->statement)) {
    refuseParse(std::move(*reserved));
    return {};
  }
  if (auto wrong_types = policy::checkParameterTypes(parse->param_types)) {
    refuseParse(std::move(*wrong_types));
    return {};
  }
  std::uint64_t policy_version = 0;
  const auto cached = decideAudited(parse->query, &policy_version);
  const policy::Decision& decision = cached->decision;
  if (!decision) {
    refuseParse(decision.error());
    return {};
  }
  for (const auto& kind : decision->statement_kinds) {
    if (kind == "COPY") {
      refuseParse(protocol::makeError(sqlstate::kFeatureNotSupported,
                                      "COPY is supported through the simple query protocol only",
                                      "send COPY as a simple query (psql's \\copy does)"));
      return {};
    }
  }
  if (dropsServerStatements(*decision)) {
    // It would drop the proxy's own statements on this connection at some later Execute; as a
    // simple query it closes them first, and its answer shows which statements are gone
    // (onQuery).
    refuseParse(protocol::makeError(
        sqlstate::kFeatureNotSupported,
        "DEALLOCATE is supported through the simple query protocol only",
        "send DEALLOCATE as a simple query; tenantwall keeps prepared statements of its own on "
        "the database connection"));
    return {};
  }
  if (auto simple_only = policy::checkExtendedProtocol(*decision)) {
    refuseParse(std::move(*simple_only));
    return {};
  }
  if (decision->statement_kinds.size() > 1) {
    refuseParse(protocol::makeError(sqlstate::kSyntaxError,
                                    "cannot insert multiple commands into a prepared statement"));
    return {};
  }
  if (auto wrong =
          policy::checkTenantParameterTypes(decision->tenant_parameters, parse->param_types)) {
    refuseParse(std::move(*wrong));
    return {};
  }
  if (renaming() && !unnamed && statements_.contains(parse->statement)) {
    // As PostgreSQL answers; here the server name would differ, so the proxy says it.
    refuseParse(protocol::makeError(
        "42P05", "prepared statement \"" + std::string(parse->statement) + "\" already exists"));
    return {};
  }
  if (auto refusal = checkSqlPrepared(parse->query, *decision, policy_version)) {
    refuseParse(std::move(*refusal));
    return {};
  }
  if (decision->session_state) pinned_ = true;
  if (unnamed) unnamed_unbound_ = true;
  tenant_parameters_.insert_or_assign(std::string(parse->statement), decision->tenant_parameters);
  ClientStatement statement{
      std::string(parse->statement), decision->sql,  parse->param_types,
      std::string(parse->query),     policy_version, decision->executed_names};
  if (renaming() && !unnamed) {
    statement.server_name = PooledStatements::serverName(statement.sql, statement.param_types);
    pooled_.parse(statement, true, backend_->prepared, to_backend_, batches_sent_);
  } else {
    if (tracking()) pooled_.expect('1', batches_sent_);
    protocol::appendParse(to_backend_, parse->statement, decision->sql, parse->param_types);
    if (unnamed) unnamed_on_backend_ = true;
  }
  statements_.insert_or_assign(std::string(parse->statement), std::move(statement));
  return {};
}

Handled ClientSession::onBind(std::string_view body) {
  auto bind = protocol::parseBind(body);
  if (!bind) return std::unexpected(bind.error());
  if (renaming()) {
    for (const std::string_view name : {bind->portal, bind->statement}) {
      if (auto invalid = invalidStatementName(name)) {
        refuse(std::move(*invalid), true);
        return {};
      }
    }
  }
  const auto statement = statements_.find(bind->statement);
  if (statement == statements_.end()) {
    refuse(policy::noSuchStatement(bind->statement), true);
    return {};
  }
  if (auto stale = staleStatement(statement->second, bind->statement)) {
    refuse(std::move(*stale), true);
    return {};
  }
  if (!statement->second.executes.empty()) {
    if (auto stale = staleExecutes(statement->second.executes)) {
      refuse(std::move(*stale), true);
      return {};
    }
  }
  if (const auto it = tenant_parameters_.find(bind->statement); it != tenant_parameters_.end()) {
    if (auto refusal = policy::checkTenantParameters(it->second, bind->formats, bind->values,
                                                     principal_.tenant)) {
      refuse(std::move(*refusal), true);
      return {};
    }
  }
  // emplace alone would build a node for every Bind of the same portal, then drop it.
  if (!portals_.contains(bind->portal)) portals_.emplace(bind->portal);
  if (bind->statement.empty()) unnamed_unbound_ = false;
  if (renaming() && !bind->statement.empty()) {
    pooled_.ensure(statement->second, backend_->prepared, to_backend_, batches_sent_);
    appendRenamed(body, bind->statement, statement->second.server_name);
  } else {
    if (renaming()) ensureUnnamed(statement->second);
    to_backend_.append(current_frame_);
  }
  return {};
}

std::optional<PgError> ClientSession::staleStatement(ClientStatement& statement,
                                                     std::string_view name) {
  if (statement.policy_version == state_->policies.version()) return std::nullopt;
  std::uint64_t policy_version = 0;
  const auto cached = decideAudited(statement.query, &policy_version);
  const policy::Decision& decision = cached->decision;
  if (!decision) return decision.error();
  const auto tenant_parameters = tenant_parameters_.find(name);
  if (decision->sql == statement.sql && tenant_parameters != tenant_parameters_.end() &&
      tenant_parameters->second == decision->tenant_parameters) {
    statement.policy_version = policy_version;
    return std::nullopt;
  }
  // Not replaced in place: the client may hold the old statement's result columns. 26000, as
  // for a statement that is gone: pgJDBC then prepares it again by itself.
  return policy::preparedUnderEarlierPolicy(
      name, "prepare it again (close it first, or use another name)");
}

std::optional<PgError> ClientSession::checkSqlPrepared(std::string_view query,
                                                       const policy::Allowed& allowed,
                                                       std::uint64_t policy_version) {
  if (auto stale = staleExecutes(allowed.executed_names)) return stale;
  if (allowed.prepared_names.empty()) return std::nullopt;
  if (sql_prepared_.record(query, allowed.sql, allowed.prepared_names, policy_version))
    return std::nullopt;
  return protocol::makeError(
      sqlstate::kProgramLimitExceeded,
      "too many prepared statements in this session for tenantwall to follow across policy "
      "reloads",
      "DEALLOCATE the statements no longer needed (as a simple query), or reconnect");
}

std::optional<PgError> ClientSession::staleExecutes(const std::vector<std::string>& names) {
  if (names.empty()) return std::nullopt;
  const auto stale =
      sql_prepared_.stale(names, state_->policies.version(),
                          [this](std::string_view query) -> std::optional<std::string> {
                            const auto cached = decideAudited(query);
                            if (!cached->decision) return std::nullopt;
                            return cached->decision->sql;
                          });
  if (!stale) return std::nullopt;
  return policy::preparedUnderEarlierPolicy(*stale, "DEALLOCATE it and PREPARE it again");
}

void ClientSession::ensureUnnamed(const ClientStatement& statement) {
  if (unnamed_on_backend_) return;
  // The client's own statement as it was parsed (rewritten for its principal then); the
  // backend's unnamed statement, another client's or none, is replaced. Its answer is not
  // relayed: the client did not send this Parse.
  pooled_.expect('1', batches_sent_, true);
  protocol::appendParse(to_backend_, "", statement.sql, statement.param_types);
  unnamed_on_backend_ = true;
}

Handled ClientSession::onDescribe(std::string_view body) {
  auto target = protocol::parseDescribeOrClose(body);
  if (!target) return std::unexpected(target.error());
  const bool statement = target->kind == 'S';
  if (renaming()) {
    if (auto invalid = invalidStatementName(target->name)) {
      refuse(std::move(*invalid), true);
      return {};
    }
  }
  // The statement described, looked up once (null for a portal, or a name not known).
  ClientStatement* described = nullptr;
  if (statement) {
    if (auto it = statements_.find(target->name); it != statements_.end()) described = &it->second;
  }
  if (statement ? !described : !portals_.contains(target->name)) {
    refuse(protocol::makeError(
               statement ? sqlstate::kInvalidSqlStatementName : sqlstate::kInvalidCursorName,
               std::string(statement ? "prepared statement \"" : "portal \"") +
                   std::string(target->name) + "\" does not exist"),
           true);
    return {};
  }
  if (described) {
    if (auto stale = staleStatement(*described, target->name)) {
      refuse(std::move(*stale), true);
      return {};
    }
  }
  if (renaming() && described && !target->name.empty()) {
    pooled_.ensure(*described, backend_->prepared, to_backend_, batches_sent_);
    appendRenamed(body, target->name, described->server_name);
  } else {
    if (renaming() && described) ensureUnnamed(*described);
    to_backend_.append(current_frame_);
  }
  return {};
}

Handled ClientSession::onExecute(std::string_view body) {
  auto execute = protocol::parseExecute(body);
  if (!execute) return std::unexpected(execute.error());
  if (!portals_.contains(execute->portal)) {
    refuse(protocol::makeError(sqlstate::kInvalidCursorName,
                               "portal \"" + std::string(execute->portal) + "\" does not exist"),
           true);
    return {};
  }
  to_backend_.append(current_frame_);
  return {};
}

Handled ClientSession::onClose(std::string_view body) {
  auto target = protocol::parseDescribeOrClose(body);
  if (!target) return std::unexpected(target.error());
  if (renaming()) {
    if (auto invalid = invalidStatementName(target->name)) {
      refuse(std::move(*invalid), true);
      return {};
    }
  }
  if (target->kind == 'S' && renaming() && !target->name.empty()) {
    // Under the server name; a statement the client never made closes nothing, as in
    // PostgreSQL.
    auto it = statements_.find(target->name);
    const ClientStatement none{std::string(policy::kNoStatementName), "", {}};
    pooled_.close(it != statements_.end() ? it->second : none, backend_->prepared, to_backend_,
                  batches_sent_);
    if (it != statements_.end()) statements_.erase(it);
    return {};
  }
  if (target->kind == 'S') {
    if (auto it = statements_.find(target->name); it != statements_.end()) statements_.erase(it);
    if (target->name.empty()) unnamed_unbound_ = false;
  } else if (auto it = portals_.find(target->name); it != portals_.end()) {
    portals_.erase(it);
  }
  if (tracking()) pooled_.expect('3', batches_sent_);
  // A client's statement never has a reserved name (onParse): that name is one of the
  // proxy's own, of which the client closes nothing, as of a name PostgreSQL does not know.
  if (target->kind == 'S' && policy::isReservedStatementName(target->name)) {
    appendRenamed(body, target->name, policy::kNoStatementName);
    return {};
  }
  to_backend_.append(current_frame_);
  return {};
}

Handled ClientSession::onSync(std::string_view) {
  discarding_ = false;
  answers_.emplace_back();
  ++batches_sent_;
  to_backend_.append(current_frame_);
  return {};
}

Handled ClientSession::onFlush(std::string_view) {
  to_backend_.append(current_frame_);
  return {};
}

void ClientSession::failCopy(PgError refusal) {
  // PostgreSQL ends the COPY with an error carrying our CopyFail message: the marker, whose
  // error the backend pump replaces with the refusal. Nothing of the COPY is committed.
  logLine(LogLevel::kInfo, tag() + ": refused COPY " + refusal.sqlstate + ": " + refusal.message);
  state_->metrics.refused(refusal.sqlstate);
  const std::string marker = refusals_.record(std::move(refusal));
  protocol::appendMessage(to_backend_, protocol::ftag::kCopyFail, marker + std::string(1, '\0'));
  copy_in_.reset();
  copy_failed_ = true;
}

Handled ClientSession::onCopyData(std::string_view body) {
  if (copy_failed_) return {};  // the client may still be sending; PostgreSQL has given up
  if (!copy_in_)
    return std::unexpected(
        protocol::makeFatal(sqlstate::kProtocolViolation, "CopyData outside COPY FROM STDIN"));
  auto checked = copy_in_->feed(body);
  if (!checked) {
    failCopy(std::move(checked.error()));
    return {};
  }
  if (!checked->empty()) protocol::appendMessage(to_backend_, protocol::ftag::kCopyData, *checked);
  return {};
}

Handled ClientSession::onCopyDone(std::string_view) {
  if (copy_failed_) {
    copy_failed_ = false;
    return {};
  }
  if (!copy_in_)
    return std::unexpected(
        protocol::makeFatal(sqlstate::kProtocolViolation, "CopyDone outside COPY FROM STDIN"));
  auto rest = copy_in_->finish();
  if (!rest) {
    failCopy(std::move(rest.error()));
    copy_failed_ = false;
    return {};
  }
  if (!rest->empty()) protocol::appendMessage(to_backend_, protocol::ftag::kCopyData, *rest);
  to_backend_.append(current_frame_);
  copy_in_.reset();
  return {};
}

Handled ClientSession::onCopyFail(std::string_view) {
  if (copy_failed_) {
    copy_failed_ = false;
    return {};
  }
  if (!copy_in_)
    return std::unexpected(
        protocol::makeFatal(sqlstate::kProtocolViolation, "CopyFail outside COPY FROM STDIN"));
  to_backend_.append(current_frame_);
  copy_in_.reset();
  return {};
}

Handled ClientSession::onFunctionCall(std::string_view) {
  refuse(protocol::makeError(sqlstate::kInsufficientPrivilege,
                             "the FunctionCall message is not allowed by tenantwall",
                             "call functions from SQL instead"),
         false);
  return {};
}

// A row of a result or of COPY TO that relayFrame would append as it is (no EXPLAIN answer of
// the proxy's own is being rendered).
bool ClientSession::relaysUnchanged(const protocol::Frame& frame) const {
  return (frame.tag == protocol::btag::kDataRow || frame.tag == protocol::btag::kCopyData) &&
         (answers_.empty() || !answers_.front().plan);
}

// Appends what the client may see of one backend message; false ends the session.
bool ClientSession::relayFrame(const protocol::Frame& frame, std::string_view raw,
                               std::string& out) {
  if (!answers_.empty() && answers_.front().plan && answers_.front().plan->relay(frame, out))
    return true;  // the rendered plan, or the error that replaces it
  switch (frame.tag) {
    case protocol::btag::kErrorResponse:
    case protocol::btag::kNoticeResponse: {
      auto fields = protocol::parseErrorFields(frame.body);
      if (!fields) return false;
      if (frame.tag == protocol::btag::kErrorResponse && tracking() && backend_)
        pooled_.failed(batches_done_, backend_->prepared);
      if (frame.tag == protocol::btag::kErrorResponse) {
        if (auto refusal = refusals_.match(*fields)) {
          protocol::appendErrorResponse(out, *refusal);
          return true;
        }
      }
      protocol::appendErrorFields(out, frame.tag, policy::scrubServerError(*fields));
      return true;
    }
    case protocol::btag::kCopyInResponse:
    case protocol::btag::kCopyOutResponse:
    case protocol::btag::kCopyBothResponse: {
      // Only the COPY that was analysed and forwarded may start; anything else means the two
      // sides disagree about the conversation: fail closed.
      const CopyAllowed allowed = answers_.empty() ? CopyAllowed::kNone : answers_.front().copy;
      const bool expected =
          (frame.tag == protocol::btag::kCopyInResponse && allowed == CopyAllowed::kIn) ||
          (frame.tag == protocol::btag::kCopyOutResponse && allowed == CopyAllowed::kOut);
      if (!expected) {
        logLine(LogLevel::kError, tag() + ": unexpected COPY from PostgreSQL");
        return false;
      }
      out.append(raw);
      return true;
    }
    case protocol::btag::kBindComplete:
    case protocol::btag::kNoData:
      if (!answers_.empty() && answers_.front().prepared_query) return true;
      out.append(raw);
      return true;
    case protocol::btag::kParseComplete:
    case protocol::btag::kCloseComplete:
      if (tracking()) {
        switch (pooled_.complete(frame.tag)) {
          case PooledStatements::Answer::kSwallow:
            return true;  // the answer to a message the proxy added
          case PooledStatements::Answer::kUnexpected:
            logLine(LogLevel::kError, tag() + ": unexpected ParseComplete/CloseComplete");
            return false;
          case PooledStatements::Answer::kRelay:
            break;
        }
      }
      out.append(raw);
      return true;
    case protocol::btag::kCommandComplete:
      // Only a DEALLOCATE that ran says so: one that failed left its statement in place.
      if (!answers_.empty() && !answers_.front().deallocations.empty() &&
          frame.body.starts_with("DEALLOCATE")) {
        Expected& answer = answers_.front();
        sql_prepared_.forget(answer.deallocations.front(), answer.deallocation_mark);
        answer.deallocations.erase(answer.deallocations.begin());
      }
      out.append(raw);
      return true;
    case protocol::btag::kReadyForQuery:
      if (auto status = protocol::parseReadyForQuery(frame.body)) transaction_status_ = *status;
      if (!answers_.empty()) answers_.pop_front();
      ++batches_done_;
      out.append(raw);
      return true;
    default:
      out.append(raw);
      return true;
  }
}

awaitable<void> ClientSession::backendPump() {
  FrameReader& backend = *backend_reader_;
  std::string out;
  bool released = false;
  for (;;) {
    const std::string_view pending = backend.pending();
    std::size_t pos = 0;
    out.clear();
    // Rows leave straight from the read buffer while every message so far is a row the client
    // gets as it is ([0, pos) of pending); out takes over at the first message that is not.
    bool rows_only = true;
    bool broken = false;
    auto verdict = ResetCheck::Verdict::kMore;
    for (;;) {
      auto decoded = protocol::decodeFrame(pending.substr(pos));
      if (decoded.status == protocol::DecodeStatus::kNeedMore) break;
      if (rows_only && decoded.status == protocol::DecodeStatus::kReady && !reset_ &&
          relaysUnchanged(decoded.frame)) {
        pos += decoded.frame.size;
        continue;
      }
      if (rows_only) {
        out.append(pending.substr(0, pos));
        rows_only = false;
      }
      if (reset_) {
        // The client has left: PostgreSQL's answers to the reset are checked, never relayed.
        verdict = decoded.status == protocol::DecodeStatus::kInvalid ? ResetCheck::Verdict::kDirty
                                                                     : reset_->feed(decoded.frame);
        if (verdict != ResetCheck::Verdict::kDirty) pos += decoded.frame.size;
        if (verdict != ResetCheck::Verdict::kMore) break;
        continue;
      }
      if (decoded.status == protocol::DecodeStatus::kInvalid ||
          !relayFrame(decoded.frame, pending.substr(pos, decoded.frame.size), out)) {
        broken = true;
        break;
      }
      pos += decoded.frame.size;
    }
    backend.consume(pos);
    if (reset_) {
      if (verdict == ResetCheck::Verdict::kClean) {
        // Clean only if nothing follows the final ReadyForQuery.
        released = backend.buffered() == 0;
        if (!released) logLine(LogLevel::kWarn, tag() + ": data after the backend reset");
        break;
      }
      if (verdict == ResetCheck::Verdict::kDirty) {
        logLine(LogLevel::kWarn, tag() + ": backend reset failed; closing it");
        break;
      }
      if (!co_await backend.fill()) break;
      continue;
    }
    // consume() keeps the bytes where they are until the next fill().
    const std::string_view relayed = rows_only ? pending.substr(0, pos) : std::string_view(out);
    const std::size_t sent = socket_.sendNow(relayed);
    if (sent < relayed.size() && !co_await writeRest(socket_, relayed.substr(sent))) break;
    if (state_->drain.draining() && idle() && !fatal_) {
      co_await sendFatal(protocol::makeFatal(sqlstate::kAdminShutdown,
                                             "terminating connection due to administrator command",
                                             "tenantwall is shutting down; reconnect"));
      break;
    }
    if (broken) {
      co_await sendFatal(protocol::makeFatal(sqlstate::kProtocolViolation,
                                             "unexpected message from the database"));
      break;
    }
    if (detach()) co_return;  // the client keeps going; its next message takes a backend
    if (!co_await backend.fill()) {
      if (fatal_) {
        co_await sendFatal(*fatal_);
      } else if (!closing_) {
        co_await sendFatal(protocol::makeFatal(sqlstate::kConnectionFailure,
                                               "connection to the database was lost"));
      }
      break;
    }
  }
  co_await closeClient();
  if (released && backend_->socket.lowest_layer().is_open()) {
    reset_timer_->cancel();
    // PostgreSQL's reports during the reset (settings back to their start-up values) are what
    // the next client's ParameterStatus shows.
    for (const auto& [name, value] : reset_->parameters()) {
      auto& params = backend_->parameters;
      auto it = std::find_if(params.begin(), params.end(),
                             [&](const auto& p) { return p.first == name; });
      if (it != params.end())
        it->second = value;
      else
        params.emplace_back(name, value);
    }
    backend_->prepared.clear();  // DISCARD ALL deallocated them
    backend_reader_.reset();
    state_->pool.release(forwarded_, std::move(*backend_));
    backend_.reset();
    co_return;
  }
  boost::system::error_code ignored;
  backend_->socket.close(ignored);
}

}  // namespace

void DrainRegistry::add(std::uint64_t session, std::function<void()> poke) {
  std::lock_guard lock(mutex_);
  sessions_.emplace(session, std::move(poke));
}

void DrainRegistry::remove(std::uint64_t session) {
  std::lock_guard lock(mutex_);
  sessions_.erase(session);
}

void DrainRegistry::drainAll() {
  draining_.store(true);
  std::lock_guard lock(mutex_);
  for (auto& [id, poke] : sessions_) poke();
}

awaitable<void> runClientSession(tcp::socket socket, std::shared_ptr<ServerState> state) {
  configureTcp(socket, state->config.tcp_keepalive);
  auto session = std::make_shared<ClientSession>(std::move(socket), std::move(state));
  co_await session->run();
}

}  // namespace tenantwall::proxy
