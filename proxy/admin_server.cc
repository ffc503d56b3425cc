// The admin endpoint's HTTP handling and its route table.
#include "proxy/admin_server.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <array>
#include <cctype>
#include <charconv>
#include <chrono>
#include <ctime>

#include <nlohmann/json.hpp>

#include "policy/explain.h"
#include "policy/schema_slice.h"
#include "proxy/log.h"
#include "proxy/schema_reader.h"

namespace tenantwall::proxy {
namespace {

constexpr std::size_t kMaxRequestBytes = 8 * 1024;
constexpr std::size_t kMaxBodyBytes = 64 * 1024;  // POST /explain carries a statement
constexpr auto kRequestTimeout = std::chrono::seconds(5);
constexpr auto kProbeTimeout = std::chrono::seconds(1);

std::string_view statusText(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 413:
      return "Content Too Large";
    case 409:
      return "Conflict";
    case 422:
      return "Unprocessable Content";
    case 431:
      return "Request Header Fields Too Large";
    case 503:
      return "Service Unavailable";
    default:
      return "Error";
  }
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r'))
    text.remove_suffix(1);
  return text;
}

std::string jsonString(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20) {
      out += "\\u00";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

std::string rfc3339(std::chrono::system_clock::time_point when) {
  const std::time_t t = std::chrono::system_clock::to_time_t(when);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return stamp;
}

std::array<unsigned char, 32> sha256(std::string_view text) {
  std::array<unsigned char, 32> digest{};
  unsigned int size = 0;
  EVP_Digest(text.data(), text.size(), digest.data(), &size, EVP_sha256(), nullptr);
  return digest;
}

AdminResponse json(int status, std::string body) {
  return AdminResponse{status, "application/json", std::move(body) + "\n", {}};
}

AdminResponse text(int status, std::string body) {
  return AdminResponse{status, "text/plain; charset=utf-8", std::move(body) + "\n", {}};
}

}  // namespace

std::optional<AdminRequest> parseAdminRequest(std::string_view head) {
  const auto line_end = head.find("\r\n");
  if (line_end == std::string_view::npos) return std::nullopt;
  const std::string_view line = head.substr(0, line_end);
  const auto sp1 = line.find(' ');
  const auto sp2 = line.rfind(' ');
  if (sp1 == std::string_view::npos || sp1 == sp2) return std::nullopt;
  if (!line.substr(sp2 + 1).starts_with("HTTP/1.")) return std::nullopt;
  AdminRequest request;
  request.method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  if (target.empty() || target.front() != '/') return std::nullopt;
  const auto question = target.find('?');
  request.path = target.substr(0, question);
  if (question != std::string_view::npos) request.query = target.substr(question + 1);
  std::string_view rest = head.substr(line_end + 2);
  while (!rest.empty()) {
    const auto end = rest.find("\r\n");
    const std::string_view header = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 2);
    if (header.empty()) break;
    const auto colon = header.find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    const std::string name = lower(trim(header.substr(0, colon)));
    const std::string_view value = trim(header.substr(colon + 1));
    if (name == "authorization") {
      request.authorization = value;
    } else if (name == "content-length") {
      const auto [ptr, ec] =
          std::from_chars(value.data(), value.data() + value.size(), request.content_length);
      if (ec != std::errc() || ptr != value.data() + value.size()) return std::nullopt;
    } else if (name == "transfer-encoding") {
      return std::nullopt;  // chunked bodies are not needed by any endpoint
    }
  }
  return request;
}

bool bearerMatches(std::string_view authorization, std::string_view token) {
  if (token.empty()) return false;
  constexpr std::string_view kScheme = "Bearer ";
  if (authorization.size() < kScheme.size() ||
      lower(authorization.substr(0, kScheme.size())) != "bearer ")
    return false;
  // Equal-length digests, so the comparison time says nothing about the token.
  const auto given = sha256(trim(authorization.substr(kScheme.size())));
  const auto wanted = sha256(token);
  return CRYPTO_memcmp(given.data(), wanted.data(), given.size()) == 0;
}

