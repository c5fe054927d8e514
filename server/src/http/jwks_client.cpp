// fetch_jwks (jwks_fetcher.hpp): one HTTP/1.1 GET over Boost.Beast, plain
// or TLS, on an io_context of its own run on the calling thread (the
// jwks_cache's thread), each step under a deadline. Structure follows
// Beast's example/http/client/async-ssl: resolve, connect, handshake,
// write, read; the steps are run one at a time, which keeps the code
// linear while every wait stays bounded by a timer.

#include <hearth/server/jwks_fetcher.hpp>

#include "http/client_steps.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace hearth::server::auth {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using steady = std::chrono::steady_clock;

hearth::unexpected<hearth::error> fail(std::string code, std::string message) {
  return hearth::unexpected(hearth::error{std::move(code), std::move(message), {}});
}

/// Runs the one asynchronous operation `start` begins (given a handler) to
/// its end on `ioc`, and returns its error code. The operation's own
/// deadline (tcp_stream's timer, or the resolve timer) bounds the wait.
template <class Start>
beast::error_code run_step(net::io_context& ioc, Start&& start) {
  beast::error_code result = net::error::would_block;
  start([&result](beast::error_code ec, auto&&...) { result = ec; });
  ioc.restart();
  ioc.run();
  return result;
}

/// The client TLS context: TLS 1.2 or later (SECURITY.md: "TLS 1.2+";
/// RFC 8996 deprecates 1.0 and 1.1), peer verification against the system
/// trust store. Made per fetch (once an hour or so), so that an updated
/// trust store is picked up without a restart.
hearth::result<void> configure_context(ssl::context& ctx) {
  if (SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION) != 1)
    return fail("unavailable", "TLS: this OpenSSL cannot require TLS 1.2");
  beast::error_code ec;
  ctx.set_default_verify_paths(ec);
  if (ec) return fail("unavailable", "TLS: the system trust store cannot be loaded");
  ctx.set_verify_mode(ssl::verify_peer);
  return {};
}

/// What the server answered.
struct raw_response {
  unsigned status = 0;
  std::string cache_control;
  std::string body;
};

/// Sends the GET and reads the answer on a connected (and, for TLS,
/// handshaken) stream, within the deadline already set on its lowest layer.
template <class Stream>
hearth::result<raw_response> exchange(net::io_context& ioc, Stream& stream, const jwks_location& loc,
                                      const jwks_fetch_options& opts) {
  http::request<http::empty_body> req{http::verb::get, loc.target, 11};
  req.set(http::field::host, loc.host_header);
  req.set(http::field::user_agent, "hearth");
  // RFC 7517 8.5: application/jwk-set+json; most servers say application/json.
  req.set(http::field::accept, "application/jwk-set+json, application/json");
  req.set(http::field::connection, "close");
  beast::error_code ec = run_step(ioc, [&](auto handler) { http::async_write(stream, req, std::move(handler)); });
  if (ec == beast::error::timeout) return fail("unavailable", "sending the JWKS request timed out");
  if (ec) return fail("unavailable", "sending the JWKS request failed: " + ec.message());

  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  // Limits checked as the bytes arrive, not after: a huge answer is cut off.
  parser.body_limit(opts.max_body_bytes);
  parser.header_limit(static_cast<std::uint32_t>(opts.max_header_bytes));
  ec = run_step(ioc, [&](auto handler) { http::async_read(stream, buffer, parser, std::move(handler)); });
  if (ec == http::error::body_limit)
    return fail("bad-response", "the JWKS response is larger than " + std::to_string(opts.max_body_bytes) + " bytes");
  if (ec == http::error::header_limit) return fail("bad-response", "the JWKS response headers are too large");
  if (ec == beast::error::timeout) return fail("unavailable", "reading the JWKS response timed out");
  // Over TLS a close without close_notify before the message's end is a
  // possible truncation (RFC 8446 6.1): refused like any other read error.
  if (ec) return fail("unavailable", "reading the JWKS response failed: " + ec.message());

  raw_response out;
  auto& res = parser.get();
  out.status = res.result_int();
  // Several Cache-Control fields are one list (RFC 9110 5.3).
  for (auto it = res.find(http::field::cache_control); it != res.end() && it->name() == http::field::cache_control;
       ++it) {
    if (!out.cache_control.empty()) out.cache_control += ',';
    out.cache_control += std::string(it->value());
  }
  out.body = std::move(res.body());
  return out;
}

}  // namespace

