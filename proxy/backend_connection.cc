// Opening (plain or TLS) and authenticating the service connection to PostgreSQL.
#include "proxy/backend_connection.h"

#include <openssl/x509.h>

#include <chrono>
#include <memory>
#include <optional>

#include "protocol/encoder.h"
#include "protocol/messages.h"
#include "protocol/scram.h"
#include "proxy/frame_reader.h"
#include "proxy/tcp_options.h"
#include "proxy/tls_context.h"

namespace tenantwall::proxy {
namespace {

using protocol::AuthCode;

awaitable<bool> writeAll(Stream& socket, const std::string& bytes) {
  boost::system::error_code ec;
  co_await asio::async_write(socket, asio::buffer(bytes), asio::redirect_error(use_awaitable, ec));
  co_return !ec;
}

std::string describeServerError(std::string_view body) {
  auto fields = protocol::parseErrorFields(body);
  if (!fields) return "malformed error from PostgreSQL";
  return protocol::errorField(*fields, 'C') + " " + protocol::errorField(*fields, 'M');
}

// Runs the authentication exchange after the startup packet; returns an error text or nothing.
awaitable<std::optional<std::string>> authenticate(Stream& socket, FrameReader& reader,
                                                   const BackendConfig& config) {
  std::optional<protocol::ScramClient> scram;
  for (;;) {
    auto read = co_await reader.next();
    if (read.status != ReadStatus::kOk) co_return "connection lost during authentication";
    const auto& frame = read.frame;
    if (frame.tag == protocol::btag::kErrorResponse) co_return describeServerError(frame.body);
    if (frame.tag != protocol::btag::kAuthentication)
      co_return std::string("unexpected message during authentication: ") + frame.tag;
    auto request = protocol::parseAuthentication(frame.body);
    if (!request) co_return "malformed authentication request";
    std::string out;
    switch (static_cast<AuthCode>(request->code)) {
      case AuthCode::kOk:
        co_return std::nullopt;
      case AuthCode::kCleartext:
        protocol::appendPasswordMessage(out, config.password);
        break;
      case AuthCode::kMd5:
        if (request->data.size() != 4) co_return "malformed md5 salt";
        protocol::appendPasswordMessage(
            out, protocol::md5PasswordResponse(config.user, config.password, request->data));
        break;
      case AuthCode::kSasl: {
        // The mechanism list is NUL-separated; only SCRAM-SHA-256 without channel binding.
        if (std::string_view(request->data).find("SCRAM-SHA-256") == std::string_view::npos)
          co_return "server offers no supported SASL mechanism";
        scram.emplace(config.password);
        protocol::appendSaslInitialResponse(out, "SCRAM-SHA-256", scram->clientFirst());
        break;
      }
      case AuthCode::kSaslContinue: {
        if (!scram) co_return "unexpected SASL continue";
        auto reply = scram->handleServerFirst(request->data);
        if (!reply) co_return "SCRAM: " + reply.error();
        protocol::appendSaslResponse(out, *reply);
        break;
      }
      case AuthCode::kSaslFinal: {
        if (!scram) co_return "unexpected SASL final";
        if (auto ok = scram->handleServerFinal(request->data); !ok)
          co_return "SCRAM server verification failed: " + ok.error();
        continue;  // AuthenticationOk follows
      }
      default:
        co_return "unsupported authentication method " + std::to_string(request->code);
    }
    if (!co_await writeAll(socket, out)) co_return "connection lost during authentication";
  }
}

std::string_view modeName(BackendTlsMode mode) {
  switch (mode) {
    case BackendTlsMode::kDisable:
      return "disable";
    case BackendTlsMode::kRequire:
      return "require";
    case BackendTlsMode::kVerifyCa:
      return "verify-ca";
    case BackendTlsMode::kVerifyFull:
      return "verify-full";
  }
  return "disable";
}

// SSLRequest, then exactly one byte of answer: bytes after it belong to the TLS handshake and
// must not be read as if they were (CVE-2021-23222), so nothing more is read in plain text.
awaitable<std::optional<std::string>> startTls(Stream& stream, const BackendConfig& config) {
  const std::string where = config.host + ":" + std::to_string(config.port);
  static constexpr char kSslRequest[] = {0, 0, 0, 8, 0x04, static_cast<char>(0xd2), 0x16, 0x2f};
  if (!co_await writeAll(stream, std::string(kSslRequest, sizeof kSslRequest)))
    co_return "connection lost sending SSLRequest";
  char answer = 0;
  boost::system::error_code ec;
  co_await asio::async_read(stream, asio::buffer(&answer, 1),
                            asio::redirect_error(use_awaitable, ec));
  if (ec) co_return "connection lost waiting for the answer to SSLRequest";
  if (answer == 'N')
    co_return "PostgreSQL at " + where + " does not accept TLS, and backend.tls.mode is " +
        std::string(modeName(config.tls.mode));
  if (answer != 'S') co_return "unexpected answer to SSLRequest from PostgreSQL at " + where;

  TlsContextPtr context;
  if (config.tls.context) {
    context = config.tls.context->current();
  } else {
    auto built = buildBackendContext(config.tls);
    if (!built) co_return "backend TLS: " + built.error();
    context = std::move(*built);
  }
  const std::string name = config.tls.server_name.empty() ? config.host : config.tls.server_name;
  boost::system::error_code not_ip;
  asio::ip::make_address(name, not_ip);
  TlsPeerCheck check;
  check.verify_chain = config.tls.mode == BackendTlsMode::kVerifyCa ||
                       config.tls.mode == BackendTlsMode::kVerifyFull;
  if (config.tls.mode == BackendTlsMode::kVerifyFull) check.host = name;
  if (not_ip) check.sni = name;  // SNI carries host names only
  ec = co_await stream.handshakeAsClient(std::move(context), check,
                                         std::chrono::milliseconds(config.connect_timeout_ms));
  if (ec) {
    std::string reason = ec.message();
    if (SSL* ssl = stream.tlsHandle()) {
      if (const long verify = SSL_get_verify_result(ssl); verify != X509_V_OK)
        reason += " (" + std::string(X509_verify_cert_error_string(verify)) + ")";
    }
    co_return "TLS handshake with PostgreSQL at " + where + " failed: " + reason;
  }
  co_return std::nullopt;
}

}  // namespace

awaitable<std::optional<std::string>> openBackendStream(Stream& stream,
                                                        const BackendConfig& config) {
  auto executor = co_await asio::this_coro::executor;
  boost::system::error_code ec;
  tcp::resolver resolver(executor);
  auto endpoints = co_await resolver.async_resolve(config.host, std::to_string(config.port),
                                                   asio::redirect_error(use_awaitable, ec));
  if (ec) co_return "cannot resolve " + config.host + ": " + ec.message();
  co_await asio::async_connect(stream.lowest_layer(), endpoints,
                               asio::redirect_error(use_awaitable, ec));
  if (ec)
    co_return "cannot connect to " + config.host + ":" + std::to_string(config.port) + ": " +
        ec.message();
  configureTcp(stream.lowest_layer(), config.keepalive);
  if (config.tls.mode == BackendTlsMode::kDisable) co_return std::nullopt;
  co_return co_await startTls(stream, config);
}

awaitable<std::expected<BackendConnection, std::string>> connectBackend(
    const BackendConfig& config,
    const std::vector<std::pair<std::string, std::string>>& session_params) {
  auto executor = co_await asio::this_coro::executor;
  BackendConnection conn{Stream(tcp::socket(executor)), {}, 0, 0};

  // One deadline for connect and authentication: a stuck server must not hold the client.
  // The state is shared with the timer handler, which may run after this frame is gone.
  struct Deadline {
    explicit Deadline(const asio::any_io_executor& ex) : timer(ex) {}
    asio::steady_timer timer;
    Stream* socket = nullptr;
    bool done = false;
    bool fired = false;
  };
  auto deadline = std::make_shared<Deadline>(executor);
  deadline->socket = &conn.socket;
  deadline->timer.expires_after(std::chrono::milliseconds(config.connect_timeout_ms));
  deadline->timer.async_wait([deadline](boost::system::error_code ec) {
    if (ec || deadline->done) return;
    deadline->fired = true;
    boost::system::error_code ignored;
    deadline->socket->close(ignored);
  });
  struct Disarm {
    std::shared_ptr<Deadline> d;
    ~Disarm() {
      d->done = true;
      d->timer.cancel();
    }
  } disarm{deadline};
  const bool& timed_out = deadline->fired;

  if (auto failure = co_await openBackendStream(conn.socket, config))
    co_return std::unexpected(timed_out ? *failure + " (timed out after " +
                                              std::to_string(config.connect_timeout_ms) + " ms)"
                                        : *failure);

  std::vector<std::pair<std::string, std::string>> params{
      {"user", config.user},
      {"database", config.database},
      {"client_encoding", "UTF8"},
      // Pinned so that names the proxy resolved mean the same thing to PostgreSQL.
      {"search_path", "public"},
      {"standard_conforming_strings", "on"},
  };
  params.insert(params.end(), session_params.begin(), session_params.end());
  std::string startup;
  protocol::appendStartup(startup, params);
  if (!co_await writeAll(conn.socket, startup))
    co_return std::unexpected(timed_out ? "timed out" : "connection lost sending startup");

  FrameReader reader(conn.socket, protocol::kDefaultMaxMessage);
  if (auto failure = co_await authenticate(conn.socket, reader, config))
    co_return std::unexpected(timed_out ? "timed out during authentication" : *failure);

  for (;;) {
    auto read = co_await reader.next();
    if (read.status != ReadStatus::kOk)
      co_return std::unexpected(timed_out ? "timed out waiting for ReadyForQuery"
                                          : "connection lost before ReadyForQuery");
    const auto& frame = read.frame;
    switch (frame.tag) {
      case protocol::btag::kParameterStatus:
        if (auto p = protocol::parseParameterStatus(frame.body)) conn.parameters.push_back(*p);
        break;
      case protocol::btag::kBackendKeyData:
        if (auto k = protocol::parseBackendKeyData(frame.body)) std::tie(conn.pid, conn.key) = *k;
        break;
      case protocol::btag::kNoticeResponse:
      case protocol::btag::kNegotiateProtocolVersion:
        break;
      case protocol::btag::kErrorResponse:
        co_return std::unexpected(describeServerError(frame.body));
      case protocol::btag::kReadyForQuery:
        if (reader.buffered() != 0) co_return std::unexpected("unexpected bytes after start-up");
        co_return std::move(conn);
      default:
        co_return std::unexpected(std::string("unexpected message at start-up: ") + frame.tag);
    }
  }
}

}  // namespace tenantwall::proxy
