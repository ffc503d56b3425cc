// The one place Boost.Asio is included, with the ordering Boost 1.74 needs for coroutines.
#pragma once

#include <utility>  // must precede asio/awaitable.hpp on Boost 1.74

#include <boost/asio.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace tenantwall::proxy {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
template <typename T>
using awaitable = asio::awaitable<T>;
using asio::use_awaitable;

}  // namespace tenantwall::proxy
