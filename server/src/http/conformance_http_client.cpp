// http_exchange (conformance/http_client.hpp): one HTTP/1.1 request and its
// response on a connection of its own, plain or TLS, on an io_context of
// its own run on the calling thread. As mllp_client.cpp and
// jwks_client.cpp: resolve, connect, handshake, write, read, one step at a
// time, each bounded by a deadline after which the socket is closed.
// Beast's parser reads Content-Length and chunked bodies (RFC 9112 6.3) and
// bodies ended by the connection's close.

#include <hearth/server/conformance/http_client.hpp>

#include "http/client_steps.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <optional>
#include <string>
#include <utility>

namespace hearth::server::conformance {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using boost::system::error_code;
using steady = std::chrono::steady_clock;

/// Largest response head (status line and headers): 64 KiB. Our own
/// listener sends a few hundred bytes; other servers' cookies and security
/// headers can run to several KiB, so the limit is generous while bounding
/// what one answer can make us hold before its body.
constexpr std::uint32_t max_header_bytes = 64u << 10;

hearth::unexpected<hearth::error> fail(std::string code, std::string message) {
  return hearth::unexpected(hearth::error{std::move(code), std::move(message), {}, hearth::error::npos});
}

using http_client_detail::run_step;

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

/// RFC 9110 5.6.2 token characters (method and field names).
bool is_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
  });
}

/// RFC 9110 5.5: a field value holds no CR, LF or NUL (they would end the
/// header and let a value inject others).
bool is_field_value(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

/// An http(s) URL taken apart.
struct target_url {
  bool https = false;
  std::string host;  ///< without brackets for IPv6
  std::uint16_t port = 80;
  std::string target;       ///< path and query, "/" at least
  std::string host_header;  ///< RFC 9110 7.2: host[:port], port only when not the default
};

hearth::result<target_url> parse_url(std::string_view url) {
  // RFC 3986 section 3: scheme "://" authority path-abempty [ "?" query ] [ "#" fragment ].
  for (char c : url) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7F)
      return fail("invalid", "the URL holds a space or a control character (percent-encode it)");
  }
  target_url out;
  const std::size_t colon = url.find("://");
  if (colon == std::string_view::npos) return fail("invalid", "the URL must start with http:// or https://");
  const std::string_view scheme = url.substr(0, colon);
  if (iequals(scheme, "https")) {
    out.https = true;
    out.port = 443;
  } else if (!iequals(scheme, "http")) {
    return fail("invalid", "the URL must start with http:// or https://");
  }
  std::string_view rest = url.substr(colon + 3);
  const std::size_t end = rest.find_first_of("/?#");
  const std::string_view authority = rest.substr(0, end);
  rest = end == std::string_view::npos ? std::string_view() : rest.substr(end);
  if (authority.find('@') != std::string_view::npos)
    return fail("invalid", "user information in the URL is not supported (send credentials in a header)");
  std::string_view host = authority, port;
  if (authority.starts_with('[')) {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return fail("invalid", "the URL's IPv6 address lacks its ']'");
    host = authority.substr(1, close - 1);
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return fail("invalid", "the URL's authority is malformed");
      port = after.substr(1);
    }
  } else if (const std::size_t c = authority.rfind(':'); c != std::string_view::npos) {
    host = authority.substr(0, c);
    port = authority.substr(c + 1);
  }
  if (host.empty()) return fail("invalid", "the URL has no host");
  out.host = std::string(host);
  if (!port.empty()) {
    unsigned p = 0;
    auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (ec != std::errc() || ptr != port.data() + port.size() || p == 0 || p > 65535)
      return fail("invalid", "the URL's port is not a number from 1 to 65535");
    out.port = static_cast<std::uint16_t>(p);
  }
  // The fragment is never sent (RFC 9110 7.1).
  rest = rest.substr(0, rest.find('#'));
  out.target = rest.starts_with('/') ? std::string(rest) : "/" + std::string(rest);
  out.host_header = authority.starts_with('[') ? "[" + out.host + "]" : out.host;
  if (out.port != (out.https ? 443 : 80)) out.host_header += ":" + std::to_string(out.port);
  return out;
}

/// The client TLS context: TLS 1.2 or later (SECURITY.md: "TLS 1.2+";
/// RFC 8996), the server verified against ca_file or the system store.
hearth::result<void> configure_context(ssl::context& ctx, const http_client_options& opts) {
  if (auto trusted = http_client_detail::verify_peers(ctx, opts.ca_file); !trusted) return trusted;
  return {};
}

