#pragma once
// An MLLP client: sends HL7 v2 messages to an MLLP receiver (HL7 v2.5.1
// Appendix C; MLLP Release 1 "Block Format") and collects its answers, over
// TCP or TLS. For `hearth hl7 send` and for tests. Boost.Asio stays in the
// source (server/src/http/mllp_client.cpp): no Asio type here.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <hearth/core/result.hpp>

namespace hearth::server {

/// Where and how to send. Plain value type.
struct mllp_client_options {
  std::string host;  ///< a DNS name or an IP address
  std::uint16_t port = 2575;
  /// MLLP over TLS (TLS 1.2 or later). The server's certificate is verified
  /// against ca_file (or the system trust store when empty) and must name
  /// `host` (RFC 6125: a DNS name in its subjectAltName, or the IP address
  /// when host is one).
  bool tls = false;
  std::string ca_file;  ///< PEM CA certificates to trust; empty: the system store
  /// mTLS: the client certificate chain (PEM, the client's first) and its
  /// unencrypted PEM key, both or neither. Used only with tls.
  std::string cert_file, key_file;
  /// Bounds each step: resolving and connecting, the TLS handshake, and for
  /// each message writing it and receiving its answer. A receiver that
  /// never answers yields an error after this, not a hang.
  std::chrono::seconds timeout{30};
  /// Largest answer accepted (the payload of one block): an ACK is small,
  /// and a receiver gone wrong must not make the client buffer without bound.
  std::size_t max_ack_bytes = 1u << 20;
};

/// Connects once, sends each message framed (VT message FS CR), waits for
/// each reply frame before sending the next (MLLP is request/response), and
/// returns the replies in order, unframed: replies[i] answers messages[i].
/// Bytes the receiver sends outside blocks are skipped; a block the receiver
/// starts again (VT inside a block) is dropped and the next one awaited.
///
/// Errors, as values, each naming the step and, for a message, its position
/// ("message 3 of 5") in `location` ("message 3"), never its content:
/// - "invalid": no messages, a message holding VT or FS (it cannot be
///   framed), TLS files that cannot be used, cert_file without key_file;
/// - "unavailable": the host cannot be resolved or connected to, the TLS
///   handshake failed (the server's certificate not trusted, or not for
///   `host`; the server refusing our client certificate);
/// - "timeout": a step took longer than opts.timeout (the receiver never
///   answered);
/// - "closed": the receiver closed the connection before answering;
/// - "too-long": an answer larger than opts.max_ack_bytes.
/// On an error the replies already received are lost with it: the message
/// says how many had been answered.
///
/// Blocks the calling thread (an io_context of its own, run there).
/// Thread-safe: calls share nothing.
hearth::result<std::vector<std::string>> mllp_exchange(const mllp_client_options& opts,
                                                       const std::vector<std::string>& messages);

// ---------------------------------------------------------------------------
// Raw exchanges, for testing receivers (`hearth conformance`, issue 9): the
// bytes written are exactly the caller's, framing included or left out on
// purpose (a block split over many writes, two blocks in one write, bytes
// before the start block, a block never ended), and what comes back is
// decoded block by block as it arrives.

/// What one mllp_raw_stream::read() collected. Plain value type.
struct mllp_raw_read {
  /// The reply blocks received, unframed, in order: every one decoded since
  /// the previous read(), however many that is.
  std::vector<std::string> frames;
  /// The receiver closed (or reset) the connection; nothing more will come.
  bool closed = false;
  /// Reply blocks dropped because they were larger than max_ack_bytes.
  std::size_t oversized = 0;
};

/// One client connection to an MLLP receiver, driven byte by byte. Reading
/// goes on whenever the stream waits (in write() as well as in read()), so a
/// receiver answering, or closing, while a long write is still under way is
/// seen. Bytes outside blocks are skipped, as mllp_exchange does.
///
/// Abstract, so that a test can stand in for the network. Thread-compatible:
/// one thread uses a stream at a time. Lifetime: destroying the stream
/// closes the connection.
class mllp_raw_stream {
 public:
  virtual ~mllp_raw_stream() = default;
  /// Writes all of `bytes` as given (no framing added). Errors: "closed"
  /// (the receiver closed or reset the connection, before or during the
  /// write), "timeout" (not written within the options' timeout: the
  /// connection is then closed).
  virtual hearth::result<void> write(std::string_view bytes) = 0;
  /// Waits until at least `frames` reply blocks have come (those not yet
  /// returned by an earlier read() count), the receiver closes the
  /// connection, or `wait` has passed; then returns every block in hand.
  /// frames == 0 waits the whole `wait` (unless the receiver closes): what
  /// came in that time, to check that nothing did.
  virtual mllp_raw_read read(std::size_t frames, std::chrono::milliseconds wait) = 0;
};

/// Connects as mllp_exchange does (TCP or TLS, the same checks and errors:
/// "invalid", "unavailable", "timeout") and returns the connection as a raw
/// stream. Blocks the calling thread; the stream runs its own io_context.
/// Thread-safe: calls share nothing.
hearth::result<std::unique_ptr<mllp_raw_stream>> mllp_raw_connect(const mllp_client_options& opts);

/// One piece of what mllp_raw_exchange writes. Plain value type.
struct mllp_raw_chunk {
  std::string bytes;                   ///< written as given (framing bytes are the caller's)
  std::chrono::milliseconds pause{0};  ///< then waited, reading, before the next chunk
};

/// What mllp_raw_exchange received. Plain value type.
struct mllp_raw_reply {
  std::vector<std::string> frames;  ///< the reply blocks, unframed, in order
  bool closed = false;              ///< the receiver closed the connection
};

/// Connects, writes the chunks in order (each followed by its pause), and
/// collects the reply blocks until `expect_frames` of them have come, the
/// receiver closes the connection, or `wait` (opts.timeout when not given)
/// has passed since the last chunk was written. expect_frames == 0 waits the
/// whole `wait`. Blocks arriving during the pauses count. A receiver closing
/// the connection part-way is not an error: the reply says so (closed), with
/// the blocks received before. Errors: as mllp_raw_connect, and "timeout"
/// when a chunk cannot be written within opts.timeout. Blocks the calling
/// thread. Thread-safe: calls share nothing.
hearth::result<mllp_raw_reply> mllp_raw_exchange(const mllp_client_options& opts,
                                                 const std::vector<mllp_raw_chunk>& chunks,
                                                 std::size_t expect_frames,
                                                 std::optional<std::chrono::milliseconds> wait = std::nullopt);

}  // namespace hearth::server
