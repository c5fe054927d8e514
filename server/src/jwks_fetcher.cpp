// The pure parts of jwks_fetcher.hpp: the URI rules and what a response
// means. The network part is src/http/jwks_client.cpp.
#include <hearth/server/jwks_fetcher.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <charconv>
#include <utility>

#include <hearth/core/text.hpp>

namespace hearth::server::auth {
namespace {

hearth::unexpected<hearth::error> fail(std::string code, std::string message, std::string location = {}) {
  return hearth::unexpected(hearth::error{std::move(code), std::move(message), std::move(location)});
}

/// Case-insensitive prefix (RFC 3986 3.1: schemes are case-insensitive).
bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && text::iequals(s.substr(0, prefix.size()), prefix);
}

bool ipv4_literal(const std::string& host, in_addr& out) { return ::inet_pton(AF_INET, host.c_str(), &out) == 1; }
bool ipv6_literal(const std::string& host, in6_addr& out) { return ::inet_pton(AF_INET6, host.c_str(), &out) == 1; }

/// A DNS name as RFC 1123 2.1 allows (letters, digits, '-', '.'), plus '_'
/// which some internal names use; at most 253 bytes (RFC 1035 2.3.4).
bool dns_name(std::string_view h) {
  if (h.empty() || h.size() > 253 || h.front() == '.' || h.front() == '-') return false;
  return std::all_of(h.begin(), h.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_';
  });
}

/// Loopback only: "localhost" (RFC 6761 6.3), 127.0.0.0/8 (RFC 1122
/// 3.2.1.3), ::1 (RFC 4291 2.5.3).
bool loopback_host(const std::string& host, bool bracketed) {
  if (bracketed) {
    in6_addr a{};
    return ipv6_literal(host, a) && IN6_IS_ADDR_LOOPBACK(&a);
  }
  if (text::iequals(host, "localhost")) return true;
  in_addr a{};
  return ipv4_literal(host, a) && (ntohl(a.s_addr) >> 24) == 127;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

hearth::result<jwks_location> parse_jwks_uri(std::string_view uri) {
  jwks_location loc;
  std::string_view rest;
  if (istarts_with(uri, "https://")) {
    loc.https = true;
    loc.port = 443;
    rest = uri.substr(8);
  } else if (istarts_with(uri, "http://")) {
    loc.https = false;
    loc.port = 80;
    rest = uri.substr(7);
  } else {
    return fail("invalid", "must start with https:// (or http:// to a loopback host)");
  }
  // 8 KiB: far beyond any real jwks_uri, and what an HTTP request line fits.
  if (uri.size() > 8192) return fail("invalid", "is longer than 8192 bytes");
  // RFC 3986 2: a URI is printable ASCII; anything else must be
  // percent-encoded. No spaces or control characters reach a request line.
  if (!std::all_of(uri.begin(), uri.end(), [](char c) { return c > 0x20 && c < 0x7F; }))
    return fail("invalid", "must be printable ASCII without spaces (percent-encode the rest)");
  if (uri.find('#') != std::string_view::npos) return fail("invalid", "must not hold a fragment");

  const std::size_t end_of_authority = rest.find_first_of("/?");
  const std::string_view authority = rest.substr(0, end_of_authority);
  const std::string_view path_query = end_of_authority == std::string_view::npos ? std::string_view()
                                                                                 : rest.substr(end_of_authority);
  // RFC 3986 3.2.1: user information in a URI is deprecated; a password
  // there would travel into errors and logs.
  if (authority.find('@') != std::string_view::npos) return fail("invalid", "must not hold user information");
  if (authority.empty()) return fail("invalid", "must name a host");

  std::string_view host_part;
  std::string_view port_part;
  bool bracketed = false;
  if (authority.front() == '[') {
    // RFC 3986 3.2.2: IP-literal = "[" IPv6address "]".
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return fail("invalid", "has an unclosed IPv6 address");
    host_part = authority.substr(1, close - 1);
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return fail("invalid", "has something after the IPv6 address");
      port_part = after.substr(1);
      if (port_part.empty()) return fail("invalid", "has an empty port");
    }
    bracketed = true;
  } else {
    const std::size_t colon = authority.find(':');
    host_part = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      port_part = authority.substr(colon + 1);
      if (port_part.empty()) return fail("invalid", "has an empty port");
    }
  }
  loc.host = std::string(host_part);
  if (bracketed) {
    in6_addr a{};
    if (!ipv6_literal(loc.host, a)) return fail("invalid", "has a malformed IPv6 address");
  } else if (!dns_name(loc.host)) {
    return fail("invalid", "must name a host: a DNS name, an IPv4 address or a bracketed IPv6 address");
  }
  if (!port_part.empty()) {
    unsigned port = 0;
    const auto [p, ec] = std::from_chars(port_part.data(), port_part.data() + port_part.size(), port);
    if (ec != std::errc() || p != port_part.data() + port_part.size() || port == 0 || port > 65535)
      return fail("invalid", "has a port that is not a number from 1 to 65535");
    loc.port = static_cast<std::uint16_t>(port);
  }
  if (!loc.https && !loopback_host(loc.host, bracketed))
    return fail("invalid",
                "must use https:// (http:// only to a loopback host: 127.0.0.0/8, [::1], localhost), "
                "or the keys could be replaced on the way");

  // RFC 9112 3.2.1: origin-form, "/" for an empty path.
  loc.target = path_query.empty() || path_query.front() == '?' ? "/" + std::string(path_query)
                                                               : std::string(path_query);
  // RFC 9110 7.2: Host is the authority without user information; the
  // port may be left out when it is the scheme's default.
  loc.host_header = bracketed ? "[" + loc.host + "]" : loc.host;
  if (loc.port != (loc.https ? 443 : 80)) loc.host_header += ":" + std::to_string(loc.port);
  return loc;
}

