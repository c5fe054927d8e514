#pragma once
// The MLLP listener: HL7 v2 messages over TCP, or TLS, framed by the Minimal
// Lower Layer Protocol (HL7 v2.5.1 Appendix C; HL7 Transport Specification
// MLLP Release 1, "Block Format": <SB> message <EB> <CR>). Boost.Asio behind
// a plain interface, as the HTTP listener (http_listener.hpp): no Asio type
// in this header.
//
// What it does, per connection:
// - reads bytes as they come and decodes blocks with hl7v2::mllp_decoder (a
//   block over many reads, many blocks in one read; bytes outside a block
//   are skipped and counted as junk);
// - hands each complete message to the handler on a worker thread, strictly
//   one at a time and in order (MLLP is request/response: the sender waits
//   for each ACK; DESIGN.md: "ACK after commit"), and writes the handler's
//   answer framed as one block;
// - keeps reading while a message is handled (a sender that pipelines is
//   served), but holds at most a few decoded messages, or max_frame_bytes
//   of them, ahead: past that it stops reading until it has caught up, so
//   a sender cannot make it buffer without bound (SECURITY.md: limits);
// - answers a block larger than max_frame_bytes with an ACK AR, ERR code
//   104 (hl7v2::build_reject_for_unparsable), and keeps the connection;
// - closes the connection after idle_timeout without a block started,
//   frame_timeout once a block has started and not ended, write_timeout
//   for writing one answer (a slow or silent peer cannot hold a slot);
// - past max_connections, accepts a new connection and closes it at once.
//
// Over TLS (tls_cert_file and tls_key_file set): TLS 1.2 and 1.3 only, the
// same settings as the HTTPS listener (http_listener.cpp: ECDHE with AEAD
// ciphers for 1.2, the server's cipher order, no compression, no
// renegotiation, no TLS 1.2 session tickets), each handshake under
// handshake_timeout. With tls_client_ca_file: mutual TLS, a client
// certificate is required and verified against those CAs (SECURITY.md,
// HIPAA 164.312(d): "mTLS for MLLP"); its subject reaches the handler.
//
// Logs: none but what on_log receives, and that carries connection ids,
// addresses and counts only, never message bytes (they are PHI).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <hearth/core/result.hpp>

namespace hearth::server {

/// Who sent a message: the connection it came on. Plain value type.
struct mllp_peer {
  /// Unique within the listener, counting from 1 in accept order: ties the
  /// messages of one connection together in logs and in the message log.
  std::uint64_t connection_id = 0;
  std::string address;  ///< the peer's IP address, as text ("127.0.0.1", "::1")
  std::uint16_t port = 0;
  bool tls = false;  ///< the connection is MLLP over TLS
  /// mTLS: the subject of the verified client certificate, RFC 2253 form
  /// ("CN=lab-analyser-3,O=Lab"); empty without a client certificate.
  std::string client_subject;
};

/// Called on a worker thread for each complete frame, in order per
/// connection: a connection's next frame is handed over only once this call
/// has returned and its reply has been written. May block (database work:
/// the message log, the commit of what the message produced). `payload` is
/// the message without the MLLP framing, bytes as received (no character set
/// conversion).
///
/// Returns the ACK bytes to send (the listener frames them with
/// hl7v2::mllp_encode; they must not contain VT or FS, which no ACK from
/// hl7v2::build_ack does), or an empty string to send nothing (the original
/// was itself an ACK, or MSH-15/16 asked for none).
///
/// Must not throw. If it does, the listener logs the connection id (never the
/// exception's text, which may quote the message) and closes that
/// connection: the sender, with no ACK, sends the message again.
using mllp_handler = std::function<std::string(const mllp_peer& peer, std::string payload)>;

/// What on_log is told about. Levels as the rest of Hearth's logs.
enum class mllp_log_level { info, warning, error };

/// A log line: `what` is one of the listener's constant texts ("handler
/// threw"), never input; the connection id and address say where.
using mllp_log = std::function<void(mllp_log_level level, std::string_view what, const mllp_peer& peer)>;

struct mllp_options {
  std::string host = "127.0.0.1";  ///< an IP address (v4 or v6), not a name
  std::uint16_t port = 2575;       ///< 0: a free port (see mllp_listener::port())
  /// Threads doing the network work (reads, framing, TLS, writes).
  std::size_t io_threads = 1;
  /// Threads calling the handler. Handler calls block on commits, and group
  /// commit needs many in flight: one per connection that may be busy at once.
  std::size_t worker_threads = 32;
  /// Largest message (the payload of one block). 10 MiB, as
  /// hl7v2::parse_options::max_bytes: a lab result with an embedded PDF fits,
  /// a runaway or hostile sender cannot exhaust memory.
  std::size_t max_frame_bytes = 10u << 20;
  /// Connections served at once; past it a new connection is accepted and
  /// closed at once (over TLS before any handshake: the public-key work
  /// would be a cost on a server already at its limit).
  std::size_t max_connections = 256;
  /// No block started for this long (and no message of the connection being
  /// handled): the connection is closed. Junk bytes do not count as activity.
  std::chrono::seconds idle_timeout{600};
  /// A block, once its VT has arrived, must end (FS) within this: a sender
  /// trickling a byte a second is cut off.
  std::chrono::seconds frame_timeout{30};
  /// Writing one answer must end within this (a peer that does not read).
  std::chrono::seconds write_timeout{30};

