#pragma once
// hearth::server::auth::fetch_jwks — a JWK Set (RFC 7517 section 5) fetched
// from an external issuer's configured `jwks_uri` with one HTTP(S) GET.
//
// Only the URI in the configuration is ever fetched: never a `jku` or `x5u`
// named by a token (SECURITY.md; RFC 8725 3.10, "Do Not Trust Received
// Claims"). The rules of the fetch:
// - https, or http to a loopback host only (127.0.0.0/8, ::1, localhost;
//   for tests and local development): keys fetched over plain HTTP from
//   anywhere else could be replaced on the way (RFC 8414 2 requires TLS for
//   a jwks_uri; OpenID Connect Discovery 1.0 section 3 likewise);
// - TLS 1.2 or later, the peer's certificate chain verified against the
//   system trust store (OpenSSL's default paths, which SSL_CERT_FILE and
//   SSL_CERT_DIR may point elsewhere) and its name against the URI's host
//   (RFC 9110 4.3.4, RFC 6125), SNI sent for a DNS name (RFC 6066 3);
// - deadlines for connecting and for the exchange, a limit on the response
//   size; only a 200 answer counts, and a redirect is not followed (it would
//   let whoever controls the first host choose where keys come from);
// - the body is a JWK Set parsed by jwt::key_set::from_jwks (keys of unknown
//   types skipped, malformed ones fail it, every key's algorithm pinned by
//   its type and `alg` as for configured keys).
//
// parse_jwks_uri and jwks_from_response are pure (part of hearth::server);
// fetch_jwks does the network work and lives in hearth::server_http (the one
// place Boost.Beast and Asio are used; DESIGN.md).
//
// Errors never hold the URI (it may carry a query the operator considers
// private) nor the body: code "invalid" (a URI refused), "unavailable"
// (resolve, connect, TLS, timeout, I/O), "bad-response" (status, size,
// body), or jwt's "invalid-key".

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <hearth/core/result.hpp>
#include <hearth/server/jwt.hpp>

namespace hearth::server::auth {

/// A jwks_uri taken apart. Plain value.
struct jwks_location {
  bool https = true;
  /// The host as written, without brackets for an IPv6 literal.
  std::string host;
  std::uint16_t port = 443;
  /// The request target: path and query ("/" when the URI has no path).
  std::string target;
  /// The Host header value (RFC 9110 7.2): host, bracketed when IPv6, with
  /// ":port" when the port is not the scheme's default.
  std::string host_header;
};

/// `uri` checked and taken apart: "https://" or "http://", a host (a DNS
/// name, an IPv4 address or a bracketed IPv6 address), an optional port,
/// a path and query; printable ASCII only (RFC 3986 2), no user information
/// (credentials do not belong in a configured URL that ends up in errors),
/// no fragment. http only with a loopback host. Errors: "invalid", the
/// message saying what is wrong without quoting the URI.
hearth::result<jwks_location> parse_jwks_uri(std::string_view uri);

/// What a fetch brought back.
struct fetched_jwks {
  jwt::key_set keys;
  /// Cache-Control max-age of the response (RFC 9111 5.2.2.1), when it had
  /// one: how long the issuer says the set may be used before asking again.
  std::optional<std::chrono::seconds> max_age;
};

/// The max-age directive of a Cache-Control header value (RFC 9111 5.2:
/// comma-separated directives, names case-insensitive, "max-age=N" with N
/// delta-seconds, also in quotes as 5.2 tolerates); nullopt when absent or
/// malformed; `no-store` or `no-cache` count as max-age 0 (use it now, ask
/// again soon: the caller's floor decides how soon).
std::optional<std::chrono::seconds> cache_control_max_age(std::string_view value);

/// A response interpreted: `status` must be 200, the body a JWK Set holding
/// at least one usable key. Errors "bad-response" (status, with 3xx saying
/// redirects are not followed), jwt's "invalid-key" (the body).
hearth::result<fetched_jwks> jwks_from_response(unsigned status, std::string_view cache_control,
                                                std::string_view body);

/// Limits of one fetch.
struct jwks_fetch_options {
  /// Resolving the host and connecting: 5 s. A host that takes longer is
  /// down as far as we are concerned; the fetch is retried later.
  std::chrono::milliseconds connect_timeout{5000};
  /// The TLS handshake, sending the request and reading the whole response:
  /// 5 s, so that a slow or stalling server cannot hold the fetching thread.
  std::chrono::milliseconds exchange_timeout{5000};
  /// Largest response body: a JWK Set is at most jwt::key_set::max_jwks_bytes
  /// (256 KiB, 100 RSA-4096 keys), so anything larger is refused as it is read.
  std::size_t max_body_bytes = jwt::key_set::max_jwks_bytes;
  /// Largest response head (status line and headers): 16 KiB, twice what
  /// our own listener takes, ample for any server's headers.
  std::size_t max_header_bytes = 16u << 10;
};

/// GET `uri` (parse_jwks_uri's rules) and jwks_from_response on the answer.
/// Blocking, on the calling thread, for at most about connect_timeout +
/// exchange_timeout. Thread-safe: each call has its own connection and
/// state. Defined in hearth::server_http (src/http/jwks_client.cpp).
hearth::result<fetched_jwks> fetch_jwks(std::string_view uri, const jwks_fetch_options& opts = {});

}  // namespace hearth::server::auth
