// mllp_exchange (mllp_client.hpp): one connection, plain or TLS, on an
// io_context of its own run on the calling thread, each step under a
// deadline. As jwks_client.cpp: resolve, connect, handshake, then the
// exchange, one step at a time, which keeps the code linear while every
// wait stays bounded. Framing is hl7v2's (mllp_encode, mllp_decoder).

#include <hearth/server/mllp_client.hpp>

#include <hearth/hl7v2/mllp_frame.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace hearth::server {
namespace {

namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using boost::system::error_code;
using steady = std::chrono::steady_clock;

hearth::unexpected<hearth::error> fail(std::string code, std::string message, std::string location = {}) {
  return hearth::unexpected(hearth::error{std::move(code), std::move(message), std::move(location), hearth::error::npos});
}

/// Runs the one asynchronous operation `start` begins (given a handler) on
/// `ioc` for at most `limit`; past it, `cancel` aborts the operation and
/// net::error::timed_out is returned. Otherwise the operation's own result.
template <class Start, class Cancel>
error_code run_step(net::io_context& ioc, steady::duration limit, Start&& start, Cancel&& cancel) {
  std::optional<error_code> result;
  start([&result](error_code ec, auto&&...) { result = ec; });
  ioc.restart();
  ioc.run_for(std::max<steady::duration>(limit, std::chrono::milliseconds(1)));
  if (!result) {
    cancel();
    // The cancelled operation still completes (operation_aborted): let it,
    // so that nothing refers to this frame's variables afterwards.
    ioc.restart();
    ioc.run();
    return net::error::timed_out;
  }
  return *result;
}

bool is_ip_literal(const std::string& host) {
  unsigned char buf[sizeof(in6_addr)];
  return ::inet_pton(AF_INET, host.c_str(), buf) == 1 || ::inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

/// The client TLS context: TLS 1.2 or later (SECURITY.md: "TLS 1.2+";
/// RFC 8996), the server verified against ca_file or the system store, and
/// our certificate for mTLS when given.
hearth::result<void> configure_context(ssl::context& ctx, const mllp_client_options& opts) {
  if (SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION) != 1)
    return fail("invalid", "TLS: this OpenSSL cannot require TLS 1.2");
  SSL_CTX_set_options(ctx.native_handle(), SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  error_code ec;
  if (!opts.ca_file.empty()) {
    ctx.load_verify_file(opts.ca_file, ec);
    if (ec) return fail("invalid", "cannot load the CA certificates (PEM) from " + opts.ca_file + ": " + ec.message());
  } else {
    ctx.set_default_verify_paths(ec);
    if (ec) return fail("invalid", "TLS: the system trust store cannot be loaded");
  }
  ctx.set_verify_mode(ssl::verify_peer);
  if (!opts.cert_file.empty()) {
    // An encrypted key would otherwise make OpenSSL prompt on the terminal.
    ctx.set_password_callback([](std::size_t, ssl::context::password_purpose) { return std::string(); });
    ctx.use_certificate_chain_file(opts.cert_file, ec);
    if (ec) {
      return fail("invalid",
                  "cannot load the client certificate chain (PEM) from " + opts.cert_file + ": " + ec.message());
    }
    ctx.use_private_key_file(opts.key_file, ssl::context::pem, ec);
    if (ec) {
      return fail("invalid",
                  "cannot load the client private key (PEM, unencrypted) from " + opts.key_file + ": " + ec.message());
    }
    if (SSL_CTX_check_private_key(ctx.native_handle()) != 1) {
      return fail("invalid",
                  "the client private key in " + opts.key_file + " does not match the certificate in " + opts.cert_file);
    }
  }
  return {};
}

std::string nth(std::size_t i, std::size_t n) { return "message " + std::to_string(i + 1) + " of " + std::to_string(n); }

/// Sends the messages one at a time on a connected (and, for TLS,
/// handshaken) stream, each answer awaited before the next is sent.
template <class Stream>
hearth::result<std::vector<std::string>> converse(net::io_context& ioc, Stream& stream, tcp::socket& socket,
                                                  const mllp_client_options& opts,
                                                  const std::vector<std::string>& messages) {
  const auto cut = [&socket] {
    error_code ignored;
    socket.close(ignored);
  };
  const std::size_t n = messages.size();
  hl7v2::mllp_decoder decoder(opts.max_ack_bytes);
  std::array<char, 16 * 1024> buffer{};
  std::vector<std::string> replies;
  replies.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::string where = "message " + std::to_string(i + 1);
    const std::string answered = " (" + std::to_string(i) + " answered)";
    // One deadline for writing the message and receiving its answer.
    const steady::time_point deadline = steady::now() + opts.timeout;
    const std::string framed = hl7v2::mllp_encode(messages[i]);
    error_code ec = run_step(ioc, deadline - steady::now(),
                             [&](auto handler) { net::async_write(stream, net::buffer(framed), std::move(handler)); }, cut);
    if (ec == net::error::timed_out) return fail("timeout", "sending " + nth(i, n) + " timed out" + answered, where);
    if (ec) return fail("closed", "sending " + nth(i, n) + " failed: " + ec.message() + answered, where);

    for (;;) {
      hl7v2::mllp_item item;
      bool got = false;
      while (decoder.next(item)) {
        if (item.status == hl7v2::mllp_status::frame) {
          replies.push_back(std::move(item.payload));
          got = true;
          break;
        }
        if (item.status == hl7v2::mllp_status::frame_too_large) {
          return fail("too-long",
                      "the answer to " + nth(i, n) + " is larger than " + std::to_string(opts.max_ack_bytes) + " bytes",
                      where);
        }
        // frame_interrupted: the receiver started its answer again.
      }
      if (got) break;
      std::size_t read = 0;
      ec = run_step(
          ioc, deadline - steady::now(),
          [&](auto handler) {
            stream.async_read_some(net::buffer(buffer), [&read, handler = std::move(handler)](error_code e,
                                                                                               std::size_t k) mutable {
              read = k;
              handler(e);
            });
          },
          cut);
      if (ec == net::error::timed_out) {
        return fail("timeout",
                    "no answer to " + nth(i, n) + " within " + std::to_string(opts.timeout.count()) + " s" + answered,
                    where);
      }
      if (ec == net::error::eof || ec == ssl::error::stream_truncated || ec == net::error::connection_reset) {
        return fail("closed", "the receiver closed the connection before answering " + nth(i, n) + answered, where);
      }
      // Over TLS 1.3 a server refusing our certificate says so here, after
      // the client's side of the handshake has completed (RFC 8446 4.4.2.4).
      if (ec) return fail("unavailable", "reading the answer to " + nth(i, n) + " failed: " + ec.message() + answered, where);
      decoder.feed(std::string_view(buffer.data(), read));
    }
  }
  return replies;
}

}  // namespace

