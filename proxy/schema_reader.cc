// The live schema over the service connection: one simple query, rows collected as text.
#include "proxy/schema_reader.h"

#include "protocol/encoder.h"
#include "protocol/messages.h"
#include "proxy/backend_connection.h"
#include "proxy/frame_reader.h"

namespace tenantwall::proxy {

awaitable<std::expected<policy::LiveSchema, std::string>> readLiveSchema(
    const BackendConfig& config) {
  const std::vector<std::pair<std::string, std::string>> params = {
      {std::string("application_name"), std::string("tenantwall schema slice")}};
  auto connection = co_await connectBackend(config, params);
  if (!connection) co_return std::unexpected(connection.error());
  std::string out;
  protocol::appendQuery(out, policy::kLiveSchemaQuery);
  boost::system::error_code ec;
  co_await asio::async_write(connection->socket, asio::buffer(out),
                             asio::redirect_error(use_awaitable, ec));
  if (ec) co_return std::unexpected("cannot send the schema query: " + ec.message());
  FrameReader reader(connection->socket, protocol::kDefaultMaxMessage);
  std::vector<policy::LiveRow> rows;
  std::string failure;
  for (;;) {
    auto read = co_await reader.next();
    if (read.status != ReadStatus::kOk)
      co_return std::unexpected(std::string("connection lost while reading the schema"));
    const auto& frame = read.frame;
    if (frame.tag == protocol::btag::kDataRow) {
      auto row = protocol::parseDataRow(frame.body);
      if (!row) co_return std::unexpected(std::string("unexpected schema row"));
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
  if (!failure.empty()) co_return std::unexpected("schema query failed: " + failure);
  co_return policy::liveSchemaFromRows(rows);
}

std::expected<policy::LiveSchema, std::string> readLiveSchemaNow(const BackendConfig& config) {
  asio::io_context io;
  std::expected<policy::LiveSchema, std::string> result =
      std::unexpected(std::string("schema read did not finish"));
  asio::co_spawn(
      io, [&]() -> awaitable<void> { result = co_await readLiveSchema(config); }, asio::detached);
  io.run();
  return result;
}

}  // namespace tenantwall::proxy