std::optional<std::chrono::seconds> cache_control_max_age(std::string_view value) {
  std::optional<std::chrono::seconds> max_age;
  bool zero = false;
  while (!value.empty()) {
    const std::size_t comma = value.find(',');
    const std::string_view directive = trim(value.substr(0, comma));
    value = comma == std::string_view::npos ? std::string_view() : value.substr(comma + 1);
    const std::size_t eq = directive.find('=');
    const std::string_view name = trim(directive.substr(0, eq));
    // RFC 9111 5.2.2.4/5.2.2.5: no-cache and no-store, unqualified.
    if (eq == std::string_view::npos && (text::iequals(name, "no-cache") || text::iequals(name, "no-store"))) {
      zero = true;
      continue;
    }
    if (eq == std::string_view::npos || !text::iequals(name, "max-age")) continue;
    std::string_view arg = trim(directive.substr(eq + 1));
    // RFC 9111 5.2: a sender should use the token form, a recipient should
    // accept the quoted one.
    if (arg.size() >= 2 && arg.front() == '"' && arg.back() == '"') arg = arg.substr(1, arg.size() - 2);
    if (arg.empty() || !std::all_of(arg.begin(), arg.end(), [](char c) { return c >= '0' && c <= '9'; })) continue;
    // RFC 9111 1.2.2: delta-seconds too large to represent count as
    // 2147483648 (2^31); the caller clamps to its own bounds anyway.
    std::int64_t n = 0;
    const auto [p, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), n);
    if (ec == std::errc::result_out_of_range || (ec == std::errc() && n > 2147483648LL)) n = 2147483648LL;
    else if (ec != std::errc() || p != arg.data() + arg.size()) continue;
    // Two max-age directives make the header invalid (RFC 9111 4.2.1):
    // the smaller one is the careful reading.
    const std::chrono::seconds s(n);
    if (!max_age || s < *max_age) max_age = s;
  }
  if (zero) return std::chrono::seconds(0);
  return max_age;
}

hearth::result<fetched_jwks> jwks_from_response(unsigned status, std::string_view cache_control,
                                                std::string_view body) {
  if (status >= 300 && status < 400)
    return fail("bad-response", "the JWKS server answered with a redirect (" + std::to_string(status) +
                                    "), which is not followed: configure the final jwks_uri");
  if (status != 200) return fail("bad-response", "the JWKS server answered with status " + std::to_string(status));
  if (body.size() > jwt::key_set::max_jwks_bytes) return fail("bad-response", "the JWKS is larger than 256 KiB");
  auto set = jwt::key_set::from_jwks(body);
  // jwt's messages say what is wrong with a key, never its material.
  if (!set) return fail(set.error().code, "the JWKS is not usable: " + set.error().message, set.error().location);
  if (set->keys().empty()) return fail("invalid-key", "the JWKS holds no key this server can use");
  fetched_jwks out;
  out.keys = std::move(*set);
  out.max_age = cache_control_max_age(cache_control);
  return out;
}

}  // namespace hearth::server::auth