std::string renderAdminResponse(const AdminResponse& response) {
  std::string out = "HTTP/1.1 " + std::to_string(response.status) + " " +
                    std::string(statusText(response.status)) + "\r\n";
  out += "Content-Type: " + response.content_type + "\r\n";
  out += "Content-Length: " + std::to_string(response.body.size()) + "\r\n";
  out += "Cache-Control: no-store\r\nConnection: close\r\n";
  out += response.extra_headers;
  out += "\r\n";
  out += response.body;
  return out;
}

const AdminServer::Route AdminServer::kRoutes[] = {
    {"GET", "/healthz", &AdminServer::onHealthz}, {"GET", "/readyz", &AdminServer::onReadyz},
    {"GET", "/metrics", &AdminServer::onMetrics}, {"GET", "/policy", &AdminServer::onPolicy},
    {"POST", "/reload", &AdminServer::onReload},  {"POST", "/explain", &AdminServer::onExplain},
    {"GET", "/schema", &AdminServer::onSchema},   {"POST", "/rollback", &AdminServer::onRollback},
};

AdminServer::AdminServer(asio::io_context& io, std::shared_ptr<ServerState> state,
                         ReloadPolicy reload)
    : io_(io), acceptor_(io), state_(std::move(state)), reload_(std::move(reload)) {}

void AdminServer::start() {
  const auto& config = state_->config.admin;
  const tcp::endpoint endpoint(asio::ip::make_address(config.listen_host), config.port.value_or(0));
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(tcp::acceptor::reuse_address(true));
  acceptor_.bind(endpoint);
  acceptor_.listen(asio::socket_base::max_listen_connections);
  const auto bound = acceptor_.local_endpoint();
  logLine(LogLevel::kInfo, "tenantwall admin listening on " + bound.address().to_string() + ":" +
                               std::to_string(bound.port()) +
                               (config.token.empty() ? " (no token: POST /reload disabled)" : ""));
  asio::co_spawn(io_, acceptLoop(), asio::detached);
}

void AdminServer::stop() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
}

awaitable<void> AdminServer::acceptLoop() {
  for (;;) {
    boost::system::error_code ec;
    tcp::socket socket = co_await acceptor_.async_accept(asio::redirect_error(use_awaitable, ec));
    if (ec == asio::error::operation_aborted) co_return;
    if (ec) {
      logLine(LogLevel::kWarn, "admin accept failed: " + ec.message());
      continue;
    }
    auto strand = asio::make_strand(io_);
    auto owned = std::make_shared<tcp::socket>(std::move(socket));
    asio::co_spawn(strand, serve(std::move(owned)), asio::detached);
  }
}

awaitable<void> AdminServer::serve(std::shared_ptr<tcp::socket> socket) {
  auto executor = co_await asio::this_coro::executor;
  // The whole exchange has one deadline: at it the socket is closed and every wait ends.
  asio::steady_timer deadline(executor);
  deadline.expires_after(kRequestTimeout);
  deadline.async_wait([weak = std::weak_ptr<tcp::socket>(socket)](boost::system::error_code ec) {
    if (ec) return;
    if (auto s = weak.lock()) {
      boost::system::error_code ignored;
      s->close(ignored);
    }
  });
  boost::system::error_code ec;
  std::string peer;
  if (const auto remote = socket->remote_endpoint(ec); !ec)
    peer = remote.address().to_string() + ":" + std::to_string(remote.port());

  std::string buffer;
  const std::size_t head =
      co_await asio::async_read_until(*socket, asio::dynamic_buffer(buffer, kMaxRequestBytes),
                                      "\r\n\r\n", asio::redirect_error(use_awaitable, ec));
  AdminResponse response;
  if (ec == asio::error::not_found) {
    response = text(431, "request head larger than 8 KiB");
  } else if (ec) {
    co_return;  // closed, reset or timed out: nobody to answer
  } else if (auto request = parseAdminRequest(std::string_view(buffer).substr(0, head)); !request) {
    response = text(400, "malformed request");
  } else if (request->content_length > kMaxBodyBytes) {
    response = text(413, "request body larger than 64 KiB");
  } else {
    // Read the whole body (also when no endpoint needs it, so closing never resets the
    // connection under the answer).
    request->body = buffer.substr(head, request->content_length);
    if (const std::size_t have = buffer.size() - head; request->content_length > have) {
      std::string body(request->content_length - have, '\0');
      co_await asio::async_read(*socket, asio::buffer(body),
                                asio::redirect_error(use_awaitable, ec));
      if (ec) co_return;
      request->body += body;
    }
    response = co_await dispatch(*request, peer);
  }
  const std::string out = renderAdminResponse(response);
  co_await asio::async_write(*socket, asio::buffer(out), asio::redirect_error(use_awaitable, ec));
  // Lingering close: unread request bytes would make close() reset the connection, and the
  // client could lose the answer. Drain until the client closes or the deadline passes.
  socket->shutdown(tcp::socket::shutdown_send, ec);
  std::array<char, 1024> scratch;
  while (!ec)
    co_await socket->async_read_some(asio::buffer(scratch),
                                     asio::redirect_error(use_awaitable, ec));
  deadline.cancel();
}