  /// MLLP over TLS: a PEM certificate chain (the server's first) and its PEM
  /// private key, unencrypted. Both empty: plain TCP. Read once by start();
  /// an unreadable, malformed or mismatched file is a start error naming it.
  std::string tls_cert_file;
  std::string tls_key_file;
  /// Set (with TLS): mutual TLS. Every client must present a certificate
  /// that verifies against the CA certificates (PEM) in this file, or its
  /// handshake fails (SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT).
  std::string tls_client_ca_file;
  /// Deadline for the TLS handshake of a new connection.
  std::chrono::seconds handshake_timeout{10};

  /// Receives the listener's log lines (see mllp_log). Called on io or worker
  /// threads, concurrently: must be thread-safe and must not block long.
  /// Empty: one JSON line per event on stderr.
  mllp_log on_log;

  bool tls_enabled() const noexcept { return !tls_cert_file.empty(); }
};

/// Counters since start(): a snapshot (each read atomically, not all at one
/// instant). Plain value type.
struct mllp_stats {
  std::uint64_t connections_accepted = 0;  ///< connections served (not counting the refused)
  std::uint64_t connections_refused = 0;   ///< closed at once, past max_connections
  std::uint64_t connections_open = 0;      ///< open now, refused ones not yet closed included
  std::uint64_t frames = 0;                ///< complete blocks decoded (each handed to the handler)
  std::uint64_t oversized = 0;             ///< blocks larger than max_frame_bytes (answered AR 104)
  /// Blocks cut short: a VT inside a block (the sender restarted), or the
  /// peer closing the connection in the middle of a block.
  std::uint64_t interrupted = 0;
  std::uint64_t junk_bytes = 0;          ///< bytes outside any block, skipped
  std::uint64_t timeouts = 0;            ///< connections closed by a deadline (idle, frame, write, handshake)
  std::uint64_t tls_failures = 0;        ///< TLS handshakes that did not complete (mTLS refusals included)
  std::uint64_t handler_exceptions = 0;  ///< handler calls that threw (their connection closed)
};

/// The listener. Thread-safety: start() once, from one thread; port(),
/// stats() and stop() from any thread, concurrently. Lifetime: the
/// destructor stop()s; the handler (and on_log) must stay callable until
/// stop() has returned.
class mllp_listener {
 public:
  mllp_listener();
  ~mllp_listener();  ///< stop()s
  mllp_listener(const mllp_listener&) = delete;
  mllp_listener& operator=(const mllp_listener&) = delete;

  /// Binds host:port and starts serving on threads of its own. Errors, as
  /// values: code "invalid" for a host that is not an IP address, a
  /// certificate, key or CA file that cannot be used (the message names the
  /// file), a key without a certificate or the reverse, a client CA without
  /// TLS, an empty handler, or a second start(); "exception" when the address
  /// cannot be bound (in use, no permission).
  hearth::result<void> start(const mllp_options& opts, mllp_handler handler);

  /// The port bound, the one chosen when the options asked for 0; 0 before
  /// a successful start().
  std::uint16_t port() const noexcept;

  /// Graceful stop: no new connections; a message being handled gets its
  /// answer written, then its connection closes; idle connections close at
  /// once, and messages received but not yet handed to the handler are
  /// dropped unanswered (their senders send them again). Waits at most
  /// `grace` for the handlers in flight, then closes what is left; returns
  /// once every thread has ended. Idempotent; thread-safe; a no-op before
  /// start(). Not from inside the handler or on_log (it waits for the
  /// threads that call them).
  void stop(std::chrono::milliseconds grace = std::chrono::seconds(30));

  mllp_stats stats() const noexcept;

  struct impl;

 private:
  std::unique_ptr<impl> impl_;  ///< null until start() succeeds
};

}  // namespace hearth::server
