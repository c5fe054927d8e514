#pragma once
// A blocking HTTP/1.1 client for `hearth conformance`: one request, one
// response, over TCP or TLS, to any FHIR server (not only Hearth). Plain
// values here; Boost.Beast and Asio stay in the source
// (server/src/http/conformance_http_client.cpp, hearth::server_http;
// DESIGN.md: Beast only in server/, compiled once).

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <hearth/core/result.hpp>

namespace hearth::server::conformance {

/// A request to send. Plain value.
struct client_request {
  std::string method = "GET";  ///< "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", ...
  /// The absolute URL: "http://host:port/path?query" or "https://...",
  /// already percent-encoded where it must be.
  std::string url;
  /// Sent as given, in order (Host, Content-Length and, unless given here,
  /// User-Agent are added by the client).
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

/// What came back. Plain value.
struct client_response {
  unsigned status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  ///< as received, in order
  std::string body;
  /// The first header named `name`, compared case-insensitively; empty when absent.
  std::string header(std::string_view name) const;
};

/// Limits and trust of the client.
struct http_client_options {
  /// Bounds resolving and connecting, the TLS handshake, and writing the
  /// request and reading the whole response, each.
  std::chrono::milliseconds timeout{30000};
  std::size_t max_body_bytes = 64u << 20;  ///< larger responses are an error
  /// PEM CA certificates trusted for https (the system store when empty);
  /// the server's certificate must name the URL's host (RFC 6125).
  std::string ca_file;
};

/// Sends `req` on a connection of its own and reads the response. Redirects
/// are not followed (a test sees the 3xx). Errors as values: "invalid" (a URL
/// that is not http(s)://host[:port]/...), "unavailable" (resolve, connect,
/// TLS), "timeout", "bad-response" (not HTTP, or too large). Thread-safe.
hearth::result<client_response> http_exchange(const client_request& req, const http_client_options& opts = {});

}  // namespace hearth::server::conformance
