// Accept loop, signals and I/O threads.
#include "proxy/server.h"

#include <csignal>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include "protocol/encoder.h"
#include "protocol/sqlstate.h"
#include "proxy/admin_server.h"
#include "proxy/asio.h"
#include "proxy/available_cpus.h"
#include "proxy/client_session.h"
#include "proxy/column_facts_reader.h"
#include "proxy/io_threads.h"
#include "proxy/log.h"
#include "proxy/pii_scan.h"
#include "proxy/policy_watcher.h"
#include "proxy/service_query.h"

namespace tenantwall::proxy {
namespace {

awaitable<void> refuseConnection(tcp::socket socket) {
  std::string out;
  protocol::appendErrorResponse(out, protocol::makeFatal(protocol::sqlstate::kTooManyConnections,
                                                         "sorry, too many clients already"));
  boost::system::error_code ec;
  co_await asio::async_write(socket, asio::buffer(out), asio::redirect_error(use_awaitable, ec));
}

awaitable<void> acceptLoop(tcp::acceptor& acceptor, IoThreads& threads,
                           std::shared_ptr<ServerState> state) {
  for (;;) {
    // The session lives on the thread whose context owns its socket; one thread runs that
    // context, so the session's handlers never run concurrently.
    asio::io_context& context = threads.next();
    tcp::socket socket(context);
    boost::system::error_code ec;
    co_await acceptor.async_accept(socket, asio::redirect_error(use_awaitable, ec));
    if (ec == asio::error::operation_aborted) co_return;
    if (ec) {
      logLine(LogLevel::kWarn, "accept failed: " + ec.message());
      continue;
    }
    if (state->connections.fetch_add(1) >= state->config.max_connections) {
      state->connections.fetch_sub(1);
      asio::co_spawn(context, refuseConnection(std::move(socket)), asio::detached);
      continue;
    }
    asio::co_spawn(context, runClientSession(std::move(socket), state), asio::detached);
  }
}

// Reads the live schema's facts (which columns' equality is leakproof, unique and foreign keys,
// inheritance) at start, then every 10 seconds and within a second of every policy reload, so
// a schema change is guarded without a restart; a failure keeps what was known (at first
// nothing: no pushdown, writes to protected tables and EXPLAIN refused 55000).
awaitable<void> refreshColumnFacts(std::shared_ptr<ServerState> state,
                                   std::function<void()> after_first_read) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  bool failing = false;
  for (;;) {
    state->facts_wanted = false;
    auto facts = co_await readColumnFacts(state->backendConfig());
    if (facts) {
      const std::size_t count = facts->leakproof_equality.size();
      if (state->policies.applyColumnFacts(std::move(*facts))) {
        const auto version = state->policies.current()->version;
        const std::string what = "column facts read: " + std::to_string(count) +
                                 " columns with leakproof equality; policy version " +
                                 std::to_string(version);
        logLine(LogLevel::kInfo, what);
        state->metrics.policyVersion(version);
        if (state->audit) {
          policy::AuditEvent event;
          event.kind = "policy";
          event.decision = "ok";
          event.policy_version = version;
          event.reason = what;
          state->audit->record(std::move(event));
        }
      }
      failing = false;
    } else if (!failing) {
      logLine(LogLevel::kWarn,
              "cannot read column facts (no predicate pushdown until then): " + facts.error());
      failing = true;
    }
    if (after_first_read) std::exchange(after_first_read, {})();  // facts applied (or failed)
    const auto next = std::chrono::steady_clock::now() +
                      (failing ? std::chrono::seconds(5) : std::chrono::seconds(10));
    while (std::chrono::steady_clock::now() < next && !state->facts_wanted) {
      timer.expires_after(std::chrono::seconds(1));
      boost::system::error_code ec;
      co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
      if (ec || state->drain.draining()) co_return;
    }
  }
}

// The live schema's tables and columns, for the check of every policy load
// (policy/schema_check.h). Runs its own short-lived io_context: loads are rare, and a reload
// must not be answered before the check is done.
std::expected<policy::SchemaColumns, std::string> readSchemaColumns(const BackendConfig& backend) {
  auto rows = runServiceQueryNow(backend, "tenantwall schema check", policy::kSchemaColumnsQuery);
  if (!rows) return std::unexpected(rows.error());
  return policy::schemaColumnsFromRows(*rows);
}

// Re-reads backend.password_file, if there is one, for backend connections opened from now on;
// a file that cannot be read keeps the running password.
void reloadBackendPassword(ServerState& state) {
  if (state.config.backend.password_file.empty()) return;
  auto password = readBackendPasswordFile(state.config.backend);
  if (!password) {
    logLine(LogLevel::kError, "backend.password_file not reloaded, keeping the running password: " +
                                  password.error());
    return;
  }
  if (*password == *state.backend_password.load()) return;
  state.backend_password.store(std::make_shared<const std::string>(std::move(*password)));
  logLine(LogLevel::kInfo, "backend password reloaded from " + state.config.backend.password_file +
                               "; new backend connections use it");
}

// Who wrote and approved the accepted policy and who gains or loses what (issue 10), for the
// audit reason; the author also becomes the event's user, and each change is logged.
std::string describeChange(const PolicyChange& change, policy::AuditEvent& event) {
  std::string out;
  if (!change.author.empty()) {
    out += ", author " + change.author;
    event.user = change.author;
  }
  if (!change.approver.empty()) out += ", approved by " + change.approver;
  if (!change.first) {
    std::string lines;
    for (const auto& line : change.diff) {
      logLine(LogLevel::kInfo, "policy change: " + line);
      lines.append(lines.empty() ? "" : "; ").append(line);
    }
    out += lines.empty() ? "; no change in access" : "; changes: " + lines;
  }
  return out;
}

// What PII auto-detection found on the last load and did about it (policy/pii_masks.h), logged
// and returned for the load's audit event: names, kinds, counts and shares, never a value.
std::string reportPiiScan(const ServerState& state) {
  const auto pii = state.policies.lastPiiScan();
  std::string summary = policy::piiSummary(pii.report, pii.scan);
  logLine(pii.scan.warning.empty() ? LogLevel::kInfo : LogLevel::kWarn, summary);
  return summary;
}

// Reloads the policy, keeping the running one on failure; says so in the log, the audit log
// and the metrics. Returns the error, empty on success.
std::string reloadPolicy(ServerState& state, std::string_view trigger) {
  reloadBackendPassword(state);
  std::string error = state.policies.reload();
  state.facts_wanted = true;  // an operator reloading may just have changed the schema too
  const auto current = state.policies.current();
  state.metrics.policyReloaded(error.empty(), current->version, error);
  policy::AuditEvent event;
  event.kind = "policy";
  event.policy_version = current->version;
  if (error.empty()) {
    logLine(LogLevel::kInfo, "policy reloaded (" + std::string(trigger) + "), version " +
                                 std::to_string(current->version) + ", sha256 " + current->hash);
    if (std::string warning = state.policies.lastSchemaWarning(); !warning.empty())
      logLine(LogLevel::kWarn, warning);
    event.decision = "ok";
    event.reason = "reloaded (" + std::string(trigger) + "), sha256 " + current->hash +
                   describeChange(state.policies.lastChange(), event) + "; " + reportPiiScan(state);
  } else {
    logLine(LogLevel::kError, "policy reload rejected (" + std::string(trigger) +
                                  "), keeping the running policy: " + error);
    event.decision = "fail";
    event.reason = "reload rejected (" + std::string(trigger) + "): " + error;
  }
  if (state.audit) state.audit->record(std::move(event));
  return error;
}

}  // namespace