hearth::result<std::vector<std::string>> mllp_exchange(const mllp_client_options& opts,
                                                       const std::vector<std::string>& messages) {
  if (messages.empty()) return fail("invalid", "no messages to send");
  for (std::size_t i = 0; i < messages.size(); ++i) {
    if (messages[i].find_first_of(std::string_view("\x0B\x1C", 2)) != std::string::npos) {
      return fail("invalid", nth(i, messages.size()) + " holds an MLLP framing byte (VT or FS) and cannot be framed",
                  "message " + std::to_string(i + 1));
    }
  }
  if (opts.host.empty()) return fail("invalid", "no MLLP host given");
  if (opts.cert_file.empty() != opts.key_file.empty()) {
    return fail("invalid", "a client certificate needs both a certificate file and a key file");
  }
  if (opts.timeout.count() <= 0) return fail("invalid", "the MLLP timeout must be positive");

  net::io_context ioc(1);
  const steady::time_point connect_deadline = steady::now() + opts.timeout;
  const std::string target = opts.host + ":" + std::to_string(opts.port);

  tcp::resolver resolver(ioc);
  tcp::resolver::results_type resolved;
  error_code ec = run_step(
      ioc, connect_deadline - steady::now(),
      [&](auto handler) {
        resolver.async_resolve(opts.host, std::to_string(opts.port),
                               [&resolved, handler = std::move(handler)](error_code e,
                                                                         tcp::resolver::results_type r) mutable {
                                 resolved = std::move(r);
                                 handler(e);
                               });
      },
      [&resolver] { resolver.cancel(); });
  if (ec == net::error::timed_out) return fail("timeout", "resolving " + opts.host + " timed out");
  if (ec) return fail("unavailable", "cannot resolve " + opts.host + ": " + ec.message());

  std::optional<ssl::context> ctx;
  if (opts.tls) {
    ctx.emplace(ssl::context::tls_client);
    if (auto ok = configure_context(*ctx, opts); !ok) return hearth::unexpected(ok.error());
  }
  tcp::socket plain(ioc);
  std::optional<ssl::stream<tcp::socket>> secure;
  if (ctx) secure.emplace(ioc, *ctx);
  tcp::socket& socket = secure ? secure->next_layer() : plain;
  const auto cut = [&socket] {
    error_code ignored;
    socket.close(ignored);
  };

  ec = run_step(
      ioc, connect_deadline - steady::now(),
      [&](auto handler) { net::async_connect(socket, resolved, std::move(handler)); }, cut);
  if (ec == net::error::timed_out) return fail("timeout", "connecting to " + target + " timed out");
  if (ec) return fail("unavailable", "cannot connect to " + target + ": " + ec.message());
  error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);  // each message is one write, awaited: no Nagle delay

  if (!secure) {
    auto replies = converse(ioc, plain, plain, opts, messages);
    plain.shutdown(tcp::socket::shutdown_both, ignored);
    plain.close(ignored);
    return replies;
  }

  SSL* ssl_handle = secure->native_handle();
  // The certificate must name the host we asked for (RFC 6125 6); OpenSSL
  // checks it during the handshake. SNI carries DNS names only (RFC 6066 3).
  if (is_ip_literal(opts.host)) {
    if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_handle), opts.host.c_str()) != 1)
      return fail("invalid", "TLS: cannot set the host to verify");
  } else {
    SSL_set_hostflags(ssl_handle, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (SSL_set_tlsext_host_name(ssl_handle, opts.host.c_str()) != 1 || SSL_set1_host(ssl_handle, opts.host.c_str()) != 1)
      return fail("invalid", "TLS: cannot set the host to verify");
  }
  ec = run_step(
      ioc, opts.timeout, [&](auto handler) { secure->async_handshake(ssl::stream_base::client, std::move(handler)); },
      cut);
  if (ec == net::error::timed_out) return fail("timeout", "the TLS handshake with " + target + " timed out");
  if (ec) {
    const long verify = SSL_get_verify_result(ssl_handle);
    if (verify != X509_V_OK) {
      return fail("unavailable", "the certificate of " + target +
                                     " is not trusted: " + X509_verify_cert_error_string(verify));
    }
    return fail("unavailable", "the TLS handshake with " + target + " failed: " + ec.message());
  }
  auto replies = converse(ioc, *secure, socket, opts, messages);
  if (replies && socket.is_open()) {
    // Our close_notify (RFC 8446 6.1), so the receiver sees a clean end;
    // its own is not waited for long: every answer is already in hand.
    (void)run_step(
        ioc, std::min<steady::duration>(opts.timeout, std::chrono::seconds(2)),
        [&](auto handler) { secure->async_shutdown(std::move(handler)); }, cut);
  }
  socket.close(ignored);
  return replies;
}

}  // namespace hearth::server
