#include "rest_target.hpp"

#include <algorithm>

#include <hearth/core/utf8.hpp>

namespace hearth::server::rest {

namespace {

hearth::error make_error(std::string_view code, std::string message) {
  return hearth::error{std::string(code), std::move(message), {}, hearth::error::npos};
}

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool unreserved(char c) noexcept {
  // RFC 3986 section 2.3.
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

}  // namespace

hearth::result<std::string> percent_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '%') {
      const int hi = i + 2 < s.size() ? hex_value(s[i + 1]) : -1;
      const int lo = hi >= 0 ? hex_value(s[i + 2]) : -1;
      if (hi < 0 || lo < 0) return hearth::unexpected(make_error("invalid", "a malformed percent escape in the URL"));
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  // A NUL would cut C strings short further down; invalid UTF-8 would reach
  // the database and the messages (SECURITY.md: invalid UTF-8 is an error).
  if (out.find('\0') != std::string::npos) {
    return hearth::unexpected(make_error("invalid", "a NUL byte in the URL"));
  }
  if (utf8::find_invalid(out) != utf8::npos) {
    return hearth::unexpected(make_error("invalid", "the URL does not decode to UTF-8 text"));
  }
  return out;
}

std::string percent_encode(std::string_view s) {
  static constexpr char digits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (const char c : s) {
    if (unreserved(c)) {
      out.push_back(c);
    } else {
      const auto b = static_cast<unsigned char>(c);
      out.push_back('%');
      out.push_back(digits[b >> 4]);
      out.push_back(digits[b & 0xF]);
    }
  }
  return out;
}

hearth::result<void> parse_params(std::string_view query, bool plus_is_space, param_list& out) {
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view piece = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (piece.empty()) continue;
    if (out.size() >= max_params) {
      return hearth::unexpected(
          make_error("too-costly", "more than " + std::to_string(max_params) + " parameters in one request"));
    }
    const std::size_t eq = piece.find('=');
    auto name = percent_decode(piece.substr(0, eq), plus_is_space);
    if (!name) return hearth::unexpected(std::move(name).error());
    std::string value;
    if (eq != std::string_view::npos) {
      auto v = percent_decode(piece.substr(eq + 1), plus_is_space);
      if (!v) return hearth::unexpected(std::move(v).error());
      value = std::move(*v);
    }
    out.emplace_back(std::move(*name), std::move(value));
  }
  return {};
}

hearth::result<split_target> split(std::string_view target, std::string_view base_path) {
  if (target.empty() || target.front() != '/') {
    return hearth::unexpected(make_error("invalid", "the request target is not a path"));
  }
  split_target out;
  const std::size_t q = target.find('?');
  std::string_view path = target.substr(0, q);
  if (q != std::string_view::npos) {
    out.has_query = true;
    // A fragment never reaches a server, but a hostile client may send one.
    std::string_view query = target.substr(q + 1);
    query = query.substr(0, query.find('#'));
    if (auto r = parse_params(query, false, out.params); !r) return hearth::unexpected(std::move(r).error());
  }
  if (!base_path.empty() && path.starts_with(base_path) &&
      (path.size() == base_path.size() || path[base_path.size()] == '/')) {
    path.remove_prefix(base_path.size());
  }
  // Segments are split before decoding, so that an escaped '/' (%2F) stays
  // inside its segment (RFC 3986 section 2.2).
  while (!path.empty()) {
    if (path.front() == '/') path.remove_prefix(1);
    if (path.empty()) break;  // a trailing slash names the same resource
    const std::size_t slash = path.find('/');
    if (out.segments.size() >= max_segments) {
      return hearth::unexpected(make_error("too-costly", "too many path segments"));
    }
    auto seg = percent_decode(path.substr(0, slash), false);
    if (!seg) return hearth::unexpected(std::move(seg).error());
    out.segments.push_back(std::move(*seg));
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash);
  }
  return out;
}

bool valid_id(std::string_view id) noexcept {
  if (id.empty() || id.size() > 64) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
  });
}

std::string join_params(const param_list& params) {
  std::string out;
  for (const auto& [name, value] : params) {
    if (!out.empty()) out.push_back('&');
    out += percent_encode(name);
    out.push_back('=');
    out += percent_encode(value);
  }
  return out;
}

}  // namespace hearth::server::rest
