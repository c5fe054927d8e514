#pragma once
// What the blocking clients of hearth::server_http share (mllp_client.cpp,
// conformance_http_client.cpp): one asynchronous step run under a deadline
// on the caller's io_context, and the test for an IP-address host (which
// gets no SNI and is matched against the certificate's IP addresses, RFC
// 6066 3, RFC 6125). Private to src/http: Asio in a header nobody else sees.

#include <arpa/inet.h>
#include <netinet/in.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <hearth/core/result.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace hearth::server::http_client_detail {

/// Runs the one asynchronous operation `start` begins (given a handler) on
/// `ioc` for at most `limit`; past it, `cancel` aborts the operation and
/// net::error::timed_out is returned. Otherwise the operation's own result.
template <class Start, class Cancel>
boost::system::error_code run_step(boost::asio::io_context& ioc, std::chrono::steady_clock::duration limit,
                                   Start&& start, Cancel&& cancel) {
  std::optional<boost::system::error_code> result;
  start([&result](boost::system::error_code ec, auto&&...) { result = ec; });
  ioc.restart();
  ioc.run_for(std::max<std::chrono::steady_clock::duration>(limit, std::chrono::milliseconds(1)));
  if (!result) {
    cancel();
    // The cancelled operation still completes (operation_aborted): let it,
    // so that nothing refers to the caller's variables afterwards.
    ioc.restart();
    ioc.run();
    return boost::asio::error::timed_out;
  }
  return *result;
}

/// True when `host` is an IPv4 or IPv6 address literal.
inline bool is_ip_literal(const std::string& host) {
  unsigned char buf[sizeof(in6_addr)];
  return ::inet_pton(AF_INET, host.c_str(), buf) == 1 || ::inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

/// Resolves `host`:`port` before `deadline`. Errors: "timeout", "unavailable".
inline hearth::result<boost::asio::ip::tcp::resolver::results_type> resolve(
    boost::asio::io_context& ioc, const std::string& host, std::uint16_t port,
    std::chrono::steady_clock::time_point deadline) {
  using results = boost::asio::ip::tcp::resolver::results_type;
  boost::asio::ip::tcp::resolver resolver(ioc);
  results resolved;
  const boost::system::error_code ec = run_step(
      ioc, deadline - std::chrono::steady_clock::now(),
      [&](auto handler) {
        resolver.async_resolve(host, std::to_string(port),
                               [&resolved, handler = std::move(handler)](boost::system::error_code e,
                                                                         results r) mutable {
                                 resolved = std::move(r);
                                 handler(e);
                               });
      },
      [&resolver] { resolver.cancel(); });
  const auto fail = [](const char* code, std::string message) {
    return hearth::unexpected(hearth::error{code, std::move(message), {}, hearth::error::npos});
  };
  if (ec == boost::asio::error::timed_out) return fail("timeout", "resolving " + host + " timed out");
  if (ec) return fail("unavailable", "cannot resolve " + host + ": " + ec.message());
  return resolved;
}

/// Connects `socket` to one of `resolved` before `deadline` (closing it past
/// that), with Nagle off: both clients write whole requests and wait for the
/// answer. `where` ("host:port") names the peer in errors: "timeout",
/// "unavailable".
inline hearth::result<void> connect(boost::asio::io_context& ioc, boost::asio::ip::tcp::socket& socket,
                                    const boost::asio::ip::tcp::resolver::results_type& resolved,
                                    const std::string& where, std::chrono::steady_clock::time_point deadline) {
  const boost::system::error_code ec = run_step(
      ioc, deadline - std::chrono::steady_clock::now(),
      [&](auto handler) { boost::asio::async_connect(socket, resolved, std::move(handler)); },
      [&socket] {
        boost::system::error_code ignored;
        socket.close(ignored);
      });
  const auto fail = [](const char* code, std::string message) {
    return hearth::unexpected(hearth::error{code, std::move(message), {}, hearth::error::npos});
  };
  if (ec == boost::asio::error::timed_out) return fail("timeout", "connecting to " + where + " timed out");
  if (ec) return fail("unavailable", "cannot connect to " + where + ": " + ec.message());
  boost::system::error_code ignored;
  socket.set_option(boost::asio::ip::tcp::no_delay(true), ignored);
  return {};
}

/// Tells OpenSSL which name the peer's certificate must carry for `host`
/// (RFC 9110 4.3.4, RFC 6125 6: checked during the handshake), and sends
/// SNI for a DNS name (RFC 6066 3: never for an address). False when
/// OpenSSL refuses the name.
inline bool expect_peer_name(SSL* ssl, const std::string& host) {
  if (is_ip_literal(host)) return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str()) == 1;
  SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  return SSL_set_tlsext_host_name(ssl, host.c_str()) == 1 && SSL_set1_host(ssl, host.c_str()) == 1;
}

/// A client TLS context's common part: TLS 1.2 or later (SECURITY.md: "TLS
/// 1.2+"; RFC 8996), no compression or renegotiation, and the peer verified
/// against `ca_file` (PEM) or, when empty, the system trust store. Errors:
/// "invalid" (the CA file cannot be loaded), "unavailable" (OpenSSL cannot
/// require TLS 1.2, or the system store cannot be loaded).
inline hearth::result<void> verify_peers(boost::asio::ssl::context& ctx, const std::string& ca_file) {
  const auto fail = [](const char* code, std::string message) {
    return hearth::unexpected(hearth::error{code, std::move(message), {}, hearth::error::npos});
  };
  if (SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION) != 1)
    return fail("unavailable", "TLS: this OpenSSL cannot require TLS 1.2");
  SSL_CTX_set_options(ctx.native_handle(), SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  boost::system::error_code ec;
  if (!ca_file.empty()) {
    ctx.load_verify_file(ca_file, ec);
    if (ec) return fail("invalid", "cannot load the CA certificates (PEM) from " + ca_file + ": " + ec.message());
  } else {
    ctx.set_default_verify_paths(ec);
    if (ec) return fail("unavailable", "TLS: the system trust store cannot be loaded");
  }
  ctx.set_verify_mode(boost::asio::ssl::verify_peer);
  return {};
}

}  // namespace hearth::server::http_client_detail
