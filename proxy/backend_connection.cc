// Opening and authenticating the service connection to PostgreSQL.
#include "proxy/backend_connection.h"

#include <chrono>
#include <memory>
#include <optional>

#include "protocol/encoder.h"
#include "protocol/messages.h"
#include "protocol/scram.h"
#include "proxy/frame_reader.h"

namespace tenantwall::proxy {
namespace {

using protocol::AuthCode;

awaitable<bool> writeAll(tcp::socket& socket, const std::string& bytes) {
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
awaitable<std::optional<std::string>> authenticate(tcp::socket& socket, FrameReader& reader,
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

}  // namespace

awaitable<std::expected<BackendConnection, std::string>> connectBackend(
    const BackendConfig& config,
    const std::vector<std::pair<std::string, std::string>>& session_params) {
  auto executor = co_await asio::this_coro::executor;
  BackendConnection conn{tcp::socket(executor), {}, 0, 0};

  // One deadline for connect and authentication: a stuck server must not hold the client.
  // The state is shared with the timer handler, which may run after this frame is gone.
  struct Deadline {
    explicit Deadline(const asio::any_io_executor& ex) : timer(ex) {}
    asio::steady_timer timer;
    tcp::socket* socket = nullptr;
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

  boost::system::error_code ec;
  tcp::resolver resolver(executor);
  auto endpoints = co_await resolver.async_resolve(config.host, std::to_string(config.port),
                                                   asio::redirect_error(use_awaitable, ec));
  if (ec) co_return std::unexpected("cannot resolve " + config.host + ": " + ec.message());
  co_await asio::async_connect(conn.socket, endpoints, asio::redirect_error(use_awaitable, ec));
  if (ec)
    co_return std::unexpected("cannot connect to " + config.host + ":" +
                              std::to_string(config.port) +
                              (timed_out ? ": timed out" : ": " + ec.message()));
  conn.socket.set_option(tcp::no_delay(true), ec);

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
