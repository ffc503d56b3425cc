// A simple query on a fresh service connection: send, collect DataRows until ReadyForQuery.
#include "proxy/service_query.h"

#include "protocol/encoder.h"
#include "protocol/messages.h"
#include "proxy/backend_connection.h"
#include "proxy/frame_reader.h"

namespace tenantwall::proxy {

awaitable<std::expected<std::vector<ServiceRow>, std::string>> runServiceQuery(
    const BackendConfig& config, std::string_view application_name, std::string_view sql) {
  const std::vector<std::pair<std::string, std::string>> params = {
      {std::string("application_name"), std::string(application_name)}};
  auto connection = co_await connectBackend(config, params);
  if (!connection) co_return std::unexpected(connection.error());
  std::string out;
  protocol::appendQuery(out, sql);
  boost::system::error_code ec;
  co_await asio::async_write(connection->socket, asio::buffer(out),
                             asio::redirect_error(use_awaitable, ec));
  if (ec) co_return std::unexpected("cannot send the query: " + ec.message());
  FrameReader reader(connection->socket, protocol::kDefaultMaxMessage);
  std::vector<ServiceRow> rows;
  std::string failure;
  for (;;) {
    auto read = co_await reader.next();
    if (read.status != ReadStatus::kOk)
      co_return std::unexpected(std::string("connection lost while reading the answer"));
    const auto& frame = read.frame;
    if (frame.tag == protocol::btag::kDataRow) {
      auto row = protocol::parseDataRow(frame.body);
      if (!row) co_return std::unexpected(std::string("malformed data row"));
      rows.push_back(std::move(*row));
    } else if (frame.tag == protocol::btag::kErrorResponse) {
      auto fields = protocol::parseErrorFields(frame.body);
      failure = fields ? protocol::errorField(*fields, 'M') : "error response";
    } else if (frame.tag == protocol::btag::kReadyForQuery) {
      break;
    }
  }
  out.clear();
  protocol::appendTerminate(out);
  co_await asio::async_write(connection->socket, asio::buffer(out),
                             asio::redirect_error(use_awaitable, ec));
  if (!failure.empty()) co_return std::unexpected("query failed: " + failure);
  co_return rows;
}

std::expected<std::vector<ServiceRow>, std::string> runServiceQueryNow(
    const BackendConfig& config, std::string_view application_name, std::string_view sql) {
  asio::io_context io;
  std::expected<std::vector<ServiceRow>, std::string> result =
      std::unexpected(std::string("the query did not finish"));
  asio::co_spawn(
      io,
      [&]() -> awaitable<void> {
        result = co_await runServiceQuery(config, application_name, sql);
      },
      asio::detached);
  io.run();
  return result;
}

}  // namespace tenantwall::proxy