int runServer(const Config& config) {
  auto state = std::make_shared<ServerState>(config);
  if (config.policy_schema_check) {
    ServerState* shared = state.get();  // the store lives and dies with the state
    state->policies.setSchemaSource(
        [shared] { return readSchemaColumns(shared->backendConfig()); });
  }
  {
    ServerState* shared = state.get();  // the store lives and dies with the state
    state->policies.setPiiSource([shared](const policy::Policy& loaded) {
      return scanForPolicyLoad(shared->backendConfig(), loaded);
    });
  }
  if (!config.approval.approvers_dir.empty()) {
    auto approvers = policy::ApproverKeys::loadDirectory(config.approval.approvers_dir);
    if (!approvers) throw std::runtime_error("approval.approvers_dir: " + approvers.error());
    logLine(LogLevel::kInfo, "policy changes need approval by one of " +
                                 std::to_string(approvers->ids().size()) + " approvers in " +
                                 config.approval.approvers_dir);
    state->policies.requireApproval(std::move(*approvers));
  }
  if (std::string error = state->policies.reload(); !error.empty())
    throw std::runtime_error("cannot load policy: " + error);
  const auto policy = state->policies.current();
  logLine(LogLevel::kInfo, "policy " + config.policy_path + " loaded, sha256 " + policy->hash);
  if (std::string warning = state->policies.lastSchemaWarning(); !warning.empty())
    logLine(LogLevel::kWarn, warning);
  state->metrics.policyLoaded(policy->version);
  const std::string pii_summary = reportPiiScan(*state);
  if (!config.audit.path.empty()) {
    auto log = AuditLog::open(auditOptions(config.audit));
    if (!log) throw std::runtime_error("cannot open the audit log: " + log.error());
    state->audit = std::move(*log);
    policy::AuditEvent event;
    event.kind = "policy";
    event.decision = "ok";
    event.policy_version = policy->version;
    event.reason = "loaded at start-up from " + config.policy_path + ", sha256 " + policy->hash +
                   describeChange(state->policies.lastChange(), event) + "; " + pii_summary;
    state->audit->record(std::move(event));
    logLine(LogLevel::kInfo, "audit log " + config.audit.path);
  }

  const unsigned io_threads =
      config.io_threads != 0 ? config.io_threads : autoIoThreads(availableCpus());
  IoThreads threads(io_threads);
  asio::io_context& io = threads.main();
  tcp::acceptor acceptor(io);
  const tcp::endpoint endpoint(asio::ip::make_address(config.listen_host), config.listen_port);
  acceptor.open(endpoint.protocol());
  acceptor.set_option(tcp::acceptor::reuse_address(true));
  acceptor.bind(endpoint);
  acceptor.listen(asio::socket_base::max_listen_connections);
  const auto bound = acceptor.local_endpoint();
  logLine(LogLevel::kInfo, "tenantwall listening on " + bound.address().to_string() + ":" +
                               std::to_string(bound.port()));
  // After the line above: tools take the first "listening on" line for the client port.
  logLine(LogLevel::kInfo, std::to_string(io_threads) + " I/O thread" +
                               (io_threads == 1 ? "" : "s") +
                               (config.io_threads == 0 ? " (io_threads: auto)" : ""));
  std::optional<AdminServer> admin;
  if (config.admin.port) {
    admin.emplace(io, state,
                  [&state](std::string_view trigger) { return reloadPolicy(*state, trigger); });
    admin->start();
  }

  PolicyWatcher watcher(io, config.policy_path, std::chrono::milliseconds(config.policy_poll_ms),
                        [&state] { reloadPolicy(*state, "file changed"); });
  watcher.watchAlso([&state] {  // the JWT key set rotates by replacing its file alone
    const auto current = state->policies.current();
    std::vector<std::string> files;
    if (current->jwt) files.push_back(current->jwt->jwks_file);
    return files;
  });
  if (config.policy_poll_ms > 0) watcher.start();

  // Graceful drain: idle sessions close at once, sessions in a transaction may finish it,
  // until drain_timeout_ms; then the process stops.
  asio::steady_timer drain_timer(io);
  std::chrono::steady_clock::time_point drain_deadline;
  std::function<void()> waitForDrain = [&] {
    if (state->connections.load() == 0 || std::chrono::steady_clock::now() >= drain_deadline) {
      logLine(LogLevel::kInfo,
              "stopping: " + std::to_string(state->connections.load()) + " sessions still open");
      if (admin) admin->stop();
      threads.stop();
      return;
    }
    drain_timer.expires_after(std::chrono::milliseconds(50));
    drain_timer.async_wait([&](const boost::system::error_code& ec) {
      if (!ec) waitForDrain();
    });
  };
  asio::signal_set signals(io, SIGINT, SIGTERM, SIGHUP);
  std::function<void(const boost::system::error_code&, int)> on_signal =
      [&](const boost::system::error_code& ec, int signo) {
        if (ec) return;
        if (signo == SIGHUP) {
          reloadPolicy(*state, "SIGHUP");
          signals.async_wait(on_signal);
          return;
        }
        boost::system::error_code ignored;
        acceptor.close(ignored);
        watcher.stop();
        if (state->drain.draining()) {  // a second signal: stop now
          logLine(LogLevel::kInfo, "stopping now on a second signal");
          if (admin) admin->stop();
          threads.stop();
          return;
        }
        logLine(LogLevel::kInfo, "draining on signal " + std::to_string(signo) + ": " +
                                     std::to_string(state->connections.load()) + " sessions");
        state->drain.drainAll();
        drain_deadline =
            std::chrono::steady_clock::now() + std::chrono::milliseconds(config.drain_timeout_ms);
        waitForDrain();
        signals.async_wait(on_signal);
      };
  signals.async_wait(on_signal);

  // Clients are accepted once the first read of the column facts has answered or failed: until
  // foreign keys are known, writes to protected tables are refused (55000), and a client
  // connecting in the first milliseconds should not meet that. Connections wait in the backlog;
  // a database that accepts but does not answer delays them by at most five seconds.
  asio::steady_timer accept_anyway(io, std::chrono::seconds(5));
  auto accepting = std::make_shared<std::once_flag>();
  auto startAccepting = [&io, &acceptor, &threads, &accept_anyway, state, accepting] {
    std::call_once(*accepting, [&] {
      accept_anyway.cancel();  // so a drain right after start does not wait for it
      asio::co_spawn(io, acceptLoop(acceptor, threads, state), asio::detached);
    });
  };
  accept_anyway.async_wait([startAccepting](const boost::system::error_code& ec) {
    if (!ec) startAccepting();
  });
  asio::co_spawn(io, refreshColumnFacts(state, startAccepting), asio::detached);
  asio::co_spawn(io, state->pool.sweep(), asio::detached);
  threads.run();
  state->pool.closeIdle();  // before the contexts are destroyed: the sockets belong to them
  if (state->audit) state->audit->flush();
  return 0;
}

}  // namespace tenantwall::proxy