hearth::result<fetched_jwks> fetch_jwks(std::string_view uri, const jwks_fetch_options& opts) {
  auto loc = parse_jwks_uri(uri);
  if (!loc) return hearth::unexpected(loc.error());
  const steady::time_point connect_deadline = steady::now() + opts.connect_timeout;

  net::io_context ioc(1);

  // Resolve, under the connect deadline. (A cancelled lookup still ends in
  // the resolver's thread; getaddrinfo's own timeouts bound that.)
  tcp::resolver resolver(ioc);
  net::steady_timer resolve_timer(ioc);
  tcp::resolver::results_type resolved;
  beast::error_code ec = run_step(ioc, [&](auto handler) {
    resolve_timer.expires_at(connect_deadline);
    resolve_timer.async_wait([&resolver](beast::error_code e) {
      if (!e) resolver.cancel();
    });
    resolver.async_resolve(loc->host, std::to_string(loc->port),
                           [&, handler = std::move(handler)](beast::error_code e, tcp::resolver::results_type r) mutable {
                             resolve_timer.cancel();
                             resolved = std::move(r);
                             handler(e);
                           });
  });
  if (ec == net::error::operation_aborted) return fail("unavailable", "resolving the JWKS host timed out");
  if (ec) return fail("unavailable", "cannot resolve the JWKS host: " + ec.message());

  // Plain HTTP is allowed to a loopback host only (parse_jwks_uri): if
  // "localhost" resolves elsewhere, that is not what was allowed.
  std::vector<tcp::endpoint> endpoints;
  for (const auto& entry : resolved) {
    if (loc->https || entry.endpoint().address().is_loopback()) endpoints.push_back(entry.endpoint());
  }
  if (endpoints.empty()) return fail("unavailable", "the JWKS host resolves to no address that may be used");

  const auto connect_left = [&] {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(connect_deadline - steady::now());
    return left.count() > 0 ? left : std::chrono::milliseconds(1);
  };
  const auto connect_error = [](beast::error_code e) {
    return e == beast::error::timeout ? fail("unavailable", "connecting to the JWKS host timed out")
                                      : fail("unavailable", "cannot connect to the JWKS host: " + e.message());
  };

  hearth::result<raw_response> got = fail("unavailable", "no answer");
  if (!loc->https) {
    beast::tcp_stream stream(ioc);
    stream.expires_after(connect_left());
    ec = run_step(ioc, [&](auto handler) { stream.async_connect(endpoints, std::move(handler)); });
    if (ec) return connect_error(ec);
    stream.expires_after(opts.exchange_timeout);
    got = exchange(ioc, stream, *loc, opts);
  } else {
    ssl::context ctx(ssl::context::tls_client);
    if (auto ok = configure_context(ctx); !ok) return hearth::unexpected(ok.error());
    beast::ssl_stream<beast::tcp_stream> stream(ioc, ctx);
    SSL* ssl_handle = stream.native_handle();
    // The certificate must name the host we asked for: a mismatch fails
    // verification during the handshake.
    if (!http_client_detail::expect_peer_name(ssl_handle, loc->host))
      return fail("unavailable", "TLS: cannot set the host to verify");
    beast::get_lowest_layer(stream).expires_after(connect_left());
    ec = run_step(ioc, [&](auto handler) { beast::get_lowest_layer(stream).async_connect(endpoints, std::move(handler)); });
    if (ec) return connect_error(ec);
    // One deadline for the handshake and the whole exchange.
    beast::get_lowest_layer(stream).expires_after(opts.exchange_timeout);
    ec = run_step(ioc, [&](auto handler) { stream.async_handshake(ssl::stream_base::client, std::move(handler)); });
    if (ec) {
      if (ec == beast::error::timeout) return fail("unavailable", "the TLS handshake with the JWKS host timed out");
      const long verify = SSL_get_verify_result(ssl_handle);
      if (verify != X509_V_OK)
        return fail("unavailable", std::string("the JWKS host's certificate is not trusted: ") +
                                       X509_verify_cert_error_string(verify));
      return fail("unavailable", "the TLS handshake with the JWKS host failed: " + ec.message());
    }
    got = exchange(ioc, stream, *loc, opts);
    // No close_notify exchange: the whole answer is read, and the
    // connection (Connection: close) is dropped with the stream.
  }
  if (!got) return hearth::unexpected(got.error());
  return jwks_from_response(got->status, got->cache_control, got->body);
}

}  // namespace hearth::server::auth
