#include "proxy/column_facts_reader.h"

#include "protocol/encoder.h"
#include "protocol/messages.h"
#include "proxy/backend_connection.h"
#include "proxy/frame_reader.h"

namespace tenantwall::proxy {

awaitable<std::expected<policy::ColumnFacts, std::string>> readColumnFacts(
    const BackendConfig& config) {
  const std::vector<std::pair<std::string, std::string>> params = {
      {std::string("application_name"), std::string("tenantwall column facts")}};
  auto connection = co_await connectBackend(config, params);
  if (!connection) co_return std::unexpected(connection.error());
  std::string out;
  protocol::appendQuery(out, std::string(policy::kLeakproofColumnsQuery) + "; " +
                                 policy::kForeignKeysQuery + "; " + policy::kUniqueKeysQuery +
                                 "; " + policy::kInheritedTablesQuery);
  boost::system::error_code ec;
  co_await asio::async_write(connection->socket, asio::buffer(out),
                             asio::redirect_error(use_awaitable, ec));
  if (ec) co_return std::unexpected("cannot send the column facts query: " + ec.message());
  FrameReader reader(connection->socket, protocol::kDefaultMaxMessage);
  policy::ColumnFacts facts;
  std::string failure;
  for (;;) {
    auto read = co_await reader.next();
    if (read.status != ReadStatus::kOk) {
      co_return std::unexpected(std::string("connection lost while reading column facts"));
    }
    const auto& frame = read.frame;
    if (frame.tag == protocol::btag::kDataRow) {
      auto row = protocol::parseDataRow(frame.body);
      if (row && row->size() == 3 && (*row)[0] && (*row)[1] && (*row)[2]) {
        facts.leakproof_equality.insert(*(*row)[0] + "." + *(*row)[1] + "." + *(*row)[2]);
      } else if (!row ||
                 !(policy::addForeignKeyRow(facts, *row) || policy::addUniqueKeyRow(facts, *row) ||
                   policy::addInheritedRow(facts, *row))) {
        co_return std::unexpected(std::string("unexpected column facts row"));
      }
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
  if (!failure.empty()) co_return std::unexpected("column facts query failed: " + failure);
  facts.foreign_keys_read = true;
  co_return facts;
}

}  // namespace tenantwall::proxy