awaitable<AdminResponse> AdminServer::dispatch(const AdminRequest& request,
                                               const std::string& peer) {
  std::string allowed;
  for (const auto& route : kRoutes) {
    if (route.path != request.path) continue;
    if (route.method == request.method) co_return co_await (this->*route.handler)(request, peer);
    allowed += allowed.empty() ? "" : ", ";
    allowed += route.method;
  }
  if (allowed.empty()) co_return text(404, "no such endpoint: " + request.path);
  AdminResponse response = text(405, request.method + " is not allowed on " + request.path);
  response.extra_headers = "Allow: " + allowed + "\r\n";
  co_return response;
}

awaitable<AdminResponse> AdminServer::onHealthz(const AdminRequest&, const std::string&) {
  co_return text(200, "ok");
}

awaitable<AdminResponse> AdminServer::onReadyz(const AdminRequest&, const std::string&) {
  if (!state_->policies.current()) co_return text(503, "no policy loaded");
  if (const AuditLog* log = state_->audit.get(); log && !log->healthy() && log->refuseOnFailure())
    co_return text(503, "the audit log cannot be written, so statements are refused");
  if (std::string error = co_await probeBackend(); !error.empty())
    co_return text(503, "PostgreSQL is unreachable: " + error);
  co_return text(200, "ready");
}

awaitable<AdminResponse> AdminServer::onMetrics(const AdminRequest&, const std::string&) {
  MetricsSample sample;
  sample.decision_cache_hits = state_->decisions.hits();
  sample.decision_cache_misses = state_->decisions.misses();
  const PoolStats pool = state_->pool.stats();
  sample.pool_size = pool.size;
  sample.pool_in_use = pool.in_use;
  sample.pool_idle = pool.idle;
  sample.pool_waits = pool.waits;
  if (const AuditLog* log = state_->audit.get()) {
    sample.audit_enabled = true;
    sample.audit_healthy = log->healthy();
    sample.audit_failures = log->failures();
  }
  co_return AdminResponse{
      200, "text/plain; version=0.0.4; charset=utf-8", state_->metrics.render(sample), {}};
}

awaitable<AdminResponse> AdminServer::onPolicy(const AdminRequest&, const std::string&) {
  const auto policy = state_->policies.current();
  const PolicyStatus status = state_->metrics.policyStatus();
  co_return json(
      200, "{\"version\":" + std::to_string(policy->version) + ",\"sha256\":" +
               jsonString(policy->hash) + ",\"source\":" + jsonString(policy->source) +
               ",\"loaded_at\":" + jsonString(rfc3339(status.loaded_at)) + ",\"last_error\":" +
               (status.last_error.empty() ? "null" : jsonString(status.last_error)) + "}");
}

