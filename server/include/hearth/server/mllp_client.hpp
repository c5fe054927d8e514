#pragma once
// An MLLP client: sends HL7 v2 messages to an MLLP receiver (HL7 v2.5.1
// Appendix C; MLLP Release 1 "Block Format") and collects its answers, over
// TCP or TLS. For `hearth hl7 send` and for tests. Boost.Asio stays in the
// source (server/src/http/mllp_client.cpp): no Asio type here.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
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

}  // namespace hearth::server
