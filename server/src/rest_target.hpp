#pragma once
// The request target of a FHIR REST request, taken apart: path segments and
// query parameters, percent-decoded (RFC 3986 section 2.1), and the route
// they name (FHIR R4 http.html#general: [base]/[type]/[id]/_history/[vid]...).
// Private to fhir_api. Pure functions; thread-safe.

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <hearth/core/result.hpp>

namespace hearth::server::rest {

/// Query or form parameters, in order, names and values decoded. A name may
/// repeat (R4 search.html#combining: repeated names are AND).
using param_list = std::vector<std::pair<std::string, std::string>>;

/// Most parameters one request may carry (URL and form body together): each
/// becomes search work, and parse_search allows 64 terms anyway; 256 leaves
/// room for _format, _pretty, _cursor and the like and bounds the work of
/// splitting a hostile query.
inline constexpr std::size_t max_params = 256;

/// Most path segments looked at: the longest route has five
/// ([type]/[id]/_history/[vid], or with a trailing slash).
inline constexpr std::size_t max_segments = 16;

/// Decodes %XX escapes. `plus_is_space` for application/x-www-form-urlencoded
/// bodies (a '+' there is a space); a URL query keeps '+' as is (RFC 3986), so
/// that a date like 2024-01-01T10:00:00+02:00 survives. Errors ("invalid"):
/// a '%' not followed by two hex digits, a decoded NUL byte, or text that is
/// not UTF-8 afterwards.
hearth::result<std::string> percent_decode(std::string_view s, bool plus_is_space);

/// Percent-encodes everything but RFC 3986 unreserved characters, for the
/// parameters of Bundle links.
std::string percent_encode(std::string_view s);

/// Splits `name=value&name=value` and decodes both halves; an empty piece
/// (`a=1&&b=2`) is skipped, a piece without '=' has an empty value. Appends to
/// `out`. Errors: as percent_decode, and "too-costly" beyond max_params.
hearth::result<void> parse_params(std::string_view query, bool plus_is_space, param_list& out);

/// The target split: the path segments decoded (an empty target or "/"
/// gives none), and the query parameters.
struct split_target {
  std::vector<std::string> segments;
  param_list params;
  /// The query had a '?' (even an empty one).
  bool has_query = false;
};

/// Splits an origin-form target ("/Patient/1?_format=xml"). `base_path` is
/// the path of the server's base URL ("" or "/fhir"): when the target starts
/// with it, it is removed first. Errors: "invalid" for a target that does not
/// start with '/' or fails to decode, "too-costly" beyond the limits.
hearth::result<split_target> split(std::string_view target, std::string_view base_path);

/// R4 datatypes.html#id: [A-Za-z0-9\-\.]{1,64}.
bool valid_id(std::string_view id) noexcept;

/// The text joined as `name=value&...`, each half percent-encoded.
std::string join_params(const param_list& params);

}  // namespace hearth::server::rest
