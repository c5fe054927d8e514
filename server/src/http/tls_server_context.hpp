#pragma once
// The TLS server context of Hearth's listeners (HTTPS: http_listener.cpp;
// MLLP over TLS: mllp_listener.cpp), configured once, the same way for both.
// Private to the Beast/Asio target (server/src/http/): Asio types here.

#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/ssl/context.hpp>

#include <hearth/core/result.hpp>

namespace hearth::server::detail {

/// A TLS server context with the certificate chain and key of these PEM
/// files, or an "invalid" error naming the file that could not be used (and
/// `what`, "TLS" or "MLLP TLS", so that the operator knows which setting).
/// Settings follow NIST SP 800-52r2 and RFC 9325 (BCP 195):
/// - TLS 1.2 and 1.3 only (RFC 8996 deprecates 1.0 and 1.1; SSL 2/3 long
///   broken);
/// - TLS 1.2 cipher suites: ECDHE key exchange (forward secrecy) with AEAD
///   ciphers only (AES-GCM, ChaCha20-Poly1305), ECDSA and RSA certificates:
///   the TLS 1.2 part of Mozilla's "intermediate" server configuration and
///   what NIST SP 800-52r2 3.3.1 recommends; TLS 1.3 suites (all AEAD) keep
///   OpenSSL's defaults;
/// - no TLS compression (CRIME, RFC 9325 3.3);
/// - the server's cipher order, not the client's (RFC 9325 4.2);
/// - no renegotiation (RFC 9325 3.5: none is needed, and client-initiated
///   renegotiation is a CPU cost a client can impose at will);
/// - no TLS 1.2 session tickets: their key would live as long as the
///   process, and whoever obtains it could decrypt every session it
///   protected (forward secrecy, RFC 9325 4.2.1); TLS 1.2 resumption still
///   works through the session cache, TLS 1.3 keeps its own (stateful) one;
/// - an encrypted key is refused with an error instead of OpenSSL prompting
///   on the terminal and hanging the start-up.
hearth::result<std::unique_ptr<boost::asio::ssl::context>> make_server_tls_context(const std::string& cert_file,
                                                                                    const std::string& key_file,
                                                                                    std::string_view what);

}  // namespace hearth::server::detail
