#pragma once
// The HTTP/1.1 listener: Boost.Beast behind a plain interface (the only part
// of Hearth that sees Beast or Asio; DESIGN.md). It accepts connections,
// reads requests with size limits and deadlines, hands each one to a worker
// thread (DESIGN.md: "Blocking work stays off the network threads") and
// writes the answer back on the connection's own strand, in order.
//
// Connection rules (issue 5, "Server qualities"):
// - keep-alive; requests on one connection are answered in the order sent
//   (HTTP/1.1 pipelining: the next request is read once the previous answer
//   is written, so a connection never has more than one in flight);
// - a deadline for reading each request (headers and body together, the
//   wait for it included: a client sending a byte a second is cut off, an
//   idle connection closed) and for writing each answer;
// - limits on header bytes (431) and body bytes (413), checked while reading;
// - a connection limit: past it, new connections get 503 and are closed
//   (over HTTPS closed without a handshake: it would cost the overloaded
//   server a public-key operation for a refusal);
// - HTTPS when a certificate and key are configured (issue: "TLS 1.2+ with
//   OpenSSL when a certificate is configured"): every connection does a TLS
//   handshake under its own deadline, then serves HTTP exactly as over TCP;
//   TLS 1.2 and 1.3 only, ECDHE with AEAD ciphers for 1.2, the server's
//   cipher order, no compression, no renegotiation (http_listener.cpp
//   cites the rules). A handshake that fails is counted, not logged;
// - stop(): no new connections; requests in flight are answered (with
//   Connection: close), idle connections are closed (over TLS with a
//   close_notify exchange, under a 5 s deadline); once every connection is
//   closed, or the grace has passed, the threads end.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <hearth/core/result.hpp>
#include <hearth/server/http_message.hpp>

namespace hearth::server {

struct listener_options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;  ///< 0: a free port (see http_listener::port())
  std::size_t io_threads = 1;
  /// Threads answering GET and HEAD (CPU-bound: about the cores).
  std::size_t worker_threads = 2;
  /// Threads answering every other method: the writes, which wait for their
  /// commit (see server_config::write_threads).
  std::size_t write_threads = 32;
  std::size_t max_header_bytes = 8 * 1024;
  std::size_t max_body_bytes = 16 * 1024 * 1024;
  std::size_t max_connections = 1024;
  /// Deadline for reading one request, from the moment the connection is
  /// ready for it: an idle keep-alive connection is closed after it too.
  std::chrono::seconds read_timeout{30};
  std::chrono::seconds write_timeout{30};
  /// Deadline for the next request on a kept-alive connection (waiting and
  /// reading it); 0: close after each answer.
  std::chrono::seconds keep_alive_timeout{60};

  /// HTTPS: a PEM certificate chain (the server's certificate first) and
  /// its PEM private key, unencrypted. Both empty: plain HTTP. Read once by
  /// start(); an unreadable, malformed or mismatched file is a start error
  /// naming it.
  std::string tls_cert_file;
  std::string tls_key_file;
  /// Deadline for the TLS handshake of a new connection: a client that
  /// connects and sends nothing, or trickles its handshake, is cut off.
  std::chrono::seconds handshake_timeout{10};
  /// Called (on an io thread; must not block) for every TLS handshake that
  /// did not complete: timeouts, protocol errors (a plain HTTP request on
  /// the HTTPS port), clients closing. Empty: not called.
  std::function<void()> on_tls_handshake_failure;

  bool tls_enabled() const noexcept { return !tls_cert_file.empty(); }
};

/// Called on a worker thread for every request read; may block (database
/// work). Must not throw (an exception becomes a 500 all the same).
using request_handler = std::function<http_response(http_request&)>;

struct listener_stats {
  std::uint64_t connections_open = 0;
  std::uint64_t requests_in_flight = 0;
  std::uint64_t tls_handshake_failures = 0;  ///< since start (see on_tls_handshake_failure)
};

class http_listener {
 public:
  /// Binds host:port and starts serving. Errors: code "invalid" for a bad
  /// host or a TLS certificate or key that cannot be used (the message names
  /// the file); "exception" when the address cannot be bound (in use, no
  /// permission).
  static hearth::result<std::unique_ptr<http_listener>> start(const listener_options& opts, request_handler handler);

  ~http_listener();  ///< stop()s
  http_listener(const http_listener&) = delete;
  http_listener& operator=(const http_listener&) = delete;

  /// The port bound (the one chosen when options asked for 0).
  std::uint16_t port() const noexcept;
  /// HTTPS (a certificate was configured).
  bool tls() const noexcept;
  listener_stats stats() const noexcept;

  /// Graceful stop (see above), waiting at most `grace` for requests in
  /// flight. Idempotent; thread-safe.
  void stop(std::chrono::milliseconds grace = std::chrono::seconds(30));

  struct impl;

 private:
  explicit http_listener(std::unique_ptr<impl> i);
  std::unique_ptr<impl> impl_;
};

}  // namespace hearth::server