std::optional<AdminResponse> AdminServer::refuseWithoutToken(const AdminRequest& request,
                                                             const std::string& peer,
                                                             std::string_view what) {
  const std::string& token = state_->config.admin.token;
  if (token.empty()) {
    auditAdmin("deny", peer, std::string(what) + " refused: no admin token is configured");
    return json(403,
                "{\"ok\":false,\"error\":\"mutating endpoints are disabled: no "
                "admin.token_file or TENANTWALL_ADMIN_TOKEN is configured\"}");
  }
  if (!bearerMatches(request.authorization, token)) {
    auditAdmin("deny", peer, std::string(what) + " refused: missing or wrong bearer token");
    AdminResponse response =
        json(401, "{\"ok\":false,\"error\":\"a valid Authorization: Bearer token is required\"}");
    response.extra_headers = "WWW-Authenticate: Bearer realm=\"tenantwall\"\r\n";
    return response;
  }
  return std::nullopt;
}

awaitable<AdminResponse> AdminServer::onReload(const AdminRequest& request,
                                               const std::string& peer) {
  if (auto refused = refuseWithoutToken(request, peer, "POST /reload")) co_return *refused;
  const std::string error = reload_("admin " + peer);
  const auto policy = state_->policies.current();
  auditAdmin(error.empty() ? "ok" : "fail", peer,
             "POST /reload" + (error.empty() ? std::string() : ": " + error));
  co_return json(error.empty() ? 200 : 422,
                 "{\"ok\":" + std::string(error.empty() ? "true" : "false") + ",\"version\":" +
                     std::to_string(policy->version) + ",\"sha256\":" + jsonString(policy->hash) +
                     ",\"error\":" + (error.empty() ? "null" : jsonString(error)) + "}");
}

awaitable<AdminResponse> AdminServer::onExplain(const AdminRequest& request,
                                                const std::string& peer) {
  if (auto refused = refuseWithoutToken(request, peer, "POST /explain")) co_return *refused;
  const auto body = nlohmann::json::parse(request.body, nullptr, false);
  auto field = [&body](const char* name) {
    return body.is_object() && body.contains(name) && body[name].is_string()
               ? body[name].get<std::string>()
               : std::string();
  };
  const std::string user = field("principal");
  const std::string sql = field("sql");
  if (user.empty() || !body.contains("sql") || !body["sql"].is_string()) {
    co_return json(400,
                   "{\"ok\":false,\"error\":\"expected a JSON object {\\\"principal\\\": USER, "
                   "\\\"sql\\\": STATEMENT} (tenant and role optional)\"}");
  }
  const auto policy = state_->policies.current();
  auto principal = policy::principalFor(*policy, user, field("tenant"), field("role"));
  if (!principal) {
    co_return json(422, "{\"ok\":false,\"error\":" + jsonString(principal.error()) + "}");
  }
  const auto explanation = policy::explainDecision(*principal, sql, *policy);
  auditAdmin(
      "ok", peer,
      "POST /explain for " + user + ": " +
          (explanation.allowed ? std::string("allow") : "deny " + explanation.error.sqlstate));
  co_return json(200, policy::explanationJson(explanation));
}

awaitable<AdminResponse> AdminServer::onSchema(const AdminRequest& request,
                                               const std::string& peer) {
  if (auto refused = refuseWithoutToken(request, peer, "GET /schema")) co_return *refused;
  std::string user = queryParameter(request.query, "user");
  if (user.empty()) user = queryParameter(request.query, "principal");
  const std::string format = queryParameter(request.query, "format");
  if (user.empty() || (!format.empty() && format != "json" && format != "text"))
    co_return json(400, "{\"ok\":false,\"error\":\"expected ?user=NAME[&format=json|text]\"}");
  const auto policy = state_->policies.current();
  auto principal = policy::principalFor(*policy, user, queryParameter(request.query, "tenant"),
                                        queryParameter(request.query, "role"));
  if (!principal)
    co_return json(422, "{\"ok\":false,\"error\":" + jsonString(principal.error()) + "}");
  auto live = co_await readLiveSchema(state_->backendConfig());
  if (!live) {
    co_return json(503, "{\"ok\":false,\"error\":" +
                            jsonString("cannot read the live schema: " + live.error()) + "}");
  }
  const auto slice = policy::sliceSchema(*policy, *principal, &*live);
  auditAdmin("ok", peer, "GET /schema for " + user);
  if (format == "text")
    co_return AdminResponse{200, "text/plain; charset=utf-8", policy::sliceText(slice), {}};
  co_return json(200, policy::sliceJson(slice));
}

