// The admin HTTP endpoint: liveness and readiness probes, Prometheus metrics, the running
// policy, and an authenticated reload. Minimal HTTP/1.1, one request per connection, bounded
// in size and time so a slow or hostile client cannot hold it.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "proxy/asio.h"
#include "proxy/client_session.h"

namespace tenantwall::proxy {

// Reloads the policy exactly as SIGHUP does; returns the error, empty on success.
using ReloadPolicy = std::function<std::string(std::string_view trigger)>;

// The parts of a request the endpoint looks at.
struct AdminRequest {
  std::string method;
  std::string path;   // without the query string
  std::string query;  // after '?', undecoded
  std::string authorization;
  std::size_t content_length = 0;
  std::string body;  // read by serve() before dispatch
};

// The value of name in a query string (percent- and '+'-decoded); empty when absent.
std::string queryParameter(std::string_view query, std::string_view name);

struct AdminResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::string extra_headers;  // whole header lines, each ending in \r\n
};

// Parses a request head (request line and headers, through the blank line); nullopt when it is
// not HTTP/1.x.
std::optional<AdminRequest> parseAdminRequest(std::string_view head);
// True when authorization is "Bearer <token>" for the configured token; compares in constant
// time. Never true for an empty token.
bool bearerMatches(std::string_view authorization, std::string_view token);
// The response bytes, with Content-Length and Connection: close.
std::string renderAdminResponse(const AdminResponse& response);

class AdminServer {
 public:
  AdminServer(asio::io_context& io, std::shared_ptr<ServerState> state, ReloadPolicy reload);

  // Binds admin.listen_host:admin.port (exception on failure: start-up), prints
  // "tenantwall admin listening on HOST:PORT" and starts accepting.
  void start();
  void stop();

 private:
  using Handler = awaitable<AdminResponse> (AdminServer::*)(const AdminRequest&,
                                                            const std::string& peer);
  struct Route {
    std::string_view method;
    std::string_view path;
    Handler handler;
  };
  static const Route kRoutes[];

  awaitable<void> acceptLoop();
  awaitable<void> serve(std::shared_ptr<tcp::socket> socket);
  awaitable<AdminResponse> dispatch(const AdminRequest& request, const std::string& peer);

  awaitable<AdminResponse> onHealthz(const AdminRequest&, const std::string& peer);
  awaitable<AdminResponse> onReadyz(const AdminRequest&, const std::string& peer);
  awaitable<AdminResponse> onMetrics(const AdminRequest&, const std::string& peer);
  awaitable<AdminResponse> onPolicy(const AdminRequest&, const std::string& peer);
  awaitable<AdminResponse> onReload(const AdminRequest&, const std::string& peer);
  awaitable<AdminResponse> onExplain(const AdminRequest&, const std::string& peer);
  awaitable<AdminResponse> onSchema(const AdminRequest&, const std::string& peer);
  awaitable<AdminResponse> onRollback(const AdminRequest&, const std::string& peer);

  // The refusal when a mutating or revealing endpoint lacks the bearer token (audited).
  std::optional<AdminResponse> refuseWithoutToken(const AdminRequest& request,
                                                  const std::string& peer, std::string_view what);

  // Empty when PostgreSQL accepts a TCP connection within a second, else why not.
  awaitable<std::string> probeBackend();
  void auditAdmin(std::string decision, std::string client, std::string reason);

  asio::io_context& io_;
  tcp::acceptor acceptor_;
  std::shared_ptr<ServerState> state_;
  ReloadPolicy reload_;
};

}  // namespace tenantwall::proxy
