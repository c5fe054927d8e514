// mllp_exchange (mllp_client.hpp): one connection, plain or TLS, on an
// io_context of its own run on the calling thread, each step under a
// deadline. As jwks_client.cpp: resolve, connect, handshake, then the
// exchange, one step at a time, which keeps the code linear while every
// wait stays bounded. Framing is hl7v2's (mllp_encode, mllp_decoder).

#include <hearth/server/mllp_client.hpp>

#include <hearth/hl7v2/mllp_frame.hpp>

#include "http/client_steps.hpp"

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
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
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

using http_client_detail::run_step;

/// The client TLS context: TLS 1.2 or later (SECURITY.md: "TLS 1.2+";
/// RFC 8996), the server verified against ca_file or the system store, and
/// our certificate for mTLS when given.
hearth::result<void> configure_context(ssl::context& ctx, const mllp_client_options& opts) {
  if (auto trusted = http_client_detail::verify_peers(ctx, opts.ca_file); !trusted) return trusted;
  error_code ec;
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

/// A client connection: TCP, or TLS over it. Neither copyable nor movable
/// (the TLS stream refers to the context). Lifetime: within its io_context's.
struct client_connection {
  explicit client_connection(net::io_context& ioc) : plain(ioc) {}
  std::optional<ssl::context> ctx;               ///< set with TLS
  tcp::socket plain;                             ///< the socket without TLS
  std::optional<ssl::stream<tcp::socket>> secure;  ///< set with TLS
  tcp::socket& socket() { return secure ? secure->next_layer() : plain; }
};

/// Checks the options every exchange needs, before any network work.
hearth::result<void> check_options(const mllp_client_options& opts) {
  if (opts.host.empty()) return fail("invalid", "no MLLP host given");
  if (opts.cert_file.empty() != opts.key_file.empty()) {
    return fail("invalid", "a client certificate needs both a certificate file and a key file");
  }
  if (opts.timeout.count() <= 0) return fail("invalid", "the MLLP timeout must be positive");
  return {};
}

/// Resolves and connects (one deadline of opts.timeout for both), then, with
/// TLS, verifies the server through the handshake (a deadline of its own).
hearth::result<void> establish(net::io_context& ioc, client_connection& c, const mllp_client_options& opts) {
  const steady::time_point connect_deadline = steady::now() + opts.timeout;
  const std::string target = opts.host + ":" + std::to_string(opts.port);

  auto resolved = http_client_detail::resolve(ioc, opts.host, opts.port, connect_deadline);
  if (!resolved) return hearth::unexpected(resolved.error());

  if (opts.tls) {
    c.ctx.emplace(ssl::context::tls_client);
    if (auto ok = configure_context(*c.ctx, opts); !ok) return hearth::unexpected(ok.error());
    c.secure.emplace(ioc, *c.ctx);
  }
  tcp::socket& socket = c.socket();
  // Each message is one write, its answer awaited: no Nagle delay (connect).
  if (auto connected = http_client_detail::connect(ioc, socket, *resolved, target, connect_deadline); !connected)
    return connected;
  if (!c.secure) return {};
  const auto cut = [&socket] {
    error_code ignored;
    socket.close(ignored);
  };

  SSL* ssl_handle = c.secure->native_handle();
  // The certificate must name the host we asked for.
  if (!http_client_detail::expect_peer_name(ssl_handle, opts.host))
    return fail("invalid", "TLS: cannot set the host to verify");
  error_code ec = run_step(
      ioc, opts.timeout, [&](auto handler) { c.secure->async_handshake(ssl::stream_base::client, std::move(handler)); },
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
  return {};
}

bool is_closing(const error_code& ec) {
  return ec == net::error::eof || ec == ssl::error::stream_truncated || ec == net::error::connection_reset ||
         ec == net::error::broken_pipe || ec == net::error::connection_aborted || ec == net::error::not_connected;
}

/// mllp_raw_stream over a connection of its own (mllp_client.hpp). A read is
/// kept pending whenever the io_context runs (in write() and read()), so
/// the receiver's bytes are decoded as they come; the io_context runs only
/// on the calling thread, inside those calls. Not movable: handlers refer
/// to `this`.
class asio_raw_stream final : public mllp_raw_stream {
 public:
  explicit asio_raw_stream(const mllp_client_options& opts)
      : opts_(opts), ioc_(1), conn_(ioc_), decoder_(opts.max_ack_bytes) {}
  asio_raw_stream(const asio_raw_stream&) = delete;
  asio_raw_stream& operator=(const asio_raw_stream&) = delete;

  ~asio_raw_stream() override {
    // The pending read (if any) completes with operation_aborted; let it,
    // so that no handler runs after the members are gone.
    error_code ignored;
    conn_.socket().close(ignored);
    ioc_.restart();
    ioc_.run();
  }

  hearth::result<void> open() { return establish(ioc_, conn_, opts_); }

  hearth::result<void> write(std::string_view bytes) override {
    if (closed_) return fail("closed", "the receiver had closed the connection");
    start_read();
    std::optional<error_code> done;
    const auto handler = [&done](error_code ec, std::size_t) { done = ec; };
    if (conn_.secure) {
      net::async_write(*conn_.secure, net::buffer(bytes.data(), bytes.size()), handler);
    } else {
      net::async_write(conn_.plain, net::buffer(bytes.data(), bytes.size()), handler);
    }
    run_until(steady::now() + opts_.timeout, [&done] { return done.has_value(); });
    if (!done) {
      // A write cut part-way leaves the stream unusable: close it, and let
      // the aborted operations finish before `done` goes out of scope.
      close_now();
      while (!done) {
        ioc_.restart();
        if (ioc_.run_one() == 0) break;
      }
      return fail("timeout", "writing " + std::to_string(bytes.size()) + " bytes took longer than " +
                                 std::to_string(opts_.timeout.count()) + " s");
    }
    if (*done) {
      if (is_closing(*done)) closed_ = true;
      return fail("closed", "the receiver closed the connection during a write: " + done->message());
    }
    return {};
  }

  mllp_raw_read read(std::size_t frames, std::chrono::milliseconds wait) override {
    mllp_raw_read out;
    start_read();
    const auto enough = [&] {
      collect(out);
      return (frames > 0 && out.frames.size() >= frames) || closed_;
    };
    run_until(steady::now() + wait, enough);
    collect(out);
    out.closed = closed_;
    return out;
  }

 private:
  /// Moves the decoder's ready items into `out`.
  void collect(mllp_raw_read& out) {
    hl7v2::mllp_item item;
    while (decoder_.next(item)) {
      if (item.status == hl7v2::mllp_status::frame) out.frames.push_back(std::move(item.payload));
      if (item.status == hl7v2::mllp_status::frame_too_large) ++out.oversized;
      // frame_interrupted: the receiver restarted a block; the next one counts.
    }
  }

  /// Keeps one read pending while the connection is open.
  void start_read() {
    if (reading_ || closed_) return;
    reading_ = true;
    const auto handler = [this](error_code ec, std::size_t n) {
      reading_ = false;
      if (ec) {
        // eof, reset, truncated TLS, or aborted by close: nothing more will come.
        closed_ = true;
        return;
      }
      decoder_.feed(std::string_view(buffer_.data(), n));
      start_read();
    };
    if (conn_.secure) {
      conn_.secure->async_read_some(net::buffer(buffer_), handler);
    } else {
      conn_.plain.async_read_some(net::buffer(buffer_), handler);
    }
  }

  /// Runs handlers until `done()` or the deadline. `done` is checked before
  /// each handler and after the last one.
  template <class Done>
  void run_until(steady::time_point deadline, Done&& done) {
    while (!done()) {
      const auto now = steady::now();
      if (now >= deadline) return;
      ioc_.restart();
      if (ioc_.run_one_until(deadline) == 0 && !reading_ && ioc_.stopped()) {
        // Nothing pending (the connection closed and nothing is in
        // flight): nothing can change any more.
        ioc_.restart();
        if (ioc_.poll() == 0) {
          (void)done();
          return;
        }
      }
    }
  }

  void close_now() {
    error_code ignored;
    conn_.socket().close(ignored);
    closed_ = true;
  }

  mllp_client_options opts_;
  net::io_context ioc_;
  client_connection conn_;
  hl7v2::mllp_decoder decoder_;     // the receiver's bytes, decoded into blocks
  std::array<char, 16 * 1024> buffer_{};  // the pending read's buffer
  bool reading_ = false;            // a read is pending
  bool closed_ = false;             // the connection is gone (closed by either side)
};

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
  if (auto ok = check_options(opts); !ok) return hearth::unexpected(ok.error());

  net::io_context ioc(1);
  client_connection c(ioc);
  if (auto ok = establish(ioc, c, opts); !ok) return hearth::unexpected(ok.error());
  error_code ignored;
  if (!c.secure) {
    auto replies = converse(ioc, c.plain, c.plain, opts, messages);
    c.plain.shutdown(tcp::socket::shutdown_both, ignored);
    c.plain.close(ignored);
    return replies;
  }
  tcp::socket& socket = c.socket();
  const auto cut = [&socket] {
    error_code e;
    socket.close(e);
  };
  auto replies = converse(ioc, *c.secure, socket, opts, messages);
  if (replies && socket.is_open()) {
    // Our close_notify (RFC 8446 6.1), so the receiver sees a clean end;
    // its own is not waited for long: every answer is already in hand.
    (void)run_step(
        ioc, std::min<steady::duration>(opts.timeout, std::chrono::seconds(2)),
        [&](auto handler) { c.secure->async_shutdown(std::move(handler)); }, cut);
  }
  socket.close(ignored);
  return replies;
}

hearth::result<std::unique_ptr<mllp_raw_stream>> mllp_raw_connect(const mllp_client_options& opts) {
  if (auto ok = check_options(opts); !ok) return hearth::unexpected(ok.error());
  auto stream = std::make_unique<asio_raw_stream>(opts);
  if (auto ok = stream->open(); !ok) return hearth::unexpected(ok.error());
  return std::unique_ptr<mllp_raw_stream>(std::move(stream));
}

hearth::result<mllp_raw_reply> mllp_raw_exchange(const mllp_client_options& opts,
                                                 const std::vector<mllp_raw_chunk>& chunks, std::size_t expect_frames,
                                                 std::optional<std::chrono::milliseconds> wait) {
  auto stream = mllp_raw_connect(opts);
  if (!stream) return hearth::unexpected(stream.error());
  mllp_raw_reply reply;
  const auto take = [&reply](mllp_raw_read r) {
    for (std::string& f : r.frames) reply.frames.push_back(std::move(f));
    reply.closed = reply.closed || r.closed;
  };
  for (const mllp_raw_chunk& chunk : chunks) {
    if (auto w = (*stream)->write(chunk.bytes); !w) {
      if (w.error().code != "closed") return hearth::unexpected(w.error());
      reply.closed = true;
      break;
    }
    if (chunk.pause.count() > 0) take((*stream)->read(0, chunk.pause));
    if (reply.closed) break;
  }
  const std::chrono::milliseconds limit =
      wait.value_or(std::chrono::duration_cast<std::chrono::milliseconds>(opts.timeout));
  if (reply.closed) {
    take((*stream)->read(0, std::chrono::milliseconds(0)));  // what was decoded before the close
  } else if (expect_frames == 0) {
    take((*stream)->read(0, limit));
  } else if (reply.frames.size() < expect_frames) {
    take((*stream)->read(expect_frames - reply.frames.size(), limit));
  }
  return reply;
}

}  // namespace hearth::server