awaitable<AdminResponse> AdminServer::onRollback(const AdminRequest& request,
                                                 const std::string& peer) {
  if (auto refused = refuseWithoutToken(request, peer, "POST /rollback")) co_return *refused;
  if (std::string error = state_->policies.restorePrevious(); !error.empty()) {
    auditAdmin("fail", peer, "POST /rollback: " + error);
    co_return json(409, "{\"ok\":false,\"error\":" + jsonString(error) + "}");
  }
  const std::string error = reload_("rollback by admin " + peer);
  const auto policy = state_->policies.current();
  const auto change = state_->policies.lastChange();
  std::string changes;
  for (const auto& line : change.diff) changes += (changes.empty() ? "" : ",") + jsonString(line);
  auditAdmin(error.empty() ? "ok" : "fail", peer,
             "POST /rollback" + (error.empty() ? std::string() : ": " + error));
  co_return json(error.empty() ? 200 : 422,
                 "{\"ok\":" + std::string(error.empty() ? "true" : "false") + ",\"version\":" +
                     std::to_string(policy->version) + ",\"sha256\":" + jsonString(policy->hash) +
                     ",\"error\":" + (error.empty() ? "null" : jsonString(error)) +
                     ",\"changes\":[" + (error.empty() ? changes : "") + "]}");
}

std::string queryParameter(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const auto end = query.find('&');
    const std::string_view pair = query.substr(0, end);
    query = end == std::string_view::npos ? std::string_view() : query.substr(end + 1);
    const auto equals = pair.find('=');
    if (pair.substr(0, equals) != name) continue;
    const std::string_view raw =
        equals == std::string_view::npos ? std::string_view() : pair.substr(equals + 1);
    std::string value;
    for (std::size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '+') {
        value += ' ';
      } else if (raw[i] == '%' && i + 2 < raw.size()) {
        unsigned byte = 0;
        const auto [ptr, ec] = std::from_chars(raw.data() + i + 1, raw.data() + i + 3, byte, 16);
        if (ec != std::errc() || ptr != raw.data() + i + 3) return {};
        value += static_cast<char>(byte);
        i += 2;
      } else {
        value += raw[i];
      }
    }
    return value;
  }
  return {};
}

awaitable<std::string> AdminServer::probeBackend() {
  auto executor = co_await asio::this_coro::executor;
  const auto& backend = state_->config.backend;
  auto socket = std::make_shared<tcp::socket>(executor);
  asio::steady_timer deadline(executor);
  deadline.expires_after(kProbeTimeout);
  bool timed_out = false;
  deadline.async_wait(
      [weak = std::weak_ptr<tcp::socket>(socket), &timed_out](boost::system::error_code ec) {
        if (ec) return;
        if (auto s = weak.lock()) {
          timed_out = true;
          boost::system::error_code ignored;
          s->close(ignored);
        }
      });
  tcp::resolver resolver(executor);
  boost::system::error_code ec;
  auto endpoints = co_await resolver.async_resolve(backend.host, std::to_string(backend.port),
                                                   asio::redirect_error(use_awaitable, ec));
  if (!ec)
    co_await asio::async_connect(*socket, endpoints, asio::redirect_error(use_awaitable, ec));
  deadline.cancel();
  const std::string where = backend.host + ":" + std::to_string(backend.port);
  if (timed_out) co_return where + ": no answer within 1 s";
  if (ec) co_return where + ": " + ec.message();
  socket->close(ec);
  co_return std::string();
}

void AdminServer::auditAdmin(std::string decision, std::string client, std::string reason) {
  if (!state_->audit) return;
  policy::AuditEvent event;
  event.kind = "admin";
  event.decision = std::move(decision);
  event.client = std::move(client);
  event.reason = std::move(reason);
  event.policy_version = state_->policies.current()->version;
  state_->audit->record(std::move(event));
}

}  // namespace tenantwall::proxy