/// Writes the request and reads the response on a connected (and, for TLS,
/// handshaken) stream, within one deadline.
template <class Stream>
hearth::result<client_response> exchange(net::io_context& ioc, Stream& stream, tcp::socket& socket,
                                         const http::request<http::string_body>& req, bool head,
                                         const http_client_options& opts) {
  const auto cut = [&socket] {
    error_code ignored;
    socket.close(ignored);
  };
  const steady::time_point deadline = steady::now() + opts.timeout;
  error_code ec = run_step(
      ioc, deadline - steady::now(), [&](auto handler) { http::async_write(stream, req, std::move(handler)); }, cut);
  if (ec == net::error::timed_out) return fail("timeout", "sending the request timed out");
  if (ec) return fail("unavailable", "sending the request failed: " + ec.message());

  beast::flat_buffer buffer;
  std::optional<http::response_parser<http::string_body>> parser;
  for (;;) {
    parser.emplace();
    // Limits checked as the bytes arrive, not after: a huge answer is cut off.
    parser->body_limit(opts.max_body_bytes);
    parser->header_limit(max_header_bytes);
    // A response to HEAD has no body whatever its Content-Length says (RFC 9110 9.3.2).
    if (head) parser->skip(true);
    ec = run_step(
        ioc, deadline - steady::now(),
        [&](auto handler) { http::async_read(stream, buffer, *parser, std::move(handler)); }, cut);
    if (ec) break;
    // An interim 1xx answer (RFC 9110 15.2: 103 Early Hints, ...) is
    // followed by the final one; 101 would switch protocols, which we never ask for.
    const unsigned status = parser->get().result_int();
    if (status < 100 || status > 199 || status == 101) break;
  }
  if (ec == net::error::timed_out) return fail("timeout", "no complete response within the timeout");
  if (ec == http::error::body_limit)
    return fail("bad-response", "the response body is larger than " + std::to_string(opts.max_body_bytes) + " bytes");
  if (ec == http::error::header_limit) return fail("bad-response", "the response headers are larger than 64 KiB");
  if (ec == http::error::end_of_stream)
    return fail("unavailable", "the server closed the connection without answering");
  if (ec == http::error::partial_message)
    return fail("bad-response", "the server closed the connection in the middle of its response");
  // Over TLS a close without close_notify before the message's end is a
  // possible truncation (RFC 8446 6.1): refused like a partial message.
  if (ec == ssl::error::stream_truncated)
    return fail("bad-response", "the TLS connection ended without close_notify before the response was complete");
  if (ec && ec.category() == http::make_error_code(http::error::bad_version).category())
    return fail("bad-response", "the answer is not an HTTP/1.x response: " + ec.message());
  if (ec) return fail("unavailable", "reading the response failed: " + ec.message());

  client_response out;
  auto& res = parser->get();
  out.status = res.result_int();
  for (const auto& field : res) out.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  out.body = std::move(res.body());
  return out;
}

}  // namespace

hearth::result<client_response> http_exchange(const client_request& req, const http_client_options& opts) {
  auto url = parse_url(req.url);
  if (!url) return hearth::unexpected(url.error());
  if (!is_token(req.method)) return fail("invalid", "the method is not an HTTP token");
  if (opts.timeout.count() <= 0) return fail("invalid", "the timeout must be positive");

  http::request<http::string_body> msg;
  msg.version(11);
  if (const http::verb v = http::string_to_verb(req.method); v != http::verb::unknown) {
    msg.method(v);
  } else {
    msg.method_string(req.method);
  }
  msg.target(url->target);
  msg.set(http::field::host, url->host_header);
  bool user_agent = false, connection = false;
  for (const auto& [name, value] : req.headers) {
    if (!is_token(name) || !is_field_value(value))
      return fail("invalid", "a request header has a malformed name or a line break in its value");
    // The client frames the message itself: Host and Content-Length are its own.
    if (iequals(name, "Host") || iequals(name, "Content-Length") || iequals(name, "Transfer-Encoding")) continue;
    user_agent = user_agent || iequals(name, "User-Agent");
    connection = connection || iequals(name, "Connection");
    msg.insert(name, value);
  }
  if (!user_agent) msg.set(http::field::user_agent, "hearth-conformance");
  // One request per connection: say so (RFC 9112 9.6).
  if (!connection) msg.set(http::field::connection, "close");
  msg.body() = req.body;
  msg.prepare_payload();
  const bool head = msg.method() == http::verb::head;

  net::io_context ioc(1);
  const steady::time_point connect_deadline = steady::now() + opts.timeout;
  const std::string where = url->host + ":" + std::to_string(url->port);

  auto resolved = http_client_detail::resolve(ioc, url->host, url->port, connect_deadline);
  if (!resolved) return hearth::unexpected(resolved.error());

  std::optional<ssl::context> ctx;
  if (url->https) {
    ctx.emplace(ssl::context::tls_client);
    if (auto ok = configure_context(*ctx, opts); !ok) return hearth::unexpected(ok.error());
  }
  tcp::socket plain(ioc);
  std::optional<ssl::stream<tcp::socket>> secure;
  if (ctx) secure.emplace(ioc, *ctx);
  tcp::socket& socket = secure ? secure->next_layer() : plain;
  if (auto connected = http_client_detail::connect(ioc, socket, *resolved, where, connect_deadline); !connected)
    return hearth::unexpected(connected.error());
  const auto cut = [&socket] {
    error_code ignored;
    socket.close(ignored);
  };
  error_code ignored;

  if (!secure) {
    auto got = exchange(ioc, plain, plain, msg, head, opts);
    plain.shutdown(tcp::socket::shutdown_both, ignored);
    plain.close(ignored);
    return got;
  }

  SSL* ssl_handle = secure->native_handle();
  // The certificate must name the host we asked for.
  if (!http_client_detail::expect_peer_name(ssl_handle, url->host))
    return fail("unavailable", "TLS: cannot set the host to verify");
  error_code ec = run_step(
      ioc, opts.timeout, [&](auto handler) { secure->async_handshake(ssl::stream_base::client, std::move(handler)); },
      cut);
  if (ec == net::error::timed_out) return fail("timeout", "the TLS handshake with " + where + " timed out");
  if (ec) {
    const long verify = SSL_get_verify_result(ssl_handle);
    if (verify != X509_V_OK) {
      return fail("unavailable",
                  "the certificate of " + where + " is not trusted: " + X509_verify_cert_error_string(verify));
    }
    return fail("unavailable", "the TLS handshake with " + where + " failed: " + ec.message());
  }
  auto got = exchange(ioc, *secure, socket, msg, head, opts);
  // No close_notify exchange: the whole response is read (or the exchange
  // failed), and the connection (Connection: close) is dropped with the stream.
  socket.close(ignored);
  return got;
}

}  // namespace hearth::server::conformance
